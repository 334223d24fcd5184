"""Resize-to-cover then centre-crop: the one geometry shared by a reference image and its masks.

The node layer fits the reference image to the generation size with `cover_crop`. Speaker masks
must go through exactly the same geometry (with nearest sampling) or the regions slide off the
faces they were drawn on, so both use the `CropBox` computed here.

Geometry (continuous pixel-edge coordinates, x = 0 is the left edge of the first column):
    scale  = max(width / src_w, height / src_h)       (the smallest scale that covers the target)
    resized = (floor(src_w * scale), floor(src_h * scale))
    left, top = (resized - target) // 2                (centre crop; an odd excess drops the
                                                        extra column/row on the right/bottom)
    a source point x lands at  x * scale - left  in the output (same for y with top).
The resize is done with that exact scale on both axes (not with two slightly different rounded
per-axis scales), so the formula above is exact for every mode except "area", which pools the
covered source span rounded to whole source pixels (off by under a source pixel).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..errors import InputError

RESIZE_MODES = ("bilinear", "nearest", "area", "bicubic")


class CropBox(NamedTuple):
    """Where the target window sits inside the source image after scaling by `scale`."""

    scale: float  # source pixels -> resized pixels, identical on both axes
    left: int  # resized-image columns cut away on the left
    top: int  # resized-image rows cut away at the top

    def to_target(self, x: float, y: float) -> tuple[float, float]:
        """Map a source-image point (pixel-edge coordinates) to output-image coordinates."""
        return x * self.scale - self.left, y * self.scale - self.top

    def to_source(self, x: float, y: float) -> tuple[float, float]:
        """Map an output-image point back to source-image coordinates."""
        return (x + self.left) / self.scale, (y + self.top) / self.scale


def _check_size(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise InputError(name, f"must be a whole number of pixels >= 1, got {value!r}.",
                         f"set {name} to a positive integer such as 832 or 480.")
    return int(value)


def crop_box(src_w: int, src_h: int, width: int, height: int) -> CropBox:
    """The cover-and-centre-crop geometry that maps a src_w x src_h image onto width x height."""
    src_w, src_h = _check_size("source width", src_w), _check_size("source height", src_h)
    width, height = _check_size("width", width), _check_size("height", height)
    scale = max(width / src_w, height / src_h)
    # width / src_w * src_w can land one ulp below `width`; nudge up until both sides cover.
    while math.floor(src_w * scale) < width or math.floor(src_h * scale) < height:
        scale = math.nextafter(scale, math.inf)
    resized_w, resized_h = math.floor(src_w * scale), math.floor(src_h * scale)
    return CropBox(scale, (resized_w - width) // 2, (resized_h - height) // 2)


def _area_crop(planar: torch.Tensor, box: CropBox, width: int, height: int) -> torch.Tensor:
    # Average pooling cannot take a scale, only sizes; so cut the source span that the output
    # covers (rounded to whole source pixels) and pool that span to the output size.
    src_h, src_w = planar.shape[-2:]
    x0, y0 = box.to_source(0, 0)
    x1, y1 = box.to_source(width, height)
    cols = slice(max(0, round(x0)), min(src_w, max(round(x0) + 1, round(x1))))
    rows = slice(max(0, round(y0)), min(src_h, max(round(y0) + 1, round(y1))))
    return F.adaptive_avg_pool2d(planar[:, :, rows, cols], (height, width))


def cover_crop(x: torch.Tensor, width: int, height: int, mode: str = "bilinear") -> torch.Tensor:
    """Scale `x` to cover width x height and centre-crop it to exactly that size.

    x: IMAGE [B, H, W, C], MASK batch [B, H, W] or a single mask [H, W]; the layout is kept.
    mode: "bilinear" and "bicubic" are antialiased (like PIL, which the official code uses) and
        bicubic is clamped to the input's value range so it cannot overshoot; "nearest" takes the
        source pixel under each output pixel's centre (torch "nearest-exact"), which keeps masks
        aligned with a bilinear image; "area" averages (best for strong downscales).
    Non-float inputs (bool / uint8 masks) are converted to float32.
    """
    if mode not in RESIZE_MODES:
        raise InputError("resize mode", f"'{mode}' is not a resize mode.",
                         f"use one of {', '.join(RESIZE_MODES)}.")
    if x.ndim not in (2, 3, 4):
        raise InputError("image", f"expected an IMAGE [B, H, W, C] or MASK [B, H, W], got shape "
                         f"{tuple(x.shape)}.", "pass a ComfyUI IMAGE or MASK.")
    if not torch.is_floating_point(x):
        x = x.float()
    src_h, src_w = int(x.shape[-3 if x.ndim == 4 else -2]), int(x.shape[-2 if x.ndim == 4 else -1])
    box = crop_box(src_w, src_h, width, height)
    if (src_w, src_h) == (width, height):
        return x.clone()

    if x.ndim == 4:
        planar = x.permute(0, 3, 1, 2)
    else:
        planar = x.reshape(-1, 1, src_h, src_w)

    kwargs: dict = {"scale_factor": (box.scale, box.scale), "recompute_scale_factor": False}
    if mode in ("bilinear", "bicubic"):
        kwargs.update(mode=mode, align_corners=False, antialias=True)
    else:
        kwargs.update(mode="nearest-exact")
    if mode == "area":
        out = _area_crop(planar, box, width, height)
    else:
        resized = F.interpolate(planar, **kwargs)
        if mode == "bicubic" and x.numel():
            resized = resized.clamp(float(x.min()), float(x.max()))
        out = resized[:, :, box.top:box.top + height, box.left:box.left + width]

    if x.ndim == 4:
        return out.permute(0, 2, 3, 1).contiguous()
    return out.reshape(*x.shape[:-2], height, width).contiguous()


def fit_to_video(x: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Images or masks to the video frame exactly as the reference is fitted: antialiased bilinear cover-crop,
    clipped to [0, 1]. IMAGE [B, H, W, C] keeps its first three channels; MASK [B, H, W] stays a mask."""
    if x.ndim == 4:
        x = x[..., :3]
    return cover_crop(x, width, height, mode="bilinear").clamp(0, 1)


def downscaled(image: torch.Tensor, side: int) -> torch.Tensor:
    """[H, W, C] scaled down (antialiased) so its longer side is at most `side`; smaller images as they are."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    planar = image.permute(2, 0, 1)[None].float()
    return F.interpolate(planar, size=size, mode="bilinear", antialias=True, align_corners=False)[0].permute(1, 2, 0)
