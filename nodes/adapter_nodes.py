"""Adapter nodes: the Multi/InfiniteTalk loader, the single-window apply, and the text+audio CFG guider."""
from __future__ import annotations

import logging
import math
import uuid

import comfy.samplers
import torch
from comfy_api.latest import io

from ..wan_multitalk.adapter.patches import NULL_AUDIO_CONDS_KEY, AudioConditioning
from ..wan_multitalk.audio.windows import frame_windows
from ..wan_multitalk.errors import InputError
from ..wan_multitalk.masks import auto_layout, boxes_to_masks, fit_masks, render_preview, token_masks, wan_token_grid
from ..wan_multitalk.video.resize import fit_to_video
from ..wan_multitalk.video.windows import check_window_size
from . import adapter_glue as glue
from .host_glue import list_models, resolve_model
from .types import ADAPTER, EMBEDS

log = logging.getLogger("multitalk_studio")
CATEGORY = "MultiTalk Studio"
ADAPTER_FOLDERS = ("model_patches", "diffusion_models")


class AdapterLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_AdapterLoader",
            display_name="Multi/InfiniteTalk Model Loader",
            category=CATEGORY + "/loaders",
            description="Loads the MultiTalk / InfiniteTalk audio adapter. Its size is read from the file and checked "
                        "against the Wan model it is applied to.",
            inputs=[
                io.Combo.Input("model_name", options=list_models(*ADAPTER_FOLDERS),
                               tooltip="The adapter file (MeiGen multitalk/infinitetalk, ComfyUI's repackaged patch, or an "
                                       "fp16/bf16/fp8 repack) from models/model_patches or models/diffusion_models."),
                io.Combo.Input("variant", options=["auto", "infinitetalk", "multitalk"], default="auto",
                               tooltip="Which recipe long videos use. The two models have identical keys, so 'auto' reads "
                                       "the file's metadata and falls back to InfiniteTalk; pick explicitly for MultiTalk."),
            ],
            outputs=[ADAPTER.Output(display_name="adapter",
                                    tooltip="For Apply Multi/InfiniteTalk or the Long Video Sampler.")],
        )

    @classmethod
    def execute(cls, model_name, variant) -> io.NodeOutput:
        return io.NodeOutput(glue.load_adapter(resolve_model(model_name, *ADAPTER_FOLDERS, input_name="model_name"), variant))


def speaker_masks(embeds, width: int, height: int):
    """Pixel masks at the video size (same cover-crop as the image) and the token masks, or (None, None)."""
    speakers = embeds.num_speakers
    masks, has_bg = embeds.masks, False
    if masks is None:
        if speakers == 1:
            return None, None, False
        log.warning("[MultiTalk Studio] %d speakers but no masks: using %d vertical strips, left to right", speakers, speakers)
        masks = boxes_to_masks(auto_layout(speakers), height, width)
    else:
        masks = masks.reshape(-1, *masks.shape[-2:]).float()
        has_bg = masks.shape[0] == speakers + 1
    fitted = fit_masks(masks, width, height)
    grid_h, grid_w = wan_token_grid(height, width)
    return fitted, token_masks(fitted, grid_h, grid_w, background=True, has_background=has_bg), has_bg


def audio_conditioning(handle, embeds, start: int, length: int, width: int, height: int, null_conds=(), masks=None):
    """The window's audio rows and speaker routing; `masks`: speaker_masks(...) when the caller already has it."""
    windows = frame_windows(embeds.features, start, length, embeds.silence)
    pixel_masks, tokens, has_bg = masks if masks is not None else speaker_masks(embeds, width, height)
    cond = AudioConditioning(handle.module, windows, tokens, embeds.audio_scale, null_conds, attention=glue.host_attention)
    return cond, pixel_masks, has_bg


