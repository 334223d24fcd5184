"""1-4 speakers on one timeline: offsets, feature placement with silence fill, the mux mix."""
from __future__ import annotations

import math

import pytest
import torch

from fractions import Fraction

from wan_multitalk.audio.placement import mix_tracks, parse_start_times, place_features, place_tracks
from wan_multitalk.errors import InputError
from wan_multitalk.timebase import duration

RATE = 16000


def frames(samples, fps_num=25, fps_den=1, rate=RATE):
    """Integer reference: whole frames in ``samples`` samples."""
    return (samples * fps_num) // (fps_den * rate)


def plan(lengths, fps, mode, rate=RATE, **kw):
    return place_tracks([duration(n, rate) for n in lengths], fps, mode, **kw)


def test_para_starts_everyone_at_zero():
    lengths = [18560, 40000, 16001]
    placed = plan(lengths, 25.0, "para")
    assert placed.starts == (0, 0, 0) and placed.start_frames == (0, 0, 0)
    assert max(placed.ends) == Fraction(40000, RATE) and placed.total_frames == frames(40000) == 62
    assert placed.frame_counts == tuple(frames(n) for n in lengths) == (29, 62, 25)


def test_add_takes_turns_in_input_order():
    lengths = [18560, 33333, 7777, 16000]
    placed = plan(lengths, 25.0, "add")
    cumulative = [0, 18560, 18560 + 33333, 18560 + 33333 + 7777]
    assert placed.starts == tuple(Fraction(c, RATE) for c in cumulative)
    assert placed.start_frames == tuple(frames(s) for s in cumulative)
    assert max(placed.ends) == Fraction(sum(lengths), RATE) and placed.total_frames == frames(sum(lengths))
    for k in range(3):  # consecutive turns never overlap; rounding can leave at most one silent frame
        gap = placed.start_frames[k + 1] - (placed.start_frames[k] + placed.frame_counts[k])
        assert gap in (0, 1)


def test_add_at_ntsc_rate_uses_exact_frames():
    lengths = [48000 * 7 + 13, 48000 * 3]
    placed = plan(lengths, 29.97, "add", rate=48000)
    assert placed.start_frames == (0, frames(lengths[0], 2997, 100, 48000))
    assert placed.total_frames == frames(sum(lengths), 2997, 100, 48000)


def test_timeline_places_tracks_at_given_seconds_and_allows_overlap():
    lengths = [32000, 16000, 8000]
    placed = plan(lengths, 25.0, "timeline", starts_seconds=[0.5, 1.25, 0.0])
    assert placed.starts == (Fraction(1, 2), Fraction(5, 4), 0)
    assert placed.start_frames == (12, 31, 0)
    assert placed.ends == (Fraction(5, 2), Fraction(9, 4), Fraction(1, 2))
    assert placed.total_frames == 62


def test_timeline_start_times_are_exact_and_mix_at_the_nearest_sample():
    placed = plan([1000, 1000], 25.0, "timeline", rate=44100, starts_seconds=[Fraction(1, 3), 0.1])
    assert placed.starts == (Fraction(1, 3), Fraction(1, 10))
    assert placed.start_frames == (8, 2)
    mix, rate = mix_tracks([torch.ones(1, 1, 1000), 2 * torch.ones(1, 1, 1000)], [44100, 44100], placed)
    first = torch.nonzero(mix[0, 0] == 1)[0].item()
    assert rate == 44100 and first == round(44100 / 3)  # 14700 exactly


def test_start_times_text():
    assert parse_start_times("0, 3.2; 1/3", 3, "timeline_starts") == [0, Fraction(16, 5), Fraction(1, 3)]
    assert parse_start_times("", 2, "timeline_starts") == []
    with pytest.raises(InputError) as info:
        parse_start_times("0, soon", 2, "timeline_starts")
    assert info.value.input_name == "timeline_starts"


@pytest.mark.parametrize("mode,starts,name", [
    ("parallel", None, "mode"),
    ("timeline", None, "starts_seconds"),
    ("timeline", [0.0], "starts_seconds"),
    ("timeline", [0.0, -0.5], "starts_seconds"),
    ("timeline", [0.0, float("nan")], "starts_seconds"),
])
def test_bad_placement_inputs_are_named(mode, starts, name):
    with pytest.raises(InputError) as error:
        plan([16000, 16000], 25.0, mode, starts_seconds=starts)
    assert error.value.input_name == name


def test_speaker_count_is_limited_to_one_to_four():
    with pytest.raises(InputError):
        plan([16000] * 5, 25.0, "add")
    with pytest.raises(InputError):
        plan([], 25.0, "para")


def test_place_features_puts_each_track_at_its_offset_with_silence_elsewhere():
    generator = torch.Generator().manual_seed(0)
    lengths = [18560, 33333, 7777]
    placed = plan(lengths, 25.0, "add")
    tracks = [torch.randn(n, 3, 4, generator=generator) for n in placed.frame_counts]
    silence = torch.randn(3, 4, generator=generator)
    out = place_features(tracks, placed, silence)
    assert out.shape == (3, placed.total_frames, 3, 4) and out.dtype == torch.float32

    expected = torch.empty(out.shape, dtype=torch.float64)
    for s in range(3):
        for t in range(placed.total_frames):
            row = t - placed.start_frames[s]
            expected[s, t] = tracks[s][row] if 0 <= row < tracks[s].shape[0] else silence
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=0)
    assert not (out == 0).all(dim=(2, 3)).any()  # silence rows, never zero rows


def test_silent_speakers_take_a_slot_but_no_time():
    placed = plan([16000, 8000], 25.0, "add").with_silent_speakers(2)
    assert placed.num_tracks == 4 and placed.start_frames[2:] == (0, 0) and placed.frame_counts[2:] == (0, 0)
    assert placed.total_frames == frames(24000)


