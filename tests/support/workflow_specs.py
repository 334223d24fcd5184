"""What the five shipped sample workflows contain: nodes, widget values, links, groups and notes.

`make_workflows.py` builds these graphs in the real frontend and saves what it serializes to `workflows/`; the
tests read the saved JSON, never this file, so a hand edit of a shipped workflow is checked the same way.
Model file names are the README's "Model files" table, exactly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

WAN = "wan2.1_i2v_480p_14B_fp16.safetensors"
UMT5 = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
CLIP_VISION = "clip_vision_h.safetensors"
VAE = "wan_2.1_vae.safetensors"
ADAPTER_SINGLE = "wan2.1_infiniteTalk_single_fp16.safetensors"
ADAPTER_MULTI = "wan2.1_infiniteTalk_multi_fp16.safetensors"
WAV2VEC2 = "wav2vec2-chinese-base_fp16.safetensors"
DISTILL_LORA = "lightx2v_I2V_14B_480p_cfg_step_distill_rank64_bf16.safetensors"  # optional, not in the README table

WIDTH, HEIGHT, FPS, WINDOW, MOTION = 832, 480, 25, 81, 9
STEPS, SHIFT, TEXT_CFG, AUDIO_CFG, SEED = 30, 7.0, 5.0, 4.0, 42

POSITIVE = ("A person talks to the camera with natural facial expressions and clear lip movements, gentle head "
            "motion, soft daylight, realistic, high quality.")
NEGATIVE = ("static picture, frozen face, closed mouth, blurry, low quality, jpeg artifacts, subtitles, text, "
            "watermark, distorted face, deformed mouth, extra fingers, oversaturated, overexposed, cluttered "
            "background, many people in the background")


@dataclass
class Node:
    """One node: `col` is its column (left to right), nodes of a column stack in list order."""

    key: str
    type: str
    col: int
    widgets: dict = field(default_factory=dict)
    title: str | None = None
    mode: int = 0  # 4 = bypassed
    color: str | None = None  # a LGraphCanvas.node_colors name
    size: tuple | None = None


@dataclass
class Workflow:
    name: str
    nodes: list
    links: list  # (source key, output slot name or index, target key, input name)
    groups: dict  # column -> group title


def regions_state(boxes: list, labels: list | None = None) -> str:
    """The Speaker Masks widget's saved state (schema 1) with one box per speaker, in fractions of the image."""
    import json

    labels = labels or [""] * len(boxes)
    speakers = [{"label": label, "box": list(box), "strokes": []} for label, box in zip(labels, boxes)]
    return json.dumps({"version": 1, "speakers": speakers, "background": None, "image": None})


# ------------------------------------------------------------------------------------------------------------------
# Notes (Markdown, shown by the frontend's MarkdownNote)

MODELS_MD = """**Model files** (exact names, as in the README)

| file | folder |
|---|---|
| `{wan}` | `models/diffusion_models` |
| `{adapter}` | `models/model_patches` |
| `{umt5}` | `models/text_encoders` |
| `{clip}` | `models/clip_vision` |
| `{vae}` | `models/vae` |
| `{w2v}` | `models/audio_encoders` |
"""

SETTINGS_MD = """## Settings that matter

| | this workflow (no distill LoRA) | with the lightx2v distill LoRA |
|---|---|---|
| steps (BasicScheduler) | {steps} (40 for the last bit of quality) | 4 to 8 |
| shift (ModelSamplingSD3) | {shift:g} | 2 |
| text cfg | {text:g} | 1 |
| audio cfg | {audio:g} | 2, or 1 for the fastest run |

**Cost.** Every guidance value at 1 drops one model pass per step: text {text:g} / audio {audio:g} costs three passes,
text 1 / audio 2 two, 1 / 1 one.

**Distill LoRA.** Put the lightx2v I2V 480p step-distill LoRA in `models/loras`, pick it in the purple
*Distill LoRA* node, select that node and press **Ctrl+B** to switch it on, then set the right-hand column.
Audio cfg is what makes the lips follow the voice: raise it (up to about 5) if the mouth moves too little.
"""


def models_md(adapter: str) -> str:
    return MODELS_MD.format(wan=WAN, adapter=adapter, umt5=UMT5, clip=CLIP_VISION, vae=VAE, w2v=WAV2VEC2)


