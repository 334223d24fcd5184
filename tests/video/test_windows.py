"""Generation windows: splitting a video of any length into overlapping windows, and the overlap check."""
import math

import pytest
import torch

from wan_multitalk.errors import InputError
from wan_multitalk.video.windows import Window, check_motion, split_windows

TOTALS = [1, 5, 80, 81, 82, 153, 154, 1000]


@pytest.mark.parametrize("window, motion", [(81, 9), (81, 25), (5, 1), (33, 9)])
@pytest.mark.parametrize("total", TOTALS)
def test_kept_frames_tile_the_video_exactly(total, window, motion):
    plan = split_windows(total, window, motion)
    # Simulate generation: window k "decodes" the global frame numbers it covers.
    stitched = []
    for w in plan:
        decoded = torch.arange(w.start, w.start + w.length)
        stitched += decoded[w.keep_from:w.keep_to].tolist()
        assert list(w.new_frames) == decoded[w.keep_from:w.keep_to].tolist()
    assert stitched == list(range(total))  # exact length, in order, no duplicates, no gaps

    step = window - motion
    assert [w.start for w in plan] == [k * step for k in range(len(plan))]
    assert [w.index for w in plan] == list(range(len(plan)))
    assert all(w.length == window for w in plan)
    assert plan[0].keep_from == 0 and all(w.keep_from == motion for w in plan[1:])
    expected_count = 1 if total <= window else 1 + math.ceil((total - window) / step)
    assert len(plan) == expected_count
    assert [w.is_last for w in plan] == [False] * (len(plan) - 1) + [True]
    for w in plan:
        assert w.overrun == max(0, w.start + window - total) and w.end == w.start + window
        assert w.keep_count >= 1
    assert all(w.overrun == 0 for w in plan[:-1])


def test_known_plans():
    plan = split_windows(154, 81, 9)
    assert [(w.start, w.keep_from, w.keep_to, w.overrun) for w in plan] == [
        (0, 0, 81, 0), (72, 9, 81, 0), (144, 9, 10, 71)]
    short = split_windows(50, 81, 25)
    assert len(short) == 1 and (short[0].keep_to, short[0].overrun) == (50, 31)
    assert len(split_windows(1000, 81, 9)) == 14  # the official 1000-frame cap: 1 + ceil(919/72)


@pytest.mark.parametrize("total, window, motion, name", [
    (100, 81, 81, "motion_frame"), (100, 81, 90, "motion_frame"), (100, 81, 0, "motion_frame"),
    (0, 81, 9, "total_frames"), (-3, 81, 9, "total_frames"), (100, 80, 9, "frame_window_size"),
])
def test_split_rejects_bad_arguments(total, window, motion, name):
    with pytest.raises(InputError) as info:
        split_windows(total, window, motion)
    assert info.value.input_name == name


def test_window_is_immutable():
    w = split_windows(10, 81, 9)[0]
    assert isinstance(w, Window)
    with pytest.raises(AttributeError):
        w.start = 3


def test_overlap_must_leave_a_new_frame():
    assert check_motion(9, 81) == 9 and check_motion(80, 81) == 80
    for bad in (0, 81, 2.5, True):
        with pytest.raises(InputError) as info:
            check_motion(bad, 81, "motion_frame")
        assert info.value.input_name == "motion_frame" and "1 to 80" in str(info.value)
