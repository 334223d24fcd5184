"""CLIP vision per window, as the official streaming loop: with a CLIP vision model in the plan each window's
conditioning image is encoded - the start image once (InfiniteTalk), every dubbing keyframe once, the previous
window's last frame in MultiTalk mode - and that encoding is what the window's conditioning carries."""
from __future__ import annotations

import pytest
import torch

import host_test_nodes
from model_recorder import RECORDS
from tests.host.test_long_video import MOTION, fps_for, hooked, long_graph, recorder
from wan_multitalk.video.resize import fit_to_video


@pytest.fixture
def encodes():
    host_test_nodes.CLIP_ENCODES.clear()
    yield host_test_nodes.CLIP_ENCODES
    host_test_nodes.CLIP_ENCODES.clear()


def run(host, prompt):
    events, hook = recorder()
    with hooked(hook):
        out = host.run(prompt).captured
    return out, events


def of(events, name):
    return [info for event, info in events if event == name]


def test_a_still_reference_is_encoded_once(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, encodes):
    fps = fps_for(voices["male"], 15.5)
    out, events = run(host, long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, mode="infinitetalk",
                                       clip_vision=True, observed=True, capture="clip"))
    assert len(of(events, "window_start")) == 3
    assert len(encodes) == 1 and [i["window"].index for i in of(events, "clip_encoded")] == [0]
    image, crop = encodes[0]
    assert crop is False  # the whole frame, as the official code resizes it
    torch.testing.assert_close(image, fit_to_video(out["start_imageclip"][:1], 64, 48).cpu(), rtol=0, atol=0)


def test_multitalk_encodes_each_windows_previous_last_frame(host, tiny_wan, tiny_adapter, wav2vec2_name, voices,
                                                             encodes):
    fps = fps_for(voices["male"], 15.5)
    RECORDS.clear()
    out, events = run(host, long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, mode="multitalk",
                                       clip_vision=True, observed=True, record="clip"))
    starts = [i["window"] for i in of(events, "window_start")]
    assert len(starts) == 3 and len(encodes) == 3
    frames = out["frames"]
    for window, (image, _) in zip(starts[1:], encodes[1:]):
        # the previous window's last frame is the last of the motion frames this window starts with
        torch.testing.assert_close(image[0], frames[window.start + MOTION - 1].cpu(), rtol=0, atol=0)
    assert not torch.equal(encodes[1][0], encodes[2][0])
    # each window's model calls carry that window's encoding (2 steps a window)
    images = [image for image, _ in encodes]
    expected = [host_test_nodes.FakeClipVision(3).encode_image(i, crop=False)["penultimate_hidden_states"]
                for i in images]
    for call in RECORDS["clip"].dit:
        torch.testing.assert_close(call["clip_fea"], expected[call["step"] // 2].expand_as(call["clip_fea"]),
                                   rtol=0, atol=0)
    assert len({c["step"] // 2 for c in RECORDS["clip"].dit}) == 3


@pytest.mark.parametrize("source_frames, slower, keyframes", [(8, 2, [0, 2, 4]), (3, 6, [0, 0, 1, 2])])
def test_dubbing_encodes_each_new_keyframe_once(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, encodes,
                                                source_frames, slower, keyframes):
    fps = fps_for(voices["male"], 15.5)
    out, events = run(host, long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, clip_vision=True,
                                       source_frames=source_frames, source_fps=fps / slower, observed=True))
    assert [i["keyframe"] for i in of(events, "window_start")] == keyframes
    assert len(encodes) == len(set(keyframes))
    assert [i["window"].index for i in of(events, "clip_encoded")] == \
        [k for k, key in enumerate(keyframes) if key not in keyframes[:k]]


def test_clip_vision_and_one_output_together_are_refused(host, tiny_wan, tiny_adapter, wav2vec2_name, voices):
    prompt = long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, 10.0, clip_vision=True)
    plan = next(n for n in prompt.values() if n["class_type"] == "MTS_LongI2VPlan")
    prompt["one"] = {"class_type": "MTSTest_RandomClipVisionOutput", "inputs": {"seed": 3}}
    plan["inputs"]["clip_vision_output"] = ["one", 0]
    message = host.failure(prompt)
    assert message.startswith("clip_vision") and "clip_vision_output" in message