def settings_md(cfg_where: str) -> str:
    return (SETTINGS_MD.format(steps=STEPS, shift=SHIFT, text=TEXT_CFG, audio=AUDIO_CFG)
            + f"\nText cfg and audio cfg are set in **{cfg_where}**.\n")


LONG_MD = """**Any length.** The sampler makes windows of {window} frames ({secs:.2f} s at {fps} fps); each one
continues from the last {motion} frames of the window before, so the video follows the audio however long it
is. For videos of several minutes set `output_folder` in the plan node: finished windows are written there as
PNGs instead of being kept in memory. Keep **{fps} fps** in the embeds node and in Create Video.
""".format(window=WINDOW, secs=WINDOW / FPS, fps=FPS, motion=MOTION)

MASKS_MD = """**Who is where.** The Speaker Masks node holds one region per speaker: speaker 1 goes with the first
voice, speaker 2 with the second, and so on. The shipped regions are {layout} so the workflow runs as loaded;
redraw them on your picture. To see it in the node without sampling, select the node and run only it (*Queue
Selected Output Nodes*, the play button over a selected output node); then drag a box around each person (drag
a box to move it, its handles to resize, Brush / Erase for finer shapes). Width and height there only shape the
preview: keep them equal to the plan node's so the preview shows the crop the video gets.

**Timing of the voices** (`multi_audio_type` in the embeds node): `add` = turns, in input order (speaker 1 talks,
then speaker 2, ...); `para` = all tracks start together (stems of one recorded conversation, each silent while
the others talk); `timeline` = each track starts at its second in `timeline_starts`, e.g. `0, 2.5`.
"""


def intro(title: str, steps: list[str], extra: str, adapter: str) -> str:
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps, start=1))
    return f"# {title}\n\n{numbered}\n\n{extra}\n{models_md(adapter)}"


# ------------------------------------------------------------------------------------------------------------------
# Building blocks


def model_nodes(adapter: str, col: int = 1) -> list:
    return [
        Node("unet", "UNETLoader", col, {"unet_name": WAN, "weight_dtype": "default"}),
        Node("lora", "LoraLoaderModelOnly", col, {"lora_name": DISTILL_LORA, "strength_model": 1.0},
             title="Distill LoRA (bypassed: Ctrl+B to use)", mode=4),
        Node("shift", "ModelSamplingSD3", col, {"shift": SHIFT}),
        Node("adapter", "MTS_AdapterLoader", col, {"model_name": adapter, "variant": "infinitetalk"}),
        Node("vae", "VAELoader", col, {"vae_name": VAE}),
        Node("clip", "CLIPLoader", col, {"clip_name": UMT5, "type": "wan", "device": "default"}),
        Node("clip_vision", "CLIPVisionLoader", col, {"clip_name": CLIP_VISION}),
        Node("w2v", "MTS_Wav2VecModelLoader", col, {"model": WAV2VEC2, "precision": "fp16", "device": "main_device"}),
    ]


MODEL_LINKS = [("unet", 0, "lora", "model"), ("lora", 0, "shift", "model")]


def prompt_nodes(col: int) -> list:
    return [Node("positive", "CLIPTextEncode", col, {"text": POSITIVE}, title="Positive prompt", color="green"),
            Node("negative", "CLIPTextEncode", col, {"text": NEGATIVE}, title="Negative prompt", color="red")]


PROMPT_LINKS = [("clip", 0, "positive", "clip"), ("clip", 0, "negative", "clip")]


def voice_nodes(count: int, col: int) -> list:
    return [Node(f"voice_{k}", "LoadAudio", col, {"audio": f"speaker_{k}.wav"}, title=f"Voice of speaker {k}")
            for k in range(1, count + 1)]


def embeds_node(col: int, mode: str = "para", num_frames: int = 0) -> Node:
    starts = {"multi_audio_type.timeline_starts": ""} if mode == "timeline" else {}
    return Node("embeds", "MTS_Wav2VecEmbeds", col,
                {"masks_include_background": False, "fps": float(FPS), "num_frames": num_frames, "audio_scale": 1.0,
                 "normalize_loudness": True, "multi_audio_type": mode, **starts})


