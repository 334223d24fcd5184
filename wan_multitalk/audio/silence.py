"""What "this speaker is quiet" looks like to the adapter: wav2vec2 features of real silence.

Silence is NOT zeros in feature space: the network's biases and norms make encoded digital
silence a distinct, non-zero vector (zeros are what the official code uses as the *null* audio
for audio-CFG, a different thing). Speakers waiting for their turn, and windows that run past
the end of the audio, are filled with these features so the mouth stays closed rather than
receiving an out-of-distribution input.
"""
from __future__ import annotations

import torch

from ..timebase import exact_fps, exact_fraction, samples_for_frames
from .features import encode_features
from .waveform import WAV2VEC2_SAMPLE_RATE

SILENCE_ROW_SECONDS = 4.0
"""Length of the silence clip whose middle row is the padding row: long enough that the middle
is far from both clip edges (where the positional convolution sees zero padding)."""


def silence_features(model, num_frames: int, fps=25.0, **encode_kw) -> torch.Tensor:
    """``[num_frames, layers, hidden]`` float32 CPU: the features of ``num_frames`` frames of digital silence."""
    if int(num_frames) < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    # The fewest samples that cover num_frames whole frames (never fewer than the CNN's 400).
    samples = max(400, samples_for_frames(int(num_frames), WAV2VEC2_SAMPLE_RATE, fps))
    zeros = torch.zeros(samples, dtype=torch.float32)
    return encode_features(model, zeros, fps=fps, num_frames=int(num_frames), **encode_kw)


def silence_row(model, fps=25.0, seconds: float = SILENCE_ROW_SECONDS) -> torch.Tensor:
    """``[layers, hidden]`` float32 CPU: one steady-state row of encoded silence (the middle of ``seconds`` of it)."""
    num_frames = max(1, round(exact_fraction(seconds, "seconds") * exact_fps(fps)))
    return silence_features(model, num_frames, fps=fps)[num_frames // 2].clone()