class ApplyAudioAdapter(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_ApplyAudioAdapter",
            display_name="Apply Multi/InfiniteTalk (single window)",
            category=CATEGORY,
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
                io.Int.Input("audio_start_frame", default=0, min=0, max=10_000_000,
                             tooltip="Which frame of the embeds this window starts at."),
                io.Image.Input("start_image", optional=True, tooltip="The reference image (cover-resized and centre-cropped)."),
                io.ClipVisionOutput.Input("clip_vision_output", optional=True, tooltip="CLIP vision of the reference image."),
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
        if width % 16 or height % 16:
            raise InputError("width/height", f"{width}x{height} is not a multiple of 16.", "Use multiples of 16, e.g. 832x480.")
        reference = fit_to_video(start_image[:1], width, height) if start_image is not None else None
        cond, pixel_masks, has_bg = audio_conditioning(adapter, embeds, audio_start_frame, length, width, height)
        patched = glue.patch_model(model, adapter, cond)

        multitalk = adapter.variant == "multitalk"
        context = None if previous_frames is None else fit_to_video(previous_frames[-motion_frame:], width, height)
        known, motion_frames = glue.conditioning_frames(multitalk, reference, context)
        values = glue.i2v_values(vae, known, length, width, height, clip_vision_output)
        positive, negative = glue.with_values(positive, negative, values)
        trim = 0 if context is None else context.shape[0]
        motion = glue.motion_latents(vae, values, known, motion_frames)
        if motion is not None:
            glue.keep_motion_latents(patched, motion, noised=multitalk)

        latent = glue.empty_latent(length, width, height)
        preview = routing_preview(reference, pixel_masks, width, height, has_bg)
        return io.NodeOutput(patched, positive, negative, {"samples": latent}, preview, trim)


def routing_preview(reference, pixel_masks, width: int, height: int, has_bg: bool) -> torch.Tensor:
    image = reference[0] if reference is not None else torch.full((height, width, 3), 0.5)
    if pixel_masks is None:
        return image[None]
    grid_h, grid_w = wan_token_grid(height, width)
    return render_preview(image, pixel_masks, grid_h, grid_w, has_background=has_bg)[None]


class AudioCFGGuider(comfy.samplers.CFGGuider):
    """Text and audio guidance, upstream formula; 3 passes, 2 when text cfg is 1, 1 when both are 1."""

    def set_scales(self, text_cfg: float, audio_cfg: float):
        self.text_cfg, self.audio_cfg = float(text_cfg), float(audio_cfg)
        self.cfg = self.text_cfg

    def set_conds(self, positive, negative):
        self.inner_set_conds({"positive": positive, "negative": negative})

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        positive, negative = self.conds.get("positive"), self.conds.get("negative")
        text_off, audio_off = math.isclose(self.text_cfg, 1.0), math.isclose(self.audio_cfg, 1.0)
        if text_off and audio_off:
            return comfy.samplers.calc_cond_batch(self.inner_model, [positive], x, timestep, model_options)[0]
        if audio_off:
            cond, uncond = comfy.samplers.calc_cond_batch(self.inner_model, [positive, negative], x, timestep, model_options)
            return comfy.samplers.cfg_function(self.inner_model, cond, uncond, self.text_cfg, x, timestep,
                                               model_options=model_options, cond=positive, uncond=negative)
        if text_off:
            cond, no_audio = comfy.samplers.calc_cond_batch(self.inner_model, [positive, _null_audio_pass(positive)],
                                                            x, timestep, _with_null_audio(model_options, {1}))
            return no_audio + self.audio_cfg * (cond - no_audio)
        cond, no_text, neither = comfy.samplers.calc_cond_batch(self.inner_model,
                                                                [positive, negative, _null_audio_pass(negative)], x,
                                                                timestep, _with_null_audio(model_options, {2}))
        return neither + self.text_cfg * (cond - no_text) + self.audio_cfg * (no_text - neither)


def _null_audio_pass(conds):
    """The same conditioning under its own identity: the host's step caches (EasyCache) key what they keep by a
    cond's uuid, and the pass without audio must not share an entry with the pass that has it."""
    if not conds:
        return conds
    return [dict(c, uuid=uuid.uuid5(c["uuid"], "null audio")) if isinstance(c.get("uuid"), uuid.UUID) else c
            for c in conds]


def _with_null_audio(model_options: dict, conds: set) -> dict:
    options = dict(model_options)
    options["transformer_options"] = dict(model_options.get("transformer_options", {}))
    options["transformer_options"][NULL_AUDIO_CONDS_KEY] = frozenset(conds)
    return options


class MultiTalkCFGGuider(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="MTS_AudioCFGGuider",
            display_name="MultiTalk CFG Guider (text + audio)",
            category=CATEGORY,
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