def plan_node(col: int, dubbing: bool = False) -> Node:
    reference = {"reference": "video to dub", "reference.source_fps": float(FPS), "reference.denoise": 1.0} \
        if dubbing else {"reference": "start image"}
    return Node("plan", "MTS_LongI2VPlan", col,
                {"width": WIDTH, "height": HEIGHT, "frame_window_size": WINDOW, "motion_frame": MOTION, "mode": "auto",
                 "colour_match": "on", "colour_match_strength": 1.0, **reference, "output_folder": ""})


def long_sampler_nodes(col: int) -> list:
    return [
        Node("sampler_select", "KSamplerSelect", col, {"sampler_name": "euler"}),
        Node("scheduler", "BasicScheduler", col, {"scheduler": "simple", "steps": STEPS, "denoise": 1.0}),
        Node("sampler", "MTS_LongVideoSampler", col,
             {"noise_seed": SEED, "control_after_generate": "fixed", "text_cfg": TEXT_CFG, "audio_cfg": AUDIO_CFG}),
    ]


def output_nodes(col: int, prefix: str) -> list:
    # only the inputs these nodes have at the declared floor host (newer hosts add bit_depth and nest the codec
    # under format; a save from the floor restores onto them with the same values)
    return [Node("create", "CreateVideo", col, {"fps": float(FPS)}),
            Node("save", "SaveVideo", col, {"filename_prefix": f"video/{prefix}", "format": "mp4", "codec": "auto"})]


def long_links(image_source: tuple | None) -> list:
    links = [
        ("shift", 0, "scheduler", "model"), ("shift", 0, "sampler", "model"), ("adapter", 0, "sampler", "adapter"),
        ("w2v", 0, "embeds", "wav2vec2"), ("embeds", "embeds", "sampler", "embeds"),
        ("embeds", "audio", "sampler", "audio"),
        ("vae", 0, "plan", "vae"), ("plan", 0, "sampler", "plan"),
        ("positive", 0, "sampler", "positive"), ("negative", 0, "sampler", "negative"),
        ("sampler_select", 0, "sampler", "sampler"), ("scheduler", 0, "sampler", "sigmas"),
        ("clip_vision", 0, "clip_encode", "clip_vision"), ("clip_encode", 0, "plan", "clip_vision_output"),
        ("sampler", "images", "create", "images"), ("sampler", "audio", "create", "audio"),
        ("create", 0, "save", "video"),
    ]
    if image_source is not None:
        links += [(*image_source, "clip_encode", "image"), (*image_source, "plan", "start_image")]
    return links


def clip_encode_node(col: int) -> Node:
    return Node("clip_encode", "CLIPVisionEncode", col, {"crop": "none"})


def note(key: str, text: str, col: int, height: int = 600) -> Node:
    return Node(key, "MarkdownNote", col, {"text": text}, size=(440, height))


GROUPS = {1: "Models", 2: "Inputs", 3: "Audio and plan", 4: "Sampling", 5: "Video with sound"}


# ------------------------------------------------------------------------------------------------------------------
# The workflows


def one_speaker() -> Workflow:
    text = intro("One speaker, image to talking video (any length)",
                 ["Pick your picture in **Load Image** (one face, clearly visible).",
                  "Pick the voice in **Voice of speaker 1** (any format, any length: the video is as long as "
                  "the audio).",
                  "Describe the scene in the green prompt.", "Press **Run**. The video lands in `output/video/`."],
                 LONG_MD + "\n832x480 is landscape; use 480x832 for portrait (multiples of 16).\n", ADAPTER_SINGLE)
    nodes = [note("readme", text, 0, 760), *model_nodes(ADAPTER_SINGLE),
             Node("image", "LoadImage", 2, {"image": "portrait.png", "upload": "image"}),
             *voice_nodes(1, 2), *prompt_nodes(2), clip_encode_node(2),
             embeds_node(3), plan_node(3), *long_sampler_nodes(4),
             note("settings", settings_md("the long video sampler"), 4, 430),
             *output_nodes(5, "multitalk_one_speaker")]
    links = MODEL_LINKS + PROMPT_LINKS + long_links(("image", 0)) + [("voice_1", 0, "embeds", "audio_1")]
    return Workflow("1_one_speaker_any_length", nodes, links, GROUPS)