def test_place_features_cuts_or_pads_to_total_frames_and_handles_a_silent_speaker():
    placed = plan([16000, 16000], 25.0, "timeline", starts_seconds=[0.0, 0.4])
    tracks = [torch.ones(25, 2, 2), None]
    silence = torch.full((2, 2), -0.5)
    short = place_features(tracks, placed, silence, total_frames=20)
    assert short.shape == (2, 20, 2, 2)
    assert (short[0] == 1).all() and (short[1] == -0.5).all()
    long = place_features(tracks, placed, silence, total_frames=40)
    assert (long[0, :25] == 1).all() and (long[0, 25:] == -0.5).all() and (long[1] == -0.5).all()


def test_mix_sums_tracks_at_their_sample_offsets():
    generator = torch.Generator().manual_seed(1)
    first = torch.randn(1, 2, 4800, generator=generator)  # stereo, 48 kHz
    second = torch.randn(1, 1, 2400, generator=generator)  # mono, 48 kHz
    placed = plan([4800, 2400], 25.0, "timeline", rate=48000, starts_seconds=[0.0, 0.05])
    mix, rate = mix_tracks([first, second], [48000, 48000], placed, gains=[0.5, 2.0])
    assert rate == 48000 and mix.shape == (1, 2, 4800)
    expected = torch.zeros(2, 4800, dtype=torch.float64)
    expected += 0.5 * first[0].double()
    for c in range(2):  # the mono track is heard on both channels, from 0.05 s = sample 2400
        expected[c, 2400:4800] += 2.0 * second[0, 0].double()
    torch.testing.assert_close(mix[0].double(), expected, rtol=0, atol=1e-6)


def test_mix_resamples_to_the_first_tracks_rate_and_keeps_turns_aligned():
    first = torch.zeros(1, 1, 44100)  # 1 s of silence at 44.1 kHz, then speaker 2's tone
    t = torch.arange(16000, dtype=torch.float64) / 16000
    second = (0.5 * torch.sin(2 * math.pi * 440 * t)).float()[None, None]  # 1 s at 16 kHz
    placed = place_tracks([duration(44100, 44100), duration(16000, 16000)], 25.0, "add")
    mix, rate = mix_tracks([first, second], [44100, 16000], placed)
    assert rate == 44100 and mix.shape == (1, 1, 2 * 44100)
    assert mix[0, 0, :44100].abs().max() == 0
    t_out = torch.arange(44100, dtype=torch.float64) / 44100
    expected = 0.5 * torch.sin(2 * math.pi * 440 * t_out)
    torch.testing.assert_close(mix[0, 0, 44100 + 500:-500].double(), expected[500:-500], rtol=0, atol=3e-3)


def test_edges_one_track_a_silent_track_and_a_one_frame_timeline():
    one = plan([16000], 25, "para")
    assert (one.num_tracks, one.total_frames, one.mode, one.fps) == (1, 25, "para", 25)
    silent = plan([0, 16000], 25, "add")
    assert silent.frame_counts == (0, 25) and silent.starts == (0, 0)
    assert plan([640], 25, "para").total_frames == 1  # 40 ms: exactly one frame at 25 fps
    with pytest.raises(InputError, match="less than one video frame") as short:
        plan([639], 25, "para")
    assert short.value.input_name == "audio" and short.value.fix
    for count in (0, 5):
        with pytest.raises(InputError, match=f"{count} speaker tracks") as info:
            plan([16000] * count, 25, "para")
        assert info.value.input_name == "audio" and "between 1 and 4" in info.value.fix


def test_a_track_without_audio_between_others_stays_silent_and_later_tracks_are_placed():
    placed = plan([3200, 0, 3200], 25, "add")  # starts 0, 3200, 3200 samples = frames 0, 5, 5
    silence = torch.zeros(2, 3)
    feats = [torch.full((5, 2, 3), 1.0), None, torch.full((5, 2, 3), 3.0)]
    out = place_features(feats, placed, silence, total_frames=8)  # cuts track 3 after 3 of its 5 rows
    assert out.shape == (3, 8, 2, 3)
    assert (out[0, :5] == 1).all() and (out[0, 5:] == 0).all() and (out[1] == 0).all()
    assert (out[2, :5] == 0).all() and (out[2, 5:] == 3).all()


def test_mix_averages_an_odd_layout_to_mono_before_spreading_it_over_the_channels():
    placed = plan([1000, 1000], 25, "para")
    three = torch.zeros(1, 3, 1000)
    stereo = torch.stack([torch.full((1000,), 0.2), torch.full((1000,), 0.6)])[None]
    mix, rate = mix_tracks([three, stereo], [RATE, RATE], placed)
    assert rate == RATE and mix.shape == (1, 3, 1000) and mix.dtype == torch.float32
    torch.testing.assert_close(mix, torch.full((1, 3, 1000), 0.4))


@pytest.mark.parametrize("bad", ["rate", "shape"])
def test_mix_errors_name_the_speakers_input(bad):
    placed = plan([1000, 1000], 25, "para")
    good = torch.zeros(1, 1, 1000)
    other = torch.zeros(1, 1, 1000) if bad == "rate" else torch.zeros(1000, 1, 1, 1)
    with pytest.raises(InputError) as info:
        mix_tracks([good, other], [RATE, 0 if bad == "rate" else RATE], placed)
    assert info.value.input_name == "audio_2"
    with pytest.raises(InputError) as named:
        mix_tracks([good, other], [RATE, 0 if bad == "rate" else RATE], placed, input_names=["voice_a", "voice_b"])
    assert named.value.input_name == "voice_b"
