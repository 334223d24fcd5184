"""Audio inputs for host tests: a full-size random chinese-wav2vec2-base file and real espeak-ng voices."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import torch
from wav2vec2_factory import chinese_base_model, write_checkpoint

VOICES = {"male": "en+m3", "female": "en+f3"}


def write_random_chinese_wav2vec2_base(path: Path, seed: int = 0, dtype=torch.float16) -> Path:
    """The real architecture and key names (HF `wav2vec2.` prefix, old weight-norm names), random weights."""
    return write_checkpoint(path, chinese_base_model(seed), dtype=dtype)


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str, path: Path, speed: int = 160) -> Path:
    """A real voice saying `text` (22.05 kHz mono wav)."""
    subprocess.run(["espeak-ng", "-v", VOICES.get(voice, voice), "-s", str(speed), "-w", str(path), text],
                   check=True, capture_output=True)
    return path
