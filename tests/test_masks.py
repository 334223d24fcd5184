"""Speaker regions: parsing, rasterising, fitting to the frame, token ownership, preview.

Parity with the official MeiGen code (MultiTalk `wan/multitalk.py` generate() and `wan/modules/multitalk_model.py`
WanModel.forward; InfiniteTalk identical) is checked against re-derivations of its rules written here: the token
masks of its chain of nearest resizes, and its default two-speaker layout (`face_scale` 0.05).
"""
import math

import pytest
import torch
import torch.nn.functional as F

from wan_multitalk.errors import InputError
from wan_multitalk.masks import (
    SPEAKER_COLOURS,
    Box,
    auto_layout,
    boxes_to_masks,
    check_mask_alignment,
    fit_masks,
    format_regions,
    parse_regions,
    render_preview,
    token_masks,
    validate_masks,
    wan_token_grid,
)
from wan_multitalk.video.resize import cover_crop


def loop_mask(box_px, height, width):
    """Pixel (y, x) is in when its centre lies in [x0, x1) x [y0, y1) given in pixel units."""
    x0, y0, x1, y1 = box_px
    out = torch.zeros(height, width)
    for y in range(height):
        for x in range(width):
            if x0 <= x + 0.5 < x1 and y0 <= y + 0.5 < y1:
                out[y, x] = 1.0
    return out


def rect(height, width, rows, cols):
    out = torch.zeros(height, width)
    out[rows[0]:rows[1], cols[0]:cols[1]] = 1.0
    return out


# ---- parsing -------------------------------------------------------------------------------

def test_percentage_columns_are_full_height():
    boxes = parse_regions("0:45 55:100", 200, 100)
    assert boxes == [Box(0.0, 0.0, 0.45, 1.0), Box(0.55, 0.0, 1.0, 1.0)]
    masks = boxes_to_masks(boxes, 100, 200)
    assert torch.equal(masks[0], rect(100, 200, (0, 100), (0, 90)))
    assert torch.equal(masks[1], rect(100, 200, (0, 100), (110, 200)))


def test_percentage_boxes_on_non_square_image():
    boxes = parse_regions("10:5:45:95  50:20:90:70", 300, 120)
    masks = boxes_to_masks(boxes, 120, 300)
    assert torch.equal(masks[0], loop_mask((30, 6, 135, 114), 120, 300))
    assert torch.equal(masks[1], loop_mask((150, 24, 270, 84), 120, 300))
    # hand-counted: columns 30..134, rows 6..113
    assert torch.equal(masks[0], rect(120, 300, (6, 114), (30, 135)))


def test_pixel_boxes_on_non_square_image():
    text = "30,15,150,135; 150,0,300,150"
    boxes = parse_regions(text, 300, 150)
    assert boxes[0] == pytest.approx((0.1, 0.1, 0.5, 0.9))
    masks = boxes_to_masks(boxes, 150, 300)
    assert torch.equal(masks[0], rect(150, 300, (15, 135), (30, 150)))
    assert torch.equal(masks[1], rect(150, 300, (0, 150), (150, 300)))
    assert not bool((masks[0] * masks[1]).any())  # shared edge x = 150 splits, no overlap


def test_edges_through_pixel_centres_include_left_and_top_only():
    # x0 * 16 = 2.5 and x1 * 16 = 10.5 hit pixel centres exactly (both values are exact floats)
    masks = boxes_to_masks([Box(2.5 / 16, 2.5 / 16, 10.5 / 16, 1.0)], 16, 16)
    assert torch.equal(masks[0], rect(16, 16, (2, 16), (2, 10)))


def test_fractional_boxes_and_pixel_decimals():
    assert parse_regions("0.1,0.2,0.5,0.9", 640, 360) == [Box(0.1, 0.2, 0.5, 0.9)]
    boxes = parse_regions("32.5, 0, 320.0, 180", 640, 360)
    assert boxes[0] == pytest.approx((32.5 / 640, 0.0, 0.5, 0.5))
    masks = boxes_to_masks(boxes, 360, 640)
    assert torch.equal(masks[0], loop_mask((32.5, 0, 320, 180), 360, 640))


