"""Bad input through the real executor: every refusal names the input and a fix, and comes before any sampler step
(the graphs sample with MTSTest_RecordingSampler, which records every model evaluation) and, for sizes, before any
audio is encoded. Also what the UI receives: the error type, and the folder an interrupted run kept its frames in."""
from __future__ import annotations

import contextlib
import struct

import pytest
import torch

import host_test_nodes
from comfy_host import graph
from wan_multitalk.video.windows import split_windows

AUDIO = 32000  # samples of each test voice at 16 kHz: 2 s, 50 frames at 25 fps


@pytest.fixture(autouse=True)
def no_steps_yet():
    host_test_nodes.SAMPLER_CALLS.clear()
    yield


@pytest.fixture
def encodes(host, monkeypatch):
    """Every wav2vec2 encode the embeds nodes start."""
    calls = []
    handle = host.pack_module("nodes.host.wav2vec2").Wav2VecHandle
    original = handle.encode
    monkeypatch.setattr(handle, "encode", lambda self, *a, **k: calls.append(a[-1]) or original(self, *a, **k))
    return calls


@pytest.fixture(scope="module")
def tiny_t2v(host, tiny_wan):
    """A text-to-video Wan 2.1 of the tiny I2V's width and depth (so only what it is can refuse it)."""
    import host_models

    name = "tiny_wan21_t2v.safetensors"
    host_models.write_tiny_wan_i2v(host.model_path("diffusion_models", name), tiny_wan["spec"], model_type="t2v")
    return name


def refused(host, prompt, *inputs: str) -> str:
    """Run a prompt that must fail in one of our nodes; check the message names every input and a fix, no sampler
    step ran, and the UI's error type is the pack's short one. Returns the message."""
    result = host.run(prompt, expect_success=False)
    error = result.error()
    assert not result.success and error is not None, "the prompt was expected to fail"
    message = result.message()
    assert error.get("exception_type") == "multitalk_studio.InputError", (error.get("exception_type"), message)
    for name in inputs:
        assert f"{name}:" in message or f"{name} " in message, (name, message)
    assert "Fix:" in message
    assert host_test_nodes.SAMPLER_CALLS == [], "a sampler step ran before the refusal"
    return message


def voices(g, speakers: int):
    return {f"audio_{k + 1}": g.node("MTSTest_SineAudio", samples=AUDIO + 4000 * k, rate=16000).out(0)
            for k in range(speakers)}


def embeds_node(g, wav2vec2_name, speakers=2, masks=None, **inputs):
    w2v = g.node("MTS_Wav2VecModelLoader", model=wav2vec2_name, precision="fp32", device="cpu")
    settings = dict(fps=25.0, num_frames=0, audio_scale=1.0, normalize_loudness=True, multi_audio_type="para",
                    masks_include_background=False)
    settings.update(inputs)
    if masks is not None:
        settings["ref_target_masks"] = g.node("MTSTest_StripMasks", count=speakers, width=masks[0],
                                              height=masks[1]).out(0)
    return g.node("MTS_Wav2VecEmbeds", wav2vec2=w2v.out(0), **voices(g, speakers), **settings)


def shared_nodes(g, tiny_wan, adapter, wav2vec2_name, unet, masks, embeds):
    """What both samplers take: the model (the tiny I2V unless `unet`), VAE, adapter, embeds of two test voices
    (`embeds`: more embeds inputs) and the prompts."""
    text = tiny_wan["spec"].text_dim
    return dict(model=g.node("UNETLoader", unet_name=unet or tiny_wan["unet"], weight_dtype="default"),
                vae=g.node("VAELoader", vae_name=tiny_wan["vae"]),
                adapter=g.node("MTS_AdapterLoader", model_name=adapter, variant="auto"),
                embeds=embeds_node(g, wav2vec2_name, masks=masks, **(embeds or {})),
                positive=g.node("MTSTest_RandomConditioning", seed=1, tokens=8, width=text),
                negative=g.node("MTSTest_RandomConditioning", seed=2, tokens=8, width=text))


def reference(g, inputs: dict, image, clip) -> dict:
    """`inputs` with a random start image of `image` (width, height) and, with `clip`, CLIP vision."""
    inputs["start_image"] = g.node("MTSTest_RandomImage", seed=4, width=image[0], height=image[1], batch=1).out(0)
    if clip:
        inputs["clip_vision_output"] = g.node("MTSTest_RandomClipVisionOutput", seed=3).out(0)
    return inputs


