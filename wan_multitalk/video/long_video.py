"""Host-free bookkeeping for the long-video runner: what each window continues from, its prompt, the sigmas of
partial denoising, the length of the video and the audio cut to it.

The runner itself (nodes/host/long_video.py) runs on the host; everything here is plain torch so the exact
offsets can be tested without a model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from ..timebase import frames_for_samples, resampled_frame_count, samples_for_frames


@dataclass(frozen=True)
class WindowFrames:
    """What a window is conditioned on: the frames its I2V conditioning knows, and the frames written as its
    motion latents (None: none), which MultiTalk re-noises to the current sigma and InfiniteTalk keeps clean."""

    known: torch.Tensor | None
    motion: torch.Tensor | None
    noised_motion: bool

    @classmethod
    def for_variant(cls, variant: str, reference: torch.Tensor | None, context: torch.Tensor | None) -> "WindowFrames":
        """InfiniteTalk knows the reference in every window; the previous tail (the reference itself in the first
        window) becomes clean motion latents. MultiTalk knows the previous tail and re-noises it as motion; its
        first window knows the reference alone and writes no motion latents."""
        if variant == "multitalk":
            return cls(context if context is not None else reference, context, True)
        return cls(reference, context if context is not None else reference, False)


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


def video_length(embeds_frames: int, fps, audio: dict | None = None, source: tuple | None = None) -> int:
    """Frames the long video has: the dubbing source's `(frames, source_fps)` at `fps`, else the AUDIO's, else the
    embeds'. The AUDIO counts by the time base's rule, so the embeds' own audio gives the embeds' frame count."""
    if source is not None:
        return resampled_frame_count(source[0], source[1], fps)
    if audio is not None:
        return frames_for_samples(int(audio["waveform"].shape[-1]), audio["sample_rate"], fps)
    return int(embeds_frames)


def fit_audio(audio: dict, frames: int, fps) -> dict:
    """AUDIO cut (or padded with silence) to exactly span `frames` video frames at `fps`."""
    waveform, rate = audio["waveform"], audio["sample_rate"]
    samples = samples_for_frames(frames, rate, fps)
    have = int(waveform.shape[-1])
    if have >= samples:
        out = waveform[..., :samples]
    else:
        pad = torch.zeros(*waveform.shape[:-1], samples - have, dtype=waveform.dtype, device=waveform.device)
        out = torch.cat([waveform, pad], dim=-1)
    return {"waveform": out.contiguous(), "sample_rate": rate}