def test_fraction_rule_applies_to_whole_text():
    assert parse_regions("0,0,1,1", 50, 40) == [Box(0.0, 0.0, 1.0, 1.0)]  # all <= 1: fractions
    mixed = parse_regions("0,0,1,1; 10,10,50,40", 50, 40)  # one value > 1: all are pixels
    assert mixed[0] == pytest.approx((0.0, 0.0, 1 / 50, 1 / 40))


def test_box_separators_and_brackets():
    expected = [Box(0.1, 0.2, 0.5, 0.9), Box(0.5, 0.2, 0.9, 0.9)]
    for text in ("0.1,0.2,0.5,0.9;0.5,0.2,0.9,0.9", "[0.1, 0.2, 0.5, 0.9]\n[0.5, 0.2, 0.9, 0.9]",
                 "(0.1,0.2,0.5,0.9) (0.5,0.2,0.9,0.9)",
                 " 0.1 , 0.2 , 0.5 , 0.9 ; 0.5,0.2,0.9,0.9 "):
        assert parse_regions(text, 100, 100) == expected


@pytest.mark.parametrize("text", ["0:0:50:100, 50:0:100:100", "0:0:50:100,50:0:100:100", "0:50; 50:100",
                                  "0:50 , 50:100"])
def test_commas_between_percentage_tokens_only_separate_them(text):
    """A comma no longer switches the whole text to pixel boxes: colons mean percentages (a box has none)."""
    assert parse_regions(text, 640, 480) == [Box(0.0, 0.0, 0.5, 1.0), Box(0.5, 0.0, 1.0, 1.0)]


def test_pixel_boxes_are_clipped_to_the_image():
    boxes = parse_regions("-20,-10,60,50", 100, 40)
    assert boxes == [Box(0.0, 0.0, 0.6, 1.0)]


def test_blank_text_means_no_regions():
    assert parse_regions("  \n", 10, 10) == []


def test_format_regions_round_trips():
    boxes = [Box(0.05, 0.1, 0.45, 0.9), Box(0.5, 0.0, 1.0, 1.0)]
    text = format_regions(boxes)
    assert text == "5:10:45:90 50:0:100:100"
    parsed = parse_regions(text, 640, 480)
    assert [v for b in parsed for v in b] == pytest.approx([v for b in boxes for v in b])


@pytest.mark.parametrize("text, quoted", [
    ("0:45 55:abc", "55:abc"), ("0:45:90", "0:45:90"), ("0:45 55:120", "55:120"),
    ("10,20,30", "10,20,30"), ("10,20,30,x", "10,20,30,x"), ("left right", "left right"),
])
def test_bad_tokens_are_quoted_with_examples(text, quoted):
    with pytest.raises(InputError) as info:
        parse_regions(text, 640, 480)
    assert info.value.input_name == "regions"
    assert f"'{quoted}'" in str(info.value)
    assert "0:45 55:100" in info.value.fix and "x1,y1,x2,y2" in info.value.fix


@pytest.mark.parametrize("text, speaker", [
    ("0:45 60:60", 2), ("10:50:40:50", 1), ("0,0,10,10; 30,5,20,40", 2),
    ("0,0,10,10; 0,0,10,10; 700,10,800,50", 3),  # entirely right of a 640-wide image
])
def test_zero_area_names_the_speaker(text, speaker):
    with pytest.raises(InputError) as info:
        parse_regions(text, 640, 480)
    assert f"speaker {speaker}'s region" in str(info.value)


def official_default_layout(src_h: int, src_w: int) -> torch.Tensor:
    """Re-derivation of the official two speakers without bbox (MultiTalk wan/multitalk.py L558-570, face_scale 0.05
    from L359; InfiniteTalk L602-614): rows 5-95 % of the height, each half's columns 5-95 % of the half's width,
    every edge truncated to a whole pixel as Python's int() does."""
    scale = 0.05
    half = src_w // 2
    rows = range(int(src_h * scale), int(src_h * (1 - scale)))
    masks = torch.zeros(2, src_h, src_w)
    for k in range(2):
        cols = range(int(half * scale + k * half), int(half * (1 - scale) + k * half))
        for y in rows:
            for x in cols:
                masks[k, y, x] = 1.0
    return masks


