"""Which video tokens each speaker's audio drives: the embeds' pixel masks fitted to the video and reduced to
the Wan token grid, the way the sampler uses them and the preview shows them.

One speaker needs no routing; several speakers without masks get the official default layout (equal columns,
speaker 1 leftmost, inset by 5 %) on the reference image, cropped to the video like it. Every speaker must own at
least one token, or its audio would drive nothing: a video too small for the speakers, or a region that owns no
token, is refused here, before sampling.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from .embeds import SpeakerEmbeds
from .errors import InputError
from .masks import (WAN_PIXELS_PER_TOKEN, auto_layout, boxes_to_masks, check_mask_alignment, fit_masks, render_preview,
                    token_masks, wan_token_grid)

log = logging.getLogger("multitalk_studio")


@dataclass(frozen=True)
class SpeakerRouting:
    """pixel_masks: [N (+1), H, W] at the video size (cover-cropped like the image); token_masks: bool
    [N + 1, tokens] speakers then background; both None for one speaker without masks."""

    pixel_masks: torch.Tensor | None
    token_masks: torch.Tensor | None
    has_background: bool


def speaker_routing(embeds: SpeakerEmbeds, width: int, height: int,
                    reference_size: tuple[int, int] | None = None) -> SpeakerRouting:
    """reference_size: (width, height) of the reference image as given; without masks the default layout is laid
    on it, as the official code lays its halves on the source image, and then cropped to the video like the image."""
    speakers, masks, has_background = embeds.num_speakers, embeds.masks, False
    if masks is None and speakers == 1:
        return SpeakerRouting(None, None, False)
    grid_h, grid_w = wan_token_grid(height, width)
    if speakers > 1 and grid_h * grid_w < speakers:
        raise InputError("width/height", f"{width}x{height} is {grid_h}x{grid_w} token(s) of {WAN_PIXELS_PER_TOKEN}x"
                         f"{WAN_PIXELS_PER_TOKEN} pixels, too few for {speakers} speakers to own one each.",
                         "use a real video size, e.g. 832x480 (Wan 2.1's own) or at least a few tokens per face.")
    if masks is None:
        log.warning("[MultiTalk Studio] %d speakers but no masks: using the default layout of %d columns, left to "
                    "right", speakers, speakers)
        layout_w, layout_h = reference_size or (width, height)
        masks = boxes_to_masks(auto_layout(speakers, layout_w, layout_h), layout_h, layout_w)
    else:
        masks = masks.reshape(-1, *masks.shape[-2:]).float()
        has_background = masks.shape[0] == speakers + 1
    fitted = fit_masks(masks, width, height)
    tokens = token_masks(fitted, grid_h, grid_w, background=True, has_background=has_background)
    empty = [str(k + 1) for k in range(speakers) if speakers > 1 and not bool(tokens[k].any())]
    if empty:
        raise InputError(
            "ref_target_masks" if embeds.masks is not None else "width/height",
            f"speaker {', '.join(empty)} owns no token: on the {width}x{height} video ({grid_h}x{grid_w} tokens of "
            f"{WAN_PIXELS_PER_TOKEN}x{WAN_PIXELS_PER_TOKEN} pixels) no token's first pixel lies in that region.",
            "draw that speaker's region larger (a token is 16x16 video pixels, after the crop to the video size), "
            "or use a larger width/height.")
    return SpeakerRouting(fitted, tokens, has_background)


def check_reference_alignment(embeds: SpeakerEmbeds, reference_size: tuple[int, int] | None, width: int,
                              height: int) -> None:
    """The embeds' masks land on the reference's content only with the reference's aspect (`check_mask_alignment`);
    reference_size: (width, height) of the image or video as given."""
    if embeds.masks is not None and reference_size is not None:
        masks = embeds.masks
        check_mask_alignment((int(masks.shape[-1]), int(masks.shape[-2])), reference_size, width, height)


def routing_preview(reference: torch.Tensor | None, routing: SpeakerRouting, width: int, height: int) -> torch.Tensor:
    """IMAGE [1, H, W, 3]: the reference (grey without one) with the tokens each speaker owns tinted."""
    image = reference[0] if reference is not None else torch.full((height, width, 3), 0.5)
    if routing.pixel_masks is None:
        return image[None]
    grid_h, grid_w = wan_token_grid(height, width)
    return render_preview(image, routing.pixel_masks, grid_h, grid_w, has_background=routing.has_background)[None]
