"""Adapter nodes: the Multi/InfiniteTalk loader, the single-window apply, and the text+audio CFG guider."""
from __future__ import annotations

from comfy_api.latest import io

from ..wan_multitalk.adapter.files import is_adapter_file
from ..wan_multitalk.errors import InputError
from ..wan_multitalk.masks import check_video_size
from ..wan_multitalk.speaker_routing import check_reference_alignment, routing_preview, speaker_routing
from ..wan_multitalk.timebase import check_window_size
from ..wan_multitalk.video.long_video import WindowFrames
from ..wan_multitalk.video.resize import fit_to_video
from ..wan_multitalk.video.windows import check_window_pixels
from .host.adapter import audio_conditioning, check_model, load_adapter, patch_model
from .host.folders import list_models, resolve_model
from .host.guider import AudioCFGGuider
from .host.i2v import I2VConditioner
from .sockets import ADAPTER, EMBEDS

CATEGORY = "MultiTalk Studio"
ADAPTER_FOLDERS = ("model_patches", "diffusion_models")


class AdapterLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_AdapterLoader",
            display_name="Multi/InfiniteTalk Model Loader (Studio)",
            category=CATEGORY + "/loaders",
            search_aliases=["multitalk", "infinitetalk", "MultiTalkModelLoader", "multitalk model", "audio adapter"],
            description="Loads the MultiTalk / InfiniteTalk audio adapter. Its size is read from the file and checked "
                        "against the Wan model it is applied to.",
            inputs=[
                io.Combo.Input("model_name", options=list_models(*ADAPTER_FOLDERS, keep=is_adapter_file),
                               tooltip="The adapter file (MeiGen multitalk/infinitetalk, ComfyUI's repackaged patch, or an "
                                       "fp16/bf16/fp8 repack) from models/model_patches or models/diffusion_models. Only "
                                       "adapter files are listed (told by the tensor names in the file, not its name)."),
                io.Combo.Input("variant", options=["auto", "infinitetalk", "multitalk"], default="auto",
                               tooltip="Which recipe long videos use. The two models have identical keys, so 'auto' reads "
                                       "the file's metadata and falls back to InfiniteTalk; pick explicitly for MultiTalk."),
            ],
            outputs=[ADAPTER.Output(display_name="adapter",
                                    tooltip="For Apply Multi/InfiniteTalk or the Long Video Sampler.")],
        )

    @classmethod
    def execute(cls, model_name, variant) -> io.NodeOutput:
        return io.NodeOutput(load_adapter(resolve_model(model_name, *ADAPTER_FOLDERS, input_name="model_name"), variant))


