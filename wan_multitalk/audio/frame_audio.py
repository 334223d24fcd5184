"""Frame audio: the 5 feature rows around each video frame that the adapter reads.

The official pipeline gathers rows f-2..f+2 for frame f, clamped to the WHOLE track (not to the
current 81-frame generation window), so a later window sees real audio just before its first frame. Frames
past the end of the audio (the last window running over) get encoded silence, so the speaker
closes their mouth instead of repeating the last syllable.
"""
from __future__ import annotations

import torch

OFFSETS = (-2, -1, 0, 1, 2)
"""Rows relative to the frame, as in the official code (audio window 5)."""


def frame_audio(features: torch.Tensor, start: int, count: int, silence_row: torch.Tensor,
                offsets=OFFSETS) -> torch.Tensor:
    """``[S, count, len(offsets), L, C]`` for video frames [start, start + count).

    Frame f < T reads rows clamp(f + o, 0, T - 1) of ``features`` ``[S, T, L, C]``; frame f >= T
    reads ``silence_row`` ``[L, C]`` for every offset. Result has ``features``' dtype and device.
    """
    if features.dim() != 4:
        raise ValueError(f"features must be [speakers, frames, layers, channels], got {tuple(features.shape)}")
    if int(start) < 0 or int(count) < 1:
        raise ValueError(f"need start >= 0 and count >= 1, got start={start}, count={count}")
    if tuple(silence_row.shape) != tuple(features.shape[2:]):
        raise ValueError(f"silence_row {tuple(silence_row.shape)} does not match "
                         f"feature rows {tuple(features.shape[2:])}")
    total = features.shape[1]
    silence = silence_row.to(device=features.device, dtype=features.dtype)
    frames = torch.arange(int(start), int(start) + int(count))
    if total == 0:
        return silence.expand((features.shape[0], int(count), len(offsets)) + tuple(silence.shape)).clone()
    rows = (frames[:, None] + torch.as_tensor(list(offsets), dtype=torch.int64)[None]).clamp(0, total - 1)
    gathered = features[:, rows.to(features.device)]  # gathers only the rows needed: a copy
    gathered[:, (frames >= total).to(features.device)] = silence
    return gathered
