"""ComfyUI AUDIO -> mono 16 kHz float32, input checks, resampling and loudness normalisation."""
from __future__ import annotations

import math
import sys

import numpy as np
import pyloudnorm
import pytest
import torch

from wan_multitalk.audio.waveform import loudness_gain, normalize_loudness, prepare_waveform, resample
from wan_multitalk.errors import InputError


def tone(freq, rate, seconds, amplitude=0.5, phase=0.0):
    t = torch.arange(round(rate * seconds), dtype=torch.float64) / rate
    return (amplitude * torch.sin(2 * math.pi * freq * t + phase)).float()


def test_stereo_is_averaged_not_channel_zero():
    left, right = tone(440, 16000, 1.0), tone(1000, 16000, 1.0, amplitude=0.2)
    out = prepare_waveform(torch.stack([left, right])[None], 16000, "audio_1")
    assert out.shape == (16000,) and out.dtype == torch.float32
    torch.testing.assert_close(out, (left + right) / 2, rtol=0, atol=1e-7)


def test_all_layouts_give_the_same_result():
    mono = tone(300, 16000, 0.5)
    for layout in (mono, mono[None], mono[None, None]):
        torch.testing.assert_close(prepare_waveform(layout, 16000, "audio"), mono, rtol=0, atol=0)


@pytest.mark.parametrize("rate", [44100, 48000, 22050, 8000])
def test_resampled_to_16k_with_the_right_length_and_content(rate):
    seconds = 1.3
    source = torch.stack([tone(440, rate, seconds), tone(440, rate, seconds, amplitude=0.1)])[None]
    out = prepare_waveform(source, rate, "audio")
    n = source.shape[-1]
    assert out.shape == (math.ceil(n * 16000 / rate),)
    expected = tone(440, 16000, out.shape[0] / 16000, amplitude=0.3)  # mean of the two channels, at 16 kHz
    interior = slice(400, -400)  # away from the filter's edge effects
    torch.testing.assert_close(out[interior], expected[interior], rtol=0, atol=3e-3)


def test_librosa_fallback_when_torchaudio_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchaudio.functional", None)  # makes the import fail
    source = tone(440, 44100, 1.0)
    out = resample(source, 44100, 16000)
    assert out.shape == (math.ceil(44100 * 16000 / 44100),) and out.dtype == torch.float32
    torch.testing.assert_close(out[400:-400], tone(440, 16000, 1.0)[400:-400], rtol=0, atol=3e-3)


def test_batch_of_clips_is_refused():
    with pytest.raises(InputError) as error:
        prepare_waveform(torch.zeros(2, 1, 1600), 16000, "audio_3")
    assert error.value.input_name == "audio_3" and "batch of 2" in str(error.value)


@pytest.mark.parametrize("shape", [(1, 1, 0), (1, 0, 100), (0,)])
def test_empty_audio_is_refused(shape):
    with pytest.raises(InputError) as error:
        prepare_waveform(torch.zeros(shape), 16000, "audio_2")
    assert error.value.input_name == "audio_2" and "empty" in str(error.value)


def test_nan_and_inf_are_counted_and_located():
    wave = torch.zeros(1, 2, 44100)
    wave[0, 1, 4410:4413] = float("nan")
    wave[0, 0, 9000] = float("inf")
    with pytest.raises(InputError) as error:
        prepare_waveform(wave, 44100, "audio_1")
    message = str(error.value)
    assert error.value.input_name == "audio_1"
    assert "4 non-finite samples (3 NaN, 1 infinite)" in message
    assert "sample 4410 of channel 1 (0.100 s)" in message
    assert error.value.fix


@pytest.mark.parametrize("rate", [0, -16000, 44100.5, float("nan")])
def test_bad_sample_rate_is_refused(rate):
    with pytest.raises(InputError) as error:
        prepare_waveform(torch.zeros(1, 1, 1000), rate, "audio_4")
    assert error.value.input_name == "audio_4"


def speech_like(rate, seconds, level):
    """Noise with a syllable-rate envelope (so gating matters), at a given peak level."""
    generator = torch.Generator().manual_seed(0)
    n = round(rate * seconds)
    t = torch.arange(n, dtype=torch.float64) / rate
    envelope = (0.5 + 0.5 * torch.sin(2 * math.pi * 3.0 * t)).clamp_min(0.05)
    return (level * envelope * torch.randn(n, generator=generator, dtype=torch.float64)).float()


@pytest.mark.parametrize("level,target", [(0.01, -23.0), (0.4, -23.0), (0.05, -16.0)])
def test_loudness_reaches_the_target(level, target):
    wave = speech_like(16000, 5.0, level)
    out = normalize_loudness(wave, 16000, target)
    measured = pyloudnorm.Meter(16000).integrated_loudness(out.double().numpy())
    assert abs(measured - target) < 0.1
    ratio = out.double() / wave.double()
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-5)  # a pure gain


def test_loudness_of_stereo_at_the_original_rate():
    wave = torch.stack([speech_like(44100, 3.0, 0.05), speech_like(44100, 3.0, 0.02)])
    gain = loudness_gain(wave, 44100, -23.0)
    measured = pyloudnorm.Meter(44100).integrated_loudness((wave * gain).double().numpy().T)
    assert abs(measured - -23.0) < 0.1


@pytest.mark.parametrize("wave", [torch.zeros(32000), torch.zeros(2, 32000), speech_like(16000, 0.2, 0.3)],
                         ids=["silence", "stereo-silence", "shorter-than-a-block"])
def test_silence_and_too_short_clips_are_unchanged(wave):
    out = normalize_loudness(wave, 16000)
    assert torch.equal(out, wave)
    assert loudness_gain(wave, 16000) == 1.0


def test_numpy_input_is_accepted():
    out = prepare_waveform(np.zeros((1, 2, 1600), dtype=np.float32), 16000, "audio")
    assert out.shape == (1600,)
