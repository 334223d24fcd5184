"""The long-video plan + sampler on the real host with tiny models: window bookkeeping, modes, prompts, interrupt
(folder and RAM), progress, the NOISE input, determinism and flat memory (dubbing: test_long_video_dubbing.py).
Windows are 9 frames with 5 of overlap (4 new per window)."""
from __future__ import annotations

import contextlib
import gc
from pathlib import Path

from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

import host_test_nodes
from comfy_host import graph
from wan_multitalk.timebase import frames_for_samples, samples_for_frames
from wan_multitalk.video.windows import split_windows

SIZE = dict(width=64, height=48)
WINDOW, MOTION = 9, 5
OBSERVED = "MTSTest_LongVideoSampler"  # the pack's sampler with the test's observers (host_test_nodes)


@contextlib.contextmanager
def hooked(hook, background_writes=None):
    """Run the observed sampler with `hook` as an observer (and the given background-write policy)."""
    settings = host_test_nodes.RUNNER
    settings["observers"].append(hook)
    settings["background_writes"] = background_writes
    try:
        yield
    finally:
        settings["observers"].remove(hook)
        settings["background_writes"] = None


def recorder():
    events = []
    return events, lambda event, info: events.append((event, info))


def fps_for(voice, frames: float) -> float:
    """An embeds fps that makes the voice about `frames` frames long (keeps the windows few and tiny)."""
    return round(frames * voice["rate"] / voice["samples"], 2)