@pytest.mark.parametrize("height, width", [(480, 832), (1080, 1920), (721, 1283), (48, 64), (23, 41)])
def test_default_two_speaker_layout_is_the_official_inset_halves(height, width):
    assert torch.equal(boxes_to_masks(auto_layout(2, width, height), height, width),
                       official_default_layout(height, width))


def test_default_layout_of_more_speakers_and_of_one():
    width, height = 100, 40
    boxes = auto_layout(4, width, height)
    masks = boxes_to_masks(boxes, height, width)
    column = width // 4
    for k in range(4):  # the same inset columns, speaker 1 leftmost, no overlap
        cols = torch.nonzero(masks[k].any(dim=0)).flatten()
        assert int(cols[0]) == int(column * 0.05 + k * column) and int(cols[-1]) + 1 == int(column * 0.95 + k * column)
    assert masks.sum(dim=0).max() == 1 and torch.equal(masks[:, :2].sum(), torch.tensor(0.0))
    assert auto_layout(1, width, height) == [Box(0.0, 0.0, 1.0, 1.0)]
    with pytest.raises(InputError):
        auto_layout(0, width, height)


# ---- fitting to the frame ------------------------------------------------------------------

def cover_nearest_loop(src, width, height):
    """Explicit re-derivation: scale to cover, centre crop, sample under each pixel centre."""
    h, w = src.shape
    scale = max(width / w, height / h)
    left = (math.floor(w * scale) - width) // 2
    top = (math.floor(h * scale) - height) // 2
    out = torch.zeros(height, width)
    for i in range(height):
        for j in range(width):
            y = min(h - 1, math.floor((i + 0.5 + top) / scale))
            x = min(w - 1, math.floor((j + 0.5 + left) / scale))
            out[i, j] = src[y, x]
    return out


@pytest.mark.parametrize("source, target", [((64, 36), (48, 48)), ((40, 30), (100, 36)),
                                            ((37, 53), (24, 40))])
