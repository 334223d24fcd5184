"""Which video tokens each speaker's audio drives: the embeds' pixel masks fitted to the video and reduced to
the Wan token grid, the way the sampler uses them and the preview shows them.

One speaker needs no routing; several speakers without masks get equal vertical strips, speaker 1 leftmost.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from .embeds import SpeakerEmbeds
from .masks import auto_layout, boxes_to_masks, fit_masks, render_preview, token_masks, wan_token_grid

log = logging.getLogger("multitalk_studio")


@dataclass(frozen=True)
class SpeakerRouting:
    """pixel_masks: [N (+1), H, W] at the video size (cover-cropped like the image); token_masks: bool
    [N + 1, tokens] speakers then background; both None for one speaker without masks."""

    pixel_masks: torch.Tensor | None
    token_masks: torch.Tensor | None
    has_background: bool


def speaker_routing(embeds: SpeakerEmbeds, width: int, height: int) -> SpeakerRouting:
    speakers, masks, has_background = embeds.num_speakers, embeds.masks, False
    if masks is None:
        if speakers == 1:
            return SpeakerRouting(None, None, False)
        log.warning("[MultiTalk Studio] %d speakers but no masks: using %d vertical strips, left to right", speakers,
                    speakers)
        masks = boxes_to_masks(auto_layout(speakers), height, width)
    else:
        masks = masks.reshape(-1, *masks.shape[-2:]).float()
        has_background = masks.shape[0] == speakers + 1
    fitted = fit_masks(masks, width, height)
    grid_h, grid_w = wan_token_grid(height, width)
    tokens = token_masks(fitted, grid_h, grid_w, background=True, has_background=has_background)
    return SpeakerRouting(fitted, tokens, has_background)


def routing_preview(reference: torch.Tensor | None, routing: SpeakerRouting, width: int, height: int) -> torch.Tensor:
    """IMAGE [1, H, W, 3]: the reference (grey without one) with the tokens each speaker owns tinted."""
    image = reference[0] if reference is not None else torch.full((height, width, 3), 0.5)
    if routing.pixel_masks is None:
        return image[None]
    grid_h, grid_w = wan_token_grid(height, width)
    return render_preview(image, routing.pixel_masks, grid_h, grid_w, has_background=routing.has_background)[None]
