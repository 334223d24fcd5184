"""The one buffer limit: what it refuses (a typed start time meant as milliseconds, a 4096x4096 window, a long video
in RAM) and what it must never refuse (an hour of talking video in folder mode). Byte counts are re-derived here."""
from __future__ import annotations

from fractions import Fraction

import pytest

from wan_multitalk.audio.placement import place_tracks
from wan_multitalk.embeds import check_features_size, check_timeline_size
from wan_multitalk.errors import InputError
from wan_multitalk.limits import GIB, MAX_BUFFER_BYTES, check_buffer, frames_bytes
from wan_multitalk.video.windows import check_window_pixels

ROW = 12 * 768  # chinese-wav2vec2-base: 12 layer outputs of 768 per frame
HOUR = 3600


def test_the_budget_is_a_buffer_a_64_gb_machine_can_give():
    assert MAX_BUFFER_BYTES == 16 * 1024 ** 3
    check_buffer(MAX_BUFFER_BYTES, "x", "exactly the limit", "none")
    with pytest.raises(InputError) as info:
        check_buffer(MAX_BUFFER_BYTES + 1, "x", "one byte more", "do less")
    assert info.value.input_name == "x" and "one byte more" in info.value.problem and info.value.fix == "do less"


def test_an_hour_of_480p_talking_video_with_four_speakers_fits():
    placed = place_tracks([HOUR] * 4, 25, "para")
    assert placed.total_frames == 90_000
    check_timeline_size(placed, placed.total_frames, ROW, (48000, 2), "audio", "none")  # 12.4 GiB + 1.3 GiB
    assert 4 * 90_000 * ROW * 4 == 13_271_040_000 < MAX_BUFFER_BYTES
    check_window_pixels(832, 480, 81, "frame_window_size")
    check_window_pixels(1280, 720, 81, "frame_window_size")
    check_features_size(1, 90_000, ROW, 25, "num_frames", "none")


def test_a_start_time_meant_as_milliseconds_is_refused_with_the_numbers():
    placed = place_tracks([Fraction(3), Fraction(4)], 25, "timeline", [0, 100000], "timeline_starts")
    frames = placed.total_frames
    assert frames == 2_500_100
    with pytest.raises(InputError) as info:
        check_timeline_size(placed, frames, ROW, (16000, 1), "timeline_starts", "check the start times")
    needed = 2 * frames * ROW * 4 / GIB  # float32 features of both speakers
    assert info.value.input_name == "timeline_starts"
    assert f"{frames:,} frames" in info.value.problem and f"{needed:,.1f} GiB" in info.value.problem
    assert "2 speaker(s)" in info.value.problem and "100,004 s" in info.value.problem


def test_the_mixed_audio_is_bounded_too():
    """At 384 kHz and 8 channels the mix outgrows the features: 2 hours are 22 GiB of audio."""
    placed = place_tracks([2 * HOUR], 25, "para")
    check_features_size(1, placed.total_frames, ROW, 25, "audio_1/fps", "none")
    with pytest.raises(InputError) as info:
        check_timeline_size(placed, placed.total_frames, ROW, (384000, 8), "audio_1/fps", "shorter")
    assert "7,200 s of mixed audio (8 channel(s) at 384000 Hz)" in info.value.problem
    assert f"{2 * HOUR * 384000 * 8 * 4 / GIB:,.1f} GiB" in info.value.problem


@pytest.mark.parametrize("width, height, frames", [(4096, 4096, 1001), (4096, 4096, 121), (4096, 2304, 201)])
def test_windows_larger_than_one_buffer_are_refused(width, height, frames):
    assert frames_bytes(frames, width, height) == frames * width * height * 3 * 4 > MAX_BUFFER_BYTES
    with pytest.raises(InputError) as info:
        check_window_pixels(width, height, frames, "length")
    assert info.value.input_name == "width/height/length" and f"{frames} frames at {width}x{height}" in str(info.value)
