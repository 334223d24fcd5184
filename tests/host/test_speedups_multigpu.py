"""The text+audio guider's three passes under the host's MultiGPU CFG split. A CPU host has one device, so the
split gets a second one the host cannot tell apart from a GPU for this purpose: `cpu:0`, with its own deep clone
of the model loaded by the host and its own worker thread. Graph: test_long_video.py (3 windows)."""
from __future__ import annotations

import threading

import pytest
import torch

from model_chain import set_inputs, through
from tests.host.test_long_video import fps_for, long_graph


@pytest.fixture
def two_devices(host, monkeypatch):
    """The host sees two devices; each cond runs as its own forward, on one device or split over both, so the
    two runs do the same arithmetic and must agree to the bit."""
    import comfy.model_management as mm
    import comfy.samplers

    if "MultiGPU_WorkUnits" not in host.node_mappings:
        pytest.skip("HOST TEST SKIPPED: this ComfyUI has no MultiGPU CFG split (MultiGPU_WorkUnits)")
    devices = [torch.device("cpu"), torch.device("cpu", 0)]
    monkeypatch.setattr(mm, "get_all_torch_devices", lambda exclude_current=False: list(devices))
    monkeypatch.setattr(comfy.samplers, "can_concat_cond", lambda c1, c2: c1 is c2)
    yield devices
    mm.unload_all_models()  # the cpu:0 clone must not outlive the test


def spied_adapter(host, monkeypatch):
    """Record each audio patch call's device, thread and cond indices, and count the audio projections."""
    patches = host.pack_module("wan_multitalk.adapter.patches")
    model = host.pack_module("wan_multitalk.adapter.model")
    calls, projections = [], []
    call, project = patches.AudioCrossAttentionPatch.__call__, model.AudioAdapter.project

    def recording_call(self, args):
        options = args["transformer_options"]
        if options.get("block_index") == 0:
            calls.append((options.get("multigpu_thread_device"), threading.current_thread().name,
                          tuple(options["cond_or_uncond"])))
        return call(self, args)

    def counting_project(self, windows):
        projections.append(tuple(windows.shape))
        return project(self, windows)

    monkeypatch.setattr(patches.AudioCrossAttentionPatch, "__call__", recording_call)
    monkeypatch.setattr(model.AudioAdapter, "project", counting_project)
    return calls, projections


def test_three_pass_guider_split_over_two_devices_gives_the_same_frames(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                       voices, two_devices, monkeypatch):
    steps = 2

    def prompt(key):
        p = long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps_for(voices["male"], 15.5), seed=31,
                       steps=steps, capture=key)
        return set_inputs(p, "MTS_LongVideoSampler", text_cfg=5.0, audio_cfg=4.0)

    calls, projections = spied_adapter(host, monkeypatch)
    single = host.run(prompt("single")).captured["framessingle"]
    assert {device for device, _, _ in calls} == {None}
    single_projections = len(projections)
    calls.clear()
    projections.clear()

    split = host.run(through(prompt("split"), "MTS_LongVideoSampler", "MultiGPU_WorkUnits", max_gpus=2)).captured
    # every step ran all three passes, spread over both devices from their own worker threads
    threads = {device: {thread for d, thread, _ in calls if d == device} for device in two_devices}
    assert all(threads.values()) and not threads[two_devices[0]] & threads[two_devices[1]]
    assert threading.main_thread().name not in set.union(*threads.values())
    assert sorted(c for _, _, conds in calls for c in conds) == sorted([0, 1, 2] * 3 * steps)
    torch.testing.assert_close(split["framessplit"], single, rtol=0, atol=0)
    # the audio is projected once a window (real and null tokens), not again for every batch on every device
    assert len(projections) == single_projections == 3 * 2
