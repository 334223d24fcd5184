"""Per-window bookkeeping of the long-video loop: prompts, partial-denoise sigmas, source frames, audio fit."""
import pytest
import torch

from wan_multitalk.errors import InputError
from wan_multitalk.video.long_video import denoised_sigmas, fit_audio, prompt_index, window_source_indices
from wan_multitalk.video.windows import audio_samples_for_frames, plan_windows, resample_frame_indices


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


def test_window_source_frames_follow_the_resampled_map_and_repeat_the_last():
    frame_map = resample_frame_indices(5, 12.5, 25)  # each source frame twice: 0 0 1 1 2 2 3 3 4 4
    windows = plan_windows(10, 5, 1)
    assert window_source_indices(frame_map, windows[0]).tolist() == [0, 0, 1, 1, 2]
    assert window_source_indices(frame_map, windows[2]).tolist() == [4, 4, 4, 4, 4]  # past the end: last frame


@pytest.mark.parametrize("have", [1000, 50000])
def test_fit_audio_cuts_or_pads_to_the_frames(have):
    wave = torch.randn(1, 2, have)
    out = fit_audio({"waveform": wave, "sample_rate": 16000}, 37, 25)
    n = audio_samples_for_frames(37, 16000, 25)
    assert out["waveform"].shape == (1, 2, n) and out["sample_rate"] == 16000
    keep = min(have, n)
    assert torch.equal(out["waveform"][..., :keep], wave[..., :keep])
    assert not out["waveform"][..., keep:].any()


def test_edges_of_the_source_map_the_denoise_range_and_the_audio_fit():
    single = window_source_indices(torch.tensor([7]), plan_windows(9, 9, 5)[0])
    assert single.tolist() == [7] * 9  # a one-frame source repeats
    short = window_source_indices(torch.tensor([0, 1, 2]), plan_windows(9, 9, 5)[0])
    assert short.tolist() == [0, 1, 2] + [2] * 6  # past the map: its last entry
    with pytest.raises(InputError, match="denoise"):
        denoised_sigmas(torch.linspace(1, 0, 11), 1.5)
    wave = torch.ones(2, 10, dtype=torch.float64)
    padded = fit_audio({"waveform": wave, "sample_rate": 25}, 20, 25)  # 20 frames at 25 fps of 25 Hz audio
    assert padded["waveform"].dtype == torch.float64 and padded["waveform"].shape == (2, 20)
    assert torch.equal(padded["waveform"][:, 10:], torch.zeros(2, 10, dtype=torch.float64))
