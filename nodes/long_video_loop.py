"""The host side of the long-video sampler: one window after another through ComfyUI's own sampling.

Per window: audio rows at the window's exact frame offset, a patched MODEL clone, the I2V conditioning,
the motion latents (the previous window's decoded, colour-matched tail), `AudioCFGGuider.sample` with
the user's SAMPLER / SIGMAS and per-window seeded noise, decode, colour match, keep the new frames.
Nothing but the FrameSink and the tail of `motion` frames survives a window, so memory stays flat.
"""
from __future__ import annotations

import copy
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import comfy.model_management as mm
import comfy.sample
import comfy.utils
import folder_paths
import torch

from ..wan_multitalk.video.colour import match_colour
from ..wan_multitalk.video.frame_sink import FrameSink
from ..wan_multitalk.video.frame_writer import BackgroundWriter
from ..wan_multitalk.video.long_video import denoised_sigmas, prompt_index, window_source_indices
from ..wan_multitalk.video.resize import fit_to_video
from ..wan_multitalk.video.windows import (
    Window,
    plan_windows,
    resample_frame_indices,
    source_keyframe_index,
)
from . import adapter_glue as glue
from .adapter_nodes import AudioCFGGuider, audio_conditioning, speaker_masks

log = logging.getLogger("multitalk_studio")

HOOKS: list = []
"""Observers called as hook(event, info): window_start, audio, encoded, step, sampled, decoded, coloured,
window_done (tests and bench/long_video_windows.py)."""

BACKGROUND_WRITES: bool | None = None
"""Finished frames go to the sink from a thread (None: on CUDA devices only; tests set True/False)."""


def _emit(event: str, **info):
    for hook in list(HOOKS):
        hook(event, info)


@dataclass
class LongPlan:
    """What the plan node validated and the sampler needs (MTS_LONG_PLAN)."""

    vae: object
    width: int
    height: int
    window: int
    motion: int
    mode: str  # auto / infinitetalk / multitalk
    colour_strength: float  # 0 = off
    reference: torch.Tensor | None  # [1, H, W, 3] fitted start image
    source_video: torch.Tensor | None  # [N, h, w, 3] as given (fitted per window, lazily)
    source_fps: float
    face_mask: torch.Tensor | None  # [M, h, w], 1 = may change
    denoise: float
    clip_vision_output: object
    output_folder: str  # "" = RAM

    def variant(self, adapter) -> str:
        return adapter.variant if self.mode == "auto" else self.mode


def output_folder_path(folder: str) -> Path | None:
    if not folder.strip():
        return None
    path = Path(folder.strip()).expanduser()
    return path if path.is_absolute() else Path(folder_paths.get_output_directory()) / path


