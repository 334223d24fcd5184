"""Speaker routing on the video's token grid: the default layout without masks, and the refusals before sampling
when a speaker would own no token (a video too small for the speakers, or a region between the tokens' pixels)."""
from __future__ import annotations

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
