"""Speaker Masks through the real host: every region format -> the right masks, errors that name the speaker,
and a preview whose token grid is the adapter's routing."""
from __future__ import annotations

import itertools
import json
import math
import os

import pytest
import torch
from PIL import Image

from comfy_host import graph
from wan_multitalk.embeds import SpeakerEmbeds
from wan_multitalk.masks import (BACKGROUND_COLOUR, PREVIEW_BACKGROUND_TINT, PREVIEW_TINT, SPEAKER_COLOURS, Box,
                                 auto_layout, boxes_to_masks, fit_masks, format_regions, render_preview, token_masks,
                                 wan_token_grid)
from wan_multitalk.speaker_routing import speaker_routing
from wan_multitalk.video.resize import cover_crop

IMG_W, IMG_H = 96, 64
NODE = "MTS_SpeakerMasks"
RUNS = itertools.count()


def state(*speakers, background=None, version=1) -> str:
    return json.dumps({"version": version, "speakers": list(speakers), "background": background, "image": None})


def speaker(box=None, strokes=(), label=""):
    return {"label": label, "box": box, "strokes": list(strokes)}


def stroke(points, radius, mode="paint"):
    return {"mode": mode, "radius": radius, "points": [list(p) for p in points]}


def run_node(host, *, regions="", typed="", num_speakers=2, width=64, height=48, background=False,
             reference="(none)", image_size=(IMG_W, IMG_H), seed=7, expect_success=True):
    g = graph()
    inputs = dict(regions=regions, reference=reference, typed_regions=typed, num_speakers=num_speakers, width=width,
                  height=height, include_background=background)
    image = None
    if image_size is not None:
        image = g.node("MTSTest_RandomImage", seed=seed, width=image_size[0], height=image_size[1], batch=1)
        inputs["image"] = image.out(0)
    node = g.node(NODE, **inputs)
    # A fresh key per run: the host caches output nodes whose inputs did not change, and a cached capture
    # node would not capture again.
    run = next(RUNS)
    g.node("MTSTest_Capture", value=node.out(0), key=f"masks#{run}")
    g.node("MTSTest_Capture", value=node.out(1), key=f"preview#{run}")
    g.node("MTSTest_Capture", value=node.out(2), key=f"text#{run}")
    if image is not None:
        g.node("MTSTest_Capture", value=image.out(0), key=f"image#{run}")
    result = host.run(g.finalize(), expect_success=expect_success)
    result.captured = {k.split("#")[0]: v for k, v in result.captured.items()}
    result.node_id = node.id
    return result


def error_text(result) -> str:
    assert not result.success, "the prompt should have failed"
    err = result.error() or {}
    return f"{err.get('exception_type')}: {err.get('exception_message')}"


# ------------------------------------------------------------------------------------------ reference rasteriser


def reference_region(box, strokes, height, width) -> torch.Tensor:
    """The widget contract written out pixel by pixel: the box by pixel centres ([x0, x1) x [y0, y1)), then each
    stroke in order covers the pixels whose centre is within radius * min(w, h) of its polyline."""
    out = torch.zeros(height, width)
    for y in range(height):
        for x in range(width):
            cx, cy = x + 0.5, y + 0.5
            inside = bool(box) and box[0] * width <= cx < box[2] * width and box[1] * height <= cy < box[3] * height
            for s in strokes:
                r = s["radius"] * min(width, height)
                pts = [(px * width, py * height) for px, py in s["points"]]
                segs = list(zip(pts, pts[1:])) or [(pts[0], pts[0])]
                if min(dist_to_segment(cx, cy, a, b) for a, b in segs) <= r:
                    inside = s["mode"] == "paint"
            out[y, x] = float(inside)
    return out


def dist_to_segment(px, py, a, b) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    if dx == 0 and dy == 0:
        return math.hypot(px - ax, py - ay)
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


# ------------------------------------------------------------------------------------------ drawn regions


def test_drawn_boxes_give_the_library_masks_in_speaker_order(host):
    boxes = [Box(0.61, 0.1, 0.93, 0.95), Box(0.05, 0.2, 0.41, 0.9), Box(0.3, 0.0, 0.7, 0.37)]
    result = run_node(host, regions=state(*(speaker(list(b)) for b in boxes)))

    masks = result.captured["masks"]
    assert masks.dtype == torch.float32 and tuple(masks.shape) == (3, IMG_H, IMG_W)
    assert torch.equal(masks, boxes_to_masks(boxes, IMG_H, IMG_W))  # the drawn order, not left-to-right
    assert result.captured["text"] == format_regions(boxes)


