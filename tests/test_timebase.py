"""The time base: exact samples <-> frames under one rule, 4k+1 windows, latent frames. The embeds' frame count and
the sampler's output length agree for any audio length, sample rate and frame rate (the executor checks a sample of
these in tests/host/test_long_video.py::test_sampler_makes_the_frames_the_embeds_count)."""
from __future__ import annotations

import random
from fractions import Fraction

import pytest
import torch

from wan_multitalk.audio.placement import mix_tracks, place_tracks
from wan_multitalk.errors import InputError
from wan_multitalk.timebase import (check_window_size, duration, frames_for_samples, latent_frames,
                                    resampled_frame_count, samples_for_frames)
from wan_multitalk.video.long_video import fit_audio, video_length

RATES = (8000, 16000, 22050, 24000, 44100, 48000)
FPS = (25, 24, 30, 12.5, 15.5, 23.976, 29.97, 59.94, Fraction(30000, 1001))


def whole_frames(samples: int, rate: int, fps) -> int:
    """Independent integer reference: the frames n samples cover in full, floor(n * fps / rate)."""
    f = Fraction(str(fps)) if isinstance(fps, float) else Fraction(fps)
    return samples * f.numerator // (rate * f.denominator)


def cases(count: int, seed: int = 0):
    rng = random.Random(seed)
    for _ in range(count):
        rate, fps = rng.choice(RATES), rng.choice(FPS)
        samples = rng.randrange(rate // 10, rate * 40)
        if rng.random() < 0.5:  # land within a sample of a frame boundary, where rounding rules part ways
            frames = whole_frames(samples, rate, fps) + 1
            samples = samples_for_frames(frames, rate, fps) + rng.choice((-1, 0, 1))
        yield samples, rate, fps


def test_frames_are_the_whole_frames_the_audio_covers():
    assert frames_for_samples(18560, 16000, 25) == 29  # 29 exactly; float arithmetic gives 28.999...
    assert 18560 / 16000 * 25 < 29
    assert frames_for_samples(640 * 251 + 639, 16000, 25) == 251  # a hair short of 252 frames is 251
    assert frames_for_samples(4000000, 48000, 29.97) == 2497  # 2497.5
    assert frames_for_samples(44100 * 600, 44100, Fraction(30000, 1001)) == 17982  # 17982.017...
    assert frames_for_samples(0, 16000, 25) == 0
    for samples, rate, fps in cases(300):
        assert frames_for_samples(samples, rate, fps) == whole_frames(samples, rate, fps)


def test_audio_for_frames_is_the_fewest_samples_covering_them():
    assert samples_for_frames(251, 16000, 25) == 160640
    assert samples_for_frames(500, 48000, 29.97) == 800801  # 800800.80...
    assert samples_for_frames(0, 16000, 25) == 0
    for samples, rate, fps in cases(300, seed=1):
        frames = whole_frames(samples, rate, fps)
        back = samples_for_frames(frames, rate, fps)
        assert frames_for_samples(back, rate, fps) == frames  # cut audio counts as the same frames
        assert frames_for_samples(back - 1, rate, fps) == frames - 1 if frames else back == 0  # and is the fewest
        assert back <= samples  # cutting never pads


def test_embeds_frame_count_is_the_samplers_output_length():
    """What the embeds node reports (its placement) is what the sampler makes from the original AUDIO, from the
    embeds' own AUDIO output, or from the embeds alone - for every length, sample rate and frame rate."""
    for samples, rate, fps in cases(400, seed=2):
        if whole_frames(samples, rate, fps) < 1:
            continue
        wave = torch.zeros(1, 1, samples)
        embeds_frames = place_tracks([duration(samples, rate)], fps, "para").total_frames
        assert embeds_frames == whole_frames(samples, rate, fps)
        original = {"waveform": wave, "sample_rate": rate}
        assert video_length(embeds_frames, fps, original) == embeds_frames
        assert video_length(embeds_frames, fps, fit_audio(original, embeds_frames, fps)) == embeds_frames
        assert video_length(embeds_frames, fps) == embeds_frames


def test_turn_taking_at_mixed_rates_keeps_the_count_through_the_mix():
    rng = random.Random(3)
    for _ in range(60):
        rates = [rng.choice(RATES) for _ in range(2)]
        lengths = [rng.randrange(r // 5, r * 5) for r in rates]
        fps = rng.choice(FPS)
        placement = place_tracks([duration(n, r) for n, r in zip(lengths, rates)], fps, "add")
        assert placement.total_frames == frames_for_samples(lengths[0] * rates[1] + lengths[1] * rates[0],
                                                            rates[0] * rates[1], fps)
        mix, rate = mix_tracks([torch.zeros(1, 1, n) for n in lengths], rates, placement)
        audio = fit_audio({"waveform": mix, "sample_rate": rate}, placement.total_frames, fps)
        assert video_length(placement.total_frames, fps, audio) == placement.total_frames


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
    assert check_window_size(1, minimum=1) == 1
    with pytest.raises(InputError):
        check_window_size(81.5)


def test_latent_frames_of_the_causal_vae():
    assert [latent_frames(m) for m in (1, 4, 5, 9, 13, 25, 81)] == [1, 1, 2, 3, 4, 7, 21]
    with pytest.raises(InputError):
        latent_frames(0)


def test_resampled_video_keeps_every_frame_starting_inside_it():
    assert resampled_frame_count(31, 30, 25) == 26 and resampled_frame_count(30, 30, 25) == 25
    assert resampled_frame_count(1, 30, 25) == 1


def test_rates_must_be_positive():
    with pytest.raises(InputError) as info:
        frames_for_samples(100, 16000, 0)
    assert info.value.input_name == "fps"
    with pytest.raises(InputError) as info:
        samples_for_frames(10, -1, 25)
    assert info.value.input_name == "sample_rate"


def test_counts_must_be_whole_and_non_negative_and_one_fps_is_a_rate():
    from wan_multitalk.errors import InputError
    from wan_multitalk.timebase import frames_for_samples, samples_for_frames

    for bad in (-1, 1.5):
        with pytest.raises((InputError, ValueError)):
            frames_for_samples(bad, 16000, 25)
        with pytest.raises((InputError, ValueError)):
            samples_for_frames(bad, 16000, 25)
    assert samples_for_frames(1, 16000, 1) == 16000
    assert frames_for_samples(16000, 16000, 1) == 1
    with pytest.raises(InputError) as info:
        frames_for_samples(100, 16000, 0)
    assert info.value.input_name == "fps"
