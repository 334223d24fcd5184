"""Speaker Masks: regions drawn in the node's canvas widget (js/speaker_masks.js), typed as text, or an
automatic layout, turned into one MASK per speaker plus a preview of the token grid the model sees.

The widget stores its state in the `regions` input as JSON (schema `STATE_VERSION`), in fractions of the
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
within `radius` of the stroke's polyline, erase removes them.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from typing import NamedTuple

import folder_paths
import numpy as np
import torch
from comfy_api.latest import io
from PIL import Image, ImageOps

from ..wan_multitalk.brush import Region, Stroke, mask_extent, region_mask
from ..wan_multitalk.errors import InputError
from ..wan_multitalk.masks import (Box, auto_layout, boxes_to_masks, fit_masks, format_regions, parse_regions,
                                   render_preview, validate_masks, wan_token_grid)
from ..wan_multitalk.video.resize import fit_to_video

log = logging.getLogger("multitalk_studio")
CATEGORY = "MultiTalk Studio"
STATE_VERSION = 1
MAX_SPEAKERS = 4
WIDGET_TYPE = "MTS_SPEAKER_REGIONS"
NO_FILE = "(none)"
REFERENCE_PREVIEW_SIDE = 1024  # the widget only needs a display copy of a connected image
CLEAR_FIX = "clear the drawing with the widget's delete buttons (or add a fresh Speaker Masks node) and draw again."


class DrawnState(NamedTuple):
    speakers: list[Region]
    background: Region | None


# ----------------------------------------------------------------------------------------------------------------
# The widget's JSON


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
    return Region(str(label).strip()[:40], _parse_box(raw.get("box"), what), _parse_strokes(raw.get("strokes"), what))


def parse_state(text: str) -> DrawnState:
    """The widget's JSON -> speaker regions in order (and the background). Blank text = nothing drawn."""
    text = (text or "").strip()
    if not text:
        return DrawnState([], None)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad_state(f"is not the widget's region data (invalid JSON: {exc.msg}).") from None
    if not isinstance(data, dict):
        raise _bad_state("is not the widget's region data (expected a JSON object).")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise _bad_state(f"has no valid schema version ({version!r}).")
    if version > STATE_VERSION:
        raise InputError("regions", f"was saved by a newer MultiTalk Studio (region schema {version}, this one "
                         f"reads {STATE_VERSION}).", "update MultiTalk Studio, or clear the regions and draw again.")
    speakers = data.get("speakers") or []
    if not isinstance(speakers, list):
        raise _bad_state("has a 'speakers' entry that is not a list.")
    regions = [_parse_region(s, f"speaker {i}") for i, s in enumerate(speakers, start=1)]
    background = data.get("background")
    return DrawnState(regions, None if background is None else _parse_region(background, "the background"))


# ----------------------------------------------------------------------------------------------------------------
# Rasterising


# ----------------------------------------------------------------------------------------------------------------
# The reference image


def reference_files() -> list[str]:
    input_dir = folder_paths.get_input_directory()
    try:
        files = [f for f in os.listdir(input_dir) if os.path.isfile(os.path.join(input_dir, f))]
    except OSError:
        files = []
    return [NO_FILE, *sorted(folder_paths.filter_files_content_types(files, ["image"]))]


def _reference_path(name: str) -> str:
    path = folder_paths.get_annotated_filepath(name)
    if not path or not os.path.isfile(path):
        raise InputError("reference", f"'{name}' is not in ComfyUI's input folder.",
                         "connect the image input, or paste / drop / upload the image onto the node again.")
    return path


def load_reference(name: str) -> torch.Tensor:
    """An uploaded image as IMAGE [1, H, W, 3] (EXIF orientation applied, alpha dropped)."""
    with Image.open(_reference_path(name)) as img:
        rgb = ImageOps.exif_transpose(img).convert("RGB")
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0)[None]