def test_brush_and_erase_strokes_match_the_pixel_reference(host):
    speakers = [
        # a box with a bite erased out of it and a dab painted outside it
        speaker([0.1, 0.15, 0.45, 0.8], [stroke([(0.44, 0.2), (0.3, 0.42)], 0.0731, "erase"),
                                        stroke([(0.06, 0.91)], 0.0513)]),
        # brush only: a bent polyline
        speaker(None, [stroke([(0.55, 0.2), (0.83, 0.33), (0.71, 0.77)], 0.0917)], label="Bo"),
        # paint, then erase across it, then paint again over part of the erased line
        speaker(None, [stroke([(0.52, 0.88), (0.97, 0.88)], 0.0811), stroke([(0.75, 0.7), (0.75, 0.99)], 0.0412, "erase"),
                       stroke([(0.76, 0.93)], 0.0301)]),
    ]
    result = run_node(host, regions=state(*speakers))

    masks = result.captured["masks"]
    for i, s in enumerate(speakers):
        expected = reference_region(s["box"], s["strokes"], IMG_H, IMG_W)
        assert torch.equal(masks[i], expected), f"speaker {i + 1}: {int((masks[i] != expected).sum())} pixels differ"
        assert 0 < int(expected.sum()) < IMG_H * IMG_W
    # regions_text gives the extent of brushed regions in Wan2GP form
    tokens = result.captured["text"].split()
    assert len(tokens) == 3
    ys, xs = torch.nonzero(masks[1], as_tuple=True)
    assert tokens[1] == format_regions([Box(int(xs.min()) / IMG_W, int(ys.min()) / IMG_H, (int(xs.max()) + 1) / IMG_W,
                                            (int(ys.max()) + 1) / IMG_H)])


def test_background_is_the_complement_or_the_drawn_region(host):
    boxes = [Box(0.0, 0.0, 0.5, 1.0), Box(0.4, 0.2, 0.8, 0.7)]
    drawn = state(*(speaker(list(b)) for b in boxes))
    masks = run_node(host, regions=drawn, background=True).captured["masks"]
    speakers = boxes_to_masks(boxes, IMG_H, IMG_W)
    assert tuple(masks.shape) == (3, IMG_H, IMG_W)
    assert torch.equal(masks[:2], speakers)
    assert torch.equal(masks[2], 1 - speakers.amax(dim=0))

    bg = speaker([0.85, 0.0, 1.0, 1.0])
    masks = run_node(host, regions=state(*(speaker(list(b)) for b in boxes), background=bg),
                     background=True).captured["masks"]
    assert torch.equal(masks[2], boxes_to_masks([Box(0.85, 0.0, 1.0, 1.0)], IMG_H, IMG_W)[0])
    # drawn but not asked for: no background mask
    masks = run_node(host, regions=state(*(speaker(list(b)) for b in boxes), background=bg)).captured["masks"]
    assert masks.shape[0] == 2


def test_drawing_wins_over_typed_regions(host):
    boxes = [Box(0.2, 0.2, 0.6, 0.6)]
    masks = run_node(host, regions=state(speaker(list(boxes[0]))), typed="0:50 50:100").captured["masks"]
    assert torch.equal(masks, boxes_to_masks(boxes, IMG_H, IMG_W))


# ------------------------------------------------------------------------------------------ typed and automatic