class ApplyAudioAdapter(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_ApplyAudioAdapter",
            display_name="Apply Multi/InfiniteTalk (single window)",
            category=CATEGORY,
            search_aliases=["multitalk", "infinitetalk", "WanVideoImageToVideoMultiTalk", "WanInfiniteTalkToVideo",
                            "talking head", "lip sync"],
            description="One window of talking video for any native sampler: patches a clone of the MODEL with the audio "
                        "adapter and builds the I2V conditioning. Works with cfg > 1 (batched) and the CFG guider below.",
            inputs=[
                io.Model.Input("model", tooltip="Wan 2.1 I2V from the native loader (LoRAs and fp8 work)."),
                ADAPTER.Input("adapter", tooltip="From Multi/InfiniteTalk Model Loader."),
                EMBEDS.Input("embeds", tooltip="From Multi/InfiniteTalk Wav2vec2 Embeds (or Silent Embeds)."),
                io.Conditioning.Input("positive", tooltip="Text prompt conditioning."),
                io.Conditioning.Input("negative", tooltip="Negative prompt conditioning."),
                io.Vae.Input("vae", tooltip="The Wan 2.1 VAE."),
                io.Int.Input("width", default=832, min=16, max=4096, step=16, tooltip="Video width (multiple of 16)."),
                io.Int.Input("height", default=480, min=16, max=4096, step=16, tooltip="Video height (multiple of 16)."),
                io.Int.Input("length", default=81, min=5, max=1001, step=4, tooltip="Frames in the window: 4k+1 (81 = 3.24 s)."),
                io.Int.Input("audio_start_frame", default=0, min=0, max=10_000_000, advanced=True,
                             tooltip="Which frame of the embeds this window starts at."),
                io.Image.Input("start_image", optional=True, tooltip="The reference image (cover-resized and centre-cropped)."),
                io.ClipVisionOutput.Input("clip_vision_output", optional=True,
                                          tooltip="CLIP Vision Encode of the reference image (clip_vision_h): Wan 2.1 "
                                                  "I2V needs it."),
                io.Image.Input("previous_frames", optional=True,
                               tooltip="Frames made so far: the last motion_frame of them continue into this window."),
                io.Int.Input("motion_frame", default=9, min=1, max=33, step=4,
                             tooltip="Context frames taken from previous_frames (9 InfiniteTalk, 25 MultiTalk)."),
            ],
            outputs=[io.Model.Output(display_name="model",
                                     tooltip="A patched clone of the MODEL, for any sampler or guider."),
                     io.Conditioning.Output(display_name="positive",
                                            tooltip="Positive conditioning with the reference image."),
                     io.Conditioning.Output(display_name="negative",
                                            tooltip="Negative conditioning with the reference image."),
                     io.Latent.Output(display_name="latent", tooltip="An empty latent of the window's size."),
                     io.Image.Output(display_name="routing_preview",
                                     tooltip="The reference at the video size, the tokens each speaker owns tinted."),
                     io.Int.Output(display_name="trim_image",
                                   tooltip="Frames at the start of the decoded window that repeat previous_frames "
                                           "(0 without them): drop them before appending.")],
        )

    @classmethod
    def execute(cls, model, adapter, embeds, positive, negative, vae, width, height, length, audio_start_frame,
                motion_frame, start_image=None, clip_vision_output=None, previous_frames=None) -> io.NodeOutput:
        check_window_size(length, "length")
        check_video_size(width, height)
        check_window_pixels(width, height, length, "length")
        check_model(model, adapter, clip_vision_output)
        frames, fps = embeds.num_frames, embeds.fps
        if audio_start_frame >= frames:
            raise InputError("audio_start_frame", f"frame {audio_start_frame} is past the end of the embeds ({frames} "
                             f"frames, {frames / fps:.2f} s at {fps:g} fps): the window would hear only silence.",
                             f"use a start frame from 0 to {frames - 1}.")
        size = (int(start_image.shape[2]), int(start_image.shape[1])) if start_image is not None else None
        check_reference_alignment(embeds, size, width, height)
        reference = fit_to_video(start_image[:1], width, height) if start_image is not None else None
        context = None if previous_frames is None else fit_to_video(previous_frames[-motion_frame:], width, height)
        routing = speaker_routing(embeds, width, height, size)
        patched = patch_model(model, adapter, audio_conditioning(adapter, embeds, routing, audio_start_frame, length))
        conditioner = I2VConditioner(vae, width, height, length, clip_vision_output)
        frames = WindowFrames.for_variant(adapter.variant, reference, context)
        positive, negative = conditioner.apply(patched, (positive, negative), frames)
        trim = 0 if context is None else context.shape[0]
        preview = routing_preview(reference, routing, width, height)
        return io.NodeOutput(patched, positive, negative, {"samples": conditioner.empty_latent()}, preview, trim)


class MultiTalkCFGGuider(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_AudioCFGGuider",
            display_name="MultiTalk CFG Guider (text + audio)",
            category=CATEGORY,
            search_aliases=["multitalk", "infinitetalk", "audio cfg", "audio guidance", "cfg guider"],
            description="Guidance on the text and on the audio, as MeiGen's samplers: use with SamplerCustomAdvanced. "
                        "text 5 / audio 4 without a distill LoRA; text 1 / audio 2 with one; 1 / 1 is one pass per step.",
            inputs=[
                io.Model.Input("model", tooltip="The MODEL from Apply Multi/InfiniteTalk."),
                io.Conditioning.Input("positive", tooltip="Positive conditioning from Apply Multi/InfiniteTalk."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning from Apply Multi/InfiniteTalk."),
                io.Float.Input("text_cfg", default=5.0, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Text guidance (1 = off, saves a pass)."),
                io.Float.Input("audio_cfg", default=4.0, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Audio guidance: how strongly the lips follow the voice (1 = off, saves a pass)."),
            ],
            outputs=[io.Guider.Output(display_name="guider", tooltip="For SamplerCustomAdvanced.")],
        )

    @classmethod
    def execute(cls, model, positive, negative, text_cfg, audio_cfg) -> io.NodeOutput:
        guider = AudioCFGGuider(model)
        guider.set_conds(positive, negative)
        guider.set_scales(text_cfg, audio_cfg)
        return io.NodeOutput(guider)


ADAPTER_NODES = [AdapterLoader, ApplyAudioAdapter, MultiTalkCFGGuider]
