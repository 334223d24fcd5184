"""Reading MultiTalk / InfiniteTalk adapter files: key layout, shape inspection, fp8 handling.

Every size is derived from the tensors themselves (block count included), so the same code
serves the 14B adapters and any future width. MultiTalk and InfiniteTalk files share one key
layout; only safetensors metadata can tell them apart, never the tensors or the file name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import torch

from ..errors import InputError

HEAD_DIM = 128  # every Wan 2.1 DiT uses 128-wide heads (14B: 40 x 128, 1.3B: 12 x 128)

# Prefixes seen on adapter keys in the wild (merged checkpoints, training wrappers), longest first.
KNOWN_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "transformer.", "module.", "model.")

PROJECTION_KEYS = tuple(
    f"audio_proj.{layer}.{kind}"
    for layer in ("proj1", "proj1_vf", "proj2", "proj3", "norm")
    for kind in ("weight", "bias")
)
BLOCK_KEYS = tuple(
    f"{layer}.{kind}"
    for layer in ("norm_x", "audio_cross_attn.q_linear", "audio_cross_attn.kv_linear", "audio_cross_attn.proj")
    for kind in ("weight", "bias")
)
# Keys only a Wan base model has; used to explain the most common wrong-file mistake.
BASE_MODEL_KEYS = ("patch_embedding.weight", "head.modulation", "head.head.weight", "text_embedding.0.weight")

_ADAPTER_KEY = re.compile(
    r"^(audio_proj\.(proj1|proj1_vf|proj2|proj3|norm)"
    r"|blocks\.\d+\.(norm_x|audio_cross_attn\.(q_linear|kv_linear|proj)))\.(weight|bias)$"
)
_BLOCK_INDEX = re.compile(r"^blocks\.(\d+)\.(norm_x|audio_cross_attn)\.")
# Per-tensor scale keys of community fp8 "scaled" files: "<layer>.scale_weight" or "<layer>.weight_scale".
_SCALE_SUFFIXES = (".scale_weight", ".weight_scale")
# Keys that carry quantisation bookkeeping only; dropped after folding.
_BOOKKEEPING_SUFFIXES = (".scale_input", ".input_scale", ".comfy_quant")
_BOOKKEEPING_KEYS = ("scaled_fp8",)


@dataclass(frozen=True)
class AdapterSpec:
    """Sizes of one adapter file, all read from its tensors (see `inspect_adapter`)."""

    num_blocks: int
    dim: int
    num_heads: int
    audio_layers: int = 12
    audio_channels: int = 768
    audio_rows: int = 5  # audio rows per frame (the official audio window)
    later_audio_rows: int = 8
    intermediate: int = 512
    context_tokens: int = 32
    token_dim: int = 768
    variant: str | None = None

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads


def _wrong_file(problem: str) -> InputError:
    return InputError(
        "model_name",
        problem,
        "Pick the MultiTalk / InfiniteTalk audio adapter file (e.g. multitalk.safetensors, "
        "infinitetalk single/multi, or wan2.1_infiniteTalk_*_fp16.safetensors).",
    )


def strip_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove a known prefix (e.g. `diffusion_model.`) so keys read like the official file."""
    for prefix in KNOWN_PREFIXES:
        if prefix + "audio_proj.proj1.weight" in state_dict:
            return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state_dict.items()}
    return dict(state_dict)


def _looks_like_base_model(keys) -> bool:
    return any(k == b or k.endswith("." + b) for k in keys for b in BASE_MODEL_KEYS)


