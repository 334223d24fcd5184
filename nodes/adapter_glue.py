"""Host side of the audio adapter: loading into ComfyUI's memory manager and patching a MODEL clone.

The library's patch objects are host-free; these thin wrappers add what the host asks of a patch
(`models()` so the adapter loads/offloads with the DiT, `to()`), and the sampling wrappers that
keep the motion latents in place.
"""
from __future__ import annotations

import logging

import comfy.ldm.modules.attention
import comfy.model_management as mm
import comfy.model_patcher
import comfy.ops
import comfy.patcher_extension
import comfy.utils
import node_helpers
import torch
from comfy_api.torch_helpers.torch_compile import TORCH_COMPILE_KWARGS, set_torch_compile_wrapper

from ..wan_multitalk.adapter.model import AudioAdapter
from ..wan_multitalk.adapter.patches import AudioConditioning, AudioCrossAttentionPatch, SpeakerMapPatch
from ..wan_multitalk.adapter.weights import check_fits, inspect_adapter, prepare_state_dict
from ..wan_multitalk.errors import InputError
from ..wan_multitalk.video.windows import motion_latent_frames

log = logging.getLogger("multitalk_studio")
FP8 = {getattr(torch, n) for n in ("float8_e4m3fn", "float8_e5m2") if hasattr(torch, n)}
MOTION_WRAPPER_KEY = "mts_motion_latents"


class AdapterHandle:
    """The loaded adapter: its host model patcher, the spec read from the keys, and the variant."""

    def __init__(self, patcher, spec, variant: str):
        self.patcher, self.spec, self.variant = patcher, spec, variant

    @property
    def module(self) -> AudioAdapter:
        return self.patcher.model


def load_adapter(path: str, variant_choice: str) -> AdapterHandle:
    sd, metadata = comfy.utils.load_torch_file(path, safe_load=True, return_metadata=True)
    return adapter_from_state_dict(sd, metadata or {}, variant_choice)


def adapter_from_state_dict(sd: dict, metadata: dict, variant_choice: str) -> AdapterHandle:
    spec = inspect_adapter(sd, metadata, num_heads=heads_from_metadata(metadata))
    variant = variant_choice if variant_choice != "auto" else (spec.variant or "infinitetalk")
    storage = mm.unet_dtype(supported_dtypes=[torch.float16, torch.bfloat16, torch.float32])
    prepared = prepare_state_dict(sd, compute_dtype=storage)
    prepared = {k: (v if v.dtype in FP8 else v.to(storage)) for k, v in prepared.items()}
    offload = mm.unet_offload_device()
    adapter = AudioAdapter(spec, operations=comfy.ops.manual_cast, device=offload, dtype=storage)
    adapter.load_state_dict(prepared, strict=True, assign=True)
    adapter.eval().requires_grad_(False)
    patcher = comfy.model_patcher.CoreModelPatcher(adapter, load_device=mm.get_torch_device(), offload_device=offload)
    log.info("[MultiTalk Studio] adapter %s: %d blocks, width %d, %s", variant, spec.num_blocks, spec.dim, storage)
    return AdapterHandle(patcher, spec, variant)


def heads_from_metadata(metadata) -> int | None:
    """Head count for adapters narrower than 14B, the way the host reads it for Wan files:
    a `config` JSON `{"transformer": {"num_heads": N}}` or a plain `num_heads` entry."""
    import json

    metadata = metadata or {}
    try:
        heads = json.loads(metadata.get("config", "{}")).get("transformer", {}).get("num_heads") or metadata.get("num_heads")
    except (ValueError, AttributeError):
        heads = metadata.get("num_heads")
    return int(heads) if heads else None


def host_attention(q, k, v, heads, options=None):
    """The host's optimized attention (flash/sage/xformers as configured) in its [B, L, H*D] layout; `options`
    (the call's transformer_options) carries a model's attention override, which the host applies first."""
    return comfy.ldm.modules.attention.optimized_attention(q, k, v, heads, transformer_options=options)


def diffusion_model_dims(model) -> tuple[int, int]:
    dit = model.model.diffusion_model
    if not hasattr(dit, "blocks") or not hasattr(dit, "dim"):
        raise InputError("model", "is not a Wan 2.1 DiT.", "Load Wan 2.1 I2V 14B with the native Load Diffusion Model node.")
    return int(dit.dim), len(dit.blocks)


class _HostPatch:
    """What ComfyUI asks of a patch: the models it needs loaded, and moving its tensors."""

    def __init__(self, inner, handle: AdapterHandle):
        self.inner, self.handle = inner, handle

    @torch.compiler.disable
    def __call__(self, args):
        # Under TorchCompileModel the patch runs eagerly between the compiled pieces of the block. Traced, its
        # per-window state (token caches, rows, scales) became guards: every window recompiled, up to dynamo's limit.
        return self.inner(args)

    def models(self):
        return [self.handle.patcher]

    def to(self, device_or_dtype):
        # The projected tokens are cached per device (a few MB): the MultiGPU CFG split calls this for every
        # batch on every device, from its worker threads, so nothing is dropped here.
        return self