def several_speakers(count: int, name: str, image: str, layout: str, boxes: list) -> Workflow:
    text = intro(f"{count} speakers, image to talking video (any length)",
                 [f"Pick a picture of the {count} people in **Load Image**.",
                  f"Pick one voice per person in **Voice of speaker 1** ... **{count}**.",
                  "Mark who is where in **Speaker Masks** (see below).", "Describe the scene in the green prompt.",
                  "Press **Run**. The video lands in `output/video/`."],
                 MASKS_MD.format(layout=layout) + "\n" + LONG_MD, ADAPTER_MULTI)
    masks = Node("masks", "MTS_SpeakerMasks", 3,
                 {"regions": regions_state(boxes), "reference": "(none)", "typed_regions": "", "num_speakers": count,
                  "width": WIDTH, "height": HEIGHT, "include_background": False}, size=(520, 620))
    nodes = [note("readme", text, 0, 820), *model_nodes(ADAPTER_MULTI),
             Node("image", "LoadImage", 2, {"image": image, "upload": "image"}),
             *voice_nodes(count, 2), *prompt_nodes(2), clip_encode_node(2),
             masks, embeds_node(3, "add"), plan_node(3), *long_sampler_nodes(4),
             note("settings", settings_md("the long video sampler"), 4, 430),
             *output_nodes(5, f"multitalk_{count}_speakers")]
    links = MODEL_LINKS + PROMPT_LINKS + long_links(("image", 0)) + [
        ("image", 0, "masks", "image"), ("masks", "masks", "embeds", "ref_target_masks")]
    links += [(f"voice_{k}", 0, "embeds", f"audio_{k}") for k in range(1, count + 1)]
    return Workflow(name, nodes, links, GROUPS)


def two_speakers() -> Workflow:
    return several_speakers(2, "2_two_speakers_mask_widget", "two_people.png", "the left and the right half",
                            [(0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)])


def four_speakers() -> Workflow:
    return several_speakers(4, "3_four_speakers", "four_people.png", "four columns, speaker 1 leftmost",
                            [(k / 4, 0.0, (k + 1) / 4, 1.0) for k in range(4)])


DUB_MD = """**Dubbing.** Every window takes the video frame at its start as the reference, so the person keeps
moving as in the source; the result keeps the source's length (its frames resampled to {fps} fps) and carries the
new voice. The **Face mask** node draws on the video's first frame (select it and run only it, *Queue Selected
Output Nodes*, to see the frame without sampling). The shipped box covers the middle of the picture so the
workflow runs as loaded; redraw it around the face (mouth, jaw and cheeks). Only the masked region is
regenerated, the rest stays the source. Lower `denoise` in the plan node to keep even more of the source.
To redo the lips on the video's own speech, connect Get Video Components' audio to `audio_1` instead.
""".format(fps=FPS)


def dubbing() -> Workflow:
    text = intro("Video to video dubbing with a face mask",
                 ["Pick the clip to re-voice in **Load Video**.", "Pick the new speech in **Voice of speaker 1**.",
                  "Draw the face region in **Face mask** (see below).", "Press **Run**."],
                 DUB_MD + "\n" + LONG_MD, ADAPTER_SINGLE)
    face = Node("masks", "MTS_SpeakerMasks", 3,
                {"regions": regions_state([(0.3, 0.08, 0.7, 0.8)], ["face"]), "reference": "(none)",
                 "typed_regions": "", "num_speakers": 1, "width": WIDTH, "height": HEIGHT, "include_background": False},
                title="Face mask (Speaker Masks)", size=(520, 620))
    nodes = [note("readme", text, 0, 800), *model_nodes(ADAPTER_SINGLE),
             Node("video", "LoadVideo", 2, {"file": "source_clip.mp4", "upload": "image"}),
             Node("components", "GetVideoComponents", 2),
             Node("first_frame", "ImageFromBatch", 2, {"batch_index": 0, "length": 1}, title="First frame"),
             *voice_nodes(1, 2), *prompt_nodes(2), clip_encode_node(2),
             face, embeds_node(3), plan_node(3, dubbing=True), *long_sampler_nodes(4),
             note("settings", settings_md("the long video sampler"), 4, 430), *output_nodes(5, "multitalk_dubbed")]
    links = MODEL_LINKS + PROMPT_LINKS + long_links(("first_frame", 0)) + [
        ("video", 0, "components", "video"), ("components", "images", "first_frame", "image"),
        ("components", "images", "plan", "reference.source_video"), ("components", "fps", "plan", "reference.source_fps"),
        ("components", "images", "masks", "image"), ("masks", "masks", "plan", "reference.face_mask"),
        ("voice_1", 0, "embeds", "audio_1")]
    links = [link for link in links if link[2:] != ("plan", "start_image")]
    return Workflow("4_video_dubbing_face_mask", nodes, links, GROUPS)


