"""Resuming a long run in the same ComfyUI (in-process): an interrupted run queued again continues after its last
finished window and ends with exactly the frames of an uninterrupted run; other inputs start over (the old run set
aside) or stop with the reason; a finished run queued again samples nothing; the model's identity survives a LoRA
patched into its weights. After a SIGKILL and a restart: test_long_run_server.py. Graph: test_long_video.py."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from comfy_host import graph
from tests.host.test_long_video import WINDOW, MOTION, expected_total, fps_for, hooked, long_graph, recorder
from host_models import write_tiny_lora
from wan_multitalk.video.windows import split_windows

FOUR_WINDOWS = 20.5  # frames of the male voice, for fps_for: 20 frames, 4 windows


def plan_node(prompt: dict) -> dict:
    return next(n for n in prompt.values() if n["class_type"] == "MTS_LongI2VPlan")


def with_lora(prompt: dict, strength: float = 1.0) -> dict:
    """The UNETLoader's model through LoraLoaderModelOnly (tiny_wan_lora.safetensors) everywhere it was used."""
    unet = next(i for i, n in prompt.items() if n["class_type"] == "UNETLoader")
    for node in prompt.values():
        for name, value in node["inputs"].items():
            if value == [unet, 0]:
                node["inputs"][name] = ["lora", 0]
    prompt["lora"] = {"class_type": "LoraLoaderModelOnly",
                      "inputs": {"model": [unet, 0], "lora_name": "tiny_wan_lora.safetensors", "strength_model": strength}}
    return prompt


def png_frames(folder) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))])


def started(events) -> list[int]:
    return [info["window"].index for event, info in events if event == "window_start"]


@pytest.fixture(scope="module")
def lora(host, tiny_wan):
    write_tiny_lora(host.model_path("loras", "tiny_wan_lora.safetensors"), tiny_wan["spec"])


@pytest.fixture(scope="module")
def run(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, lora):
    """run(folder, expect_success=True, hook=None, threaded=None, **long_graph options) -> (result, events)."""
    fps = fps_for(voices["male"], FOUR_WINDOWS)
    assert len(split_windows(expected_total(voices["male"], fps), WINDOW, MOTION)) == 4

    def go(folder, expect_success=True, hook=None, threaded=None, on_changed=None, **options):
        prompt = with_lora(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, output_folder=str(folder),
                                      observed=True, **options))
        if on_changed is not None:
            plan_node(prompt)["inputs"]["on_changed_inputs"] = on_changed
        events, record = recorder()

        def observe(event, info):
            record(event, info)
            if hook is not None:
                hook(event, info)

        with hooked(observe, background_writes=threaded):
            return host.run(prompt, expect_success=expect_success), events

    return go


@pytest.fixture(scope="module")
def whole(run, tmp_path_factory):
    """An uninterrupted run (seed 11) in a folder: (its folder, its png frames, its frames output)."""
    folder = tmp_path_factory.mktemp("whole") / "frames"
    result, events = run(folder, seed=11)
    assert started(events) == [0, 1, 2, 3]
    return folder, png_frames(folder), result.captured["frames"]


def forget(host) -> None:
    """Run a prompt without the sampler, so the host's cache no longer answers for the previous one."""
    g = graph()
    g.node("MTSTest_Capture", value=g.node("MTSTest_RandomImage", seed=0, width=8, height=8, batch=1).out(0),
           key="nothing")
    host.run(g.finalize())


def interrupt_in_window(index: int):
    import comfy.model_management as mm

    def hook(event, info):
        if event == "step" and info["window"].index == index and info["step"] == 0:
            mm.interrupt_current_processing()
    return hook


