"""Per-window bookkeeping of the long-video runner: motion frames, prompts, partial-denoise sigmas, the video's
length and the audio fit to it."""
import pytest
import torch

from wan_multitalk.errors import InputError
from wan_multitalk.timebase import frames_for_samples, samples_for_frames
from wan_multitalk.video.long_video import WindowFrames, denoised_sigmas, fit_audio, prompt_index, video_length


def test_last_prompt_repeats():
    assert [prompt_index(i, 3) for i in range(6)] == [0, 1, 2, 2, 2, 2]
    assert [prompt_index(i, 1) for i in range(3)] == [0, 0, 0]


def test_denoised_sigmas_keep_the_tail():
    sigmas = torch.linspace(1, 0, 11)  # 10 steps
    assert torch.equal(denoised_sigmas(sigmas, 1.0), sigmas)
    assert torch.equal(denoised_sigmas(sigmas, 0.5), sigmas[-6:])
    assert denoised_sigmas(sigmas, 0.01).shape[-1] == 2  # never fewer than one step
    with pytest.raises(InputError, match="denoise"):
        denoised_sigmas(sigmas, 0.0)


@pytest.mark.parametrize("have", [1000, 50000])
def test_fit_audio_cuts_or_pads_to_the_frames(have):
    wave = torch.randn(1, 2, have)
    out = fit_audio({"waveform": wave, "sample_rate": 16000}, 37, 25)
    n = samples_for_frames(37, 16000, 25)
    assert out["waveform"].shape == (1, 2, n) and out["sample_rate"] == 16000
    keep = min(have, n)
    assert torch.equal(out["waveform"][..., :keep], wave[..., :keep])
    assert not out["waveform"][..., keep:].any()


def test_window_frames_by_variant():
    reference, tail = torch.zeros(1, 4, 4, 3), torch.ones(5, 4, 4, 3)
    first = WindowFrames.for_variant("infinitetalk", reference, None)
    assert first.known is reference and first.motion is reference and not first.noised_motion
    later = WindowFrames.for_variant("infinitetalk", reference, tail)
    assert later.known is reference and later.motion is tail
    first = WindowFrames.for_variant("multitalk", reference, None)
    assert first.known is reference and first.motion is None
    later = WindowFrames.for_variant("multitalk", reference, tail)
    assert later.known is tail and later.motion is tail and later.noised_motion


def test_video_length_follows_the_source_then_the_audio_then_the_embeds():
    audio = {"waveform": torch.zeros(1, 1, 44100 * 3 + 100), "sample_rate": 44100}
    assert video_length(10, 25, audio) == frames_for_samples(44100 * 3 + 100, 44100, 25) == 75
    assert video_length(10, 25) == 10
    assert video_length(10, 25, audio, source=(31, 30)) == 26  # every output frame that starts inside the source


def test_edges_of_the_denoise_range_and_the_audio_fit():
    with pytest.raises(InputError, match="denoise"):
        denoised_sigmas(torch.linspace(1, 0, 11), 1.5)
    wave = torch.ones(2, 10, dtype=torch.float64)
    padded = fit_audio({"waveform": wave, "sample_rate": 25}, 20, 25)  # 20 frames at 25 fps of 25 Hz audio
    assert padded["waveform"].dtype == torch.float64 and padded["waveform"].shape == (2, 20)
    assert torch.equal(padded["waveform"][:, 10:], torch.zeros(2, 10, dtype=torch.float64))