@pytest.mark.parametrize("typed, boxes", [
    ("0:45 55:100", [Box(0, 0, 0.45, 1), Box(0.55, 0, 1, 1)]),
    ("10:5:45:95 55:5:90:95", [Box(0.1, 0.05, 0.45, 0.95), Box(0.55, 0.05, 0.9, 0.95)]),
    ("60:0:100:100 0:20:40:80", [Box(0.6, 0, 1, 1), Box(0, 0.2, 0.4, 0.8)]),
    ("4,6,40,60; 50,6,96,60", [Box(4 / 96, 6 / 64, 40 / 96, 60 / 64), Box(50 / 96, 6 / 64, 1, 60 / 64)]),
    ("[0,0,48,64] [48,0,120,64]", [Box(0, 0, 0.5, 1), Box(0.5, 0, 1, 1)]),  # clipped at the right edge
    ("0.05,0.1,0.45,0.9; 0.55,0.1,0.95,0.9", [Box(0.05, 0.1, 0.45, 0.9), Box(0.55, 0.1, 0.95, 0.9)]),
    ("0:25 25:50 50:75 75:100", [Box(i / 4, 0, (i + 1) / 4, 1) for i in range(4)]),
])
def test_typed_regions_every_format(host, typed, boxes):
    masks = run_node(host, typed=typed, num_speakers=1).captured["masks"]
    assert torch.equal(masks, boxes_to_masks(boxes, IMG_H, IMG_W))


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_nothing_drawn_or_typed_gives_the_default_layout(host, n):
    """Equal columns inset by 5 % (the official default, tests/test_masks.py), drawn on the image as given."""
    result = run_node(host, num_speakers=n)
    masks = result.captured["masks"]
    assert torch.equal(masks, boxes_to_masks(auto_layout(n, IMG_W, IMG_H), IMG_H, IMG_W))
    assert masks.sum(dim=0).max() == 1  # no overlap, left to right
    assert n > 1 or torch.equal(masks[0], torch.ones(IMG_H, IMG_W))  # one speaker owns the whole image
    cols = [int(torch.nonzero(m.any(dim=0)).min()) for m in masks]
    assert cols == sorted(cols)
    assert result.ui_outputs[result.node_id]["mts_result"][0]["source"] == "auto"


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("regions, quoted", [
    (state(speaker([0.1, 0.1, 0.4, 0.9]), speaker(None)), "speaker 2"),
    (state(speaker([0.1, 0.1, 0.4, 0.9], label="Ann"),
           speaker([0.5, 0.1, 0.9, 0.9], [stroke([(0.5, 0.5), (0.9, 0.5)], 0.6, "erase")], label="Ben")),
     "speaker 2 ('Ben')"),
    (state(speaker(None, [stroke([(0.3, 0.5)], 0.001)])), "speaker 1"),  # thinner than a pixel
])
def test_empty_drawn_region_names_the_speaker(host, regions, quoted):
    message = error_text(run_node(host, regions=regions, expect_success=False))
    assert f"regions: {quoted}" in message and "empty" in message


def test_region_lost_to_the_centre_crop_names_the_speaker(host):
    # a wide image cropped to a square video keeps only the middle: a box at the far right disappears
    message = error_text(run_node(host, typed="30:70 92:100", width=48, height=48, image_size=(144, 48),
                                  expect_success=False))
    assert "typed_regions: speaker 2's region is empty after resizing to 48x48" in message


@pytest.mark.parametrize("kwargs, quoted", [
    (dict(typed="0:20 20:40 40:60 60:80 80:100"), "at most 4"),
    (dict(typed="0:45 banana"), "typed_regions: 'banana'"),
    (dict(regions='{"version": 2, "speakers": []}'), "newer MultiTalk Studio"),
    (dict(regions="not json"), "regions: is not the widget's region data"),
    (dict(regions=state(speaker([0.1, "x", 0.4, 0.9]))), "speaker 1's box"),
    (dict(width=50), "not a multiple of 16"),
])
def test_bad_input_is_reported_with_its_input(host, kwargs, quoted):
    message = error_text(run_node(host, expect_success=False, **kwargs))
    assert quoted in message and "Fix:" in message


def test_uploaded_reference_is_used_when_no_image_is_connected(host):
    import folder_paths

    picture = torch.rand(40, 70, 3)
    name = "mts_test_reference.png"
    Image.fromarray((picture * 255).round().to(torch.uint8).numpy()).save(
        os.path.join(folder_paths.get_input_directory(), name))
    box = Box(0.1, 0.2, 0.5, 0.9)
    result = run_node(host, regions=state(speaker(list(box))), reference=name, image_size=None)
    assert torch.equal(result.captured["masks"], boxes_to_masks([box], 40, 70))
    ui = result.ui_outputs[result.node_id]
    assert ui["mts_result"][0]["image_size"] == [70, 40] and ui["mts_result"][0]["image_origin"] == "file"
    assert "mts_reference" not in ui  # the widget already shows the uploaded file

    message = error_text(run_node(host, reference="gone.png", image_size=None, expect_success=False))
    assert "reference: 'gone.png' is not in ComfyUI's input folder" in message

    # nothing at all: masks at the video size
    masks = run_node(host, image_size=None, width=64, height=32).captured["masks"]
    assert tuple(masks.shape) == (2, 32, 64)