def window_prompt(tiny_wan, adapter, wav2vec2_name, unet=None, clip=True, image=(80, 48), masks=(80, 48),
                  embeds=None, **apply):
    """Apply (single window) -> CFGGuider -> SamplerCustomAdvanced with the recording sampler."""
    g = graph()
    n = shared_nodes(g, tiny_wan, adapter, wav2vec2_name, unet, masks, embeds)
    inputs = reference(g, dict(dict(width=64, height=48, length=9, audio_start_frame=0, motion_frame=9), **apply),
                       image, clip)
    node = g.node("MTS_ApplyAudioAdapter", **{k: v.out(0) for k, v in n.items()}, **inputs)
    guider = g.node("CFGGuider", model=node.out(0), positive=node.out(1), negative=node.out(2), cfg=1.0)
    sigmas = g.node("BasicScheduler", model=node.out(0), scheduler="simple", steps=2, denoise=1.0)
    out = g.node("SamplerCustomAdvanced", noise=g.node("RandomNoise", noise_seed=0).out(0), guider=guider.out(0),
                 sampler=g.node("MTSTest_RecordingSampler").out(0), sigmas=sigmas.out(0), latent_image=node.out(3))
    g.node("MTSTest_Capture", value=out.out(0), key="latent")
    return g.finalize()


def long_prompt(tiny_wan, adapter, wav2vec2_name, unet=None, clip=True, image=(80, 48), masks=None, embeds=None,
                sampler="MTS_LongVideoSampler", audio=True, **plan):
    """Plan -> long video sampler with the recording sampler; windows of 9 frames, 5 of overlap."""
    g = graph()
    n = shared_nodes(g, tiny_wan, adapter, wav2vec2_name, unet, masks, embeds)
    inputs = reference(g, dict(dict(width=64, height=48, frame_window_size=9, motion_frame=5, mode="auto",
                                    colour_match="on", colour_match_strength=1.0, output_folder="",
                                    reference="start image"), **plan), image, clip)
    plan_node = g.node("MTS_LongI2VPlan", vae=n.pop("vae").out(0), **inputs)
    more = {"audio": n["embeds"].out(1)} if audio else {}
    out = g.node(sampler, **{k: v.out(0) for k, v in n.items()}, plan=plan_node.out(0),
                 sampler=g.node("MTSTest_RecordingSampler").out(0),
                 sigmas=g.node("BasicScheduler", model=n["model"].out(0), scheduler="simple", steps=1,
                               denoise=1.0).out(0),
                 noise_seed=0, text_cfg=1.0, audio_cfg=1.0, **more)
    g.node("MTSTest_Capture", value=out.out(2), key="count")
    g.node("MTSTest_Capture", value=out.out(3), key="folder")
    return g.finalize()


def test_the_recording_sampler_sees_every_step(host, tiny_wan, tiny_adapter, wav2vec2_name):
    """The control for every 'no step ran' below: the same graphs, fixed, do run the sampler."""
    host.run(window_prompt(tiny_wan, tiny_adapter, wav2vec2_name, audio_start_frame=3))
    assert len(host_test_nodes.SAMPLER_CALLS) == 2  # two euler steps, cfg 1
    host_test_nodes.SAMPLER_CALLS.clear()
    out = host.run(long_prompt(tiny_wan, tiny_adapter, wav2vec2_name, masks=(80, 48))).captured
    assert len(host_test_nodes.SAMPLER_CALLS) > 1 and out["count"] == AUDIO // 640 + 6  # the longer voice: 56 frames


# ---------------------------------------------------------------------------------------------- 1: sizes


def test_a_timeline_start_meant_as_milliseconds_is_refused_before_any_encode(host, tiny_wan, tiny_adapter,
                                                                             wav2vec2_name, encodes):
    prompt = long_prompt(tiny_wan, tiny_adapter, wav2vec2_name,
                         embeds={"multi_audio_type": "timeline", "multi_audio_type.timeline_starts": "0, 100000"})
    message = refused(host, prompt, "timeline_starts")
    assert "2,500,056 frames (100,002 s at 25 fps) of features for 2 speaker(s)" in message
    assert f"{2 * 2_500_056 * 12 * 768 * 4 / 1024 ** 3:,.1f} GiB" in message and "not frames or milliseconds" in message
    assert encodes == []


@pytest.mark.parametrize("node", ["MTS_Wav2VecEmbeds", "MTS_SilentEmbeds"])
def test_num_frames_beyond_one_buffer_is_refused_before_any_encode(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                     encodes, node):
    prompt = long_prompt(tiny_wan, tiny_adapter, wav2vec2_name, embeds={"num_frames": 1_000_000}, audio=False)
    if node == "MTS_SilentEmbeds":
        embeds_id = next(k for k, v in prompt.items() if v["class_type"] == "MTS_Wav2VecEmbeds")
        w2v = prompt[embeds_id]["inputs"]["wav2vec2"]
        prompt[embeds_id] = {"class_type": node, "inputs": {"wav2vec2": w2v, "num_frames": 1_000_000, "fps": 25.0,
                                                            "audio_scale": 1.0, "num_speakers": 4}}
    message = refused(host, prompt, "num_frames")
    speakers = 4 if node == "MTS_SilentEmbeds" else 2
    assert f"1,000,000 frames (40,000 s at 25 fps) of features for {speakers} speaker(s)" in message
    assert encodes == []


