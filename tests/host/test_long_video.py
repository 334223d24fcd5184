"""The long-video plan + sampler on the real host with tiny models: window bookkeeping, modes, dubbing,
interrupt, determinism and flat memory. Windows are 9 frames with 5 of overlap (4 new per window)."""
from __future__ import annotations

import contextlib
import gc
import sys

import pytest
import torch

from wan_multitalk.video.windows import audio_samples_for_frames, plan_windows, resample_frame_indices, target_frames

SIZE = dict(width=64, height=48)
WINDOW, MOTION = 9, 5


def loop_module(host):
    name = host.node_mappings["MTS_LongVideoSampler"].__module__
    return sys.modules[name.rsplit(".", 1)[0] + ".long_video_loop"]


@contextlib.contextmanager
def hooked(host, hook):
    hooks = loop_module(host).HOOKS
    hooks.append(hook)
    try:
        yield
    finally:
        hooks.remove(hook)


def recorder():
    events = []
    return events, lambda event, info: events.append((event, info))


def fps_for(voice, frames: float) -> float:
    """An embeds fps that makes the voice about `frames` frames long (keeps the windows few and tiny)."""
    return round(frames * voice["rate"] / voice["samples"], 2)


def long_graph(tiny_wan, adapter, wav2vec2_name, voices, fps, mode="infinitetalk", seed=0, source_frames=0,
               source_fps=25.0, face_mask=False, denoise=1.0, output_folder="", prompts=1, colour="on", voice="male"):
    from comfy_execution.graph_utils import GraphBuilder

    g = GraphBuilder()
    model = g.node("UNETLoader", unet_name=tiny_wan["unet"], weight_dtype="default")
    vae = g.node("VAELoader", vae_name=tiny_wan["vae"])
    loader = g.node("MTS_AdapterLoader", model_name=adapter, variant="auto")
    w2v = g.node("MTS_Wav2VecModelLoader", model=wav2vec2_name, precision="fp32", device="cpu")
    audio = g.node("LoadAudio", audio=voices[voice]["file"])
    embeds = g.node("MTS_Wav2VecEmbeds", wav2vec2=w2v.out(0), audio_1=audio.out(0), fps=fps, num_frames=0,
                    audio_scale=1.0, normalize_loudness=True, multi_audio_type="para", masks_include_background=False)
    text = tiny_wan["spec"].text_dim
    pos = [g.node("MTSTest_RandomConditioning", seed=10 + k, tokens=8, width=text) for k in range(prompts)]
    neg = g.node("MTSTest_RandomConditioning", seed=2, tokens=8, width=text)
    extra = {}
    if source_frames:
        extra["source_video"] = g.node("MTSTest_RandomImage", seed=5, width=80, height=48, batch=source_frames).out(0)
    else:
        extra["start_image"] = g.node("MTSTest_RandomImage", seed=4, width=80, height=48, batch=1).out(0)
    if face_mask:
        extra["face_mask"] = g.node("MTSTest_StripMasks", count=1, width=80, height=48).out(0)
    plan = g.node("MTS_LongI2VPlan", vae=vae.out(0), frame_window_size=WINDOW, motion_frame=MOTION, mode=mode,
                  colour_match=colour, colour_match_strength=1.0, source_fps=source_fps, denoise=denoise,
                  output_folder=output_folder,
                  clip_vision_output=g.node("MTSTest_RandomClipVisionOutput", seed=3).out(0), **SIZE, **extra)
    sampler = g.node("KSamplerSelect", sampler_name="euler")
    sigmas = g.node("BasicScheduler", model=model.out(0), scheduler="simple", steps=2, denoise=1.0)
    more = {f"positive_{k + 1}": pos[k].out(0) for k in range(1, prompts)}
    out = g.node("MTS_LongVideoSampler", model=model.out(0), adapter=loader.out(0), embeds=embeds.out(0),
                 plan=plan.out(0), positive=pos[0].out(0), negative=neg.out(0), sampler=sampler.out(0),
                 sigmas=sigmas.out(0), noise_seed=seed, text_cfg=1.0, audio_cfg=2.0, audio=audio.out(0), **more)
    for i, key in enumerate(("frames", "audio", "count", "folder")):
        g.node("MTSTest_Capture", value=out.out(i), key=key)
    g.node("MTSTest_Capture", value=embeds.out(0), key="embeds")
    return g.finalize()


def expected_total(voice, fps):
    return target_frames(voice["samples"], voice["rate"], fps)


def test_three_windows_match_the_audio_exactly(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    voice = voices["male"]
    fps = fps_for(voice, 15.5)
    total = expected_total(voice, fps)
    plan = plan_windows(total, WINDOW, MOTION)
    assert len(plan) == 3 and plan[-1].overrun > 0  # the last window runs past the audio
    events, hook = recorder()
    with hooked(host, hook):
        out = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps)).captured
    frames, embeds = out["frames"], out["embeds"]

    assert out["count"] == total and tuple(frames.shape) == (total, 48, 64, 3) and torch.isfinite(frames).all()
    assert out["audio"]["waveform"].shape[-1] == audio_samples_for_frames(total, voice["rate"], fps)
    # no duplicated overlap: the output is exactly each window's new frames, in order
    done = [i for e, i in events if e == "window_done"]
    assert [i["window"].start for i in done] == [0, 4, 8]
    stitched = torch.cat([i["frames"][i["window"].keep_from:i["window"].keep_to] for i in done])
    torch.testing.assert_close(frames, stitched, rtol=0, atol=0)
    # exact audio offsets: frame f of window w reads feature row start + f (centre of its 5 rows), silence past the end
    T = embeds.num_frames
    for e, info in events:
        if e != "audio":
            continue
        start, rows = info["window"].start, info["windows"]
        for f in range(WINDOW):
            want = embeds.features[:, start + f] if start + f < T else embeds.silence.expand_as(embeds.features[:, 0])
            torch.testing.assert_close(rows[:, f, 2].float(), want.float().to(rows.device))


