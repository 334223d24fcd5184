"""Host-free bookkeeping for the long-video loop: prompts, sigmas, source frames and audio per window.

The loop itself (nodes/long_video_loop.py) runs on the host; everything here is plain torch so the
exact offsets can be tested without a model.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from .windows import Window, audio_samples_for_frames


def prompt_index(window_index: int, prompts: int) -> int:
    """Window i uses prompt i; once the list runs out the last prompt repeats."""
    if prompts < 1:
        raise ValueError("need at least one prompt")
    return min(int(window_index), int(prompts) - 1)


def denoised_sigmas(sigmas: torch.Tensor, denoise: float) -> torch.Tensor:
    """The tail of a schedule for partial denoising (as KSampler: the last round(steps * denoise) steps).

    denoise 1 returns the schedule unchanged; it never returns fewer than one step.
    """
    if not 0.0 < float(denoise) <= 1.0:
        raise InputError("denoise", f"{denoise} is outside (0, 1].",
                         "use 1 to regenerate everything, lower (e.g. 0.7) to keep more of the source video.")
    steps = int(sigmas.shape[-1]) - 1
    if denoise >= 1.0 or steps < 1:
        return sigmas
    keep = max(1, round(steps * float(denoise)))
    return sigmas[-(keep + 1):]


def window_source_indices(frame_map: torch.Tensor, window: Window) -> torch.Tensor:
    """Source frame for every frame of a window: int64 [window.length].

    frame_map[i] is the source frame shown at output frame i (see `resample_frame_indices`); frames
    past the end of the map repeat its last entry.
    """
    if frame_map.numel() < 1:
        raise InputError("source_video", "has no frames.", "connect a non-empty IMAGE batch.")
    positions = torch.arange(window.start, window.end).clamp_max(frame_map.numel() - 1)
    return frame_map[positions]


def fit_audio(audio: dict, frames: int, fps) -> dict:
    """AUDIO cut (or padded with silence) to exactly span `frames` video frames at `fps`."""
    waveform, rate = audio["waveform"], audio["sample_rate"]
    samples = audio_samples_for_frames(frames, rate, fps)
    have = int(waveform.shape[-1])
    if have >= samples:
        out = waveform[..., :samples]
    else:
        pad = torch.zeros(*waveform.shape[:-1], samples - have, dtype=waveform.dtype, device=waveform.device)
        out = torch.cat([waveform, pad], dim=-1)
    return {"waveform": out.contiguous(), "sample_rate": rate}
