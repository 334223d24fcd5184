"""Graphs saved before the plan node and Audio to Speakers moved their mode-dependent inputs into dynamic combos
(`reference`, `mode`) open in the real frontend with every value and link where it belongs: `js/legacy_graphs.js`
rewrites them on load, and `graphToPrompt` sends the host exactly today's inputs with the saved values."""
from __future__ import annotations

import pytest

from browser_host import APP, open_frontend

PLAN_WIDGETS = ["width", "height", "frame_window_size", "motion_frame", "mode", "colour_match", "colour_match_strength",
                "source_fps", "denoise", "output_folder"]
PLAN_VALUES = [640, 368, 41, 9, "multitalk", "off", 0.5, 30, 0.7, "frames_here"]
SPLIT_WIDGETS = ["mode", "num_speakers", "timeline", "order", "min_gap_seconds", "fade_ms", "voice_encoder",
                 "detect_overlap"]


def widget_inputs(names: list[str], linked: dict) -> list[dict]:
    return [{"name": n, "type": "*", "widget": {"name": n}, **({"link": linked[n]} if n in linked else {})}
            for n in names]


def legacy_graph(dubbing: bool, split_values: list) -> dict:
    """What the frontend saved before issue 15: a plan node fed by Load Image (start image, or source video + face
    mask + its fps as a socket), and Audio to Speakers fed by Load Audio."""
    links = [[1, 1, 0, 3, 0, "VAE"]]
    plan_sockets = [{"name": "vae", "type": "VAE", "link": 1}]
    if dubbing:
        links += [[2, 2, 0, 3, 2, "IMAGE"], [3, 2, 1, 3, 3, "MASK"], [4, 6, 0, 3, 11, "FLOAT"]]
        plan_sockets += [{"name": "start_image", "type": "IMAGE"}, {"name": "source_video", "type": "IMAGE", "link": 2},
                         {"name": "face_mask", "type": "MASK", "link": 3}]
    else:
        links += [[2, 2, 0, 3, 1, "IMAGE"]]
        plan_sockets += [{"name": "start_image", "type": "IMAGE", "link": 2}, {"name": "source_video", "type": "IMAGE"},
                         {"name": "face_mask", "type": "MASK"}]
    plan_sockets += [{"name": "clip_vision_output", "type": "CLIP_VISION_OUTPUT"}]
    plan_sockets += widget_inputs(PLAN_WIDGETS, {"source_fps": 4} if dubbing else {})
    links += [[5, 4, 0, 5, 0, "AUDIO"]]
    nodes = [
        {"id": 1, "type": "VAELoader", "pos": [0, 0], "size": [300, 60], "inputs": [],
         "outputs": [{"name": "VAE", "type": "VAE", "links": [1]}], "widgets_values": ["wan_2.1_vae.safetensors"]},
        {"id": 2, "type": "LoadImage", "pos": [0, 150], "size": [300, 300], "inputs": [],
         "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [2]}, {"name": "MASK", "type": "MASK",
                                                                          "links": [3] if dubbing else []}],
         "widgets_values": ["example.png", "image"]},
        {"id": 3, "type": "MTS_LongI2VPlan", "pos": [400, 0], "size": [340, 360], "inputs": plan_sockets,
         "outputs": [{"name": "plan", "type": "MTS_LONG_PLAN", "links": []}], "widgets_values": list(PLAN_VALUES)},
        {"id": 4, "type": "LoadAudio", "pos": [0, 500], "size": [300, 130], "inputs": [],
         "outputs": [{"name": "AUDIO", "type": "AUDIO", "links": [5]}], "widgets_values": ["speech.wav", None, None]},
        {"id": 5, "type": "MTS_AudioToSpeakers", "pos": [400, 500], "size": [340, 300],
         "inputs": [{"name": "audio", "type": "AUDIO", "link": 5}, *widget_inputs(SPLIT_WIDGETS, {})],
         "outputs": [{"name": f"audio_{k}", "type": "AUDIO", "links": []} for k in range(1, 5)]
         + [{"name": "summary", "type": "STRING", "links": []}], "widgets_values": list(split_values)},
    ]
    if dubbing:
        nodes.append({"id": 6, "type": "PrimitiveFloat", "pos": [0, 700], "size": [300, 60], "inputs": [],
                      "outputs": [{"name": "FLOAT", "type": "FLOAT", "links": [4]}], "widgets_values": [29.97]})
    return {"last_node_id": 6, "last_link_id": 5, "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {}, "version": 0.4}


LOAD_JS = """async (graph) => {
  const app = window.comfyAPI.app.app;
  await app.loadGraphData(graph, true, true, "legacy");
  await new Promise(r => setTimeout(r, 500));
  const output = (await app.graphToPrompt()).output;
  return {plan: output["3"].inputs, split: output["5"].inputs};
}"""

COMMON_PLAN = {"width": 640, "height": 368, "frame_window_size": 41, "motion_frame": 9, "mode": "multitalk",
               "colour_match": "off", "colour_match_strength": 0.5, "output_folder": "frames_here", "vae": ["1", 0],
               "on_changed_inputs": "start over"}  # added later: an old graph gets its default


@pytest.mark.parametrize("dubbing, split_values, split_inputs", [
    (False, ["auto diarization", 3, "", "2,1", 0.8, 35, "auto", False],
     {"mode": "auto diarization", "mode.num_speakers": 3, "mode.min_gap_seconds": 0.8, "mode.voice_encoder": "auto",
      "mode.detect_overlap": False, "order": "2,1", "fade_ms": 35}),
    (True, ["timeline", 0, "1: 0-1.5, 2: 1.5-end", "", 0.5, 10, "auto", True],
     {"mode": "timeline", "mode.timeline": "1: 0-1.5, 2: 1.5-end", "order": "", "fade_ms": 10}),
])
def test_a_graph_saved_before_the_dynamic_inputs_keeps_its_values(comfy_server, browser_page, dubbing, split_values,
                                                                  split_inputs):
    page = browser_page
    open_frontend(page, comfy_server, "MTS_LongI2VPlan")
    got = page.evaluate(LOAD_JS, legacy_graph(dubbing, split_values))
    if dubbing:
        plan = {**COMMON_PLAN, "reference": "video to dub", "reference.source_fps": ["6", 0], "reference.denoise": 0.7,
                "reference.source_video": ["2", 0], "reference.face_mask": ["2", 1]}
    else:
        plan = {**COMMON_PLAN, "reference": "start image", "start_image": ["2", 0]}
    assert got["plan"] == plan
    assert got["split"] == {**split_inputs, "audio": ["4", 0]}
    assert page.evaluate(f"() => {APP}.graph._nodes.length") == (6 if dubbing else 5)
