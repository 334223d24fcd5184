"""Audio inputs for host tests: a full-size random chinese-wav2vec2-base file and real espeak-ng voices."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import torch
from safetensors.torch import save_file

VOICES = {"male": "en+m3", "female": "en+f3"}


def write_random_chinese_wav2vec2_base(path: Path, seed: int = 0, dtype=torch.float16) -> Path:
    """The real architecture and key names (HF `wav2vec2.` prefix, old weight-norm names), random weights."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(seed)
    config = Wav2Vec2Config(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                            conv_dim=(512,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
                            conv_bias=False, feat_extract_norm="group", do_stable_layer_norm=False,
                            num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16)
    model = Wav2Vec2Model(config).eval()
    state = {}
    for key, value in model.state_dict().items():
        key = key.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v")
        state["wav2vec2." + key] = value.to(dtype).contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str, path: Path, speed: int = 160) -> Path:
    """A real voice saying `text` (22.05 kHz mono wav)."""
    subprocess.run(["espeak-ng", "-v", VOICES.get(voice, voice), "-s", str(speed), "-w", str(path), text],
                   check=True, capture_output=True)
    return path
