"""Reinhard colour match in Lab against an independent float64 derivation."""
import numpy as np
import pytest
import torch

import video_lab_reference as ref_lab
from wan_multitalk.errors import InputError
from wan_multitalk.video.colour import match_colour


def smooth_images(n, h, w, seed):
    """Random but image-like: coarse noise upsampled, so there is structure and little clipping."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 4, 5, generator=g)
    up = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    noise = 0.05 * torch.rand(n, 3, h, w, generator=g)
    return (up * 0.9 + noise).clamp(0, 1).permute(0, 2, 3, 1).contiguous()


@pytest.mark.parametrize("strength", [1.0, 0.5, 0.25])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_float64_derivation(strength, dtype):
    frames = smooth_images(4, 12, 16, seed=1)
    reference = smooth_images(1, 20, 14, seed=2)[0] * 0.6 + 0.2  # different size and palette
    out = match_colour(frames.to(dtype), reference.to(dtype), strength)
    expected = ref_lab.reinhard_match(frames.double().numpy(), reference.double().numpy(), strength)
    assert out.dtype == dtype and out.shape == frames.shape
    assert np.abs(out.double().numpy() - expected).max() < 5e-4


def test_uniform_random_frames_match_too():
    g = torch.Generator().manual_seed(5)
    frames, reference = torch.rand(3, 9, 11, 3, generator=g), torch.rand(8, 8, 3, generator=g)
    expected = ref_lab.reinhard_match(frames.double().numpy(), reference.double().numpy(), 1.0)
    assert np.abs(match_colour(frames, reference).double().numpy() - expected).max() < 5e-4


def test_strength_zero_is_identity():
    frames = smooth_images(2, 8, 8, seed=3)
    assert match_colour(frames, smooth_images(1, 8, 8, seed=4)[0], 0.0) is frames


def test_strength_blends_linearly():
    frames = smooth_images(2, 8, 10, seed=6)
    reference = smooth_images(1, 8, 10, seed=7)
    full = match_colour(frames, reference, 1.0)
    half = match_colour(frames, reference, 0.5)
    assert torch.allclose(half, 0.5 * frames + 0.5 * full, atol=1e-6)


def test_frame_equal_to_reference_is_unchanged():
    reference = smooth_images(1, 16, 16, seed=8)
    out = match_colour(reference.repeat(3, 1, 1, 1), reference)  # [1, H, W, 3] reference form
    assert (out - reference).abs().max() < 1e-4


def test_tinted_frames_get_reference_lab_statistics():
    reference = smooth_images(1, 24, 24, seed=9)[0] * 0.7 + 0.15
    tinted = (reference * torch.tensor([1.0, 0.85, 0.7]) + torch.tensor([0.05, 0.0, 0.0]))
    frames = torch.stack([tinted, tinted * 0.8]).clamp(0, 1)
    out = match_colour(frames, reference)
    want = ref_lab.rgb_to_lab(reference.double().numpy().reshape(-1, 3))
    for frame_in, frame_out in zip(frames, out):
        before = ref_lab.rgb_to_lab(frame_in.double().numpy().reshape(-1, 3))
        after = ref_lab.rgb_to_lab(frame_out.double().numpy().reshape(-1, 3))
        assert np.abs(before.mean(0) - want.mean(0)).max() > 3  # the tint was real
        assert np.abs(after.mean(0) - want.mean(0)).max() < 0.1
        assert np.abs(after.std(0) - want.std(0)).max() < 0.1


def test_flat_frame_becomes_reference_mean_without_nans():
    reference = smooth_images(1, 10, 10, seed=10)[0]
    out = match_colour(torch.full((1, 6, 6, 3), 0.3), reference)
    assert torch.isfinite(out).all()
    lab = ref_lab.rgb_to_lab(out[0].double().numpy().reshape(-1, 3))
    want = ref_lab.rgb_to_lab(reference.double().numpy().reshape(-1, 3)).mean(0)
    assert np.abs(lab - want).max() < 0.05


def test_chunking_does_not_change_results():
    frames = smooth_images(5, 8, 8, seed=11)
    reference = smooth_images(1, 8, 8, seed=12)[0]
    assert torch.equal(match_colour(frames, reference, chunk_size=2),
                       match_colour(frames, reference, chunk_size=16))


def test_bad_inputs_name_the_input():
    frames = smooth_images(1, 4, 4, seed=13)
    with pytest.raises(InputError) as info:
        match_colour(frames, frames[0], strength=1.5)
    assert info.value.input_name == "colour_match_strength"
    with pytest.raises(InputError) as info:
        match_colour(frames, smooth_images(2, 4, 4, seed=1))  # two frames are not one reference
    assert info.value.input_name == "reference"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_frames_device():
    frames = smooth_images(3, 32, 48, seed=14)
    reference = smooth_images(1, 40, 40, seed=15)[0]
    on_gpu = match_colour(frames.cuda(), reference)  # reference follows the frames
    assert on_gpu.device.type == "cuda"
    assert (on_gpu.cpu() - match_colour(frames, reference)).abs().max() < 1e-4
