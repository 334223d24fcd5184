"""Speaker regions: typed text -> normalised boxes -> pixel masks -> per-token ownership.

The model routes each speaker's audio to the video tokens that speaker owns, so the masks must be
built on the same geometry as the reference image (`video.resize.cover_crop`) and reduced to the
token grid with a rule the user can predict. `render_preview` draws that final token ownership.
"""
from __future__ import annotations

import re
from typing import NamedTuple, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .errors import InputError
from .video.resize import cover_crop, crop_box

REGION_EXAMPLES = (
    "write one region per speaker, in speaker order. Examples: percentages '0:45 55:100' "
    "(left:right columns, full height) or '10:5:45:95 55:5:90:95' (left:top:right:bottom, 0-100); "
    "pixel boxes '40,60,400,700; 480,60,840,700' (x1,y1,x2,y2 in the source image); "
    "fractions '0.05,0.1,0.45,0.9; 0.55,0.1,0.95,0.9'."
)
# Wan 2.1: the VAE divides height/width by 8 and the DiT patchifies 2x2 latents.
WAN_PIXELS_PER_TOKEN = 16


class Box(NamedTuple):
    """A rectangle in fractions of the source image: 0 = left/top edge, 1 = right/bottom edge."""

    x0: float
    y0: float
    x1: float
    y1: float


