"""The shipped sample workflows (`workflows/*.json`) against the real host.

1. Schema: every workflow fits the node definitions (types, widgets, values, links) of every supported host
   present (the booted one, and each release host from the declared floor up under ~/comfy/hosts); a changed
   input of one of our nodes is reported naming the workflow, the node and the input.
2. Run: each workflow, converted to a prompt by `workflow_api.to_api` as the frontend would, runs end to end
   through the real executor and SaveVideo writes an mp4 with sound and the expected frame count.

The run uses random models (tiny Wan DiT, VAE and adapter, full-size wav2vec2) written under the README's exact
file names, so the loaders run with the shipped values. Substitutions, and only these: CLIPLoader +
CLIPTextEncode become `MTSTest_RandomConditioning` and CLIPVisionLoader + CLIPVisionEncode become
`MTSTest_RandomClipVisionOutput` (the host builds umt5-xxl and CLIP-H only at full size); sizes shrink to
64x48, windows to 9 frames with 5 of motion (a one-window `num_frames` and `length` to 9 too), steps to 2; the
input files the workflows name (portrait.png, speaker_1.wav, source_clip.mp4, ...) are generated here.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

import other_host
from comfy_host import PACK_ROOT, declared_floor, extra_hosts, host_version, version_tuple
from workflow_api import FRONTEND_ONLY, host_object_info, input_types, to_api
from readme_tables import readme_model_files
from workflow_check import check_workflow

WORKFLOW_DIR = PACK_ROOT / "workflows"
NAMES = sorted(p.stem for p in WORKFLOW_DIR.glob("*.json"))
FPS, SAMPLES_PER_FRAME = 25, 640  # 16 kHz clips of whole frames: the frame counts below are exact
TINY = {"width": 64, "height": 48, "frame_window_size": 9, "motion_frame": 5, "length": 9, "steps": 2}
SHRUNK = {"MTS_LongI2VPlan": ("width", "height", "frame_window_size", "motion_frame"),
          "MTS_ApplyAudioAdapter": ("width", "height", "length"), "MTS_SpeakerMasks": ("width", "height"),
          "BasicScheduler": ("steps",)}
VIDEO_FRAMES = 13  # source_clip.mp4
# workflow -> (frames of each speaker_k.wav, frames of the saved video). Whole frames of 16 kHz audio make the
# counts exact: voices in turns (`add`) sum, dubbing keeps the source's length, one window is `length` frames.
# 13 frames are two windows of the tiny plan (frames 0-8 and 4-12): each long-video workflow really continues.
RUNS = {
    "1_one_speaker_any_length": ({1: 13}, 13),
    "2_two_speakers_mask_widget": ({1: 7, 2: 6}, 13),
    "3_four_speakers": ({1: 4, 2: 3, 3: 3, 4: 3}, 13),
    "4_video_dubbing_face_mask": ({1: 11}, VIDEO_FRAMES),
    "5_single_window_audio_cfg_guider": ({1: 12}, TINY["length"]),
}
README_FOLDERS = {"UNETLoader": ("unet_name", "diffusion_models"), "VAELoader": ("vae_name", "vae"),
                  "CLIPLoader": ("clip_name", "text_encoders"), "CLIPVisionLoader": ("clip_name", "clip_vision"),
                  "MTS_AdapterLoader": ("model_name", "model_patches"),
                  "MTS_Wav2VecModelLoader": ("model", "audio_encoders")}


def load(name: str) -> dict:
    return json.loads((WORKFLOW_DIR / f"{name}.json").read_text())


def widget(node: dict, name: str):
    return node["widgets_values_named"][name]


@pytest.fixture(scope="module")
def object_info(host) -> dict:
    return host_object_info(host.node_mappings)


def supported_hosts() -> list[Path]:
    """Every host present from the declared floor up (the extra release hosts; the booted one is added below)."""
    return [h for h in extra_hosts() if (host_version(h) or ()) >= declared_floor()]


@pytest.fixture(scope="module")
def every_object_info(host, object_info, tmp_path_factory) -> dict[str, dict]:
    """Node definitions of every supported host present: the booted one, and each other one booted in a
    subprocess. Labelled by release."""
    label = lambda root: "ComfyUI " + ".".join(map(str, host_version(root) or ("?",))) + f" ({root})"  # noqa: E731
    found = {label(host.root): object_info}
    for root in supported_hosts():
        if root.resolve() != Path(host.root).resolve():
            found[label(root)] = other_host.run("object-info", str(root), str(tmp_path_factory.mktemp("info")))
    return found


# ------------------------------------------------------------------------------------------------------------------
# What ships


def test_five_workflows_with_thumbnails():
    assert NAMES == sorted(RUNS), "every shipped workflow needs its run test below (and only those ship)"
    for name in NAMES:
        jpg = WORKFLOW_DIR / f"{name}.jpg"
        assert jpg.is_file(), f"{name}: no thumbnail {jpg.name} for the template browser"
        data = jpg.read_bytes()
        assert data[:3] == b"\xff\xd8\xff" and 5_000 < len(data) < 150_000, f"{jpg.name}: {len(data)} bytes"


@pytest.mark.parametrize("name", NAMES)
def test_model_files_are_named_as_in_the_readme(name):
    files = readme_model_files()
    workflow = load(name)
    seen = set()
    for node in workflow["nodes"]:
        if node["type"] not in README_FOLDERS or node.get("mode") == 4:
            continue
        key, folder = README_FOLDERS[node["type"]]
        value = widget(node, key)
        assert value in files, f"{name}: #{node['id']} {node['type']} names '{value}', not a README model file"
        assert f"models/{folder}" in files[value], f"{name}: '{value}' belongs in {files[value]}, not models/{folder}"
        seen.add(node["type"])
    assert seen == set(README_FOLDERS), f"{name}: no loader for {set(README_FOLDERS) - seen}"
    embeds = next(n for n in workflow["nodes"] if n["type"] == "MTS_Wav2VecEmbeds")
    speakers = sum(1 for s in embeds["inputs"] if s["name"].startswith("audio_") and s.get("link") is not None)
    adapter = widget(next(n for n in workflow["nodes"] if n["type"] == "MTS_AdapterLoader"), "model_name")
    assert ("multi" in adapter) == (speakers > 1), f"{name}: {speakers} speaker(s) with {adapter}"


@pytest.mark.parametrize("name", NAMES)
def test_notes_explain_the_settings_that_matter(name):
    text = "\n".join(widget(n, "text") for n in load(name)["nodes"] if n["type"] in FRONTEND_ONLY).lower()
    for topic in ("steps", "shift", "text cfg", "audio cfg", "distill lora", "ctrl+b"):
        assert topic in text, f"{name}: the notes never mention {topic!r}"


# ------------------------------------------------------------------------------------------------------------------
# Schema


@pytest.mark.all_hosts
@pytest.mark.parametrize("name", NAMES)
def test_workflow_fits_every_supported_hosts_node_definitions(every_object_info, name):
    """Saved on the floor host, each workflow restores with the same values on every newer host present."""
    problems = [f"{host}: {p}" for host, info in every_object_info.items() for p in check_workflow(name, load(name), info)]
    assert not problems, "\n".join(problems)


@pytest.mark.all_hosts
def test_every_supported_host_present_is_checked(host, every_object_info):
    others = [h for h in supported_hosts() if h.resolve() != Path(host.root).resolve()]
    assert len(every_object_info) == 1 + len(others), list(every_object_info)


@pytest.mark.all_hosts
def test_a_newer_input_in_a_workflow_is_caught_on_the_floor_host(every_object_info):
    """What broke the workflows before: a value saved for an input the floor host lacks (CreateVideo's bit_depth)
    shifts or is lost there; the check must say so for the oldest host present."""
    oldest = min(every_object_info, key=lambda label: version_tuple(label.split()[1]))
    info = every_object_info[oldest]
    workflow = load(NAMES[0])
    create = next(n for n in workflow["nodes"] if n["type"] == "CreateVideo")
    if "bit_depth" in input_types(info["CreateVideo"]):
        pytest.skip(f"the oldest host present ({oldest}) already has CreateVideo's bit_depth")
    create["widgets_values"] = [*create["widgets_values"], 8]
    problems = check_workflow(NAMES[0], workflow, info)
    assert any("CreateVideo" in p and "saved values for" in p for p in problems), problems


def _inputs(info: dict) -> list[tuple[str, str]]:
    return [(section, n) for section, names in info["input_order"].items() for n in names]


def rename(node: str, old: str, new: str):
    def change(info):
        section = next(s for s, n in _inputs(info[node]) if n == old)
        spec = info[node]["input"][section]
        info[node]["input"][section] = {new if k == old else k: v for k, v in spec.items()}
        order = info[node]["input_order"][section]
        order[order.index(old)] = new
    return change


def remove(node: str, name: str):
    def change(info):
        section = next(s for s, n in _inputs(info[node]) if n == name)
        del info[node]["input"][section][name]
        info[node]["input_order"][section].remove(name)
    return change


def swap(node: str, a: str, b: str):
    def change(info):
        order = info[node]["input_order"]["required"]
        i, j = order.index(a), order.index(b)
        order[i], order[j] = order[j], order[i]
    return change


def retype(node: str, name: str, new_type: str):
    def change(info):
        section = next(s for s, n in _inputs(info[node]) if n == name)
        spec = info[node]["input"][section][name]
        info[node]["input"][section][name] = [new_type, *spec[1:]]
    return change


def add_required(node: str, name: str, kind: str):
    def change(info):
        info[node]["input"]["required"][name] = [kind, {}]
        info[node]["input_order"]["required"].append(name)
    return change


# (node, input the message must name, change)
CHANGES = {
    "rename widget": ("MTS_LongI2VPlan", "motion_frame", rename("MTS_LongI2VPlan", "motion_frame", "motion_frames")),
    "rename socket": ("MTS_LongVideoSampler", "embeds", rename("MTS_LongVideoSampler", "embeds", "speaker_embeds")),
    "remove widget": ("MTS_Wav2VecEmbeds", "audio_scale", remove("MTS_Wav2VecEmbeds", "audio_scale")),
    "reorder widgets": ("MTS_LongI2VPlan", "width", swap("MTS_LongI2VPlan", "width", "height")),
    "widget type": ("MTS_LongVideoSampler", "text_cfg", retype("MTS_LongVideoSampler", "text_cfg", "INT")),
    "socket type": ("MTS_Wav2VecEmbeds", "audio_1", retype("MTS_Wav2VecEmbeds", "audio_1", "IMAGE")),
    "combo widget": ("MTS_AdapterLoader", "variant", retype("MTS_AdapterLoader", "variant", "STRING")),
    "new required socket": ("MTS_LongI2VPlan", "anchor", add_required("MTS_LongI2VPlan", "anchor", "IMAGE")),
    "mask widget input": ("MTS_SpeakerMasks", "regions", rename("MTS_SpeakerMasks", "regions", "boxes")),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_node_input_names_workflow_node_and_input(object_info, change):
    """Edit one of our node definitions (a copy of the host's): the check must name every workflow it breaks,
    the node there and the input (the same check fails when such an edit is made in `nodes/`)."""
    node_type, input_name, mutate = CHANGES[change]
    changed = copy.deepcopy(object_info)
    mutate(changed)
    users = [n for n in NAMES if any(node["type"] == node_type for node in load(n)["nodes"])]
    assert users, f"no shipped workflow uses {node_type}"
    for name in users:
        problems = check_workflow(name, load(name), changed)
        ids = [f"#{node['id']} {node_type}" for node in load(name)["nodes"] if node["type"] == node_type]
        named = [p for p in problems if p.startswith(f"{name}: node ") and any(i in p for i in ids)
                 and f"'{input_name}'" in p]
        assert named, f"{change}: {name} gives no message naming the node and '{input_name}': {problems}"


def test_a_missing_node_type_and_a_dangling_link_are_reported(object_info):
    workflow = load(NAMES[0])
    next(n for n in workflow["nodes"] if n["type"] == "CreateVideo")["type"] = "MTS_NoSuchNode"
    workflow["links"].pop()
    problems = check_workflow("broken", workflow, object_info)
    assert any("MTS_NoSuchNode" in p and "not a node type" in p for p in problems), problems
    assert any("does not exist" in p for p in problems), problems


# ------------------------------------------------------------------------------------------------------------------
# Run


def write_video(path: Path, frames: int, width: int = 96, height: int = 64) -> None:
    import av

    rng = np.random.default_rng(7)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture(scope="module")
def workflow_inputs(host, voices):
    """The files the workflows name, in the host's input folder: the pictures and the clip to dub; the voices
    are written per run (`write_voices`) from these 16 kHz recordings."""
    import torch
    import torchaudio
    from PIL import Image

    folder = host.workdir / "input"
    rng = np.random.default_rng(3)
    for name in ("portrait.png", "two_people.png", "four_people.png"):
        # the video's 4:3 aspect, so the template's four equal columns each keep a token column after the crop
        Image.fromarray(rng.integers(0, 255, (TINY["height"], TINY["width"], 3), dtype=np.uint8)).save(folder / name)
    write_video(folder / "source_clip.mp4", VIDEO_FRAMES)
    speech = []
    for voice in ("male", "female"):
        data, rate = soundfile.read(str(folder / voices[voice]["file"]), dtype="float32")
        speech.append(torchaudio.functional.resample(torch.from_numpy(data), rate, 16000).numpy())
    return folder, speech


def write_voices(folder: Path, speech: list, frames: dict) -> None:
    """speaker_k.wav: a stretch of real speech exactly frames[k] video frames long."""
    for k, count in frames.items():
        wave = speech[(k - 1) % 2]
        start = int(0.15 * 16000) + k * 1600  # into the speech, a different stretch per speaker
        clip = wave[start:start + count * SAMPLES_PER_FRAME]
        assert len(clip) == count * SAMPLES_PER_FRAME and np.abs(clip).max() > 0.01
        soundfile.write(str(folder / f"speaker_{k}.wav"), clip, 16000, subtype="FLOAT")


def host_prompt(workflow: dict, object_info: dict, text_dim: int) -> dict:
    """The prompt the frontend would queue, with the documented test substitutions and tiny sizes."""
    prompt = to_api(workflow, object_info)
    removed = {i for i, n in prompt.items() if n["class_type"] in ("CLIPLoader", "CLIPVisionLoader")}
    for node_id, node in list(prompt.items()):
        kind, inputs = node["class_type"], node["inputs"]
        if kind == "CLIPTextEncode":
            prompt[node_id] = {"class_type": "MTSTest_RandomConditioning",
                               "inputs": {"seed": int(node_id), "tokens": 8, "width": text_dim}}
        elif kind == "CLIPVisionEncode":
            prompt[node_id] = {"class_type": "MTSTest_RandomClipVisionOutput", "inputs": {"seed": int(node_id)}}
        for name in SHRUNK.get(kind, ()):
            assert not isinstance(inputs[name], list), f"#{node_id} {kind}.{name} is linked; the test cannot shrink it"
            inputs[name] = TINY[name]
        if kind == "MTS_Wav2VecEmbeds" and inputs["num_frames"]:
            inputs["num_frames"] = TINY["length"]  # one window's worth, as shipped
    for node_id in removed:
        del prompt[node_id]
    dangling = [(i, k) for i, n in prompt.items() for k, v in n["inputs"].items()
                if isinstance(v, list) and v[0] in removed]
    assert not dangling, f"something besides the substituted encoders uses the text/vision loaders: {dangling}"
    return prompt


def read_video(path: Path) -> dict:
    import av

    with av.open(str(path)) as container:
        video, audio = container.streams.video, container.streams.audio
        assert len(video) == 1 and len(audio) == 1, f"{path.name}: {len(video)} video / {len(audio)} audio streams"
        size = (video[0].codec_context.width, video[0].codec_context.height)
        frames = sum(1 for _ in container.decode(video=0))
        container.seek(0)
        samples = [f.to_ndarray() for f in container.decode(audio=0)]
        rate = audio[0].codec_context.sample_rate
    sound = np.concatenate(samples, axis=-1)
    rms = float(np.sqrt((sound ** 2).mean()))
    return {"frames": frames, "size": size, "seconds": sound.shape[-1] / rate, "rms": rms}


@pytest.mark.parametrize("name", NAMES)
def test_workflow_runs_end_to_end(host, object_info, readme_models, workflow_inputs, name):
    voices, frames = RUNS[name]
    write_voices(*workflow_inputs, voices)
    prompt = host_prompt(load(name), object_info, readme_models.text_dim)
    saves = [i for i, n in prompt.items() if n["class_type"] == "SaveVideo"]
    assert len(saves) == 1
    result = host.run(prompt)
    saved = result.ui_outputs[saves[0]]["images"]
    assert len(saved) == 1 and saved[0]["type"] == "output"
    prefix = prompt[saves[0]]["inputs"]["filename_prefix"]
    path = host.workdir / "output" / saved[0]["subfolder"] / saved[0]["filename"]
    assert path.is_file() and path.suffix == ".mp4" and f"{saved[0]['subfolder']}/{path.name}".startswith(prefix)

    video = read_video(path)
    assert video["frames"] == frames, f"{name}: {video['frames']} frames, expected {frames}"
    assert video["size"] == (TINY["width"], TINY["height"])
    assert abs(video["seconds"] - frames / FPS) < 0.1, f"{name}: {video['seconds']:.3f} s of sound for {frames} frames"
    assert video["rms"] > 1e-3, f"{name}: the video's sound is silent (rms {video['rms']:.2e})"
