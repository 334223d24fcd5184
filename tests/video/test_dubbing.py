"""Video-to-video dubbing: source frames resampled to the output fps, per-window keyframes, frames and masks."""
import math
from fractions import Fraction

import pytest
import torch

from wan_multitalk.errors import InputError
from wan_multitalk.video.dubbing import (DubbingSource, resample_frame_indices, source_keyframe_index,
                                         window_source_indices)
from wan_multitalk.video.resize import fit_to_video
from wan_multitalk.video.windows import split_windows


def test_source_keyframes_follow_window_starts():
    windows = split_windows(290, 81, 9)  # starts 0, 72, 144, 216
    assert [source_keyframe_index(w, 1000) for w in windows] == [0, 72, 144, 216]
    assert [source_keyframe_index(w, 150) for w in windows] == [0, 72, 144, 149]
    assert source_keyframe_index(40, 1) == 0  # an image is a one-frame source
    with pytest.raises(InputError):
        source_keyframe_index(windows[0], 0)


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


def test_window_source_frames_follow_the_resampled_map_and_repeat_the_last():
    frame_map = resample_frame_indices(5, 12.5, 25)  # each source frame twice: 0 0 1 1 2 2 3 3 4 4
    windows = split_windows(10, 5, 1)
    assert window_source_indices(frame_map, windows[0]).tolist() == [0, 0, 1, 1, 2]
    assert window_source_indices(frame_map, windows[2]).tolist() == [4, 4, 4, 4, 4]  # past the end: last frame


def test_dubbing_source_fits_each_window_and_repeats_one_mask():
    video = torch.rand(6, 20, 30, 3)
    source = DubbingSource(video, 12.5, 25, torch.rand(1, 20, 30), (16, 16))
    assert source.frames == 12
    windows = split_windows(12, 5, 1)
    index, keyframe = source.keyframe(windows[1])
    assert index == 2 and torch.equal(keyframe, fit_to_video(video[2:3], 16, 16))
    frames = source.window_frames(windows[1])  # output frames 4..8 show source frames 2 2 3 3 4
    torch.testing.assert_close(frames, fit_to_video(video[[2, 2, 3, 3, 4]], 16, 16), rtol=0, atol=0)
    mask = source.window_mask(windows[2])
    assert mask.shape == (1, 1, 5, 16, 16) and torch.equal(mask[0, 0, 0], mask[0, 0, 4])
    assert DubbingSource(video, 25, 25, None, (16, 16)).window_mask(windows[0]) is None


def test_a_one_frame_source_and_a_map_shorter_than_the_window():
    window = split_windows(9, 9, 5)[0]
    assert window_source_indices(torch.tensor([7]), window).tolist() == [7] * 9  # a one-frame source repeats
    assert window_source_indices(torch.tensor([0, 1, 2]), window).tolist() == [0, 1, 2] + [2] * 6  # then its last
    assert resample_frame_indices(1, 25, 25, 3).tolist() == [0, 0, 0]