def half_mask(g, side: str, width: int, height: int):
    """A MASK whose left or right half is white, built from the host's own mask nodes."""
    blank = g.node("SolidMask", value=0.0, width=width, height=height)
    half = g.node("SolidMask", value=1.0, width=width // 2, height=height)
    return g.node("MaskComposite", destination=blank.out(0), source=half.out(0), x=0 if side == "left" else width // 2,
                  y=0, operation="add")


def long_graph(tiny_wan, adapter, wav2vec2_name, voices, fps, mode="infinitetalk", seed=0, source_frames=0,
               source_fps=25.0, face_mask=False, denoise=1.0, output_folder="", prompts=1, colour="on", voice="male",
               source_width=80, steps=2, noise=None, capture="", observed=False, sine=None, window=WINDOW,
               motion=MOTION, record="", size=None, clip_vision=False):
    """The long-video graph. face_mask: False, True (all white), "left" or "right" (half white); noise: None,
    ("random", seed) or "disable" (core NOISE nodes); capture: a suffix that makes the capture nodes run anew;
    observed: the sampler is the observed one (see `hooked`); sine: (samples, rate) of a test tone instead of the voice;
    record: a key under which MTSTest_RecordModel records every model call of the sampler; size: width and height
    of the video (default SIZE); clip_vision: the plan gets a CLIP vision model (MTSTest_ClipVision) instead of
    one clip_vision_output."""
    g = graph()
    model = g.node("UNETLoader", unet_name=tiny_wan["unet"], weight_dtype="default")
    if record:
        model = g.node("MTSTest_RecordModel", model=model.out(0), key=record)
    vae = g.node("VAELoader", vae_name=tiny_wan["vae"])
    loader = g.node("MTS_AdapterLoader", model_name=adapter, variant="auto")
    w2v = g.node("MTS_Wav2VecModelLoader", model=wav2vec2_name, precision="fp32", device="cpu")
    audio = g.node("MTSTest_SineAudio", samples=sine[0], rate=sine[1]) if sine else \
        g.node("LoadAudio", audio=voices[voice]["file"])
    embeds = g.node("MTS_Wav2VecEmbeds", wav2vec2=w2v.out(0), audio_1=audio.out(0), fps=fps, num_frames=0,
                    audio_scale=1.0, normalize_loudness=True, multi_audio_type="para", masks_include_background=False)
    text = tiny_wan["spec"].text_dim
    pos = [g.node("MTSTest_RandomConditioning", seed=10 + k, tokens=8, width=text) for k in range(prompts)]
    neg = g.node("MTSTest_RandomConditioning", seed=2, tokens=8, width=text)
    if source_frames:  # dubbing: the plan's reference is the video, with its own inputs
        extra = {"reference": "video to dub", "reference.source_fps": source_fps, "reference.denoise": denoise,
                 "reference.source_video": g.node("MTSTest_RandomImage", seed=5, width=source_width, height=48,
                                                  batch=source_frames).out(0)}
    else:
        extra = {"reference": "start image",
                 "start_image": g.node("MTSTest_RandomImage", seed=4, width=80, height=48, batch=1).out(0)}
    if face_mask in ("left", "right"):
        extra["reference.face_mask"] = half_mask(g, face_mask, source_width, 48).out(0)
    elif face_mask:
        extra["reference.face_mask"] = g.node("MTSTest_StripMasks", count=1, width=source_width, height=48).out(0)
    if clip_vision:
        extra["clip_vision"] = g.node("MTSTest_ClipVision", seed=3).out(0)
    else:
        extra["clip_vision_output"] = g.node("MTSTest_RandomClipVisionOutput", seed=3).out(0)
    plan = g.node("MTS_LongI2VPlan", vae=vae.out(0), frame_window_size=window, motion_frame=motion, mode=mode,
                  colour_match=colour, colour_match_strength=1.0, output_folder=output_folder, **(size or SIZE),
                  **extra)
    sampler = g.node("KSamplerSelect", sampler_name="euler")
    sigmas = g.node("BasicScheduler", model=model.out(0), scheduler="simple", steps=steps, denoise=1.0)
    more = {f"positive_{k + 1}": pos[k].out(0) for k in range(1, prompts)}
    if noise == "disable":
        more["noise"] = g.node("DisableNoise").out(0)
    elif noise is not None:
        more["noise"] = g.node("RandomNoise", noise_seed=noise[1]).out(0)
    out = g.node(OBSERVED if observed else "MTS_LongVideoSampler", model=model.out(0), adapter=loader.out(0),
                 embeds=embeds.out(0), plan=plan.out(0), positive=pos[0].out(0), negative=neg.out(0), sampler=sampler.out(0),
                 sigmas=sigmas.out(0), noise_seed=seed, text_cfg=1.0, audio_cfg=2.0, audio=audio.out(0), **more)
    for i, key in enumerate(("frames", "audio", "count", "folder")):
        g.node("MTSTest_Capture", value=out.out(i), key=key + capture)
    g.node("MTSTest_Capture", value=embeds.out(0), key="embeds" + capture)
    g.node("MTSTest_Capture", value=embeds.out(2), key="embeds_frames" + capture)
    g.node("MTSTest_Capture", value=audio.out(0), key="audio_in" + capture)
    g.node("MTSTest_Capture", value=vae.out(0), key="vae" + capture)
    g.node("MTSTest_Capture", value=model.out(0), key="model" + capture)
    if "start_image" in extra:
        g.node("MTSTest_Capture", value=extra["start_image"], key="start_image" + capture)
    return g.finalize()


def expected_total(voice, fps):
    return frames_for_samples(voice["samples"], voice["rate"], fps)


def test_three_windows_match_the_audio_exactly(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    voice = voices["male"]
    fps = fps_for(voice, 15.5)
    total = expected_total(voice, fps)
    plan = split_windows(total, WINDOW, MOTION)
    assert len(plan) == 3 and plan[-1].overrun > 0  # the last window runs past the audio
    events, hook = recorder()
    with hooked(hook):
        out = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, observed=True)).captured
    frames, embeds = out["frames"], out["embeds"]

    assert out["count"] == total and tuple(frames.shape) == (total, 48, 64, 3) and torch.isfinite(frames).all()
    assert out["audio"]["waveform"].shape[-1] == samples_for_frames(total, voice["rate"], fps)
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
        start, rows = info["window"].start, info["frame_audio"]
        for f in range(WINDOW):
            want = embeds.features[:, start + f] if start + f < T else embeds.silence.expand_as(embeds.features[:, 0])
            torch.testing.assert_close(rows[:, f, 2].float(), want.float().to(rows.device))


