"""Wan I2V conditioning for one window on the host: the known frames encoded into the conditioning, the empty
latent, and the motion latents held in place through the host's sampling wrappers.

InfiniteTalk writes the motion latents clean before every model call; MultiTalk writes them noised to the
current sigma. After sampling the exact motion latents go back into the result so decoding reproduces the
context frames.
"""
from __future__ import annotations

import comfy.patcher_extension
import node_helpers
import torch

from ...wan_multitalk.timebase import latent_frames
from ...wan_multitalk.video.long_video import WindowFrames

MOTION_WRAPPER_KEY = "mts_motion_latents"
LATENT_CHANNELS, SPATIAL_COMPRESSION = 16, 8  # Wan 2.1's VAE


class I2VConditioner:
    """Conditioning for windows of one size: `length` frames of `width` x `height`, optionally CLIP vision (one
    output for every window; the long-video runner passes each window's own to `apply`)."""

    def __init__(self, vae, width: int, height: int, length: int, clip_vision_output=None):
        self.vae, self.width, self.height, self.length = vae, width, height, length
        self.clip_vision_output = clip_vision_output

    def empty_latent(self) -> torch.Tensor:
        """The zero latent of one window."""
        return torch.zeros([1, LATENT_CHANNELS, latent_frames(self.length), self.height // SPATIAL_COMPRESSION,
                            self.width // SPATIAL_COMPRESSION])

    def values(self, known: torch.Tensor | None) -> dict:
        """Conditioning values: the `known` first frames, grey elsewhere, as the host's I2V node builds them; the
        mask marks their latent frames as given."""
        # built where the known frames are (the previous tail stays on the GPU), so they are not copied back and forth
        frames = torch.full((self.length, self.height, self.width, 3), 0.5,
                            device=known.device if known is not None else "cpu")
        if known is not None:
            frames[:known.shape[0]] = known.to(frames)
        concat = self.vae.encode(frames)
        mask = torch.ones((1, 1, concat.shape[2], concat.shape[-2], concat.shape[-1]))
        if known is not None:
            mask[:, :, :latent_frames(known.shape[0])] = 0.0
        return {"concat_latent_image": concat, "concat_mask": mask}

    def apply(self, patched, conds: tuple, frames: WindowFrames, values: dict | None = None, seed: int = 0,
              clip_vision_output=None) -> tuple:
        """(positive, negative) with the window's I2V values (`values`: made earlier for the same known frames) and
        CLIP vision (`clip_vision_output`, else the conditioner's); the motion latents are installed on `patched`
        (MultiTalk re-noises them with `seed`)."""
        values = dict(values if values is not None else self.values(frames.known))
        clip = clip_vision_output if clip_vision_output is not None else self.clip_vision_output
        if clip is not None:
            values["clip_vision_output"] = clip
        positive, negative = (node_helpers.conditioning_set_values(c, values) for c in conds)
        motion = self._motion_latents(values, frames)
        if motion is not None:
            patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, MOTION_WRAPPER_KEY,
                                         MotionLatentSample(motion, frames.noised_motion, seed))
        return positive, negative

    def _motion_latents(self, values: dict, frames: WindowFrames) -> torch.Tensor | None:
        """When the motion frames are the known frames the conditioning's encode already holds their latents (the
        Wan VAE is causal: the first frames' latents do not depend on what follows), so no second encode."""
        if frames.motion is None:
            return None
        count = latent_frames(frames.motion.shape[0])
        if frames.motion is frames.known:
            return values["concat_latent_image"][:, :, :count].clone()
        return self.vae.encode(frames.motion)[:, :, :count]


class WindowClipVision:
    """CLIP vision per window, as the official streaming loop encodes it: of the last frame the window's I2V
    conditioning knows - the reference (InfiniteTalk), the dubbing keyframe, and in MultiTalk mode the previous
    window's last frame. Encoded by the host's CLIP vision model without a crop (the official code resizes the
    whole frame to 224 x 224); an image already encoded under the same key is not encoded again. Without a model,
    the plan's one `clip_vision_output` (or none) serves every window."""

    def __init__(self, clip_vision=None, fixed_output=None):
        self.clip_vision, self.fixed_output = clip_vision, fixed_output
        self._key, self._output = object(), None

    def output(self, key, known: torch.Tensor | None) -> tuple[object, bool]:
        """(the CLIP vision output for a window whose conditioning knows `known`, whether it was encoded now)."""
        if self.clip_vision is None or known is None:
            return self.fixed_output, False
        if key == self._key:
            return self._output, False
        self._key, self._output = key, self.clip_vision.encode_image(known[-1:], crop=False)
        return self._output, True


class MotionLatentApply:
    """APPLY_MODEL wrapper: the first latent frames hold the motion context at every model call."""

    def __init__(self, latents: torch.Tensor, noised: bool, seed: int = 0):
        self.latents, self.noised, self.seed = latents, noised, seed

    def __call__(self, executor, x, t, *args, **kwargs):
        n = self.latents.shape[2]
        motion = self.latents.to(x)
        if self.noised:
            model_sampling = executor.class_obj.model_sampling
            g = torch.Generator(device="cpu").manual_seed(self.seed + int(float(t.flatten()[0]) * 1e6) % (2**31))
            noise = torch.randn(motion.shape, generator=g).to(x)
            motion = model_sampling.noise_scaling(t.reshape(-1, 1, 1, 1, 1)[:1].to(x), noise, motion)
        x = x.clone()
        x[:, :, :n] = motion
        return executor(x, t, *args, **kwargs)


class MotionLatentSample:
    """OUTER_SAMPLE wrapper: install MotionLatentApply for this sampling, then put the exact motion
    latents back into the result."""

    def __init__(self, latents: torch.Tensor, noised: bool, seed: int = 0):
        self.latents, self.noised, self.seed = latents, noised, seed

    def __call__(self, executor, *args, **kwargs):
        guider = executor.class_obj
        model_in = guider.model_patcher.model.process_latent_in(self.latents)
        wrappers = guider.model_options["transformer_options"].setdefault("wrappers", {})
        wrappers.setdefault(comfy.patcher_extension.WrappersMP.APPLY_MODEL, {})[MOTION_WRAPPER_KEY] = [
            MotionLatentApply(model_in, self.noised, self.seed)]
        result = executor(*args, **kwargs)
        n = self.latents.shape[2]
        result = result.clone()
        result[:, :, :n] = self.latents.to(result)
        return result

    def to(self, device_or_dtype):
        if isinstance(device_or_dtype, torch.device):
            self.latents = self.latents.to(device_or_dtype)
        return self