@pytest.mark.parametrize("threaded", [False, True])
def test_an_interrupted_run_queued_again_ends_with_the_uninterrupted_frames(run, whole, tmp_path, threaded):
    import comfy.model_management as mm

    try:
        stopped, events = run(tmp_path / "resumed", expect_success=False, hook=interrupt_in_window(2),
                              threaded=threaded, seed=11)
    finally:
        mm.interrupt_current_processing(False)
    assert any(event == "execution_interrupted" for event, _ in stopped.messages)
    assert started(events) == [0, 1, 2]
    manifest = json.loads((tmp_path / "resumed" / "multitalk_checkpoint.json").read_text())
    assert (manifest["windows_done"], manifest["frames"]) == (2, WINDOW + 4)
    assert "queue the same prompt again to continue" in stopped.log

    resumed, events = run(tmp_path / "resumed", threaded=threaded, seed=11)
    assert started(events) == [2, 3]  # the LoRA-patched model is still the same model: no start over
    assert "resuming at window 3 of 4 (2 finished, 13 frames in" in resumed.log
    folder, pngs, frames = whole
    assert pngs.shape[0] == 20 and np.array_equal(png_frames(tmp_path / "resumed"), pngs)
    torch.testing.assert_close(resumed.captured["frames"], frames, rtol=0, atol=0)
    assert not list((tmp_path / "resumed").glob("multitalk_tail_*"))  # finished: nothing left to continue from


def test_a_finished_run_queued_again_samples_nothing(host, run, whole):
    folder, pngs, frames = whole
    forget(host)
    again, events = run(folder, seed=11)
    assert started(events) == [] and "already finished: all 4 windows are in" in again.log
    torch.testing.assert_close(again.captured["frames"], frames, rtol=0, atol=0)
    assert np.array_equal(png_frames(folder), pngs)


def test_another_seed_starts_over_and_keeps_the_old_frames(run, whole, tmp_path):
    folder = tmp_path / "frames"
    shutil.copytree(whole[0], folder)
    second, events = run(folder, seed=12)
    assert started(events) == [0, 1, 2, 3]
    assert "starting over: the folder held a run that cannot be continued (it was made with another noise_seed)" \
        in second.log
    (moved,) = folder.glob("replaced_*")
    assert np.array_equal(png_frames(moved), whole[1]) and not np.array_equal(png_frames(folder), whole[1])


def test_other_inputs_with_stop_leave_the_folder_and_say_what_changed(run, whole, tmp_path):
    folder = tmp_path / "frames"
    shutil.copytree(whole[0], folder)
    listing = sorted(p.name for p in folder.iterdir())
    failed, events = run(folder, expect_success=False, on_changed="stop", seed=6, steps=3)
    assert started(events) == []
    message = failed.message()
    assert message.startswith("output_folder:") and "another sigmas, noise_seed" in message
    assert "start over" in message and sorted(p.name for p in folder.iterdir()) == listing


def test_model_identity_is_the_file_and_its_patches(host, tiny_wan, lora):
    """The model part of the fingerprint: the same while the host has the model loaded with the LoRA patched into
    its weights (as a server keeps it between prompts), different for another LoRA strength, another shift
    (ModelSamplingSD3) and another weight dtype."""
    import comfy.model_management as mm
    from wan_multitalk.fingerprint import digest

    identity = host.pack_module("nodes.host.identity").weights_identity

    def model(strength=1.0, shift=7.0, dtype="default"):
        key = f"model_{strength}_{shift}_{dtype}"
        g = graph()
        unet = g.node("UNETLoader", unet_name=tiny_wan["unet"], weight_dtype=dtype)
        lora_node = g.node("LoraLoaderModelOnly", model=unet.out(0), lora_name="tiny_wan_lora.safetensors",
                           strength_model=strength)
        shifted = g.node("ModelSamplingSD3", model=lora_node.out(0), shift=shift)
        g.node("MTSTest_Capture", value=shifted.out(0), key=key)
        return host.run(g.finalize()).captured[key]

    patcher = model()
    base = digest(identity(patcher), sampled=True)
    mm.load_models_gpu([patcher])
    try:
        assert patcher.backup, "the host did not patch the LoRA into the weights: the test shows nothing"
        assert digest(identity(patcher), sampled=True) == base
    finally:
        mm.unload_all_models()
    assert digest(identity(model(strength=0.5)), sampled=True) != base
    assert digest(identity(model(shift=5.0)), sampled=True) != base
    assert digest(identity(model(dtype="fp8_e4m3fn")), sampled=True) != base