def test_windows_larger_than_one_buffer_are_refused(host, tiny_wan, tiny_adapter, wav2vec2_name):
    big = dict(width=4096, height=4096)
    message = refused(host, long_prompt(tiny_wan, tiny_adapter, wav2vec2_name, frame_window_size=1001, **big),
                      "width/height/frame_window_size")
    assert "one window of 1001 frames at 4096x4096" in message and "187.7 GiB" in message
    message = refused(host, window_prompt(tiny_wan, tiny_adapter, wav2vec2_name, length=1001, **big),
                      "width/height/length")
    assert "one window of 1001 frames at 4096x4096" in message


def test_a_video_too_long_for_ram_asks_for_an_output_folder(host, tiny_wan, tiny_adapter, wav2vec2_name):
    """200 frames at 4096x4096 are 37.5 GiB as an IMAGE: only the frames kept in RAM are refused (a window is not)."""
    prompt = long_prompt(tiny_wan, tiny_adapter, wav2vec2_name, embeds={"num_frames": 200}, audio=False,
                         width=4096, height=4096)
    message = refused(host, prompt, "output_folder")
    assert "200 frames at 4096x4096 kept in RAM" in message and "37.5 GiB" in message and "PNG" in message


# ---------------------------------------------------------------------------------------- 2, 3: the model


def test_wan_i2v_without_clip_vision_is_refused_in_both_samplers(host, tiny_wan, tiny_adapter, wav2vec2_name):
    for prompt in (window_prompt(tiny_wan, tiny_adapter, wav2vec2_name, clip=False),
                   long_prompt(tiny_wan, tiny_adapter, wav2vec2_name, clip=False)):
        message = refused(host, prompt, "clip_vision_output")
        assert "CLIP Vision Encode" in message


def test_a_text_to_video_wan_of_the_same_size_is_refused_naming_model(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                      tiny_t2v):
    for prompt in (window_prompt(tiny_wan, tiny_adapter, wav2vec2_name, unet=tiny_t2v),
                   long_prompt(tiny_wan, tiny_adapter, wav2vec2_name, unet=tiny_t2v)):
        message = refused(host, prompt, "model")
        assert "text-to-video" in message and "16 channels" in message and "36" in message and "Wan 2.1 I2V" in message


# ------------------------------------------------------------------------------------- 4: damaged files