def test_fit_masks_matches_explicit_cover_crop(source, target):
    w, h = source
    mask = (torch.rand(1, h, w, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    fitted = fit_masks(mask, *target)
    assert fitted.shape == (1, target[1], target[0])
    assert torch.equal(fitted[0], cover_nearest_loop(mask[0], *target))


def test_mask_of_other_size_lands_where_the_image_box_lands():
    # A 640x360 image with a box, cropped to a square (another aspect ratio), and the same box
    # drawn as a mask at half resolution: both must end up on the same output pixels.
    image = torch.zeros(1, 360, 640, 3)
    image[0, 40:300, 120:420] = 1.0
    half_mask = torch.zeros(1, 180, 320)
    half_mask[0, 20:150, 60:210] = 1.0
    image_box = cover_crop(image, 480, 480, mode="nearest")[0, ..., 0]
    mask_box = fit_masks(half_mask, 480, 480)[0]
    assert torch.equal(mask_box, image_box)
    # The antialiased bilinear image may only disagree on the box's one-pixel border band.
    bilinear = cover_crop(image, 480, 480)[0, ..., 0]
    grown = torch.nn.functional.max_pool2d(mask_box[None, None], 3, 1, 1)[0, 0]
    shrunk = -torch.nn.functional.max_pool2d(-mask_box[None, None], 3, 1, 1)[0, 0]
    disagree = (bilinear > 0.5).float() != mask_box
    assert bool((grown != shrunk)[disagree].all())


def test_region_cropped_away_is_reported():
    boxes = parse_regions("0:10 45:55", 1280, 720)  # 16:9 -> square crop loses the left 21.9 %
    masks = fit_masks(boxes_to_masks(boxes, 720, 1280), 480, 480)
    with pytest.raises(InputError) as info:
        validate_masks(masks, "speaker_regions")
    assert info.value.input_name == "speaker_regions"
    assert "speaker 1's region is empty after resizing to 480x480" in str(info.value)


def test_validate_masks_allows_overlap_and_empty_background():
    masks = torch.zeros(3, 8, 8)
    masks[0, :, :5] = 1
    masks[1, :, 3:] = 1
    validate_masks(masks, "masks", has_background=True)  # background row may be empty
    with pytest.raises(InputError) as info:
        validate_masks(masks, "masks")
    assert "speaker 3's region" in str(info.value) and "8x8" in str(info.value)


# ---- token masks ---------------------------------------------------------------------------

def official_token_masks(masks: torch.Tensor) -> torch.Tensor:
    """Re-derivation of the official chain: the frame-size masks nearest-resized to the latent grid (H/8, W/8) and
    binarised (MultiTalk wan/multitalk.py L579-580), then nearest-resized to the token grid (H/16, W/16) and
    binarised (wan/modules/multitalk_model.py L673-675)."""
    height, width = masks.shape[-2:]
    latent = (F.interpolate(masks[None].float(), size=(height // 8, width // 8), mode="nearest") > 0).float()
    tokens = F.interpolate(latent, size=(height // 16, width // 16), mode="nearest")[0] > 0
    return tokens.flatten(1)


def first_pixel_loop(masks, grid_h, grid_w):
    """Token (r, c) reads the first pixel of its cell: row floor(r * H / grid_h), column floor(c * W / grid_w)."""
    n, height, width = masks.shape
    out = torch.zeros(n, grid_h * grid_w, dtype=torch.bool)
    for s in range(n):
        for r in range(grid_h):
            for c in range(grid_w):
                out[s, r * grid_w + c] = bool(masks[s, r * height // grid_h, c * width // grid_w] > 0)
    return out


@pytest.mark.parametrize("height, width", [(192, 192), (480, 832), (48, 64), (720, 1280)])
def test_token_masks_follow_the_official_chain_of_nearest_resizes(height, width):
    g = torch.Generator().manual_seed(height + width)
    # blobs of a few pixels: most token cells are mixed, so centre and corner picks differ often
    soft = F.interpolate(torch.rand(3, 1, height // 5, width // 5, generator=g), size=(height, width))[:, 0]
    masks = torch.where(soft > 0.6, soft * 0.01, torch.zeros_like(soft))  # tiny soft values count
    grid = wan_token_grid(height, width)
    assert torch.equal(token_masks(masks, *grid, background=False), official_token_masks(masks))
    with_bg = token_masks(masks, *grid)
    assert torch.equal(with_bg[3], ~official_token_masks(masks).any(dim=0))


@pytest.mark.parametrize("grid", [(4, 6), (5, 7), (64, 96), (1, 1)])
def test_token_masks_read_the_first_pixel_of_every_cell(grid):
    g = torch.Generator().manual_seed(1)
    soft = torch.rand(3, 64, 96, generator=g)
    masks = torch.where(soft > 0.6, soft * 0.01, torch.zeros_like(soft))
    speakers = first_pixel_loop(masks, *grid)
    assert torch.equal(token_masks(masks, *grid, background=False), speakers)
    with_bg = token_masks(masks, *grid)
    assert torch.equal(with_bg[:3], speakers)
    assert torch.equal(with_bg[3], ~(speakers[0] | speakers[1] | speakers[2]))


def test_token_masks_on_wan_grid_from_regions():
    height, width = 480, 832
    grid = wan_token_grid(height, width)
    assert grid == (30, 52)
    masks = fit_masks(boxes_to_masks(parse_regions("0:50 50:100", 1664, 960), 960, 1664),
                      width, height)
    tokens = token_masks(masks, *grid)
    left_cols = torch.arange(30 * 52) % 52 < 26
    assert torch.equal(tokens[0], left_cols) and torch.equal(tokens[1], ~left_cols)
    assert not bool(tokens[2].any())
    with pytest.raises(InputError):
        wan_token_grid(500, 832)


def test_user_background_is_used_instead_of_complement():
    masks = torch.zeros(3, 32, 32)
    masks[0, :, :8] = 1
    masks[1, :, 24:] = 1
    masks[2, :16] = 0.3  # user background: top half only
    tokens = token_masks(masks, 2, 2, has_background=True)
    assert tokens.shape == (3, 4)
    assert tokens[2].tolist() == [True, True, False, False]
    assert token_masks(masks, 2, 2, background=False, has_background=True).shape == (2, 4)


# ---- preview -------------------------------------------------------------------------------

def colour_index(pixel):
    """Which speaker colour a tinted black pixel points at (cosine similarity)."""
    colours = torch.tensor(SPEAKER_COLOURS)
    sims = (colours @ pixel) / (colours.norm(dim=1) * pixel.norm())
    return int(sims.argmax())


def test_preview_colours_each_speaker_inside_its_box():
    height, width = 160, 256
    boxes = [Box(0.05, 0.1, 0.3, 0.9), Box(0.35, 0.1, 0.6, 0.9), Box(0.65, 0.1, 0.8, 0.5),
             Box(0.82, 0.5, 0.98, 0.95)]
    masks = boxes_to_masks(boxes, height, width)
    preview = render_preview(torch.zeros(height, width, 3), masks, 10, 16)
    assert preview.shape == (height, width, 3) and preview.dtype == torch.float32
    assert float(preview.min()) >= 0 and float(preview.max()) <= 1
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        # a cell centre in the lower middle of the box: away from outline, label and grid line
        y, x = int((y0 + 0.75 * (y1 - y0)) * height) // 16 * 16 + 8, \
            int((x0 + x1) / 2 * width) // 16 * 16 + 8
        assert colour_index(preview[y, x]) == i, f"speaker {i + 1}"
    grey = preview[150, 150]  # bottom middle: owned by no speaker -> neutral grey tint
    assert float(grey.max() - grey.min()) < 0.02 and float(grey.mean()) > 0.05


def test_preview_stripes_shared_tokens_with_both_colours():
    masks = torch.zeros(2, 64, 64)
    masks[0, :, :40] = 1
    masks[1, :, 24:] = 1  # columns 24..39 shared: token column 1 (16..31) centre 24 -> shared
    preview = render_preview(torch.zeros(64, 64, 3), masks, 4, 4, labels=["A", "B"])
    cell = preview[33:47, 17:31].reshape(-1, 3)  # inside a shared cell, off the grid lines
    seen = {colour_index(p) for p in cell if float(p.norm()) > 0.05}
    assert seen == {0, 1}


def test_preview_rejects_mismatched_sizes():
    with pytest.raises(InputError):
        render_preview(torch.zeros(10, 10, 3), torch.zeros(1, 12, 10), 2, 2)


# ---- masks against the reference image -------------------------------------------------------

@pytest.mark.parametrize("mask_size", [(1920, 1080), (1024, 576), (832, 468), (64, 36)])
def test_masks_of_the_images_aspect_at_any_size_are_accepted(mask_size):
    check_mask_alignment(mask_size, (1920, 1080), 832, 480)


@pytest.mark.parametrize("mask_size, offset", [((832, 480), 11), ((1080, 1080), 102), ((64, 48), 55)])
def test_masks_of_another_aspect_are_refused_with_the_offset(mask_size, offset):
    """A 1920x1080 image cover-cropped to 832x480 is scaled by 4/9 (853.3 wide) and loses 10 columns on the left.
    An 832x480 mask is not cropped at all, so its right edge (the image's column 1920) lands at 853.3 - 10 =
    843.3 instead of 832: 11 pixels off. Square and 4:3 masks lose rows instead: their top edge lands 101.5 and
    55.4 pixels below the image's (rows 228.5 of 1080 and 5.5 of 48 cut away)."""
    with pytest.raises(InputError) as info:
        check_mask_alignment(mask_size, (1920, 1080), 832, 480)
    assert info.value.input_name == "ref_target_masks"
    assert f"up to {offset} pixels" in str(info.value) and "Speaker Masks" in info.value.fix
