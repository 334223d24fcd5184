"""Synthetic MultiTalk / InfiniteTalk adapter state dicts and files with the official key names.

Widths are parameters so tests can stay tiny; defaults keep the real audio width (12 layers x
768 channels of chinese-wav2vec2-base) and the real 32 x 768 tokens with a narrow DiT (dim 64).
"""
from __future__ import annotations

import torch

FP8_DTYPES = {"e4m3fn": torch.float8_e4m3fn, "e5m2": torch.float8_e5m2}


def make_adapter_state_dict(
    num_blocks: int = 2,
    dim: int = 64,
    audio_layers: int = 12,
    audio_channels: int = 768,
    intermediate: int = 32,
    tokens: int = 32,
    token_dim: int = 768,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    window: int = 5,
) -> dict[str, torch.Tensor]:
    """Random adapter weights; Linear weights ~ N(0, 1/fan_in) so activations stay O(1)."""
    gen = torch.Generator().manual_seed(seed)
    row = audio_layers * audio_channels

    def linear(prefix: str, fan_out: int, fan_in: int) -> dict[str, torch.Tensor]:
        return {
            f"{prefix}.weight": torch.randn(fan_out, fan_in, generator=gen) / fan_in**0.5,
            f"{prefix}.bias": 0.1 * torch.randn(fan_out, generator=gen),
        }

    def norm(prefix: str, width: int) -> dict[str, torch.Tensor]:
        return {
            f"{prefix}.weight": 1.0 + 0.1 * torch.randn(width, generator=gen),
            f"{prefix}.bias": 0.1 * torch.randn(width, generator=gen),
        }

    sd: dict[str, torch.Tensor] = {}
    sd.update(linear("audio_proj.proj1", intermediate, window * row))
    sd.update(linear("audio_proj.proj1_vf", intermediate, (window + 3) * row))
    sd.update(linear("audio_proj.proj2", intermediate, intermediate))
    sd.update(linear("audio_proj.proj3", tokens * token_dim, intermediate))
    sd.update(norm("audio_proj.norm", token_dim))
    for i in range(num_blocks):
        sd.update(norm(f"blocks.{i}.norm_x", dim))
        sd.update(linear(f"blocks.{i}.audio_cross_attn.q_linear", dim, dim))
        sd.update(linear(f"blocks.{i}.audio_cross_attn.kv_linear", 2 * dim, token_dim))
        sd.update(linear(f"blocks.{i}.audio_cross_attn.proj", dim, dim))
    return {k: v.to(dtype) for k, v in sd.items()}


def make_base_model_state_dict(dim: int = 64, num_blocks: int = 2) -> dict[str, torch.Tensor]:
    """A few keys of a Wan 2.1 base DiT (what users load into the wrong loader)."""
    sd = {
        "patch_embedding.weight": torch.zeros(dim, 36, 1, 2, 2),
        "patch_embedding.bias": torch.zeros(dim),
        "head.modulation": torch.zeros(1, 2, dim),
        "head.head.weight": torch.zeros(64, dim),
        "text_embedding.0.weight": torch.zeros(dim, 4096),
    }
    for i in range(num_blocks):
        sd[f"blocks.{i}.self_attn.q.weight"] = torch.zeros(dim, dim)
        sd[f"blocks.{i}.norm3.weight"] = torch.zeros(dim)
    return sd


def quantize_fp8(sd: dict[str, torch.Tensor], fp8: str, scale_key: str = "scale_weight") -> dict[str, torch.Tensor]:
    """fp8-quantise every 2-D Linear weight.

    fp8 = "e4m3fn" / "e5m2": plain cast. "<fmt>_scaled": per-tensor scale = absmax / fp8 max,
    stored as a scalar `<layer>.scale_weight` (or `<layer>.weight_scale` with scale_key="weight_scale"),
    plus the `scaled_fp8` marker tensor ComfyUI-style scaled files carry.
    """
    scaled = fp8.endswith("_scaled")
    target = FP8_DTYPES[fp8.removesuffix("_scaled")]
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if not (key.endswith(".weight") and value.ndim == 2):
            out[key] = value
            continue
        if not scaled:
            out[key] = value.to(target)
            continue
        scale = value.float().abs().max() / torch.finfo(target).max
        out[key] = (value.float() / scale).to(target)
        layer = key[: -len(".weight")]
        name = f"{layer}.scale_weight" if scale_key == "scale_weight" else f"{layer}.weight_scale"
        out[name] = scale.reshape(())
    if scaled:
        out["scaled_fp8"] = torch.empty(0, dtype=target)
    return out


def write_adapter_file(
    path,
    fp8: str | None = None,
    metadata: dict[str, str] | None = None,
    prefix: str = "",
    scale_key: str = "scale_weight",
    **kwargs,
) -> dict[str, torch.Tensor]:
    """Write a .safetensors adapter (kwargs go to make_adapter_state_dict); returns the float state dict."""
    from safetensors.torch import save_file

    sd = make_adapter_state_dict(**kwargs)
    stored = quantize_fp8(sd, fp8, scale_key) if fp8 else sd
    save_file({prefix + k: v.contiguous() for k, v in stored.items()}, str(path), metadata=metadata)
    return sd