def damaged(kind: str, good: bytes) -> tuple[str, bytes]:
    header_end = 8 + struct.unpack("<Q", good[:8])[0]
    if kind == "truncated":
        return "tiny_truncated.safetensors", good[:len(good) // 2]
    if kind == "header only":
        return "tiny_header_only.safetensors", good[:header_end]
    if kind == "empty":
        return "tiny_empty.safetensors", b""
    if kind == "web page":  # a failed download saved under the file's name
        return "tiny_webpage.safetensors", b"<!DOCTYPE html><html><body>Access denied</body></html>"
    return "tiny_renamed.pt", good  # a safetensors file given a .pt name


@pytest.mark.parametrize("kind", ["truncated", "header only", "empty", "web page", "renamed"])
def test_a_damaged_adapter_file_names_model_name_and_re_download(host, tiny_wan, tiny_adapter, wav2vec2_name, kind):
    name, data = damaged(kind, host.model_path("model_patches", tiny_adapter).read_bytes())
    host.model_path("model_patches", name).write_bytes(data)
    message = refused(host, window_prompt(tiny_wan, name, wav2vec2_name), "model_name")
    assert f"'{name}' could not be read as a weights file" in message and "re-download it" in message


# ------------------------------------------------------------------------------------------ 5: folders


@pytest.mark.parametrize("where", ["proc", "under a file"])
def test_an_output_folder_that_cannot_be_created_is_refused_by_the_plan(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                        tmp_path, where):
    if where == "proc":
        folder = "/proc/mts_frames"
    else:
        (tmp_path / "a_file").write_text("not a folder")
        folder = str(tmp_path / "a_file" / "frames")
    message = refused(host, long_prompt(tiny_wan, tiny_adapter, wav2vec2_name, output_folder=folder), "output_folder")
    assert f"'{folder}' cannot be created" in message and "write to" in message


# -------------------------------------------------------------------------------------------- 6: smaller


@pytest.mark.parametrize("sampler", ["single window", "long video"])
def test_a_video_too_small_for_the_speakers_names_the_size(host, tiny_wan, tiny_adapter, wav2vec2_name, sampler):
    size = dict(width=16, height=16)
    prompt = window_prompt(tiny_wan, tiny_adapter, wav2vec2_name, masks=(16, 16), image=(16, 16), **size) \
        if sampler == "single window" else \
        long_prompt(tiny_wan, tiny_adapter, wav2vec2_name, masks=(16, 16), image=(16, 16), **size)
    message = refused(host, prompt, "width/height")
    assert "16x16 is 1x1 token(s)" in message and "too few for 2 speakers" in message and "832x480" in message
    assert "masks" not in message.split("Fix:")[0]


def test_typed_percentages_separated_by_commas_are_percentages(host):
    g = graph()
    node = g.node("MTS_SpeakerMasks", regions="", reference="(none)", typed_regions="0:0:50:100, 50:0:100:100",
                  num_speakers=1, width=64, height=48, include_background=False,
                  image=g.node("MTSTest_RandomImage", seed=1, width=64, height=48, batch=1).out(0))
    g.node("MTSTest_Capture", value=node.out(0), key="masks")
    masks = host.run(g.finalize()).captured["masks"]
    halves = torch.zeros(2, 48, 64)
    halves[0, :, :32] = 1
    halves[1, :, 32:] = 1
    assert torch.equal(masks, halves)


def test_an_audio_start_frame_past_the_end_is_refused(host, tiny_wan, tiny_adapter, wav2vec2_name):
    message = refused(host, window_prompt(tiny_wan, tiny_adapter, wav2vec2_name, audio_start_frame=56),
                      "audio_start_frame")
    assert "frame 56 is past the end of the embeds (56 frames, 2.24 s at 25 fps)" in message and "0 to 55" in message


@pytest.mark.parametrize("sampler", ["single window", "long video"])
def test_masks_of_another_aspect_than_the_image_are_refused(host, tiny_wan, tiny_adapter, wav2vec2_name, sampler):
    build = window_prompt if sampler == "single window" else long_prompt
    message = refused(host, build(tiny_wan, tiny_adapter, wav2vec2_name, masks=(32, 48), image=(80, 48)),
                      "ref_target_masks")
    assert "the masks are 32x48 and the reference image 80x48" in message and "Speaker Masks" in message


@contextlib.contextmanager
def interrupted_after_the_first_window(host):
    """The observed long-video sampler interrupted once window 1 is done; the UI's binary messages recorded."""
    import comfy.model_management as mm

    def interrupt(event, info):
        if event == "window_done" and info["window"].index == 0:
            mm.interrupt_current_processing()

    sent, original = [], host.server.send_sync
    host.server.send_sync = lambda event, data, sid=None: (sent.append((event, data)), original(event, data, sid))
    host_test_nodes.RUNNER["observers"].append(interrupt)
    try:
        yield sent
    finally:
        host_test_nodes.RUNNER["observers"].remove(interrupt)
        host.server.send_sync = original
        mm.interrupt_current_processing(False)


@pytest.mark.parametrize("folder_mode", [True, False])
def test_after_an_interrupt_the_ui_names_the_folder_the_frames_are_in(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                      tmp_path, folder_mode):
    from server import BinaryEventTypes

    folder = str(tmp_path / "frames") if folder_mode else ""
    prompt = long_prompt(tiny_wan, tiny_adapter, wav2vec2_name, sampler="MTSTest_LongVideoSampler",
                         output_folder=folder)
    with interrupted_after_the_first_window(host) as sent:
        result = host.run(prompt, expect_success=False)
    assert any(event == "execution_interrupted" for event, _ in result.messages)
    sampler_id = next(k for k, v in prompt.items() if v["class_type"] == "MTSTest_LongVideoSampler")
    texts = []
    for event, data in sent:
        if event == BinaryEventTypes.TEXT:
            length = struct.unpack(">I", data[:4])[0]
            texts.append((data[4:4 + length].decode(), data[4 + length:].decode()))
    (node, text), = [t for t in texts if "finished frames kept in" in t[1]]
    kept = folder or next(line.rsplit(" kept in ", 1)[1] for line in result.log.splitlines() if "kept in" in line)
    windows = len(split_windows(56, 9, 5))
    again = "; queue the same prompt again to continue from there" if folder_mode else ""  # a checkpoint resumes
    assert node == sampler_id and text == f"MultiTalk Studio: interrupted after 1 of {windows} windows: 9 finished " \
                                          f"frames kept in {kept}{again}"