def patch_model(model, handle: AdapterHandle, cond: AudioConditioning):
    """A clone of `model` with the speaker map (attn1) and audio cross-attention (attn2) installed."""
    dim, blocks = diffusion_model_dims(model)
    check_fits(handle.spec, dim, blocks)
    patched = model.clone()
    if cond.routes_speakers:
        patched.set_model_attn1_patch(_HostPatch(SpeakerMapPatch(cond), handle))
    patched.set_model_attn2_patch(_HostPatch(AudioCrossAttentionPatch(cond), handle))
    _compile_guarding_patches(patched)
    return patched


def _compile_guarding_patches(patched) -> None:
    """Under TorchCompileModel, compile again with guards on which patches are installed.

    The host's compile drops every guard under transformer_options, where the patches live: code compiled with the
    adapter would then serve a MODEL without it (a KeyError), and code compiled without it would serve ours (the
    adapter silently skipped). Ours keeps those guards, so each is compiled on its own; code a MODEL without the
    adapter compiled earlier in the session is still matched by the host's rule, which only the host can change.
    """
    kwargs = patched.model_options.get(TORCH_COMPILE_KWARGS)
    if not kwargs:
        return
    options = dict(kwargs.get("options") or {})
    host_filter = options.get("guard_filter_fn")

    def keep(entries):
        kept = host_filter(entries) if host_filter else [True] * len(entries)
        return [k or e.name == "transformer_options" or e.name.startswith("transformer_options['patches']")
                for k, e in zip(kept, entries)]

    set_torch_compile_wrapper(patched, **dict(kwargs, options=dict(options, guard_filter_fn=keep)))


class MotionLatentApply:
    """APPLY_MODEL wrapper: the first latent frames hold the motion context at every model call.

    InfiniteTalk writes them clean; MultiTalk writes them noised to the current sigma.
    """

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
    latents back into the result so decoding reproduces the context frames."""

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


def keep_motion_latents(model, latents: torch.Tensor, noised: bool, seed: int = 0):
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, MOTION_WRAPPER_KEY,
                               MotionLatentSample(latents, noised, seed))


def empty_latent(length: int, width: int, height: int) -> torch.Tensor:
    """The zero Wan 2.1 latent of one window: 16 channels, 4x time and 8x space compression."""
    return torch.zeros([1, 16, motion_latent_frames(length), height // 8, width // 8])


def i2v_values(vae, known, length: int, width: int, height: int, clip_vision_output=None) -> dict:
    """Wan I2V conditioning values: the `known` first frames (the reference image, or MultiTalk's previous tail),
    grey elsewhere, as the host's I2V node builds them; the mask marks their latent frames as given."""
    # built where the known frames are (the previous tail stays on the GPU), so they are not copied back and forth
    frames = torch.full((length, height, width, 3), 0.5, device=known.device if known is not None else "cpu")
    if known is not None:
        frames[:known.shape[0]] = known.to(frames)
    concat = vae.encode(frames)
    mask = torch.ones((1, 1, concat.shape[2], concat.shape[-2], concat.shape[-1]))
    if known is not None:
        mask[:, :, :motion_latent_frames(known.shape[0])] = 0.0
    values = {"concat_latent_image": concat, "concat_mask": mask}
    if clip_vision_output is not None:
        values["clip_vision_output"] = clip_vision_output
    return values


def with_values(positive, negative, values: dict):
    return (node_helpers.conditioning_set_values(positive, values),
            node_helpers.conditioning_set_values(negative, values))


def conditioning_frames(multitalk: bool, reference, context):
    """(known, motion): the frames the I2V conditioning is given and the frames written as motion latents.

    InfiniteTalk: the reference is known in every window; the previous tail (the reference itself in the first
    window) becomes clean motion latents. MultiTalk: the previous tail is known and re-noised as motion; its first
    window knows the reference alone and writes no motion latents."""
    if multitalk:
        return (context if context is not None else reference), context
    return reference, (context if context is not None else reference)


def motion_latents(vae, values: dict, known, motion):
    """Latents of the motion frames. When they are the known frames the conditioning's encode already holds them
    (the Wan VAE is causal: the first frames' latents do not depend on what follows), so no second encode."""
    if motion is None:
        return None
    frames = motion_latent_frames(motion.shape[0])
    if motion is known:
        return values["concat_latent_image"][:, :, :frames].clone()
    return vae.encode(motion)[:, :, :frames]