def _shape(sd: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    return tuple(sd[key].shape)


def _block_indices(keys) -> list[int]:
    found = {int(m.group(1)) for k in keys if (m := _BLOCK_INDEX.match(k))}
    return sorted(found)


def _split_audio_width(per_row: int, audio_layers: int | None) -> tuple[int, int]:
    """Split layers x channels of one audio row; the file only stores their product."""
    if audio_layers:
        if per_row % audio_layers:
            raise _wrong_file(f"audio rows are {per_row} wide, not a multiple of {audio_layers} layers.")
        return audio_layers, per_row // audio_layers
    if per_row % 768 == 0:  # wav2vec2-base width; 12 layers gives the official 9216
        return per_row // 768, 768
    if per_row % 12 == 0:
        return 12, per_row // 12
    return 1, per_row


def inspect_adapter(
    state_dict: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    num_heads: int | None = None,
    audio_layers: int | None = None,
) -> AdapterSpec:
    """Check an adapter state dict and read every size from its keys and shapes.

    num_heads: override; default is dim // 128 (all Wan 2.1 models use 128-wide heads).
    audio_layers: override for the layers x channels split (the file stores only the product;
        default 12 x 768, chinese-wav2vec2-base).
    """
    sd = strip_prefix(state_dict)
    keys = set(sd)
    if "audio_proj.proj1.weight" not in keys:
        if _looks_like_base_model(keys):
            raise InputError(
                "model_name",
                "this is a Wan base model, load it with the native Load Diffusion Model node; "
                "this loader wants the MultiTalk/InfiniteTalk adapter file.",
                "Select the audio adapter file here and load the Wan 2.1 I2V model with Load Diffusion Model.",
            )
        sample = ", ".join(sorted(keys)[:5]) or "(no tensors)"
        raise _wrong_file(f"no MultiTalk/InfiniteTalk adapter keys (audio_proj.*) found; keys start with: {sample}.")

    blocks = _block_indices(keys)
    if not blocks:
        raise _wrong_file("the file has audio_proj.* but no blocks.N.audio_cross_attn.* keys.")
    missing = [k for k in PROJECTION_KEYS if k not in keys]
    if blocks != list(range(len(blocks))):
        gaps = sorted(set(range(blocks[-1] + 1)) - set(blocks))
        missing += [f"blocks.{i}.*" for i in gaps]
    for i in blocks:
        missing += [f"blocks.{i}.{k}" for k in BLOCK_KEYS if f"blocks.{i}.{k}" not in keys]
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise _wrong_file(f"the adapter file is incomplete, missing: {shown}.")

    intermediate, first_in = _shape(sd, "audio_proj.proj1.weight")
    later_out, later_in = _shape(sd, "audio_proj.proj1_vf.weight")
    token_dim = _shape(sd, "audio_proj.norm.weight")[0]
    proj3_out, proj3_in = _shape(sd, "audio_proj.proj3.weight")
    dim = _shape(sd, "blocks.0.norm_x.weight")[0]

    problems = []
    if later_out != intermediate or _shape(sd, "audio_proj.proj2.weight") != (intermediate, intermediate):
        problems.append("audio_proj.proj1_vf/proj2 widths disagree with proj1")
    if proj3_in != intermediate or proj3_out % token_dim:
        problems.append(f"audio_proj.proj3 {proj3_out}x{proj3_in} does not fit {intermediate} -> n x {token_dim}")
    per_row, rest = divmod(later_in - first_in, 3)  # the later-frame window has 3 more rows
    if per_row <= 0 or rest or first_in % per_row or (first_in // per_row) % 2 == 0:
        problems.append(
            f"audio_proj.proj1 ({first_in} in) and proj1_vf ({later_in} in) are not an odd window and "
            "window + 3 audio rows (5 and 8 in the official files)"
        )
    expected = {
        "norm_x.weight": (dim,), "norm_x.bias": (dim,),
        "audio_cross_attn.q_linear.weight": (dim, dim), "audio_cross_attn.q_linear.bias": (dim,),
        "audio_cross_attn.kv_linear.weight": (2 * dim, token_dim), "audio_cross_attn.kv_linear.bias": (2 * dim,),
        "audio_cross_attn.proj.weight": (dim, dim), "audio_cross_attn.proj.bias": (dim,),
    }
    for i in blocks:
        for name, shape in expected.items():
            got = _shape(sd, f"blocks.{i}.{name}")
            if got != shape:
                problems.append(f"blocks.{i}.{name} is {list(got)}, expected {list(shape)}")
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise _wrong_file(f"inconsistent tensor shapes: {shown}.")

    if num_heads is None:
        if dim % HEAD_DIM:
            raise _wrong_file(f"width {dim} is not a multiple of the 128-wide Wan heads.")
        num_heads = dim // HEAD_DIM
    if num_heads <= 0 or dim % num_heads or (dim // num_heads) % 2:
        raise _wrong_file(f"{num_heads} heads do not split width {dim} into even head sizes.")
    layers, channels = _split_audio_width(per_row, audio_layers)
    return AdapterSpec(
        num_blocks=len(blocks), dim=dim, num_heads=num_heads, audio_layers=layers, audio_channels=channels,
        audio_rows=first_in // per_row, later_audio_rows=later_in // per_row, intermediate=intermediate,
        context_tokens=proj3_out // token_dim, token_dim=token_dim, variant=detect_variant(metadata),
    )


def check_fits(spec: AdapterSpec, model_dim: int, model_blocks: int) -> None:
    """Refuse an adapter made for a different base model before any sampling starts."""
    if spec.dim != model_dim or spec.num_blocks != model_blocks:
        raise InputError(
            "adapter",
            f"adapter is for dim {spec.dim} / {spec.num_blocks} blocks, "
            f"the MODEL has dim {model_dim} / {model_blocks} blocks.",
            "Use the adapter trained for this base model (the 14B MultiTalk/InfiniteTalk adapters "
            "need Wan 2.1 I2V 14B: dim 5120, 40 blocks).",
        )


I2V_IN_CHANNELS = 36
"""What a Wan 2.1 image-to-video DiT's patch embedding takes: 16 noise + 4 mask + 16 reference latent channels (a
text-to-video Wan takes the 16 noise channels only). MultiTalk and InfiniteTalk are trained on Wan 2.1 I2V."""


def check_base_model(in_channels: int, needs_clip_vision: bool, has_clip_vision: bool) -> None:
    """Refuse, before any sampling, a MODEL the audio adapter cannot drive by what it is: not an image-to-video Wan
    (its input width), or a Wan 2.1 I2V (it has an image embedding) given no CLIP vision of the reference."""
    if in_channels != I2V_IN_CHANNELS:
        kind = "a text-to-video Wan" if in_channels == 16 else "not a Wan 2.1 image-to-video model"
        raise InputError(
            "model",
            f"is {kind}: its patch embedding takes {in_channels} channels, Wan 2.1 image-to-video takes "
            f"{I2V_IN_CHANNELS} (noise, mask and the reference image's latents).",
            "load Wan 2.1 I2V 14B (e.g. wan2.1_i2v_480p_14B) with Load Diffusion Model: MultiTalk and InfiniteTalk "
            "are made for it.",
        )
    if needs_clip_vision and not has_clip_vision:
        raise InputError(
            "clip_vision_output",
            "is not connected, and this Wan 2.1 I2V model reads the reference image through CLIP vision: without it "
            "the model runs without its image conditioning.",
            "add Load CLIP Vision (clip_vision_h) and CLIP Vision Encode on the reference image, and connect its "
            "output to clip_vision_output.",
        )


def prepare_state_dict(
    state_dict: Mapping[str, torch.Tensor], compute_dtype: torch.dtype = torch.bfloat16
) -> dict[str, torch.Tensor]:
    """Return only the adapter tensors, official names, with per-tensor fp8 scales folded in.

    Scaled weights (`<layer>.scale_weight` or `<layer>.weight_scale` next to `<layer>.weight`)
    become `weight * scale` in `compute_dtype`; a stored fp8 value alone means nothing without
    its scale, so these must be dequantised here. Unscaled fp8 weights are kept in fp8: they are
    exact as stored, take half the memory of bf16, and cast-on-use layers (ComfyUI's, or
    `host.linear`) convert them per call. Everything else is returned unchanged (the module's
    `load_state_dict` casts to its own dtype). Scale/bookkeeping keys and non-adapter keys (the
    base-model part of a merged checkpoint) are dropped.
    """
    sd = strip_prefix(state_dict)
    scales: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        for suffix in _SCALE_SUFFIXES:
            if key.endswith(suffix):
                scales[key[: -len(suffix)] + ".weight"] = value
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if not _ADAPTER_KEY.match(key):
            continue
        scale = scales.pop(key, None)
        if scale is None:
            out[key] = value
            continue
        if scale.numel() != 1:
            raise InputError(
                "adapter",
                f"{key} has a block-wise scale of shape {list(scale.shape)}; only per-tensor fp8 scales are supported.",
                "Use an fp16/bf16 adapter file or a per-tensor fp8 '_scaled' one.",
            )
        out[key] = (value.to(torch.float32) * scale.to(torch.float32).reshape(())).to(compute_dtype)
    orphans = sorted(k for k in scales if _ADAPTER_KEY.match(k))
    if orphans:
        raise _wrong_file(f"fp8 scales without weights: {', '.join(orphans[:4])}.")
    return out


def detect_variant(metadata: Mapping[str, str] | None) -> str | None:
    """'infinitetalk', 'multitalk' or None, from safetensors metadata text only.

    The two variants have identical keys, so content cannot tell; file names are user-editable,
    so they are not trusted either. InfiniteTalk descends from MultiTalk and may mention it, so a
    mention of InfiniteTalk wins.
    """
    if not metadata:
        return None
    text = " ".join(f"{k} {v}" for k, v in metadata.items()).lower()
    text = re.sub(r"[\s_\-]", "", text)
    if "infinitetalk" in text:
        return "infinitetalk"
    if "multitalk" in text:
        return "multitalk"
    return None


def read_adapter_file(path: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Load a .safetensors adapter (tensors on CPU) and its metadata, without a host."""
    from safetensors import safe_open

    with safe_open(path, framework="pt", device="cpu") as handle:
        metadata = dict(handle.metadata() or {})
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    return tensors, metadata
