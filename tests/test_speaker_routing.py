"""Speaker routing on the video's token grid: the default layout without masks, and the refusals before sampling
when a speaker would own no token (a video too small for the speakers, or a region between the tokens' pixels)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wan_multitalk.embeds import SpeakerEmbeds
from wan_multitalk.errors import InputError
from wan_multitalk.masks import auto_layout, boxes_to_masks, token_masks
from wan_multitalk.speaker_routing import check_reference_alignment, speaker_routing


def embeds(speakers: int, masks: torch.Tensor | None = None) -> SpeakerEmbeds:
    return SpeakerEmbeds(features=torch.zeros(speakers, 4, 2, 3), fps=25.0, silence=torch.zeros(2, 3), masks=masks)


def test_without_masks_speakers_get_the_default_layout_on_the_video_frame():
    routing = speaker_routing(embeds(2), 64, 48)
    expected = boxes_to_masks(auto_layout(2, 64, 48), 48, 64)
    assert torch.equal(routing.pixel_masks, expected)
    assert torch.equal(routing.token_masks, token_masks(expected, 3, 4))
    assert speaker_routing(embeds(1), 64, 48).token_masks is None


@pytest.mark.parametrize("speakers, width, height", [(2, 16, 16), (3, 32, 16), (4, 16, 48)])
def test_a_video_with_fewer_tokens_than_speakers_names_the_size(speakers, width, height):
    with pytest.raises(InputError) as info:
        speaker_routing(embeds(speakers), width, height)
    assert info.value.input_name == "width/height" and f"{width}x{height}" in info.value.problem
    assert f"too few for {speakers} speakers" in info.value.problem and "832x480" in info.value.fix


def test_a_region_that_owns_no_token_names_the_masks_and_both_fixes():
    masks = torch.zeros(2, 48, 64)
    masks[0, :, :32] = 1
    masks[1, 4:12, 36:44] = 1  # inside one 16x16 cell, away from its first pixel (row 0, column 32)
    with pytest.raises(InputError) as info:
        speaker_routing(embeds(2, masks), 64, 48)
    assert info.value.input_name == "ref_target_masks" and "speaker 2 owns no token" in info.value.problem
    assert "larger" in info.value.fix and "width/height" in info.value.fix
    masks[1, 0:12, 32:44] = 1  # now covers the cell's first pixel
    assert speaker_routing(embeds(2, masks), 64, 48).token_masks[1].sum() == 1


def test_masks_are_checked_against_the_reference_images_aspect():
    masks = torch.ones(2, 48, 64)
    check_reference_alignment(embeds(2, masks), (640, 480), 64, 48)
    check_reference_alignment(embeds(2, None), (100, 480), 64, 48)  # no masks: nothing to align
    check_reference_alignment(embeds(2, masks), None, 64, 48)  # no reference image: nothing to align to
    with pytest.raises(InputError) as info:
        check_reference_alignment(embeds(2, masks), (160, 48), 64, 48)
    assert info.value.input_name == "ref_target_masks" and "64x48" in info.value.problem


def nearest(size_in: int, size_out: int) -> np.ndarray:
    """The source index torch's 'nearest' resize reads for each output index: floor(i * in / out)."""
    return np.minimum(np.floor(np.arange(size_out) * (size_in / size_out)).astype(np.int64), size_in - 1)


def official_default_tokens(src_w: int, src_h: int, width: int, height: int) -> np.ndarray:
    """Re-derivation in float64/numpy of the official two speakers without bbox (MultiTalk wan/multitalk.py L558-580
    and multitalk_model.py L673-675): inset halves (face_scale 0.05) on the source image; resized to cover the frame
    (ceil of the scaled size, nearest) and centre-cropped (torchvision's rounding); nearest to the latent grid, then
    to the token grid. Returns bool [2, tokens]."""
    masks = np.zeros((2, src_h, src_w))
    half = src_w // 2
    for k in range(2):
        masks[k, int(src_h * 0.05):int(src_h * 0.95), int(half * 0.05 + k * half):int(half * 0.95 + k * half)] = 1
    scale = max(height / src_h, width / src_w)
    final_h, final_w = math.ceil(scale * src_h), math.ceil(scale * src_w)
    resized = masks[:, nearest(src_h, final_h)][:, :, nearest(src_w, final_w)]
    top, left = int(round((final_h - height) / 2.0)), int(round((final_w - width) / 2.0))
    frame = resized[:, top:top + height, left:left + width]
    latent = frame[:, nearest(height, height // 8)][:, :, nearest(width, width // 8)] > 0
    tokens = latent[:, nearest(height // 8, height // 16)][:, :, nearest(width // 8, width // 16)]
    return tokens.reshape(2, -1)


@pytest.mark.parametrize("reference", [(1920, 1080), (832, 480), (1280, 720), (720, 1280), (1000, 1000)])
def test_the_default_layout_is_laid_on_the_reference_like_the_official_halves(reference):
    routing = speaker_routing(embeds(2), 832, 480, reference)
    official = torch.from_numpy(official_default_tokens(*reference, 832, 480))
    assert torch.equal(routing.token_masks[:2], official)
    assert torch.equal(routing.token_masks[2], ~official.any(dim=0))
