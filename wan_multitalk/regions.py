"""The speaker regions drawn in the Speaker Masks widget: the schema of its JSON, parsing, and rasterising.

The widget (js/speaker_masks) stores its state in the node's `regions` input as JSON, in fractions of the
reference image so it survives any resize and reloads identically from a shared workflow:

    {"version": 1,
     "speakers": [                       # speaker order = list order = audio order
        {"label": "Anna",                # optional, shown in the widget and the preview
         "box": [x0, y0, x1, y1],        # or null; 0..1 of the image width / height
         "strokes": [{"mode": "paint" | "erase",
                      "radius": 0.03,    # fraction of the image's shorter side
                      "points": [[x, y], ...]}]}],
     "background": null | {"box": ..., "strokes": [...]},   # optional user-drawn background
     "image": {...}}                     # display hints for the widget only; ignored here

A region is its box (if any) with the strokes applied in order: paint adds the pixels whose centres lie
within `radius` of the stroke's polyline, erase removes them. `widget_schema()` is what the widget is told
(through the input definition) so it never keeps its own copy of these rules.
"""
from __future__ import annotations

import json
import math
from typing import NamedTuple

import torch

from .errors import InputError
from .limits import MAX_SPEAKERS
from .masks import BACKGROUND_COLOUR, SPEAKER_COLOURS, WAN_PIXELS_PER_TOKEN, Box, boxes_to_masks

SCHEMA_VERSION = 1
LABEL_LENGTH = 40
CLEAR_FIX = "clear the drawing with the widget's delete buttons (or add a fresh Speaker Masks node) and draw again."


def widget_schema() -> dict:
    """The constants the widget draws and validates with, sent in the `regions` input's definition."""
    return {"version": SCHEMA_VERSION, "max_speakers": MAX_SPEAKERS, "token_pixels": WAN_PIXELS_PER_TOKEN,
            "speaker_rgb": [list(c) for c in SPEAKER_COLOURS], "background_rgb": list(BACKGROUND_COLOUR),
            "label_length": LABEL_LENGTH}


class Stroke(NamedTuple):
    """A brush stroke in fractions of the image: the disc of `radius` swept along `points`."""

    points: tuple[tuple[float, float], ...]
    radius: float  # fraction of min(image width, image height)
    erase: bool


class Region(NamedTuple):
    """One speaker's (or the background's) drawing: a box, strokes on top of it, and a label."""

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


class Drawing(NamedTuple):
    """The widget's state: speaker regions in speaker order and an optional background."""

    speakers: list[Region]
    background: Region | None


def _bad_state(problem: str) -> InputError:
    return InputError("regions", problem, CLEAR_FIX)


def _finite(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad_state(f"{what} is {value!r}, not a number.")
    return float(value)


def _parse_box(raw, what: str) -> Box | None:
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        raise _bad_state(f"{what}'s box is {raw!r}, not [x0, y0, x1, y1].")
    x0, y0, x1, y1 = (min(max(_finite(v, f"{what}'s box"), 0.0), 1.0) for v in raw)
    x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    return Box(x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _parse_strokes(raw, what: str) -> tuple[Stroke, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _bad_state(f"{what}'s strokes are not a list.")
    strokes = []
    for item in raw:
        if not isinstance(item, dict) or item.get("mode", "paint") not in ("paint", "erase"):
            raise _bad_state(f"{what} has a stroke that is neither paint nor erase: {str(item)[:80]}.")
        points = item.get("points") or []
        if not isinstance(points, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in points):
            raise _bad_state(f"{what} has a stroke whose points are not [[x, y], ...].")
        radius = _finite(item.get("radius"), f"{what}'s brush radius")
        if points and radius > 0:
            strokes.append(Stroke(tuple((_finite(x, f"{what}'s stroke"), _finite(y, f"{what}'s stroke"))
                                        for x, y in points), radius, item.get("mode") == "erase"))
    return tuple(strokes)


def _parse_region(raw, what: str) -> Region:
    if not isinstance(raw, dict):
        raise _bad_state(f"{what} is {str(raw)[:80]!r}, not a region.")
    label = raw.get("label") or ""
    return Region(str(label).strip()[:LABEL_LENGTH], _parse_box(raw.get("box"), what),
                  _parse_strokes(raw.get("strokes"), what))


def parse_drawing(text: str) -> Drawing:
    """The widget's JSON -> speaker regions in order (and the background). Blank text = nothing drawn."""
    text = (text or "").strip()
    if not text:
        return Drawing([], None)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad_state(f"is not the widget's region data (invalid JSON: {exc.msg}).") from None
    if not isinstance(data, dict):
        raise _bad_state("is not the widget's region data (expected a JSON object).")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise _bad_state(f"has no valid schema version ({version!r}).")
    if version > SCHEMA_VERSION:
        raise InputError("regions", f"was saved by a newer MultiTalk Studio (region schema {version}, this one "
                         f"reads {SCHEMA_VERSION}).", "update MultiTalk Studio, or clear the regions and draw again.")
    speakers = data.get("speakers") or []
    if not isinstance(speakers, list):
        raise _bad_state("has a 'speakers' entry that is not a list.")
    regions = [_parse_region(s, f"speaker {i}") for i, s in enumerate(speakers, start=1)]
    background = data.get("background")
    return Drawing(regions, None if background is None else _parse_region(background, "the background"))


def speaker_region_masks(drawing: Drawing, height: int, width: int) -> tuple[torch.Tensor, list[str], list[Box]]:
    """The drawn speakers as masks [N, height, width], their preview labels and their extents (fractions)."""
    masks, labels, extents = [], [], []
    for i, region in enumerate(drawing.speakers, start=1):
        mask = region_mask(region, height, width)
        name = f"speaker {i}" + (f" ('{region.label}')" if region.label else "")
        if not bool((mask > 0).any()):
            raise InputError("regions", f"{name}'s region is empty" + (
                " (it was erased completely, or is thinner than a pixel)." if region.drawn else
                " (nothing is drawn for it)."),
                f"draw a box or brush a region for {name}, or delete that speaker in the widget.")
        masks.append(mask)
        labels.append(f"{i} {region.label}" if region.label else str(i))
        extents.append(region.box if region.box is not None and not region.strokes else mask_extent(mask))
    return torch.stack(masks), labels, extents


def background_mask(drawing: Drawing, speakers: torch.Tensor) -> torch.Tensor:
    """[H, W]: the drawn background region, or everything no speaker covers."""
    background = drawing.background
    if background is None or not background.drawn:
        return 1.0 - (speakers > 0).any(dim=0).float()
    mask = region_mask(background, *speakers.shape[-2:])
    if not bool((mask > 0).any()):
        raise InputError("regions", "the drawn background region is empty (it was erased completely).",
                         "draw the background again, or delete it to use everything no speaker covers.")
    return mask
