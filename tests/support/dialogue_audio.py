"""A synthetic two-voice dialogue with known turn times, generated with espeak-ng at test time.

Each turn is spoken by one espeak-ng voice, its leading/trailing silence trimmed, and the turns are
concatenated with known gaps. The ground truth is the sample span of each trimmed utterance.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

VOICES = {1: "en+m3", 2: "en+f3"}
TURNS = (
    (1, "Good morning, did you bring the report we talked about yesterday?"),
    (2, "Yes, I finished it last night and printed two copies."),
    (1, "Great, let us read it together after lunch."),
    (2, "Sure, I will book the small meeting room for us."),
    (1, "Thank you, see you at two then."),
)


@dataclass
class Dialogue:
    wave: np.ndarray          # [N] float32 mono
    rate: int
    truth: np.ndarray         # [N] int: 0 = nobody, k = speaker k (1-based, 1 speaks first)
    turns: list               # (speaker, start_sample, end_sample)


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def _speak(text: str, voice: str, speed: int = 165) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "turn.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
                       check=True, capture_output=True)
        data, rate = soundfile.read(str(path), dtype="float32")
    loud = np.flatnonzero(np.abs(data) > 0.01)
    return data[loud[0]: loud[-1] + 1], rate


def make_dialogue(turns=TURNS, gap: float = 0.35, lead: float = 0.3) -> Dialogue:
    pieces, truth, spans = [], [], []
    rate = None
    position = 0
    for k, (speaker, text) in enumerate(turns):
        voice, rate = _speak(text, VOICES[speaker])
        silence = np.zeros(int((lead if k == 0 else gap) * rate), np.float32)
        pieces += [silence, voice]
        truth += [np.zeros(len(silence), np.int64), np.full(len(voice), speaker, np.int64)]
        position += len(silence)
        spans.append((speaker, position, position + len(voice)))
        position += len(voice)
    tail = np.zeros(int(lead * rate), np.float32)
    wave = np.concatenate(pieces + [tail])
    return Dialogue(wave, rate, np.concatenate(truth + [np.zeros(len(tail), np.int64)]), spans)
