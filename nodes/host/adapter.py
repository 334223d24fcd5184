"""The audio adapter on the host: loaded into ComfyUI's memory manager, and installed on a MODEL clone.

The library's patch objects are host-free; `_ManagedPatch` adds what the host asks of a patch (`models()` so
the adapter loads and offloads with the DiT, `to()`), and the host's optimized attention is passed in.
"""
from __future__ import annotations

import json
import logging

import comfy.ldm.modules.attention
import comfy.model_management as mm
import comfy.model_patcher
import comfy.ops
import comfy.utils
import torch
from comfy_api.torch_helpers.torch_compile import TORCH_COMPILE_KWARGS, set_torch_compile_wrapper

from ...wan_multitalk.adapter.model import AudioAdapter
from ...wan_multitalk.adapter.patches import AudioConditioning, AudioCrossAttentionPatch, SpeakerMapPatch
from ...wan_multitalk.adapter.weights import check_base_model, check_fits, inspect_adapter, prepare_state_dict
from ...wan_multitalk.embeds import SpeakerEmbeds
from ...wan_multitalk.errors import InputError, unreadable_file
from ...wan_multitalk.speaker_routing import SpeakerRouting

log = logging.getLogger("multitalk_studio")
FP8 = {getattr(torch, n) for n in ("float8_e4m3fn", "float8_e5m2") if hasattr(torch, n)}


class AdapterHandle:
    """The loaded adapter: its host model patcher, the spec read from the keys, and the variant."""

    def __init__(self, patcher, spec, variant: str):
        self.patcher, self.spec, self.variant = patcher, spec, variant

    @property
    def module(self) -> AudioAdapter:
        return self.patcher.model


def load_adapter(path: str, variant_choice: str) -> AdapterHandle:
    try:
        sd, metadata = comfy.utils.load_torch_file(path, safe_load=True, return_metadata=True)
    except Exception as error:  # noqa: BLE001 - whatever the reader chokes on, the file is bad for the user
        raise unreadable_file("model_name", path, error) from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise unreadable_file("model_name", path, TypeError(f"it holds a {type(sd).__name__}, not named tensors"))
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


def audio_conditioning(handle: AdapterHandle, embeds: SpeakerEmbeds, routing: SpeakerRouting, start: int,
                       length: int) -> AudioConditioning:
    """Video frames [start, start + length): their frame audio and speaker routing, with the host's attention."""
    return AudioConditioning(handle.module, embeds.frame_audio(start, length), routing.token_masks,
                             embeds.audio_scale, attention=host_attention)


def _wan_dit(model):
    dit = model.model.diffusion_model
    if not hasattr(dit, "blocks") or not hasattr(dit, "dim") or not hasattr(dit, "patch_embedding"):
        raise InputError("model", "is not a Wan 2.1 DiT.", "Load Wan 2.1 I2V 14B with the native Load Diffusion Model node.")
    return dit


def diffusion_model_dims(model) -> tuple[int, int]:
    dit = _wan_dit(model)
    return int(dit.dim), len(dit.blocks)


def check_model(model, handle: AdapterHandle, clip_vision_output) -> None:
    """Before any encode or step: the MODEL is a Wan image-to-video (its patch embedding's input width) given CLIP
    vision where it reads the reference through it (the host builds an image embedding for Wan 2.1 I2V), and the
    adapter fits its width and depth."""
    dit = _wan_dit(model)
    check_base_model(int(dit.patch_embedding.weight.shape[1]), getattr(dit, "img_emb", None) is not None,
                     clip_vision_output is not None)
    check_fits(handle.spec, int(dit.dim), len(dit.blocks))


class _ManagedPatch:
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
        patched.set_model_attn1_patch(_ManagedPatch(SpeakerMapPatch(cond), handle))
    patched.set_model_attn2_patch(_ManagedPatch(AudioCrossAttentionPatch(cond), handle))
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
