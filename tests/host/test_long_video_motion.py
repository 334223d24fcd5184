"""What the DiT sees in every window of a long video: the motion latents and the known I2V frames, per mode.

A test-only node records every DiT call of the sampler (its input: latent, mask and concat channels) through the
host's DIFFUSION_MODEL / APPLY_MODEL wrappers. Windows are 13 frames with 5 of motion (8 new per window), so the
previous window's whole colour-matched tail is among the output frames. Expected values come from the host's
own VAE and latent format applied to those frames.

- InfiniteTalk: every call of window k > 0 gets the clean latents of window k-1's tail in its first latent frames
  (window 0: the reference), and the reference is the known frame of every window.
- MultiTalk: window k > 0 gets that tail noised to the call's sigma, sigma * eps + (1 - sigma) * z, with eps
  drawn from the window's seed (seed + k), and the tail is its known I2V frames; window 0 knows the reference
  and gets no motion latents.
"""
from __future__ import annotations

import torch

import model_recorder
from tests.host.test_long_video import fps_for, long_graph
from wan_multitalk.timebase import frames_for_samples, latent_frames
from wan_multitalk.video.windows import split_windows

WINDOW, MOTION, STEPS = 13, 5, 2
LATENT = 16  # noise channels; then 4 mask channels, then 16 concat-latent channels
MOTION_LATENTS = latent_frames(MOTION)


def run(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, mode, seed, tag):
    voice = voices["male"]
    fps = fps_for(voice, 23.5)
    total = frames_for_samples(voice["samples"], voice["rate"], fps)
    windows = split_windows(total, WINDOW, MOTION)
    assert len(windows) == 3 and windows[2].start + MOTION <= total
    model_recorder.RECORDS.clear()
    out = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, mode=mode, seed=seed,
                              window=WINDOW, motion=MOTION, steps=STEPS, record=tag, capture=tag)).captured
    out = {k[:-len(tag)]: v for k, v in out.items()}
    rec = model_recorder.RECORDS[tag]
    assert len(rec.guided) == STEPS * len(windows)
    return out, rec, windows


def window_calls(rec, index):
    """(DiT calls, model calls) of window `index` (STEPS predictions per window, in order)."""
    dit = [d for d in rec.dit if d["step"] // STEPS == index]
    calls = [c for c in rec.calls if c["step"] // STEPS == index]
    assert len(dit) == len(calls) == STEPS  # text cfg 1 / audio cfg 2: both passes batched in one call
    return dit, calls


def latents_of(out, frames):
    """The host's latents of `frames` as the DiT sees them (VAE encode, then the model's latent format)."""
    with torch.inference_mode():
        return out["model"].model.process_latent_in(out["vae"].encode(frames)).float()


def known_frames(out, frames):
    """The I2V frames a window is given: `frames` first, grey after."""
    grey = torch.full((WINDOW, 48, 64, 3), 0.5)
    grey[:frames.shape[0]] = frames
    return grey


def reference(out):
    return out["start_image"][:, :, 8:72]  # 80x48 centre-cropped to the 64x48 video


def tail_before(out, windows, index):
    """Window index-1's last MOTION frames after colour matching, read from the output video."""
    start = windows[index].start
    return out["frames"][start:start + MOTION]


def assert_known(dit, out, frames, latents):
    """The DiT's concat channels hold the encode of `frames` + grey, its mask marks their latents as given."""
    want = latents_of(out, known_frames(out, frames))
    for call in dit:
        x = call["x"]
        assert x.shape[1] == LATENT + 4 + LATENT
        torch.testing.assert_close(x[:, LATENT + 4:], want.expand_as(x[:, LATENT + 4:]), rtol=1e-4, atol=1e-4)
        mask = x[:, LATENT:LATENT + 4]
        assert (mask[:, :, :latents] == 1).all() and (mask[:, :, latents:] == 0).all()


def test_infinitetalk_motion_is_the_clean_encode_of_the_coloured_tail(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                      voices):
    out, rec, windows = run(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, "infinitetalk", 0, "it")
    for k in range(len(windows)):
        dit, calls = window_calls(rec, k)
        assert_known(dit, out, reference(out), 1)  # the reference is the known frame of every window
        context = reference(out) if k == 0 else tail_before(out, windows, k)
        frames = latent_frames(context.shape[0])
        want = latents_of(out, context)[:, :, :frames]
        for call, model_call in zip(dit, calls):
            x, sampled = call["x"][:, :LATENT], model_call["x"]
            # written into the latent the DiT gets at this very call: clean, whatever the sampler's x holds there
            torch.testing.assert_close(x[:, :, :frames], want.expand_as(x[:, :, :frames]), rtol=1e-4, atol=1e-4)
            assert (sampled[:, :, :frames] - want).abs().max() > 1e-2
            torch.testing.assert_close(x[:, :, frames:], sampled[:, :, frames:], rtol=0, atol=0)


def motion_noise(out, windows, dit, calls, k):
    """eps per call of window k: (x_motion - (1 - sigma) z) / sigma, with z the latents of the previous tail;
    the first call (sigma 1) carries eps alone."""
    z = latents_of(out, tail_before(out, windows, k))[:, :, :MOTION_LATENTS]
    noises = []
    for call, model_call in zip(dit, calls):
        sigma = float(model_call["sigma"].flatten()[0])
        x = call["x"][:, :LATENT, :MOTION_LATENTS]
        torch.testing.assert_close(x[0], x[1], rtol=0, atol=0)  # both passes get the same motion
        noises.append(((x[:1] - (1.0 - sigma) * z) / sigma, sigma))
    return noises


def test_multitalk_motion_is_the_tail_noised_to_the_sigma_with_the_windows_seed(host, tiny_wan, tiny_adapter,
                                                                               wav2vec2_name, voices):
    out, rec, windows = run(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, "multitalk", 3, "mt3")
    dit, calls = window_calls(rec, 0)
    assert_known(dit, out, reference(out), 1)
    for call, model_call in zip(dit, calls):  # no motion latents in the first window
        torch.testing.assert_close(call["x"][:, :LATENT], model_call["x"], rtol=0, atol=0)
    noise = {}
    for k in (1, 2):
        dit, calls = window_calls(rec, k)
        assert_known(dit, out, tail_before(out, windows, k), MOTION_LATENTS)  # the tail is the known frames
        noise[k] = motion_noise(out, windows, dit, calls, k)
        sigmas = [s for _, s in noise[k]]
        assert sigmas[0] == 1.0 and 0.0 < sigmas[1] < 1.0
        for eps, _ in noise[k]:
            assert abs(float(eps.mean())) < 0.1 and 0.85 < float(eps.std()) < 1.15  # standard normal noise
        assert (noise[k][0][0] - noise[k][1][0]).abs().max() > 0.5  # fresh noise at every sigma

    # the noise comes from the window's seed: seed 4's window 1 draws what seed 3's window 2 drew (both seed 5)
    out4, rec4, windows4 = run(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, "multitalk", 4, "mt4")
    dit, calls = window_calls(rec4, 1)
    again = motion_noise(out4, windows4, dit, calls, 1)
    for (a, sigma_a), (b, sigma_b) in zip(noise[2], again):
        assert sigma_a == sigma_b
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3)
    assert (noise[1][0][0] - noise[2][0][0]).abs().max() > 0.5  # and other windows draw other noise
