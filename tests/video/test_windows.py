"""Window plan, 4k+1 sizes, frame/audio arithmetic, dubbing keyframes and fps resampling."""
import math
from fractions import Fraction

import pytest
import torch

from wan_multitalk.errors import InputError
from wan_multitalk.video.windows import (
    Window,
    audio_samples_for_frames,
    check_window_size,
    motion_latent_frames,
    plan_windows,
    resample_frame_indices,
    source_keyframe_index,
    target_frames,
)

TOTALS = [1, 5, 80, 81, 82, 153, 154, 1000]


@pytest.mark.parametrize("window, motion", [(81, 9), (81, 25), (5, 1), (33, 9)])
@pytest.mark.parametrize("total", TOTALS)
def test_kept_frames_tile_the_video_exactly(total, window, motion):
    plan = plan_windows(total, window, motion)
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
    plan = plan_windows(154, 81, 9)
    assert [(w.start, w.keep_from, w.keep_to, w.overrun) for w in plan] == [
        (0, 0, 81, 0), (72, 9, 81, 0), (144, 9, 10, 71)]
    short = plan_windows(50, 81, 25)
    assert len(short) == 1 and (short[0].keep_to, short[0].overrun) == (50, 31)
    assert len(plan_windows(1000, 81, 9)) == 14  # the official 1000-frame cap: 1 + ceil(919/72)


@pytest.mark.parametrize("bad, suggestion", [(80, "use 77 or 81"), (82, "use 81 or 85"),
                                             (3, "use 5"), (0, "use 5"), (6, "use 5 or 9"),
                                             (-7, "use 5")])
def test_window_size_suggests_neighbours(bad, suggestion):
    with pytest.raises(InputError) as info:
        check_window_size(bad, "frames_per_window")
    assert info.value.input_name == "frames_per_window"
    assert suggestion + "." in str(info.value)


def test_valid_window_sizes_pass():
    assert [check_window_size(v) for v in (5, 9, 81, 201)] == [5, 9, 81, 201]
    with pytest.raises(InputError):
        check_window_size(81.5)


@pytest.mark.parametrize("total, window, motion, name", [
    (100, 81, 81, "motion_frames"), (100, 81, 90, "motion_frames"), (100, 81, 0, "motion_frames"),
    (0, 81, 9, "total_frames"), (-3, 81, 9, "total_frames"), (100, 80, 9, "frame_window_size"),
])
def test_plan_rejects_bad_arguments(total, window, motion, name):
    with pytest.raises(InputError) as info:
        plan_windows(total, window, motion)
    assert info.value.input_name == name


def test_target_frames_is_exact():
    assert target_frames(640 * 251, 16000, 25) == 251
    assert target_frames(640 * 251 + 319, 16000, 25) == 251
    assert target_frames(640 * 251 + 320, 16000, 25) == 252  # exactly half a frame rounds up
    assert target_frames(0, 16000, 25) == 0
    # These are exactly 14.5 and 2497.5 frames; float arithmetic lands just below the half
    # and would round down.
    assert 9280 / 16000 * 25 < 14.5 and 4000000 / 48000 * 29.97 < 2497.5
    assert target_frames(9280, 16000, 25) == 15
    assert target_frames(4000000, 48000, 29.97) == 2498
    assert target_frames(44100 * 600, 44100, 29.97) == 17982
    assert target_frames(44100 * 600, 44100, Fraction(30000, 1001)) == 17982  # 17982.017...


def test_audio_samples_for_frames_is_exact():
    assert audio_samples_for_frames(251, 16000, 25) == 160640
    assert audio_samples_for_frames(500, 48000, 29.97) == 800801  # 800800.80...
    assert audio_samples_for_frames(0, 16000, 25) == 0
    g = torch.Generator().manual_seed(0)
    for samples in torch.randint(1, 10**7, (50,), generator=g).tolist():
        for rate, fps in ((16000, 25), (44100, 29.97), (48000, 24)):
            frames = target_frames(samples, rate, fps)
            back = audio_samples_for_frames(frames, rate, fps)
            # the trimmed audio is within half a frame (plus rounding) of the original
            assert abs(Fraction(back - samples)) <= Fraction(rate) / Fraction(str(fps)) / 2 + 1


