"""Drawn speaker regions (a box and brush/erase strokes in image fractions) rasterised to pixel masks.

Kept apart from the widget's JSON parsing so the geometry is host-free and testable on its own.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .masks import Box, boxes_to_masks


class Stroke(NamedTuple):
    """A brush stroke in fractions of the image: the disc of `radius` swept along `points`."""

    points: tuple[tuple[float, float], ...]
    radius: float  # fraction of min(image width, image height)
    erase: bool


class Region(NamedTuple):
    label: str
    box: Box | None
    strokes: tuple[Stroke, ...]

    @property
    def drawn(self) -> bool:
        return self.box is not None or any(not s.erase for s in self.strokes)


def stroke_mask(stroke: Stroke, height: int, width: int) -> torch.Tensor:
    """bool [height, width]: pixels whose centre lies within the stroke's radius of its polyline (edges included).

    Points are scaled to pixel-edge coordinates (x * width, y * height), the radius to
    radius * min(width, height) pixels; a single point is a disc.
    """
    out = torch.zeros(height, width, dtype=torch.bool)
    r = stroke.radius * min(width, height)
    pts = [(x * width, y * height) for x, y in stroke.points]
    segments = list(zip(pts, pts[1:])) or [(pts[0], pts[0])]
    for (ax, ay), (bx, by) in segments:
        c0, c1 = max(0, math.floor(min(ax, bx) - r)), min(width, math.ceil(max(ax, bx) + r) + 1)
        r0, r1 = max(0, math.floor(min(ay, by) - r)), min(height, math.ceil(max(ay, by) + r) + 1)
        if c0 >= c1 or r0 >= r1:
            continue
        px = torch.arange(c0, c1, dtype=torch.float64)[None, :] + 0.5
        py = torch.arange(r0, r1, dtype=torch.float64)[:, None] + 0.5
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        if length2 > 0:
            t = (((px - ax) * dx + (py - ay) * dy) / length2).clamp(0.0, 1.0)
        else:
            t = torch.zeros(1, 1, dtype=torch.float64)
        dist2 = (px - (ax + t * dx)) ** 2 + (py - (ay + t * dy)) ** 2
        out[r0:r1, c0:c1] |= dist2 <= r * r
    return out


def region_mask(region: Region, height: int, width: int) -> torch.Tensor:
    """float32 [height, width] in {0, 1}: the box (same pixel rule as `boxes_to_masks`), then the strokes in order."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    if region.box is not None:
        mask = boxes_to_masks([region.box], height, width)[0] > 0
    for stroke in region.strokes:
        covered = stroke_mask(stroke, height, width)
        mask = mask & ~covered if stroke.erase else mask | covered
    return mask.float()


def mask_extent(mask: torch.Tensor) -> Box:
    """The bounding box of a non-empty [H, W] mask, in fractions of the image."""
    height, width = mask.shape
    ys, xs = torch.nonzero(mask > 0, as_tuple=True)
    return Box(int(xs.min()) / width, int(ys.min()) / height, (int(xs.max()) + 1) / width, (int(ys.max()) + 1) / height)
