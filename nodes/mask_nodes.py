"""Speaker Masks: regions drawn in the node's canvas widget (js/speaker_masks.js), typed as text, or an
automatic layout, turned into one MASK per speaker plus a preview of the token grid the model sees. The drawn
regions' JSON schema and its rules live in `wan_multitalk/regions.py`; the widget is given them with the input.
"""
from __future__ import annotations

import logging

import torch
from comfy_api.latest import io

from ..wan_multitalk.errors import InputError
from ..wan_multitalk.limits import MAX_SPEAKERS
from ..wan_multitalk.masks import (auto_layout, boxes_to_masks, fit_masks, format_regions, parse_regions,
                                   render_preview, validate_masks, wan_token_grid)
from ..wan_multitalk.regions import background_mask, parse_drawing, speaker_region_masks, widget_schema
from ..wan_multitalk.video.resize import downscaled, fit_to_video
from .host.folders import input_image_fingerprint, input_images, load_input_image, save_temp_png

log = logging.getLogger("multitalk_studio")
CATEGORY = "MultiTalk Studio"
WIDGET_TYPE = "MTS_SPEAKER_REGIONS"
NO_FILE = "(none)"
REFERENCE_PREVIEW_SIDE = 1024  # the widget only needs a display copy of a connected image


class SpeakerMasks(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_SpeakerMasks",
            display_name="Speaker Masks (MultiTalk)",
            category=CATEGORY,
            search_aliases=["multitalk", "infinitetalk", "speaker masks", "ref_target_masks", "speaker regions",
                            "who is where"],
            description="Who is where: draw a box or brush a region per speaker (1-4) on the reference image, or type "
                        "regions, or leave it empty for the official default layout (equal columns). Outputs one MASK "
                        "per speaker in speaker order (= audio order) and a preview of the token grid the model will "
                        "see.",
            is_output_node=True,
            inputs=[
                io.Image.Input("image", optional=True,
                               tooltip="The reference image (first frame is used). Optional: you can instead paste, "
                                       "drop or upload an image onto the node. The picture chosen in a connected "
                                       "Load Image shows at once; any other image after a run."),
                io.String.Input("regions", default="", socketless=True,
                                extra_dict={"widgetType": WIDGET_TYPE, "regionSchema": widget_schema()},
                                tooltip="Speaker regions drawn on the canvas. Box tool: drag anywhere except inside "
                                        "the selected box to draw a box (it replaces the first default strip still "
                                        "shown, else adds a speaker); click a region to select it, drag the selected "
                                        "box to move it, its handles to resize. Brush / Erase paint the selected "
                                        "speaker. Ctrl+Z / Ctrl+Y undo and redo in the widget. Mouse wheel, "
                                        "middle-drag and right-click still zoom, pan and open menus."),
                io.Combo.Input("reference", options=[NO_FILE, *input_images()], default=NO_FILE,
                               tooltip="An image from ComfyUI's input folder to draw on when no image is connected. "
                                       "Pasting (Ctrl+V with the node selected), dropping or uploading an image "
                                       "onto the node sets it."),
                io.String.Input("typed_regions", default="", multiline=False,
                                tooltip="Used when nothing is drawn: one region per speaker in speaker order, "
                                        "drawn in the widget as you type (a text the node cannot read is flagged "
                                        "there). Wan2GP "
                                        "percentages '0:45 55:100' (left:right) or '10:5:45:95 55:5:90:95' "
                                        "(left:top:right:bottom), pixel boxes '40,60,400,700; 480,60,840,700' "
                                        "(x1,y1,x2,y2) or fractions '0.05,0.1,0.45,0.9; 0.55,0.1,0.95,0.9'."),
                io.Int.Input("num_speakers", default=2, min=1, max=MAX_SPEAKERS,
                             tooltip="Used only when nothing is drawn or typed: the official default layout, that "
                                     "many equal columns (speaker 1 leftmost) inset by 5 % of their width and of the "
                                     "height; one speaker owns the whole image."),
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
        return input_image_fingerprint(reference)

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
            source, origin = load_input_image(reference, "reference")[0], "file"
        else:
            source, origin = torch.full((height, width, 3), 0.5), "none"
        src_h, src_w = int(source.shape[0]), int(source.shape[1])

        drawing = parse_drawing(regions)
        if drawing.speakers:
            kind = "drawn"
            if (typed_regions or "").strip():
                log.info("[MultiTalk Studio] Speaker Masks: regions are drawn, so typed_regions is ignored")
            masks, labels, extents = speaker_region_masks(drawing, src_h, src_w)
        else:
            try:
                boxes = parse_regions(typed_regions, src_w, src_h)
            except InputError as exc:
                raise InputError("typed_regions", exc.problem, exc.fix) from None
            kind = "typed" if boxes else "auto"
            boxes = boxes or auto_layout(num_speakers, src_w, src_h)
            masks, labels, extents = boxes_to_masks(boxes, src_h, src_w), [str(i + 1) for i in range(len(boxes))], boxes
        if masks.shape[0] > MAX_SPEAKERS:
            raise InputError("typed_regions", f"describes {masks.shape[0]} speakers; at most {MAX_SPEAKERS} are "
                             "supported.", f"give at most {MAX_SPEAKERS} regions.")

        if include_background:
            masks = torch.cat([masks, background_mask(drawing, masks)[None]], dim=0)
        elif drawing.background is not None and drawing.background.drawn:
            log.info("[MultiTalk Studio] Speaker Masks: a background is drawn but include_background is off")

        fitted = fit_masks(masks, width, height)
        validate_masks(fitted, "regions" if kind == "drawn" else "typed_regions", has_background=include_background)
        frame = fit_to_video(source[None], width, height)[0]
        preview = render_preview(frame, fitted, grid_h, grid_w, labels=labels, has_background=include_background)

        ui = {
            "mts_preview": [save_temp_png(preview, "preview")],
            "mts_result": [{"source": kind, "speakers": len(labels), "image_size": [src_w, src_h],
                            "image_origin": origin, "boxes": [list(b) for b in extents],
                            "background": bool(include_background)}],
        }
        if origin == "connected":
            ui["mts_reference"] = [save_temp_png(downscaled(source, REFERENCE_PREVIEW_SIDE), "reference")]
        return io.NodeOutput(masks, preview[None], format_regions(extents), ui=ui)


MASK_NODES: list = [SpeakerMasks]