def test_rates_must_be_positive():
    with pytest.raises(InputError) as info:
        target_frames(100, 16000, 0)
    assert info.value.input_name == "fps"
    with pytest.raises(InputError) as info:
        audio_samples_for_frames(10, -1, 25)
    assert info.value.input_name == "sample_rate"


def test_motion_latent_frames():
    assert [motion_latent_frames(m) for m in (1, 4, 5, 9, 13, 25, 81)] == [1, 1, 2, 3, 4, 7, 21]
    with pytest.raises(InputError):
        motion_latent_frames(0)


def test_source_keyframes_follow_window_starts():
    plan = plan_windows(290, 81, 9)  # starts 0, 72, 144, 216
    assert [source_keyframe_index(w, 1000) for w in plan] == [0, 72, 144, 216]
    assert [source_keyframe_index(w, 150) for w in plan] == [0, 72, 144, 149]
    assert source_keyframe_index(40, 1) == 0  # an image is a one-frame source
    with pytest.raises(InputError):
        source_keyframe_index(plan[0], 0)


def resample_loop(num_source, source_fps, fps, count):
    """For each output time i/fps: the last source frame k whose time k/source_fps is <= it."""
    src, out = Fraction(str(source_fps)), Fraction(str(fps))
    result = []
    for i in range(count):
        k = 0
        while k + 1 < num_source and Fraction(k + 1) / src <= Fraction(i) / out:
            k += 1
        result.append(k)
    return result


@pytest.mark.parametrize("num_source, source_fps, fps", [
    (30, 30, 25), (90, 30, 25), (48, 24, 25), (50, 25, 25), (100, 29.97, 25), (37, 60, 25)])
def test_fps_resampling(num_source, source_fps, fps):
    index = resample_frame_indices(num_source, source_fps, fps)
    duration = Fraction(num_source) / Fraction(str(source_fps))
    expected_count = math.ceil(duration * Fraction(str(fps)))
    assert index.dtype == torch.int64 and index.shape == (expected_count,)
    assert index.tolist() == resample_loop(num_source, source_fps, fps, expected_count)


def test_fps_resampling_known_and_padded():
    assert resample_frame_indices(30, 30, 25).tolist()[:7] == [0, 1, 2, 3, 4, 6, 7]
    padded = resample_frame_indices(10, 25, 25, num_frames=14)
    assert padded.tolist() == list(range(10)) + [9] * 4
    assert resample_frame_indices(3, 10, 25).tolist() == [0, 0, 0, 1, 1, 2, 2, 2]


def test_window_is_immutable():
    w = plan_windows(10, 81, 9)[0]
    assert isinstance(w, Window)
    with pytest.raises(AttributeError):
        w.start = 3


def test_counts_must_be_whole_and_non_negative_and_one_is_enough():
    for bad in (-1, 1.5):
        with pytest.raises((InputError, ValueError)):
            target_frames(bad, 16000, 25)
        with pytest.raises((InputError, ValueError)):
            audio_samples_for_frames(bad, 16000, 25)
        with pytest.raises((InputError, ValueError)):
            resample_frame_indices(bad, 25, 25)
    assert audio_samples_for_frames(1, 16000, 1) == 16000  # 1 fps is a rate like any other
    assert target_frames(16000, 16000, 1) == 1
    assert resample_frame_indices(1, 25, 25, 3).tolist() == [0, 0, 0]  # a one-frame source
    with pytest.raises(InputError) as info:
        target_frames(100, 16000, 0)
    assert info.value.input_name == "fps" and "fps" in info.value.fix