class _Source:
    """The dubbing source resampled to the output fps, fitted to the video size one window at a time."""

    def __init__(self, plan: LongPlan, fps: float):
        self.plan = plan
        self.frame_map = resample_frame_indices(plan.source_video.shape[0], plan.source_fps, fps)

    @property
    def frames(self) -> int:
        return int(self.frame_map.numel())

    def keyframe(self, window: Window) -> tuple[int, torch.Tensor]:
        index = int(self.frame_map[source_keyframe_index(window, self.frames)])
        return index, fit_to_video(self.plan.source_video[index:index + 1], self.plan.width, self.plan.height)

    def window_frames(self, window: Window) -> torch.Tensor:
        return self._fitted(self.plan.source_video, window_source_indices(self.frame_map, window))

    def window_mask(self, window: Window) -> torch.Tensor | None:
        mask = self.plan.face_mask
        if mask is None:
            return None
        idx = window_source_indices(self.frame_map, window).clamp_max(mask.shape[0] - 1)
        return self._fitted(mask, idx)[None, None]  # [1, 1, F, H, W]; the host resizes it to the latent

    def _fitted(self, source: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """source[idx] fitted to the video, resizing each distinct source frame once (one mask for the whole
        video, or a source slower than the output, repeats frames)."""
        distinct, where = idx.unique(return_inverse=True)
        return fit_to_video(source[distinct], self.plan.width, self.plan.height)[where]


def _window_noise(noise, noise_seed: int, latent: torch.Tensor, index: int):
    if noise is None:
        seed = int(noise_seed) + index
        return comfy.sample.prepare_noise(latent, seed), seed
    noise_w = copy.copy(noise)
    if hasattr(noise_w, "seed"):
        noise_w.seed = int(noise.seed) + index
    # a NOISE without a seed gives the same noise to every window; the MultiTalk motion noise still varies
    return noise_w.generate_noise({"samples": latent}), int(getattr(noise_w, "seed", int(noise_seed) + index))


def run_long_video(model, adapter, embeds, plan: LongPlan, prompts: list, negative, sampler, sigmas,
                   noise_seed: int, noise, text_cfg: float, audio_cfg: float, total: int):
    """Generate `total` frames; returns (frames or FrameFolder, sink folder or None)."""
    vae, width, height, window, motion = plan.vae, plan.width, plan.height, plan.window, plan.motion
    variant = plan.variant(adapter)
    source = _Source(plan, embeds.fps) if plan.source_video is not None else None
    windows = plan_windows(total, window, motion)
    colour_ref = plan.reference if source is None else source.keyframe(windows[0])[1]
    if source is not None and source.plan.denoise < 1.0:
        sigmas = denoised_sigmas(sigmas, plan.denoise)
    use_source_latent = source is not None and (plan.denoise < 1.0 or plan.face_mask is not None)
    folder = output_folder_path(plan.output_folder)
    sink = FrameSink(folder, file_format="png")
    device = mm.get_torch_device()
    threaded = device.type == "cuda" if BACKGROUND_WRITES is None else BACKGROUND_WRITES
    writer = BackgroundWriter(sink, threaded=threaded)
    steps = int(sigmas.shape[-1]) - 1
    pbar = comfy.utils.ProgressBar(max(1, steps * len(windows)))
    tail = None  # the previous window's last `motion` frames, colour-matched
    i2v_cache: dict = {}
    masks = speaker_masks(embeds, width, height)  # the same for every window
    log.info("[MultiTalk Studio] long video: %d frames in %d windows of %d (motion %d, %s)", total, len(windows),
             window, motion, variant)
    try:
        for w in windows:
            tail = _one_window(w, model, adapter, embeds, plan, variant, source, colour_ref, use_source_latent,
                               prompts, negative, sampler, sigmas, noise_seed, noise, text_cfg, audio_cfg, tail,
                               writer, pbar, device, i2v_cache, masks)
        writer.wait()
    except mm.InterruptProcessingException:
        writer.wait()
        kept = _keep_on_interrupt(sink)
        log.warning("[MultiTalk Studio] interrupted after %d of %d windows: %d finished frames kept in %s",
                    sum(1 for w in windows if w.start + w.keep_to <= sink.count), len(windows), sink.count, kept)
        raise
    finally:
        writer.close()
    return sink.result(), folder


def decode_on_device(vae, samples: torch.Tensor) -> torch.Tensor:
    """`vae.decode` with the frames left on the VAE's device: the colour match and the next window's motion
    encode read them there, and only the kept frames travel to the host, in the background. The host's
    decode has no option for this, so its output device is switched for the call."""
    output_device = vae.output_device
    vae.output_device = vae.device
    try:
        return vae.decode(samples)
    finally:
        vae.output_device = output_device


def _keep_on_interrupt(sink: FrameSink):
    """Finished windows survive an interrupt: already on disk in folder mode, written out in RAM mode."""
    if sink.folder is not None or sink.count == 0:
        return sink.folder
    folder = tempfile.mkdtemp(prefix=f"multitalk_interrupted_{time.strftime('%Y%m%d_%H%M%S')}_",
                              dir=folder_paths.get_output_directory())  # unique even twice in one second
    saved = FrameSink(folder, file_format="png")
    saved.append(sink.result())
    return folder


def _one_window(w: Window, model, adapter, embeds, plan: LongPlan, variant, source, colour_ref, use_source_latent,
                prompts, negative, sampler, sigmas, noise_seed, noise, text_cfg, audio_cfg, tail, writer, pbar, device,
                i2v_cache: dict, masks):
    mm.throw_exception_if_processing_interrupted()  # stop before any work on a new window
    vae, width, height, length = plan.vae, plan.width, plan.height, plan.window
    keyframe_index, reference = (None, plan.reference) if source is None else source.keyframe(w)
    prompt = prompt_index(w.index, len(prompts))
    _emit("window_start", window=w, keyframe=keyframe_index, variant=variant, prompt=prompt)

    cond, _, _ = audio_conditioning(adapter, embeds, w.start, length, width, height, masks=masks)
    _emit("audio", window=w, windows=cond.windows)
    patched = glue.patch_model(model, adapter, cond)
    known, motion_frames = glue.conditioning_frames(variant == "multitalk", reference, tail)
    if known is reference:
        # The reference conditioning (an 81-frame VAE encode) is the same for every window that shares the
        # reference: encode it once, keep only the latest so memory stays flat.
        if "values" not in i2v_cache or i2v_cache["key"] != keyframe_index:
            i2v_cache.clear()
            i2v_cache.update(key=keyframe_index, values=glue.i2v_values(vae, reference, length, width, height,
                                                                        plan.clip_vision_output))
        values = i2v_cache["values"]
    else:
        values = glue.i2v_values(vae, known, length, width, height, plan.clip_vision_output)
    pos, neg = glue.with_values(prompts[prompt], negative, values)
    latent = vae.encode(source.window_frames(w)) if use_source_latent else glue.empty_latent(length, width, height)
    noise_t, seed = _window_noise(noise, noise_seed, latent, w.index)
    motion = glue.motion_latents(vae, values, known, motion_frames)
    if motion is not None:  # MultiTalk re-noises them with the window's own seed, so a NOISE input seeds them too
        glue.keep_motion_latents(patched, motion, noised=variant == "multitalk", seed=seed)
    del motion, values
    _emit("encoded", window=w)
    denoise_mask = source.window_mask(w) if source is not None else None

    guider = AudioCFGGuider(patched)
    guider.set_conds(pos, neg)
    guider.set_scales(text_cfg, audio_cfg)

    def callback(step, x0, x, total_steps):
        pbar.update(1)
        _emit("step", window=w, step=step)
        mm.throw_exception_if_processing_interrupted()

    samples = guider.sample(noise_t, latent, sampler, sigmas, denoise_mask=denoise_mask, callback=callback,
                            disable_pbar=True, seed=seed)
    del guider, patched, cond, pos, neg, noise_t, latent, denoise_mask
    _emit("sampled", window=w)
    decoded = decode_on_device(vae, samples)
    del samples
    decoded = decoded.reshape(-1, *decoded.shape[-3:])[:length]
    _emit("decoded", window=w)
    if plan.colour_strength > 0 and colour_ref is not None:
        decoded = match_colour(decoded, colour_ref.to(decoded.device), plan.colour_strength)
    _emit("coloured", window=w)
    writer.submit(decoded[w.keep_from:w.keep_to])
    new_tail = None if w.is_last else decoded[-plan.motion:].clone()
    _emit("window_done", window=w, frames=decoded, count=writer.submitted)
    del decoded
    return new_tail