def _number(token: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError("regions", f"'{token}' is not a speaker region ('{text}' is not a "
                         "number).", REGION_EXAMPLES)
    return value


def _check_area(box: Box, speaker: int, token: str, where: str = "") -> Box:
    if box.x1 <= box.x0 or box.y1 <= box.y0:
        raise InputError(
            "regions",
            f"speaker {speaker}'s region '{token}' has no area{where}.",
            "give every region a right edge greater than its left edge and a bottom edge greater "
            "than its top edge, inside the image; " + REGION_EXAMPLES)
    return box


def _parse_percent_tokens(tokens: list[str]) -> list[Box]:
    boxes = []
    for speaker, token in enumerate(tokens, start=1):
        parts = token.split(":")
        if len(parts) not in (2, 4):
            raise InputError("regions", f"'{token}' is not a speaker location (expected L:R or "
                             "L:T:R:B).", REGION_EXAMPLES)
        values = [_number(token, p) for p in parts]
        if any(v < 0 or v > 100 for v in values):
            raise InputError("regions", f"'{token}' has a percentage outside 0-100.",
                             REGION_EXAMPLES)
        if len(values) == 2:  # L:R is a full-height column
            values = [values[0], 0.0, values[1], 100.0]
        left, top, right, bottom = values
        boxes.append(_check_area(Box(left / 100, top / 100, right / 100, bottom / 100), speaker,
                                 token))
    return boxes


def _unit(v: float) -> float:
    """Clip to [0, 1]: boxes drawn a little past the image border are meant to reach the edge."""
    return min(max(v, 0.0), 1.0)


def _parse_comma_boxes(tokens: list[str], image_w: int, image_h: int) -> list[Box]:
    rows = []
    for token in tokens:
        parts = token.strip("[]()").split(",")
        if len(parts) != 4:
            raise InputError("regions", f"'{token}' is not a box (expected 4 numbers x1,y1,x2,y2).",
                             REGION_EXAMPLES)
        rows.append([_number(token, p) for p in parts])
    # One rule for the whole text: if no number exceeds 1 the boxes are fractions, otherwise
    # pixels. A pixel box inside the first pixel would be useless, so this only misreads text
    # like '0,0,1,1' meant as a single pixel, which becomes the whole image.
    fractions = all(v <= 1 for row in rows for v in row)
    sx, sy = (1.0, 1.0) if fractions else (float(image_w), float(image_h))
    boxes = []
    for speaker, (token, (x1, y1, x2, y2)) in enumerate(zip(tokens, rows), start=1):
        if x2 <= x1 or y2 <= y1:
            _check_area(Box(x1, y1, x2, y2), speaker, token)
        box = Box(_unit(x1 / sx), _unit(y1 / sy), _unit(x2 / sx), _unit(y2 / sy))
        boxes.append(_check_area(box, speaker, token, " inside the image"))
    return boxes


def parse_regions(text: str, image_w: int, image_h: int) -> list[Box]:
    """Read the speaker regions a user typed; token order is speaker order.

    Accepted (one format per text):
      * Wan2GP percentage tokens separated by spaces (or ';' or ','): 'L:R' (a full-height column) or
        'L:T:R:B', numbers 0-100 of the image width/height. Unlike Wan2GP no 5-95 % clamp is applied.
      * Boxes 'x1,y1,x2,y2' separated by ';', newlines or spaces (brackets allowed), corner to
        corner (x first - NOT the official JSON's [y_min, x_min, y_max, x_max]). If no number in
        the text exceeds 1 they are fractions of the image, otherwise source-image pixels.
        Parts outside the image are clipped away.
    Blank text returns [] (the caller then uses `auto_layout`).
    """
    if int(image_w) < 1 or int(image_h) < 1:
        raise InputError("image", f"has no pixels ({image_w}x{image_h}).", "connect a real image.")
    text = (text or "").strip()
    if not text:
        return []
    if ":" in text:  # a box has no colon, so colons mean percentage tokens; commas then only separate them
        return _parse_percent_tokens([t for t in re.split(r"[;,\s]+", text) if t])
    if "," in text:
        tokens = re.split(r"[;\s]+", re.sub(r"\s*,\s*", ",", text))
        return _parse_comma_boxes([t for t in tokens if t], int(image_w), int(image_h))
    raise InputError("regions", f"'{text}' is not a list of speaker regions.", REGION_EXAMPLES)


def format_regions(boxes: Sequence[Box]) -> str:
    """The Wan2GP percentage form of `boxes` ('L:T:R:B' tokens), to copy settings across tools."""
    def pct(v: float) -> str:
        return f"{v * 100:.4f}".rstrip("0").rstrip(".")
    return " ".join(":".join(pct(v) for v in box) for box in boxes)


FACE_SCALE = 0.05
"""The official default two-speaker layout (MeiGen `generate`, `face_scale`): each half of the image, inset by 5 % of
the height and of the half's width."""


def auto_layout(n: int, width: int, height: int) -> list[Box]:
    """The default regions of `n` speakers on a `width` x `height` image when none are drawn: speaker 1 leftmost.

    One speaker owns the whole image. Two or more get the official default layout, generalised from two halves to n
    columns of width c = width // n: column k spans pixels [int(c * 0.05 + k * c), int(c * 0.95 + k * c)) and rows
    [int(height * 0.05), int(height * 0.95)), computed as the official code does (so two speakers match it pixel
    for pixel). The boxes sit on whole pixels, so `boxes_to_masks` at this size reproduces exactly those pixels.
    """
    if int(n) != n or n < 1:
        raise InputError("speakers", f"need at least one speaker, got {n!r}.",
                         "connect 1-4 speaker audio inputs.")
    n, width, height = int(n), int(width), int(height)
    if n == 1:
        return [Box(0.0, 0.0, 1.0, 1.0)]
    top, bottom = int(height * FACE_SCALE), int(height * (1 - FACE_SCALE))
    column = width // n
    return [Box(int(column * FACE_SCALE + k * column) / width, top / height,
                int(column * (1 - FACE_SCALE) + k * column) / width, bottom / height) for k in range(n)]


def boxes_to_masks(boxes: Sequence[Box], height: int, width: int) -> torch.Tensor:
    """Hard rectangles [N, height, width] float32 in {0, 1}.

    A pixel belongs to a box when its centre lies inside it, left/top edges inclusive and
    right/bottom edges exclusive: column j is in when x0*width <= j + 0.5 < x1*width. Boxes that
    share an edge therefore split the pixels between them with no gap and no overlap.
    """
    xs = torch.arange(int(width), dtype=torch.float64) + 0.5
    ys = torch.arange(int(height), dtype=torch.float64) + 0.5
    masks = torch.zeros(len(boxes), int(height), int(width), dtype=torch.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        cols = (xs >= x0 * width) & (xs < x1 * width)
        rows = (ys >= y0 * height) & (ys < y1 * height)
        masks[i] = (rows[:, None] & cols[None, :]).float()
    return masks


def fit_masks(masks: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Put masks drawn on the source image onto the generation frame: [N, height, width].

    Same cover-and-centre-crop as the image, nearest sampling, so a mask drawn at any size with
    the image's aspect ratio lands on the same pixels as the image content it covered.
    """
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3:
        raise InputError("masks", f"expected MASK [N, H, W], got shape {tuple(masks.shape)}.",
                         "connect one MASK per speaker (batched in speaker order).")
    return cover_crop(masks.float().clamp(0, 1), width, height, mode="nearest")


def validate_masks(masks: torch.Tensor, input_name: str, has_background: bool = False) -> None:
    """Refuse speaker masks that own no pixel: that speaker's audio would drive nothing."""
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise InputError(input_name, f"expected one mask per speaker [N, H, W], got shape "
                         f"{tuple(masks.shape)}.", "connect one MASK per speaker.")
    height, width = int(masks.shape[1]), int(masks.shape[2])
    speakers = masks.shape[0] - (1 if has_background else 0)
    for i in range(speakers):
        if not bool((masks[i] > 0).any()):
            raise InputError(
                input_name,
                f"speaker {i + 1}'s region is empty after resizing to {width}x{height}.",
                "draw a larger region, keep it inside the part of the image that survives the "
                "centre crop, and check the speaker order.")


def check_mask_alignment(mask_size: tuple[int, int], image_size: tuple[int, int], width: int, height: int,
                         input_name: str = "ref_target_masks") -> None:
    """Masks are cover-cropped to the video like the image, which lands them on the content they were drawn on only
    when they have the image's aspect: refuse masks that would land more than half a token from it.

    mask_size, image_size: (width, height). The mapping is affine per axis, so the largest offset is at a frame edge.
    """
    (mask_w, mask_h), (image_w, image_h) = mask_size, image_size
    mask_box, image_box = crop_box(mask_w, mask_h, width, height), crop_box(image_w, image_h, width, height)
    offset = 0.0
    for x, y in ((0, 0), (width, height)):
        mask_x, mask_y = mask_box.to_source(x, y)
        at_x, at_y = image_box.to_target(mask_x / mask_w * image_w, mask_y / mask_h * image_h)
        offset = max(offset, abs(at_x - x), abs(at_y - y))
    if offset > WAN_PIXELS_PER_TOKEN / 2:
        raise InputError(
            input_name,
            f"the masks are {mask_w}x{mask_h} and the reference image {image_w}x{image_h}: another aspect ratio, so "
            f"cropped to {width}x{height} they land up to {offset:.0f} pixels (more than half a "
            f"{WAN_PIXELS_PER_TOKEN}-pixel token) away from what they were drawn on.",
            "draw the masks on the reference image itself (Speaker Masks with the same image), or crop the image to "
            "the masks' aspect ratio first.")


def check_video_size(width: int, height: int) -> None:
    """A Wan 2.1 frame is a whole number of 16x16-pixel tokens."""
    if height % WAN_PIXELS_PER_TOKEN or width % WAN_PIXELS_PER_TOKEN:
        raise InputError("width/height", f"{width}x{height} is not a multiple of {WAN_PIXELS_PER_TOKEN}.",
                         "use sizes divisible by 16, e.g. 832x480.")


def wan_token_grid(height: int, width: int) -> tuple[int, int]:
    """Token grid (rows, cols) of a Wan 2.1 frame: one token per 16x16 pixels."""
    check_video_size(width, height)
    return height // WAN_PIXELS_PER_TOKEN, width // WAN_PIXELS_PER_TOKEN


def _first_pixel_indices(size: int, cells: int) -> torch.Tensor:
    """The pixel each token row (or column) reads under the official chain of nearest resizes: frame -> latent grid
    (two latent cells per token) -> token grid. Nearest picks floor(i * in / out) at each step, so token j reads latent
    cell 2 j and pixel floor(2 j * size / (2 cells)) = floor(j * size / cells): the first pixel of its cell (pixel
    16 j at Wan sizes)."""
    return torch.arange(cells) * size // cells


def token_masks(masks: torch.Tensor, grid_h: int, grid_w: int, background: bool = True,
                has_background: bool = False) -> torch.Tensor:
    """Which tokens each speaker owns: bool [N (+1), grid_h * grid_w], row-major.

    masks: [N, H, W] at frame size. Token (r, c) takes the value of the first (top-left) pixel of its cell, row
    floor(r * H / grid_h) and likewise for columns, as the official code's nearest resizes to the latent and then the
    token grid do; any value > 0 counts (soft edges make no difference). Overlapping speakers both own a token.
    has_background: the last mask is a user-drawn background and is used as is.
    background: append a background row - the user's, or the tokens no speaker owns.
    """
    if masks.ndim != 3:
        raise InputError("masks", f"expected [N, H, W], got shape {tuple(masks.shape)}.",
                         "pass one mask per speaker.")
    height, width = int(masks.shape[1]), int(masks.shape[2])
    if not (1 <= grid_h <= height and 1 <= grid_w <= width):
        raise ValueError(f"token grid {grid_h}x{grid_w} does not fit masks of {height}x{width}")
    rows = _first_pixel_indices(height, grid_h).to(masks.device)
    cols = _first_pixel_indices(width, grid_w).to(masks.device)
    owned = (masks[:, rows][:, :, cols] > 0).reshape(masks.shape[0], grid_h * grid_w)
    speakers = owned[:-1] if has_background else owned
    if not background:
        return speakers
    rest = owned[-1] if has_background else ~speakers.any(dim=0)
    return torch.cat([speakers, rest[None]], dim=0)


SPEAKER_COLOURS = ((0.95, 0.25, 0.25), (0.20, 0.55, 1.00), (0.25, 0.85, 0.30), (1.00, 0.80, 0.10))
BACKGROUND_COLOUR = (0.55, 0.55, 0.55)
PREVIEW_TINT = 0.45  # opacity of a speaker's colour over the tokens it owns
PREVIEW_BACKGROUND_TINT = 0.25
PREVIEW_GRID_SHADE = 0.35  # token-cell outlines darken the picture by this much
PREVIEW_STRIPE = 6  # width in pixels of the diagonal stripes on shared tokens


def _label_font(height: int):
    try:
        return ImageFont.load_default(size=max(12, height // 24))
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _draw_labels(picture: torch.Tensor, inside: torch.Tensor, labels: Sequence[str],
                 colours: torch.Tensor) -> torch.Tensor:
    pil = Image.fromarray((picture * 255).round().to(torch.uint8).numpy())
    draw = ImageDraw.Draw(pil)
    font = _label_font(picture.shape[0])
    for i, label in enumerate(labels):
        ys, xs = torch.nonzero(inside[i], as_tuple=True)
        if ys.numel() == 0:
            continue
        x, y = int(xs.min()) + 3, int(ys.min()) + 3
        left, top, right, bottom = draw.textbbox((x, y), label, font=font)
        fill = tuple(int(round(c * 255)) for c in colours[i].tolist())
        draw.rectangle((left - 3, top - 2, right + 3, bottom + 2), fill=fill)
        draw.text((x, y), label, fill=(0, 0, 0), font=font)
    return torch.from_numpy(np.asarray(pil).copy()).float() / 255


def render_preview(image: torch.Tensor, masks: torch.Tensor, grid_h: int, grid_w: int,
                   labels: Sequence[str] | None = None,
                   has_background: bool = False) -> torch.Tensor:
    """Show the user which tokens each speaker will own: float [H, W, 3] in [0, 1] on the CPU.

    image: [H, W, 3] (or [1, H, W, 3]) at frame size; masks: [N, H, W] at the same size, as they
    go to `token_masks`. Each token cell is tinted with its owner's colour (speakers 1-4: red,
    blue, green, yellow; background grey); cells shared by several speakers get diagonal stripes
    of their colours. Cell outlines show the token grid, each pixel mask gets a solid outline and
    a label ("1".."N" unless `labels` is given) at the top-left of its extent.
    """
    if image.ndim == 4:
        image = image[0]
    if image.ndim != 3 or image.shape[-1] != 3 or masks.ndim != 3 \
            or tuple(masks.shape[1:]) != tuple(image.shape[:2]):
        raise InputError("masks", f"preview needs an image [H, W, 3] and masks [N, H, W] of the "
                         f"same size, got {tuple(image.shape)} and {tuple(masks.shape)}.",
                         "fit the masks to the frame size (fit_masks) before previewing.")
    picture = image.detach().float().cpu().clamp(0, 1)
    pixel_masks = masks.detach().float().cpu()
    height, width = picture.shape[:2]
    n = pixel_masks.shape[0] - (1 if has_background else 0)
    colours = torch.tensor([SPEAKER_COLOURS[i % len(SPEAKER_COLOURS)] for i in range(n)])
    labels = [str(i + 1) for i in range(n)] if labels is None else [str(t) for t in labels]
    if len(labels) != n:
        raise InputError("labels", f"got {len(labels)} labels for {n} speakers.",
                         "give one label per speaker or none.")

    owned = token_masks(pixel_masks, grid_h, grid_w, background=True,
                        has_background=has_background).reshape(n + 1, grid_h, grid_w)
    cell_row = torch.arange(height) * grid_h // height
    cell_col = torch.arange(width) * grid_w // width
    per_pixel = owned[:, cell_row][:, :, cell_col]  # token ownership spread over its cell
    speakers, count = per_pixel[:n], per_pixel[:n].sum(dim=0)

    # Shared cells: the stripe index picks which owner's colour a pixel shows.
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    turn = ((yy + xx) // PREVIEW_STRIPE) % count.clamp_min(1)
    shown = speakers & (speakers.long().cumsum(dim=0) - 1 == turn)
    tint = (shown.float()[..., None] * colours[:, None, None, :]).sum(dim=0)
    out = torch.where((count > 0)[..., None], torch.lerp(picture, tint, PREVIEW_TINT), picture)
    background = per_pixel[n] & (count == 0)
    grey = torch.tensor(BACKGROUND_COLOUR).expand_as(picture)
    out = torch.where(background[..., None], torch.lerp(out, grey, PREVIEW_BACKGROUND_TINT), out)

    if height // grid_h >= 4 and width // grid_w >= 4:  # finer grids would be a solid grey
        first_row = torch.cat([torch.tensor([False]), cell_row[1:] != cell_row[:-1]])
        first_col = torch.cat([torch.tensor([False]), cell_col[1:] != cell_col[:-1]])
        line = first_row[:, None] | first_col[None, :]
        out = torch.where(line[..., None], out * (1 - PREVIEW_GRID_SHADE), out)

    inside = (pixel_masks[:n] > 0).float()[:, None]
    # Erode with the outside of the picture counting as "not inside", so edges on the border show.
    padded = torch.nn.functional.pad(inside, (1, 1, 1, 1), value=0.0)
    eroded = -torch.nn.functional.max_pool2d(-padded, 3, stride=1)
    edge = (inside > 0) & (eroded < 0.5)
    edge = (torch.nn.functional.max_pool2d(edge.float(), 3, stride=1, padding=1) > 0) & (inside > 0)
    for i in range(n):
        out[edge[i, 0]] = colours[i]
    return _draw_labels(out, inside[:, 0] > 0, labels, colours)