def _save_temp_png(picture: torch.Tensor, stem: str) -> dict:
    """Save [H, W, 3] in [0, 1] as a PNG in the temp folder under a content-derived name (the same picture gives
    the same file, so the widget's saved state does not change from run to run)."""
    array = (picture.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    digest = hashlib.sha1(array.tobytes()).hexdigest()[:16]
    filename = f"mts_{stem}_{digest}.png"
    path = os.path.join(folder_paths.get_temp_directory(), filename)
    if not os.path.isfile(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(array).save(path, compress_level=1)
    return {"filename": filename, "subfolder": "", "type": "temp"}


def _display_copy(image: torch.Tensor) -> torch.Tensor:
    height, width = image.shape[:2]
    scale = REFERENCE_PREVIEW_SIDE / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    planar = image.permute(2, 0, 1)[None].float()
    return torch.nn.functional.interpolate(planar, size=size, mode="bilinear", antialias=True,
                                           align_corners=False)[0].permute(1, 2, 0)


# ----------------------------------------------------------------------------------------------------------------
# The node


def _regions_from_drawing(state: DrawnState, height: int, width: int) -> tuple[torch.Tensor, list[str], list[Box]]:
    masks, labels, extents = [], [], []
    for i, region in enumerate(state.speakers, start=1):
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


class SpeakerMasks(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_SpeakerMasks",
            display_name="Speaker Masks (MultiTalk)",
            category=CATEGORY,
            description="Who is where: draw a box or brush a region per speaker (1-4) on the reference image, or type "
                        "regions, or leave it empty for equal vertical strips. Outputs one MASK per speaker in speaker "
                        "order (= audio order) and a preview of the token grid the model will see.",
            is_output_node=True,
            inputs=[
                io.Image.Input("image", optional=True,
                               tooltip="The reference image (first frame is used). Optional: you can instead paste, "
                                       "drop or upload an image onto the node. After a run the node shows it."),
                io.String.Input("regions", default="", socketless=True,
                                extra_dict={"widgetType": WIDGET_TYPE},
                                tooltip="Speaker regions drawn on the canvas. Box tool: drag on empty space to draw "
                                        "the next speaker, drag a box to move it, drag its handles to resize. Brush / "
                                        "Erase paint the selected speaker. Mouse wheel, middle-drag and right-click "
                                        "still zoom, pan and open menus."),
                io.Combo.Input("reference", options=reference_files(), default=NO_FILE,
                               tooltip="An image from ComfyUI's input folder to draw on when no image is connected. "
                                       "Pasting (Ctrl+V with the node selected), dropping or uploading an image "
                                       "onto the node sets it."),
                io.String.Input("typed_regions", default="", multiline=False,
                                tooltip="Used when nothing is drawn: one region per speaker in speaker order. Wan2GP "
                                        "percentages '0:45 55:100' (left:right) or '10:5:45:95 55:5:90:95' "
                                        "(left:top:right:bottom), pixel boxes '40,60,400,700; 480,60,840,700' "
                                        "(x1,y1,x2,y2) or fractions '0.05,0.1,0.45,0.9; 0.55,0.1,0.95,0.9'."),
                io.Int.Input("num_speakers", default=2, min=1, max=MAX_SPEAKERS,
                             tooltip="Used only when nothing is drawn or typed: that many equal vertical strips, "
                                     "speaker 1 leftmost."),
                io.Int.Input("width", default=832, min=16, max=4096, step=16,
                             tooltip="Video width, for the preview: the image and masks are cover-resized and "
                                     "centre-cropped to this size exactly as the video nodes do."),
                io.Int.Input("height", default=480, min=16, max=4096, step=16,
                             tooltip="Video height (multiple of 16), for the preview's crop and token grid."),
                io.Boolean.Input("include_background", default=False,
                                 tooltip="Append a background mask after the speakers: the drawn background region, "
                                         "or everything no speaker covers. Set the embeds node's "
                                         "masks_include_background to match."),
            ],
            outputs=[
                io.Mask.Output(display_name="masks",
                               tooltip="[N (+1), H, W] at the image size, speaker 1 first (+ background last)."),
                io.Image.Output(display_name="preview",
                                tooltip="The image at the video size with each speaker's tokens tinted and labelled, "
                                        "shared tokens striped, and the token grid drawn."),
                io.String.Output(display_name="regions_text",
                                 tooltip="Each speaker's extent as Wan2GP 'L:T:R:B' percentages, to paste elsewhere."),
            ],
        )

    @classmethod
    def validate_inputs(cls, reference):
        # Naming `reference` here skips the host's "value not in list" check for it (and only it): a shared
        # workflow may name an upload this machine lacks, which matters only when no image is connected,
        # and `execute` then reports it with the fix.
        return True

    @classmethod
    def fingerprint_inputs(cls, reference=None, image=None, **kwargs):
        if not reference or reference == NO_FILE:
            return ""
        try:
            stat = os.stat(folder_paths.get_annotated_filepath(reference))
        except (OSError, TypeError):
            return f"missing:{reference}"
        return f"{reference}:{stat.st_size}:{stat.st_mtime_ns}"

    @classmethod
    def execute(cls, regions, reference, typed_regions, num_speakers, width, height, include_background,
                image=None) -> io.NodeOutput:
        grid_h, grid_w = wan_token_grid(height, width)
        if image is not None:
            if image.ndim != 4 or image.shape[0] < 1 or image.shape[-1] < 3:
                raise InputError("image", f"expected an IMAGE [B, H, W, 3], got shape {tuple(image.shape)}.",
                                 "connect a ComfyUI IMAGE.")
            source, origin = image[0, ..., :3].float().cpu(), "connected"
        elif reference and reference != NO_FILE:
            source, origin = load_reference(reference)[0], "file"
        else:
            source, origin = torch.full((height, width, 3), 0.5), "none"
        src_h, src_w = int(source.shape[0]), int(source.shape[1])

        state = parse_state(regions)
        if state.speakers:
            kind = "drawn"
            if (typed_regions or "").strip():
                log.info("[MultiTalk Studio] Speaker Masks: regions are drawn, so typed_regions is ignored")
            masks, labels, extents = _regions_from_drawing(state, src_h, src_w)
        else:
            try:
                boxes = parse_regions(typed_regions, src_w, src_h)
            except InputError as exc:
                raise InputError("typed_regions", exc.problem, exc.fix) from None
            kind = "typed" if boxes else "auto"
            boxes = boxes or auto_layout(num_speakers)
            masks, labels, extents = boxes_to_masks(boxes, src_h, src_w), [str(i + 1) for i in range(len(boxes))], boxes
        if masks.shape[0] > MAX_SPEAKERS:
            raise InputError("typed_regions", f"describes {masks.shape[0]} speakers; at most {MAX_SPEAKERS} are "
                             "supported.", f"give at most {MAX_SPEAKERS} regions.")

        if include_background:
            if state.background is not None and state.background.drawn:
                background = region_mask(state.background, src_h, src_w)
                if not bool((background > 0).any()):
                    raise InputError("regions", "the drawn background region is empty (it was erased completely).",
                                     "draw the background again, or delete it to use everything no speaker covers.")
            else:
                background = 1.0 - (masks > 0).any(dim=0).float()
            masks = torch.cat([masks, background[None]], dim=0)
        elif state.background is not None and state.background.drawn:
            log.info("[MultiTalk Studio] Speaker Masks: a background is drawn but include_background is off")

        fitted = fit_masks(masks, width, height)
        validate_masks(fitted, "regions" if kind == "drawn" else "typed_regions", has_background=include_background)
        frame = fit_to_video(source[None], width, height)[0]
        preview = render_preview(frame, fitted, grid_h, grid_w, labels=labels, has_background=include_background)

        ui = {
            "mts_preview": [_save_temp_png(preview, "preview")],
            "mts_result": [{"source": kind, "speakers": len(labels), "image_size": [src_w, src_h],
                            "image_origin": origin, "boxes": [list(b) for b in extents],
                            "background": bool(include_background)}],
        }
        if origin == "connected":
            ui["mts_reference"] = [_save_temp_png(_display_copy(source), "reference")]
        return io.NodeOutput(masks, preview[None], format_regions(extents), ui=ui)


MASK_NODES: list = [SpeakerMasks]
