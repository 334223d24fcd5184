"""Frame audio, the 5 rows around each frame: global clamping, silence past the end of the audio."""
from __future__ import annotations

import pytest
import torch

from wan_multitalk.audio.frame_audio import frame_audio


def reference_rows(features, start, count, silence, offsets):
    """Explicit float64 loop over the published rule."""
    speakers, total = features.shape[:2]
    out = torch.empty((speakers, count, len(offsets)) + tuple(features.shape[2:]), dtype=torch.float64)
    for s in range(speakers):
        for i in range(count):
            f = start + i
            for j, offset in enumerate(offsets):
                if f >= total:
                    out[s, i, j] = silence.double()
                else:
                    out[s, i, j] = features[s, min(max(f + offset, 0), total - 1)].double()
    return out


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, 30, 3, 4, generator=generator), torch.randn(3, 4, generator=generator)


@pytest.mark.parametrize("start,count", [(0, 10), (1, 3), (12, 15), (25, 10), (28, 2), (30, 4), (45, 5), (0, 30)])
def test_windows_match_the_loop_reference(data, start, count):
    features, silence = data
    got = frame_audio(features, start, count, silence)
    assert got.shape == (2, count, 5, 3, 4) and got.dtype == features.dtype
    torch.testing.assert_close(got.double(), reference_rows(features, start, count, silence, (-2, -1, 0, 1, 2)),
                               rtol=0, atol=0)


def test_a_later_window_sees_real_audio_before_its_first_frame(data):
    features, silence = data
    got = frame_audio(features, 10, 5, silence)
    torch.testing.assert_close(got[:, 0, 0], features[:, 8], rtol=0, atol=0)  # frame 10, offset -2 -> row 8


def test_custom_offsets_and_dtype(data):
    features, silence = data
    half = features.half()
    got = frame_audio(half, 27, 6, silence, offsets=(-4, 0, 3))
    assert got.dtype == torch.float16 and got.shape == (2, 6, 3, 3, 4)
    expected = reference_rows(half, 27, 6, silence.half(), (-4, 0, 3))
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=0)


def test_bad_arguments_raise():
    features, silence = torch.zeros(1, 5, 3, 4), torch.zeros(3, 4)
    with pytest.raises(ValueError):
        frame_audio(features, -1, 3, silence)
    with pytest.raises(ValueError):
        frame_audio(features, 0, 3, torch.zeros(4, 3))


def test_one_frame_audio_and_one_row_or_no_features():
    silence = torch.full((2, 3), -1.0)
    one_row = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3)  # 2 speakers, 1 frame of audio
    out = frame_audio(one_row, 0, 1, silence)
    assert out.shape == (2, 1, 5, 2, 3)
    assert torch.equal(out, one_row[:, :1, None].expand(2, 1, 5, 2, 3))  # every offset clamps to row 0
    past = frame_audio(one_row, 1, 2, silence)
    assert torch.equal(past, silence.expand(2, 2, 5, 2, 3))
    empty = frame_audio(torch.zeros(3, 0, 2, 3), 0, 4, silence)
    assert empty.shape == (3, 4, 5, 2, 3) and torch.equal(empty, silence.expand(3, 4, 5, 2, 3))
