"""Video-to-video dubbing on the real host with tiny models: the source sets the length at any frame rate, one
keyframe per window, and a face mask confines the change to its region. Graph and hooks: test_long_video.py."""
from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from tests.host.test_long_video import MOTION, WINDOW, fps_for, hooked, long_graph, recorder
from wan_multitalk.timebase import latent_frames, samples_for_frames
from wan_multitalk.video.dubbing import resample_frame_indices
from wan_multitalk.video.windows import split_windows

W, H = 64, 48  # the video size of long_graph; a source of the same size is used as it is (no fit)


@pytest.mark.parametrize("face_mask, denoise", [(False, 1.0), (True, 0.5)])
def test_dubbing_takes_the_source_frame_at_each_window_start(host, tiny_wan, tiny_adapter, wav2vec2_name, voices,
                                                             face_mask, denoise):
    fps = fps_for(voices["male"], 15.5)
    source_frames, source_fps = 8, fps / 2  # every source frame lasts two output frames
    total = int(resample_frame_indices(source_frames, source_fps, fps).numel())
    events, hook = recorder()
    with hooked(hook):
        out = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, source_frames=source_frames,
                                  source_fps=source_fps, face_mask=face_mask, denoise=denoise,
                                  observed=True)).captured
    assert out["count"] == total == 16  # the output keeps the source length, not the audio's
    starts = [i for e, i in events if e == "window_start"]
    assert [i["window"].start for i in starts] == [0, 4, 8]
    assert [i["keyframe"] for i in starts] == [0, 2, 4]
    assert out["audio"]["waveform"].shape[-1] == samples_for_frames(total, voices["male"]["rate"], fps)


def spy_on_decodes(monkeypatch) -> list:
    """Record (vae, latent, frames) of every VAE decode; the host's decode still does the work."""
    import comfy.sd

    seen, decode = [], comfy.sd.VAE.decode

    def recording_decode(vae, samples, *args, **kwargs):
        frames = decode(vae, samples, *args, **kwargs)
        seen.append((vae, samples.detach().cpu().clone(), frames.detach().cpu().reshape(-1, H, W, 3)))
        return frames

    monkeypatch.setattr(comfy.sd.VAE, "decode", recording_decode)
    return seen