@pytest.mark.parametrize("samples, rate, fps", [
    (640 * 11 + 400, 16000, 25.0),  # 11.625 frames: 11 covered in full (rounding would make 12)
    (12 * 1764 - 1, 44100, 25.0),  # one sample short of 12 frames (the 16 kHz resampled copy is not)
    (21022, 48000, 23.976),  # 10.5005 frames at an NTSC rate
])
def test_sampler_makes_the_frames_the_embeds_count(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, samples, rate,
                                                   fps):
    """The sampler given the original AUDIO makes exactly the embeds' frame count (the time base's one rule; the
    library-level sweep over hundreds of lengths is tests/test_timebase.py)."""
    tag = f"_{samples}_{rate}"
    out = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, sine=(samples, rate), steps=1,
                              capture=tag)).captured
    whole = samples * Fraction(str(fps)) // rate
    assert out["embeds_frames" + tag] == out["count" + tag] == out["frames" + tag].shape[0] == whole
    assert out["embeds" + tag].num_frames == whole
    assert out["audio" + tag]["waveform"].shape[-1] == samples_for_frames(whole, rate, fps) <= samples


def test_multitalk_mode_and_per_window_prompts(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    voice = voices["male"]
    fps = fps_for(voice, 15.5)
    total = expected_total(voice, fps)
    events, hook = recorder()
    with hooked(hook):
        mt = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, mode="multitalk", prompts=2,
                                  observed=True)).captured
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


def test_interrupt_after_window_1_keeps_window_1(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, tmp_path):
    import comfy.model_management as mm

    fps = fps_for(voices["male"], 15.5)
    folder = tmp_path / "frames"

    def interrupt(event, info):
        if event == "window_done" and info["window"].index == 0:
            mm.interrupt_current_processing()

    with hooked(interrupt):
        result = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, output_folder=str(folder),
                                     observed=True),
                          expect_success=False)
    assert not result.success and result.error() is not None
    assert any(event == "execution_interrupted" for event, _ in result.messages)
    assert len(list(folder.glob("frame_*.png"))) == WINDOW  # window 1 in full, nothing of window 2
    assert "interrupted after 1 of 3 windows" in result.log
    mm.interrupt_current_processing(False)


def test_interrupt_in_ram_mode_writes_window_1_to_the_output_folder(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                     voices):
    """Without output_folder the finished frames live in RAM: an interrupt must still leave them on disk."""
    import comfy.model_management as mm
    import folder_paths

    output = Path(folder_paths.get_output_directory())
    before = set(output.glob("multitalk_interrupted_*"))
    done = []

    def interrupt(event, info):
        if event == "window_done" and info["window"].index == 0:
            done.append(info["frames"][info["window"].keep_from:info["window"].keep_to].cpu())
            mm.interrupt_current_processing()

    fps = fps_for(voices["male"], 15.5)
    try:
        with hooked(interrupt):  # seed 6: a prompt no other test ran, so the sampler executes
            result = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, seed=6, observed=True),
                              expect_success=False)
    finally:
        mm.interrupt_current_processing(False)
    assert not result.success and any(event == "execution_interrupted" for event, _ in result.messages)
    (folder,) = set(output.glob("multitalk_interrupted_*")) - before
    pngs = sorted(folder.glob("frame_*.png"))
    assert len(done) == 1 and len(pngs) == WINDOW == done[0].shape[0]  # window 1 in full, nothing of window 2
    kept = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in pngs])).float() / 255
    torch.testing.assert_close(kept, done[0].float(), rtol=0, atol=0.5 / 255 + 1e-6)  # 8-bit PNG rounding only
    (line,) = [line for line in result.log.splitlines() if str(folder) in line]
    assert f"interrupted after 1 of 3 windows: {WINDOW} finished frames kept in {folder}" in line


def sampler_progress(host, prompt) -> list[tuple[int, int, object]]:
    """(value, max, preview) of every "progress" message the host would send for the sampler node while running
    `prompt`.

    The harness boots without main.py, whose hijack_progress installs the hook that turns ProgressBar updates into
    "progress" messages; this installs an equivalent hook (node id from the executing context, as the host's does)
    and turns the host's 100 ms throttle off so every update is a message."""
    import comfy.utils
    from comfy_execution.utils import get_executing_context

    sampler_id = next(k for k, node in prompt.items() if node["class_type"] == "MTS_LongVideoSampler")
    messages = []

    def hook(value, total, preview, prompt_id=None, node_id=None):
        context = get_executing_context()
        node = node_id if node_id is not None else (context.node_id if context is not None else None)
        messages.append((node, value, total, preview))

    saved = comfy.utils.PROGRESS_BAR_HOOK, comfy.utils.PROGRESS_THROTTLE_MIN_INTERVAL
    comfy.utils.set_progress_bar_global_hook(hook)
    comfy.utils.PROGRESS_THROTTLE_MIN_INTERVAL = 0.0
    try:
        host.run(prompt)
    finally:
        comfy.utils.set_progress_bar_global_hook(saved[0])
        comfy.utils.PROGRESS_THROTTLE_MIN_INTERVAL = saved[1]
    return [(value, total, preview) for node, value, total, preview in messages if node == sampler_id]


