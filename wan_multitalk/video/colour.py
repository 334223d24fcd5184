"""Colour matching of generated frames to the reference image, against slow colour drift.

Long videos feed each window's tail into the next one, so a small colour shift compounds over
minutes. Like the official code, every decoded frame gets a Reinhard transfer in CIE Lab towards
the reference image before its tail becomes the next window's context. Unlike the official code
(scikit-image on the CPU) this stays in torch on the frames' own device.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..optional import require

KORNIA = {"kornia.color": "kornia"}

_FLAT = 1e-5  # a channel with a smaller Lab spread is flat: map it onto the reference mean


def check_colour_matching(input_name: str = "colour_match") -> None:
    """Colour matching needs kornia (optional): refuse up front, naming the input that asked for it."""
    require(KORNIA, input_name, "colour matching")


def lab_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab mean and population std per image and channel of [N, H, W, 3]: two [N, 3, 1, 1]."""
    from kornia.color import rgb_to_lab

    lab = rgb_to_lab(images.clamp(0, 1).permute(0, 3, 1, 2))
    return lab.mean(dim=(2, 3), keepdim=True), lab.std(dim=(2, 3), unbiased=False, keepdim=True)


def match_colour(frames: torch.Tensor, reference: torch.Tensor, strength: float = 1.0,
                 chunk_size: int = 16) -> torch.Tensor:
    """Move each frame's Lab statistics to the reference's: [N, H, W, 3] in [0, 1].

    Each frame is matched on its own statistics (per frame, as the official code does, so one
    dark frame does not skew a whole window): per Lab channel (x - mean_frame) / std_frame *
    std_ref + mean_ref, back to RGB, clipped to [0, 1], then blended
    (1 - strength) * frame + strength * matched. strength 0 returns `frames` itself.
    reference: [H', W', 3] or [1, H', W', 3], any size. Work happens on the frames' device in
    float32 (float64 inputs stay float64), `chunk_size` frames at a time to bound memory.
    """
    if not 0.0 <= float(strength) <= 1.0:
        raise InputError("colour_match_strength", f"{strength} is outside 0-1.",
                         "use 0 (off) to 1 (full match); 1 is the official default.")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputError("images", f"expected IMAGE [N, H, W, 3], got {tuple(frames.shape)}.",
                         "pass RGB frames.")
    if reference.ndim == 4 and reference.shape[0] == 1:
        reference = reference[0]
    if reference.ndim != 3 or reference.shape[-1] != 3:
        raise InputError("reference", f"expected one RGB image, got {tuple(reference.shape)}.",
                         "pass a single reference IMAGE.")
    if strength == 0 or frames.shape[0] == 0:
        return frames
    check_colour_matching()
    from kornia.color import lab_to_rgb, rgb_to_lab

    work = torch.float64 if frames.dtype == torch.float64 else torch.float32
    ref_mean, ref_std = lab_stats(reference.to(frames.device, work)[None])
    out = torch.empty_like(frames)
    chunk_size = max(1, int(chunk_size))  # the step and the slices must agree, or frames stay unwritten
    for first in range(0, frames.shape[0], chunk_size):
        original = frames[first:first + chunk_size].to(work)
        lab = rgb_to_lab(original.clamp(0, 1).permute(0, 3, 1, 2))
        mean = lab.mean(dim=(2, 3), keepdim=True)
        std = lab.std(dim=(2, 3), unbiased=False, keepdim=True)
        gain = torch.where(std > _FLAT, ref_std / std.clamp_min(_FLAT), torch.zeros_like(std))
        matched = lab_to_rgb((lab - mean) * gain + ref_mean, clip=True).permute(0, 2, 3, 1)
        out[first:first + chunk_size] = torch.lerp(original, matched, float(strength)).to(out.dtype)
    return out