WINDOW_MD = """**One window** of {window} frames ({secs:.2f} s at {fps} fps) with the core sampler graph: Apply
Multi/InfiniteTalk patches the model and builds the image-to-video conditioning, the **MultiTalk CFG Guider**
adds text and audio guidance, and **SamplerCustomAdvanced** samples it. The embeds node cuts the audio to
`num_frames` = {window} so sound and picture match; `audio_start_frame` in the apply node picks which part of the
voice this window speaks. For audio longer than one window use workflow 1 (any length).

The guider computes `no_text_no_audio + text_cfg x (cond - no_text) + audio_cfg x (no_text - no_text_no_audio)`.
""".format(window=WINDOW, secs=WINDOW / FPS, fps=FPS)


def single_window() -> Workflow:
    text = intro("Single window with the audio CFG guider",
                 ["Pick your picture in **Load Image** and the voice in **Voice of speaker 1**.",
                  "Describe the scene in the green prompt.", "Press **Run**."], WINDOW_MD, ADAPTER_SINGLE)
    nodes = [note("readme", text, 0, 760), *model_nodes(ADAPTER_SINGLE),
             Node("image", "LoadImage", 2, {"image": "portrait.png", "upload": "image"}),
             *voice_nodes(1, 2), *prompt_nodes(2), clip_encode_node(2),
             embeds_node(3, num_frames=WINDOW),
             Node("apply", "MTS_ApplyAudioAdapter", 3,
                  {"width": WIDTH, "height": HEIGHT, "length": WINDOW, "audio_start_frame": 0, "motion_frame": MOTION}),
             Node("guider", "MTS_AudioCFGGuider", 4, {"text_cfg": TEXT_CFG, "audio_cfg": AUDIO_CFG}),
             Node("noise", "RandomNoise", 4, {"noise_seed": SEED, "control_after_generate": "fixed"}),
             Node("sampler_select", "KSamplerSelect", 4, {"sampler_name": "euler"}),
             Node("scheduler", "BasicScheduler", 4, {"scheduler": "simple", "steps": STEPS, "denoise": 1.0}),
             Node("sample", "SamplerCustomAdvanced", 4),
             note("settings", settings_md("the MultiTalk CFG Guider"), 4, 430),
             Node("decode", "VAEDecode", 5), *output_nodes(5, "multitalk_single_window")]
    links = MODEL_LINKS + PROMPT_LINKS + [
        ("w2v", 0, "embeds", "wav2vec2"), ("voice_1", 0, "embeds", "audio_1"),
        ("shift", 0, "apply", "model"), ("adapter", 0, "apply", "adapter"), ("embeds", "embeds", "apply", "embeds"),
        ("positive", 0, "apply", "positive"), ("negative", 0, "apply", "negative"), ("vae", 0, "apply", "vae"),
        ("image", 0, "apply", "start_image"), ("image", 0, "clip_encode", "image"),
        ("clip_vision", 0, "clip_encode", "clip_vision"), ("clip_encode", 0, "apply", "clip_vision_output"),
        ("apply", "model", "guider", "model"), ("apply", "positive", "guider", "positive"),
        ("apply", "negative", "guider", "negative"), ("shift", 0, "scheduler", "model"),
        ("noise", 0, "sample", "noise"), ("guider", 0, "sample", "guider"), ("sampler_select", 0, "sample", "sampler"),
        ("scheduler", 0, "sample", "sigmas"), ("apply", "latent", "sample", "latent_image"),
        ("sample", "output", "decode", "samples"), ("vae", 0, "decode", "vae"),
        ("decode", 0, "create", "images"), ("embeds", "audio", "create", "audio"), ("create", 0, "save", "video")]
    groups = {**GROUPS, 3: "Audio and conditioning"}
    return Workflow("5_single_window_audio_cfg_guider", nodes, links, groups)


WORKFLOWS = [one_speaker, two_speakers, four_speakers, dubbing, single_window]