@pytest.mark.parametrize("side, denoise", [("left", 1.0), ("right", 0.5)])
def test_face_mask_changes_only_the_masked_half(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, monkeypatch,
                                                side, denoise):
    """The host's denoise mask keeps the unmasked latents at the source video's: with a half-white mask whose edge
    falls on a latent cell boundary (x = 32 px = 4 latent cells), the unmasked half of each window's sampled latent
    equals the VAE encoding of its source frames and the masked half does not. The context latents at a window's
    start are the reference (window 1) or the previous tail, so only the latent frames after them are compared."""
    frames, fps = 17, 25.0  # source at the output rate: window frame f is source frame start + f; 3 windows
    decodes = spy_on_decodes(monkeypatch)
    events, hook = recorder()
    with hooked(hook):
        out = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, source_frames=frames,
                                  source_fps=fps, source_width=W, face_mask=side, denoise=denoise,
                                  colour="off", observed=True)).captured
    windows = [info["window"] for event, info in events if event == "window_start"]
    assert [w.start for w in windows] == [0, 4, 8] and len(decodes) == 3 and out["count"] == frames
    # the decodes seen are the output: each window's kept frames, in order (no colour match)
    kept = torch.cat([seen[2][w.keep_from:w.keep_to] for w, seen in zip(windows, decodes)])
    torch.testing.assert_close(out["frames"], kept, rtol=0, atol=0)

    source = host.node_mappings["MTSTest_RandomImage"]().make(5, W, H, frames)[0]  # the graph's source video
    vae = decodes[0][0]
    cells = W // 8
    masked = slice(0, cells // 2) if side == "left" else slice(cells // 2, cells)
    unmasked = slice(cells // 2, cells) if side == "left" else slice(0, cells // 2)
    for w, (_, latent, _) in zip(windows, decodes):
        with torch.inference_mode():
            reference = vae.encode(source[torch.arange(w.start, w.end).clamp_max(frames - 1)]).cpu()
        first = latent_frames(1 if w.index == 0 else MOTION)
        torch.testing.assert_close(latent[:, :, first:, :, unmasked], reference[:, :, first:, :, unmasked],
                                   rtol=0, atol=1e-5)
        change = (latent[:, :, first:, :, masked] - reference[:, :, first:, :, masked]).abs().mean()
        assert change > reference.abs().mean(), (w.index, float(change))

    # in pixels the decoder mixes the halves (its mid-block attends across the frame), so only far from the edge,
    # and only relatively: window 1 against the decoded source latent, its frames after the keyframe
    with torch.inference_mode():
        decoded_source = vae.decode(vae.encode(source[:WINDOW])).cpu().reshape(-1, H, W, 3)
    diff = (out["frames"][1:WINDOW] - decoded_source[1:WINDOW]).abs()
    near, far = (diff[:, :, :W // 4], diff[:, :, -W // 4:]) if side == "left" else (diff[:, :, -W // 4:],
                                                                                   diff[:, :, :W // 4])
    assert far.mean() < 0.75 * near.mean(), (float(far.mean()), float(near.mean()))


def covering_frames(source_frames: int, source_fps: Fraction, fps: int) -> int:
    """Output frames whose start time lies inside the source video (no source frame is dropped at the end)."""
    seconds = Fraction(source_frames) / source_fps
    count = 0
    while Fraction(count, fps) < seconds:
        count += 1
    return count


@pytest.mark.parametrize("source_fps, source_frames, voice, audio_fate", [
    ("30", 12, "male", "cut"),  # 0.4 s: 10 frames at 25 fps
    ("24", 12, "male", "cut"),  # 0.5 s: 12.5 frames, the 13th starts inside the source
    ("29.97", 11, "male", "cut"),  # 0.367 s: 9.18 frames, covered by 10 (round would give 9)
    ("24", 20, "short", "padded"),  # 0.833 s of video, 0.69 s of speech
])
def test_dubbing_keeps_the_source_duration_at_another_frame_rate(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                 voices, source_fps, source_frames, voice,
                                                                 audio_fate):
    fps, rate = 25, voices[voice]["rate"]
    want = covering_frames(source_frames, Fraction(source_fps), fps)
    events, hook = recorder()
    tag = f"_{source_fps}_{source_frames}"  # fresh capture keys: the input audio's capture runs again
    with hooked(hook):
        out = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, float(fps), voice=voice,
                                  source_frames=source_frames, source_fps=float(source_fps), capture=tag,
                                  observed=True)).captured
    assert out["count" + tag] == want == out["frames" + tag].shape[0]
    # each window's reference is the source frame on screen at the window's start time
    starts = [info for event, info in events if event == "window_start"]
    assert len(starts) == len(split_windows(want, WINDOW, MOTION))
    assert [i["keyframe"] for i in starts] == [
        min(int(Fraction(min(i["window"].start, want - 1), fps) * Fraction(source_fps)), source_frames - 1)
        for i in starts]
    # the AUDIO spans exactly the frames: the speech cut there, or followed by silence up to there
    audio, speech = out["audio" + tag], out["audio_in" + tag]["waveform"]
    samples = int(Fraction(want, fps) * rate + Fraction(1, 2))
    assert audio["sample_rate"] == rate and audio["waveform"].shape[-1] == samples
    assert ("padded" if samples > speech.shape[-1] else "cut") == audio_fate
    head = min(samples, speech.shape[-1])
    torch.testing.assert_close(audio["waveform"][..., :head], speech[..., :head], rtol=0, atol=0)
    assert (audio["waveform"][..., head:] == 0).all()