def test_multitalk_mode_and_per_window_prompts(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    voice = voices["male"]
    fps = fps_for(voice, 15.5)
    total = expected_total(voice, fps)
    events, hook = recorder()
    with hooked(host, hook):
        mt = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, mode="multitalk", prompts=2)).captured
    assert mt["count"] == total and torch.isfinite(mt["frames"]).all()
    starts = [i for e, i in events if e == "window_start"]
    assert [i["variant"] for i in starts] == ["multitalk"] * 3
    assert [i["prompt"] for i in starts] == [0, 1, 1]  # the last prompt repeats
    it = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, mode="infinitetalk")).captured
    assert (it["frames"] - mt["frames"]).abs().max() > 1e-3


def test_same_seed_same_frames(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    fps = fps_for(voices["male"], 11)
    a = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, seed=3)).captured["frames"]
    c = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, seed=4)).captured["frames"]
    # seed 3 again: its inputs differ from the run before, so the host executes the sampler afresh
    b = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, seed=3)).captured["frames"]
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-3


@pytest.mark.parametrize("face_mask, denoise", [(False, 1.0), (True, 0.5)])
def test_dubbing_takes_the_source_frame_at_each_window_start(host, tiny_wan, tiny_adapter, wav2vec2_name, voices,
                                                             face_mask, denoise):
    fps = fps_for(voices["male"], 15.5)
    source_frames, source_fps = 8, fps / 2  # every source frame lasts two output frames
    total = int(resample_frame_indices(source_frames, source_fps, fps).numel())
    events, hook = recorder()
    with hooked(host, hook):
        out = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, source_frames=source_frames,
                                  source_fps=source_fps, face_mask=face_mask, denoise=denoise)).captured
    assert out["count"] == total == 16  # the output keeps the source length, not the audio's
    starts = [i for e, i in events if e == "window_start"]
    assert [i["window"].start for i in starts] == [0, 4, 8]
    assert [i["keyframe"] for i in starts] == [0, 2, 4]
    assert out["audio"]["waveform"].shape[-1] == audio_samples_for_frames(total, voices["male"]["rate"], fps)


def test_interrupt_after_window_1_keeps_window_1(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, tmp_path):
    import comfy.model_management as mm

    fps = fps_for(voices["male"], 15.5)
    folder = tmp_path / "frames"

    def interrupt(event, info):
        if event == "window_done" and info["window"].index == 0:
            mm.interrupt_current_processing()

    with hooked(host, interrupt):
        result = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, output_folder=str(folder)),
                          expect_success=False)
    assert not result.success and result.error() is not None
    assert any(event == "execution_interrupted" for event, _ in result.messages)
    assert len(list(folder.glob("frame_*.png"))) == WINDOW  # window 1 in full, nothing of window 2
    assert "interrupted after 1 of 3 windows" in host.logs.text()
    mm.interrupt_current_processing(False)


def live_storages():
    """(data_ptr, bytes) of every live CPU/GPU tensor storage the garbage collector can see."""
    for obj in gc.get_objects():
        try:  # dead weak proxies raise on any access
            if not isinstance(obj, torch.Tensor):
                continue
            storage = obj.untyped_storage()
        except (ReferenceError, RuntimeError, NotImplementedError):
            continue
        yield storage.data_ptr(), storage.nbytes()


def live_tensor_bytes(exclude: set) -> int:
    seen, total = set(), 0
    for ptr, nbytes in live_storages():
        if ptr and ptr not in seen and ptr not in exclude:
            seen.add(ptr)
            total += nbytes
    return total


def test_memory_is_flat_across_windows(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, tmp_path):
    fps = fps_for(voices["male"], 27.5)
    assert len(plan_windows(expected_total(voices["male"], fps), WINDOW, MOTION)) >= 6
    baseline, peaks = set(), {}

    def measure(event, info):
        index = info["window"].index
        if event == "window_start" and index == 0:
            gc.collect()
            baseline.update(ptr for ptr, _ in live_storages())
        if event in ("step", "window_done"):
            peaks[index] = max(peaks.get(index, 0), live_tensor_bytes(baseline))

    with hooked(host, measure):
        host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, output_folder=str(tmp_path / "f")))
    assert peaks[1] > 0
    assert peaks[4] <= peaks[1] * 1.02, peaks


def failing(host, prompt):
    result = host.run(prompt, expect_success=False)
    assert not result.success
    return result.error()["exception_message"]


def test_bad_window_size_suggests_neighbours(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    prompt = long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, 10.0)
    for node in prompt.values():
        if node["class_type"] == "MTS_LongI2VPlan":
            node["inputs"]["frame_window_size"] = 11
    message = failing(host, prompt)
    assert "frame_window_size" in message and "9" in message and "13" in message