def test_ui_payload_gives_the_widget_its_pictures(host):
    import folder_paths

    result = run_node(host, regions=state(speaker([0.1, 0.1, 0.5, 0.9])), image_size=(1500, 900))
    ui = result.ui_outputs[result.node_id]
    assert "images" not in ui  # no stray preview under the widget
    temp = folder_paths.get_temp_directory()
    for key in ("mts_reference", "mts_preview"):
        item = ui[key][0]
        assert item["type"] == "temp" and os.path.isfile(os.path.join(temp, item["subfolder"], item["filename"]))
    with Image.open(os.path.join(temp, ui["mts_reference"][0]["filename"])) as ref:
        assert ref.size == (1024, 614)  # a display copy, not the full image
    info = ui["mts_result"][0]
    assert info["source"] == "drawn" and info["image_size"] == [1500, 900] and info["speakers"] == 1
    assert info["boxes"] == [[0.1, 0.1, 0.5, 0.9]]


# ------------------------------------------------------------------------------------------ preview = routing


@pytest.mark.parametrize("background", [False, True])
def test_preview_token_grid_is_the_adapters_routing(host, background):
    width, height, image_size = 160, 96, (200, 150)  # cover crop cuts rows off the top and bottom
    speakers = [speaker([0.05, 0.05, 0.5, 0.95], label="Ann"),
                speaker([0.4, 0.3, 0.95, 0.9], [stroke([(0.9, 0.1), (0.7, 0.25)], 0.06)]),
                speaker([0.0, 0.0, 0.2, 0.3])]
    result = run_node(host, regions=state(*speakers), width=width, height=height, image_size=image_size,
                      background=background)
    masks, preview, image = (result.captured[k] for k in ("masks", "preview", "image"))
    assert tuple(preview.shape) == (1, height, width, 3)
    grid_h, grid_w = wan_token_grid(height, width)

    # what the adapter routes with: the embeds' masks through its own fit + token rule
    embeds = SpeakerEmbeds(features=torch.zeros(3, 1, 12, 768), fps=25.0, masks=masks)
    routing = speaker_routing(embeds, width, height)
    fitted, tokens = routing.pixel_masks, routing.token_masks
    assert routing.has_background == background
    assert torch.equal(tokens, token_masks(fit_masks(masks, width, height), grid_h, grid_w, has_background=background))

    # the preview is the library's drawing of exactly those masks on the same crop of the image
    frame = cover_crop(image, width, height, mode="bilinear").clamp(0, 1)[0]
    labels = ["1 Ann", "2", "3"]
    assert torch.equal(preview[0], render_preview(frame, fitted, grid_h, grid_w, labels=labels, has_background=background))

    # ...and read back cell by cell, each token shows the tint of the speaker(s) the adapter gives it to
    owners = tokens.reshape(-1, grid_h, grid_w)
    n = 3
    colours = torch.tensor(SPEAKER_COLOURS[:n])
    corners = [(int(torch.nonzero(m > 0)[:, 1].min()), int(torch.nonzero(m > 0)[:, 0].min())) for m in fitted[:n]]
    checked = shared = 0
    for r in range(grid_h):
        for c in range(grid_w):
            # inside the cell, off its grid line and off the 2-pixel outlines along mask edges on cell borders
            ys, xs = slice(r * 16 + 3, r * 16 + 14), slice(c * 16 + 3, c * 16 + 14)
            block = fitted[:n, r * 16:(r + 1) * 16, c * 16:(c + 1) * 16]
            near_label = any(x - 2 <= c * 16 + 16 and c * 16 <= x + 50 and y - 2 <= r * 16 + 16 and r * 16 <= y + 26
                             for x, y in corners)
            if not bool((block == block[:, :1, :1]).all()) or near_label:
                continue  # a mask edge (outline) or a label runs through this cell
            pixels, base = preview[0, ys, xs].reshape(-1, 3), frame[ys, xs].reshape(-1, 3)
            who = [k for k in range(n) if owners[k, r, c]]
            if not who:
                expected = torch.lerp(base, torch.tensor(BACKGROUND_COLOUR).expand_as(base), PREVIEW_BACKGROUND_TINT)
                assert bool(owners[n, r, c]) and torch.allclose(pixels, expected, atol=1.5 / 255), (r, c)
            else:
                hits = {k for k in who for p, b in zip(pixels, base)
                        if torch.allclose(p, torch.lerp(b, colours[k], PREVIEW_TINT), atol=1.5 / 255)}
                assert hits == set(who), f"token ({r}, {c}) shows {hits}, routed to {who}"
                shared += len(who) > 1
            checked += 1
    assert checked > grid_h * grid_w // 2 and shared > 0