def test_progress_counts_every_step_of_every_window(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    """One update per step (no latent previews: the harness runs without a preview method), and after each window a
    strip of its finished frames, at the value its last step reached."""
    steps = 3
    fps = fps_for(voices["male"], 15.5)
    windows = len(split_windows(expected_total(voices["male"], fps), WINDOW, MOTION))
    assert windows == 3
    progress = sampler_progress(host, long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, steps=steps))
    assert [(v, t) for v, t, preview in progress if preview is None] == \
        [(k, steps * windows) for k in range(1, steps * windows + 1)]
    strips = [(v, preview[0], preview[1].size) for v, t, preview in progress if preview is not None]
    assert [(v, kind) for v, kind, _ in strips] == [(steps * k, "JPEG") for k in range(1, windows + 1)]
    # up to four of the window's new frames (64 x 48) side by side, filling the 512-pixel preview width
    shown = [min(4, w.keep_count) for w in split_windows(expected_total(voices["male"], fps), WINDOW, MOTION)]
    assert [size for _, _, size in strips] == [(512 // n * n, 48 * (512 // n) // 64) for n in shown]


def test_noise_input_replaces_noise_seed(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    """RandomNoise(s) generates window k's noise from seed s + k, exactly as noise_seed = s does without a NOISE
    (seeds 0 and 7 give different frames, test_same_seed_same_frames shows seeds matter); DisableNoise is
    deterministic and differs from both."""
    fps = fps_for(voices["male"], 13)  # two windows

    def frames(seed, noise=None):
        return host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, seed=seed,
                                   noise=noise)).captured["frames"]

    silent = frames(0, "disable")
    by_seed = frames(7)
    by_node = frames(0, ("random", 7))  # noise_seed 0 is ignored: the NOISE input wins
    torch.testing.assert_close(by_node, by_seed, rtol=0, atol=0)
    assert (silent - by_seed).abs().max() > 1e-3 and torch.isfinite(silent).all()
    # again after other prompts, so the host executes it afresh rather than from its cache
    torch.testing.assert_close(frames(0, "disable"), silent, rtol=0, atol=0)


def test_noise_input_also_seeds_the_multitalk_motion_noise(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    fps = fps_for(voices["male"], 13)
    by_seed = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, seed=7, mode="multitalk"))
    by_node = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, seed=0, noise=("random", 7),
                                  mode="multitalk"))
    torch.testing.assert_close(by_node.captured["frames"], by_seed.captured["frames"], rtol=0, atol=0)


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


@pytest.mark.host_independent  # the pack's own buffers; one host shows them
def test_memory_is_flat_across_windows(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, tmp_path):
    fps = fps_for(voices["male"], 27.5)
    assert len(split_windows(expected_total(voices["male"], fps), WINDOW, MOTION)) >= 6
    baseline, peaks = set(), {}

    def measure(event, info):
        index = info["window"].index
        if event == "window_start" and index == 0:
            gc.collect()
            baseline.update(ptr for ptr, _ in live_storages())
        if event in ("step", "window_done"):
            peaks[index] = max(peaks.get(index, 0), live_tensor_bytes(baseline))

    with hooked(measure):
        host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, output_folder=str(tmp_path / "f"),
                            observed=True))
    assert peaks[1] > 0
    assert peaks[4] <= peaks[1] * 1.02, peaks


def test_bad_window_size_suggests_neighbours(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    prompt = long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, 10.0)
    for node in prompt.values():
        if node["class_type"] == "MTS_LongI2VPlan":
            node["inputs"]["frame_window_size"] = 11
    message = host.failure(prompt)
    assert "frame_window_size" in message and "9" in message and "13" in message



def test_start_image_mode_without_an_image_names_the_input(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    prompt = long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, 10.0)
    plan = next(node for node in prompt.values() if node["class_type"] == "MTS_LongI2VPlan")
    del plan["inputs"]["start_image"]
    message = host.failure(prompt)
    assert "start_image: is not connected" in message and "video to dub" in message
