"""Long video: the plan node (what to make) and the sampler node (any length, one window at a time)."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..wan_multitalk.errors import InputError
from ..wan_multitalk.limits import check_buffer, frames_bytes
from ..wan_multitalk.masks import check_video_size
from ..wan_multitalk.speaker_routing import check_reference_alignment
from ..wan_multitalk.timebase import check_window_size, exact_rate
from ..wan_multitalk.video.colour import check_colour_matching
from ..wan_multitalk.video.long_video import fit_audio
from ..wan_multitalk.video.resize import fit_to_video
from ..wan_multitalk.video.windows import check_motion, check_window_pixels
from .host.adapter import check_model
from .host.folders import writable_output_folder
from .host.long_video import LongVideoJob, LongVideoPlan, LongVideoRunner, WindowNoise
from .host.video import check_images_fit, images_output, video_output
from .sockets import ADAPTER, EMBEDS, LONG_PLAN

CATEGORY = "MultiTalk Studio"
MAX_PROMPTS = 4
REFERENCE_IMAGE, DUBBING = "start image", "video to dub"
START_OVER, STOP = "start over", "stop"
IMAGES_OUTPUT = 0  # the sampler's images output slot


def reference_choices() -> io.DynamicCombo.Input:
    """What the windows are anchored on: the start image, or a video to dub with its own inputs. (start_image stays
    outside the options: the frontend cannot build a node whose first option adds an input socket.)"""
    dubbing = [
        io.Image.Input("source_video",
                       tooltip="A video (IMAGE batch) to re-voice. Each window takes the source frame at its start as "
                               "the reference; the output keeps the source length."),
        io.Float.Input("source_fps", default=25.0, min=1.0, max=240.0, step=0.001,
                       tooltip="Frame rate of source_video; it is resampled to the embeds' fps."),
        io.Mask.Input("face_mask", optional=True,
                      tooltip="Only the white regions change (differential denoise); one mask or one per source frame."),
        io.Float.Input("denoise", default=1.0, min=0.01, max=1.0, step=0.01, advanced=True,
                       tooltip="Below 1 starts from the source video (keeps more of it)."),
    ]
    return io.DynamicCombo.Input(
        "reference", options=[io.DynamicCombo.Option(REFERENCE_IMAGE, []), io.DynamicCombo.Option(DUBBING, dubbing)],
        tooltip="start image: a talking video from the start_image input. video to dub: re-voice a video, window by "
                "window.")


class LongI2VPlan(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_LongI2VPlan",
            display_name="WanVideo Long I2V Multi/InfiniteTalk (Studio)",
            category=CATEGORY,
            search_aliases=["multitalk", "infinitetalk", "WanVideoImageToVideoMultiTalk", "long i2v", "long video",
                            "video dubbing", "lip sync"],
            description="Plans a talking video of any length: windows of frame_window_size frames, each continuing "
                        "from the last motion_frame frames of the one before. Everything is checked here, before "
                        "sampling starts. Connect to Multi/InfiniteTalk Long Video Sampler.",
            inputs=[
                io.Vae.Input("vae", tooltip="The Wan 2.1 VAE (encodes the reference and the motion frames, decodes windows)."),
                io.Int.Input("width", default=832, min=16, max=4096, step=16, tooltip="Video width (multiple of 16)."),
                io.Int.Input("height", default=480, min=16, max=4096, step=16, tooltip="Video height (multiple of 16)."),
                io.Int.Input("frame_window_size", default=81, min=5, max=1001, step=4,
                             tooltip="Frames generated per window: 4k+1 (81 = 3.24 s at 25 fps, what the models were trained on)."),
                io.Int.Input("motion_frame", default=9, min=1, max=1000,
                             tooltip="Frames of overlap: the last frames of a window are the context of the next "
                                     "(9 for InfiniteTalk, 25 for MultiTalk). Windows advance by window - motion."),
                io.Combo.Input("mode", options=["auto", "infinitetalk", "multitalk"], default="auto",
                               tooltip="auto = the adapter loader's variant. InfiniteTalk keeps the reference image in "
                                       "every window and writes clean motion latents; MultiTalk conditions each window "
                                       "on the previous tail and re-noises the motion latents."),
                io.Combo.Input("colour_match", options=["off", "on"], default="on",
                               tooltip="Match each window's colours to the reference (Lab, on the compute device) "
                                       "before its tail feeds the next window: prevents slow colour drift."),
                io.Float.Input("colour_match_strength", default=1.0, min=0.0, max=1.0, step=0.05, advanced=True,
                               tooltip="1 = full match (official default), 0 = none."),
                reference_choices(),
                io.Image.Input("start_image", optional=True,
                               tooltip="The reference image (cover-resized and centre-cropped), for reference = start image."),
                io.ClipVisionOutput.Input("clip_vision_output", optional=True,
                                          tooltip="CLIP Vision Encode of the reference image (clip_vision_h), the "
                                                  "same for every window: Wan 2.1 I2V needs it (or connect clip_vision)."),
                io.ClipVision.Input("clip_vision", optional=True,
                                    tooltip="The CLIP vision model (clip_vision_h): each window's conditioning image "
                                            "is encoded, as the official code does - the dubbing keyframe, the "
                                            "previous window's last frame in MultiTalk mode, the start image once."),
                io.String.Input("output_folder", default="",
                                tooltip="Empty: frames stay in RAM. A folder (relative = under ComfyUI's output): every "
                                        "finished window is written there as PNGs with a checkpoint, so an hour of "
                                        "video needs no hour of RAM and the same prompt queued again after a crash "
                                        "or an interrupt continues where it stopped."),
                io.Combo.Input("on_changed_inputs", options=[START_OVER, STOP], default=START_OVER, optional=True,
                               advanced=True,
                               tooltip="When output_folder holds a run made from other inputs (seed, audio, prompt, "
                                       "model...): start over (its files move into a replaced_<time> subfolder), or "
                                       "stop with an error that says what changed, leaving the folder as it is."),
            ],
            outputs=[LONG_PLAN.Output(display_name="plan", tooltip="The checked plan, for the Long Video Sampler.")],
        )

    @classmethod
    def execute(cls, vae, width, height, frame_window_size, motion_frame, mode, colour_match, colour_match_strength,
                reference: dict, output_folder, on_changed_inputs=START_OVER, start_image=None,
                clip_vision_output=None, clip_vision=None) -> io.NodeOutput:
        window = check_window_size(frame_window_size, "frame_window_size")
        check_video_size(width, height)
        check_window_pixels(width, height, window, "frame_window_size")
        motion = check_motion(motion_frame, window)
        source_video = reference.get("source_video")
        if reference["reference"] == REFERENCE_IMAGE and start_image is None:
            raise InputError("start_image", "is not connected.",
                             "connect the reference image, or set reference to 'video to dub' to re-voice a video.")
        if reference["reference"] == DUBBING:
            start_image = None  # the source video's keyframes are the references
        if clip_vision is not None and clip_vision_output is not None:
            raise InputError("clip_vision", "and clip_vision_output are both connected.",
                             "connect one: clip_vision encodes each window's image (as the official code), "
                             "clip_vision_output is one encoding for every window.")
        source_fps, denoise = float(reference.get("source_fps", 25.0)), float(reference.get("denoise", 1.0))
        face_mask = reference.get("face_mask")
        if source_video is not None:
            exact_rate(source_fps, "source_fps")
        if face_mask is not None:
            face_mask = face_mask.reshape(-1, *face_mask.shape[-2:]).float()
            if face_mask.shape[0] not in (1, source_video.shape[0]):
                raise InputError("face_mask", f"has {face_mask.shape[0]} masks for {source_video.shape[0]} source frames.",
                                 "give one mask, or one per source frame.")
        writable_output_folder(output_folder)
        fitted = fit_to_video(start_image[:1], width, height) if start_image is not None else None
        shown = source_video if source_video is not None else start_image  # what the masks were drawn on
        size = (int(shown.shape[2]), int(shown.shape[1])) if shown is not None else None
        strength = float(colour_match_strength) if colour_match == "on" else 0.0
        if strength > 0:
            check_colour_matching("colour_match")  # kornia is optional: only this feature needs it
        return io.NodeOutput(LongVideoPlan(vae, width, height, window, motion, mode, strength, fitted, source_video,
                                           source_fps, face_mask, denoise, clip_vision_output, output_folder, size,
                                           clip_vision=clip_vision, start_over=on_changed_inputs != STOP))


class LongVideoSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        prompts = [io.Conditioning.Input(f"positive_{k}", optional=True,
                                         tooltip=f"Prompt for window {k} (1-based); later windows repeat the last "
                                                 "connected prompt.") for k in range(2, MAX_PROMPTS + 1)]
        return io.Schema(
            node_id="MTS_LongVideoSampler",
            display_name="Multi/InfiniteTalk Long Video Sampler",
            category=CATEGORY,
            search_aliases=["multitalk", "infinitetalk", "WanVideoSampler", "long video sampler", "talking video",
                            "lip sync"],
            description="Generates the whole talking video, window by window, with the host's own sampling: your "
                        "SAMPLER and SIGMAS, LoRAs and caches apply to every window. Output frames match the audio "
                        "exactly (the whole frames it covers, as the embeds count them); the AUDIO output is cut to the "
                        "frames and the VIDEO output carries both, for Save Video. With the plan's output_folder set, "
                        "queueing the same prompt again after a crash or an interrupt resumes after the last finished "
                        "window.",
            inputs=[
                io.Model.Input("model", tooltip="Wan 2.1 I2V from the native loader (LoRAs and fp8 work)."),
                ADAPTER.Input("adapter", tooltip="From Multi/InfiniteTalk Model Loader."),
                EMBEDS.Input("embeds", tooltip="Speaker embeds for the whole track (Wav2vec2 Embeds or Silent Embeds)."),
                LONG_PLAN.Input("plan", tooltip="From WanVideo Long I2V Multi/InfiniteTalk."),
                io.Conditioning.Input("positive", tooltip="Text prompt (window 1, and every window if no positive_2..4)."),
                io.Conditioning.Input("negative", tooltip="Negative prompt, all windows."),
                io.Sampler.Input("sampler", tooltip="The sampler (e.g. KSamplerSelect euler)."),
                io.Sigmas.Input("sigmas", tooltip="The schedule for one window (e.g. BasicScheduler, or a distill LoRA's 4-6 steps)."),
                io.Int.Input("noise_seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Window k uses seed + k, so a rerun gives identical frames."),
                io.Float.Input("text_cfg", default=5.0, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Text guidance (1 = off, saves a pass)."),
                io.Float.Input("audio_cfg", default=4.0, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Audio guidance (1 = off, saves a pass)."),
                *prompts,
                io.Noise.Input("noise", optional=True,
                               tooltip="Optional NOISE (e.g. RandomNoise); replaces noise_seed, window k uses its seed + k."),
                io.Audio.Input("audio", optional=True,
                               tooltip="The speech as AUDIO (the embeds node's audio): sets the exact length and comes "
                                       "out cut to the frames. When dubbing, the source video sets the length."),
            ],
            outputs=[io.Image.Output(display_name="images",
                                     tooltip="All frames. With output_folder set they are read back from the folder "
                                             "only when something uses this output (it needs the RAM the folder "
                                             "saves); for long videos use video."),
                     io.Audio.Output(display_name="audio", tooltip="The input AUDIO cut/padded to the frames (silence without it)."),
                     io.Int.Output(display_name="frame_count", tooltip="Frames made."),
                     io.String.Output(display_name="output_folder",
                                      tooltip="Where the frames were written (empty when they stayed in RAM)."),
                     io.Video.Output(display_name="video",
                                     tooltip="Frames, audio and frame rate as one VIDEO for Save Video. With "
                                             "output_folder set it reads the frames from the folder while saving, "
                                             "one at a time.")],
            hidden=[io.Hidden.prompt, io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, model, adapter, embeds, plan, positive, negative, sampler, sigmas, noise_seed, text_cfg,
                audio_cfg, positive_2=None, positive_3=None, positive_4=None, noise=None, audio=None) -> io.NodeOutput:
        prompts = [positive] + [p for p in (positive_2, positive_3, positive_4) if p is not None]
        job = LongVideoJob(model, adapter, embeds, plan, prompts, negative, sampler, sigmas,
                           WindowNoise(noise_seed, noise), (text_cfg, audio_cfg), audio)
        return run_sampler(job, LongVideoRunner(), output_used(cls.hidden.prompt, cls.hidden.unique_id, IMAGES_OUTPUT))


def check_job(job: LongVideoJob) -> None:
    """Everything the sampler can refuse before its first window: the model, the length, the steps, the masks
    against the reference, and a video too long to keep in RAM."""
    plan = job.plan
    check_model(job.model, job.adapter, plan.clip_vision if plan.clip_vision is not None else plan.clip_vision_output)
    if job.total_frames < 1:
        raise InputError("embeds", "the audio is shorter than one frame.", "connect longer audio.")
    if job.sigmas.shape[-1] < 2:
        raise InputError("sigmas", "has no steps.", "connect a scheduler with at least 1 step.")
    check_reference_alignment(job.embeds, plan.reference_size, plan.width, plan.height)
    if not plan.output_folder.strip():
        check_buffer(frames_bytes(job.total_frames, plan.width, plan.height), "output_folder",
                     f"{job.total_frames:,} frames at {plan.width}x{plan.height} kept in RAM (output_folder is empty)",
                     "set output_folder on the plan (e.g. 'talking_video'): every finished window then goes to disk "
                     "as PNGs, and a video of any length fits.")


def output_used(prompt, node_id, slot: int) -> bool:
    """Whether a node of the queued prompt reads output `slot` of node `node_id` (True when unknown)."""
    if not isinstance(prompt, dict) or node_id is None:
        return True
    return any(isinstance(v, list) and len(v) == 2 and str(v[0]) == str(node_id) and v[1] == slot
               for node in prompt.values() if isinstance(node, dict)
               for v in (node.get("inputs") or {}).values())


def run_sampler(job: LongVideoJob, runner: LongVideoRunner, images_used: bool = True) -> io.NodeOutput:
    """Check the job, run it, and make the sampler's outputs: all frames (read back from an output folder only
    when `images_used`), the audio cut to them, the count, the folder and the VIDEO."""
    check_job(job)
    if job.plan.output_folder.strip() and images_used:
        check_images_fit(job.total_frames, job.plan.width, job.plan.height)
    frames, folder = runner.run(job)
    count = len(frames)
    audio = job.audio if job.audio is not None else {"waveform": torch.zeros(1, 1, 0), "sample_rate": 16000}
    audio = fit_audio(audio, count, job.embeds.fps)
    return io.NodeOutput(images_output(frames, images_used), audio, count, str(folder or ""),
                         video_output(frames, job.embeds.fps, audio))


LONG_VIDEO_NODES = [LongI2VPlan, LongVideoSampler]
