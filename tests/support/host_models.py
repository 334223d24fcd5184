"""Tiny random model files in the real formats, built from the host's own model classes.

The files are written where the host's loaders look (UNETLoader, VAELoader, ...) so the tests go
through exactly the code path a user's full-size files take. Only import this inside a booted host.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file


@dataclass(frozen=True)
class TinyWan:
    """Dims of the tiny Wan 2.1 I2V DiT; head width 32 keeps the host's 3-axis RoPE split valid."""

    dim: int = 64
    num_heads: int = 2
    ffn_dim: int = 128
    num_layers: int = 2
    text_dim: int = 32
    in_dim: int = 36  # 16 noise + 4 mask + 16 reference latent channels
    out_dim: int = 16


def _randomise(module: torch.nn.Module, seed: int) -> dict:
    """Deterministic fan-in scaled weights; norms at 1 so activations stay finite through the stack."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, tensor in module.state_dict().items():
        leaf = name.rsplit(".", 1)[-1]
        if tensor.ndim == 0:
            value = torch.zeros(())
        elif leaf in ("gamma",) or (tensor.ndim == 1 and "norm" in name and leaf == "weight"):
            value = torch.ones(tensor.shape)
        elif leaf == "bias" or tensor.ndim == 1:
            value = torch.randn(tensor.shape, generator=g) * 0.02
        else:
            fan_in = math.prod(tensor.shape[1:])
            value = torch.randn(tensor.shape, generator=g) / math.sqrt(max(fan_in, 1))
        state[name] = value.to(torch.float32).contiguous()
    return state


HOST_FIXED_WAN = TinyWan(dim=256, num_heads=2, ffn_dim=256, text_dim=4096)
"""For hosts that ignore the file's `config` metadata (before 0.15.1): Wan 2.1 detection there assumes head
width 128 (num_heads = dim // 128) and the model's default text width 4096, so the tiny model keeps both."""


def _tiny_wan_state(spec: TinyWan, seed: int, model_type: str = "i2v") -> dict:
    import comfy.ldm.wan.model
    import comfy.ops

    model = comfy.ldm.wan.model.WanModel(
        model_type=model_type, in_dim=spec.in_dim if model_type == "i2v" else spec.out_dim, dim=spec.dim,
        ffn_dim=spec.ffn_dim, text_dim=spec.text_dim, out_dim=spec.out_dim, num_heads=spec.num_heads,
        num_layers=spec.num_layers,
        operations=comfy.ops.disable_weight_init, device="cpu", dtype=torch.float32)
    return _randomise(model, seed)


def _metadata(spec: TinyWan) -> dict:
    return {"config": json.dumps({"transformer": {"num_heads": spec.num_heads, "text_dim": spec.text_dim}})}


def tiny_wan_spec() -> TinyWan:
    """The smallest tiny Wan this host's own detection reads back with the dims it was built with."""
    import comfy.model_detection

    spec = TinyWan()
    state = {k: torch.empty(v.shape, device="meta") for k, v in _tiny_wan_state(spec, 0).items()}
    found = comfy.model_detection.detect_unet_config(state, "", metadata=_metadata(spec))
    if (found.get("num_heads"), found.get("text_dim", 4096)) == (spec.num_heads, spec.text_dim):
        return spec
    return HOST_FIXED_WAN


def write_tiny_wan_i2v(path: Path, spec: TinyWan = TinyWan(), seed: int = 0,
                       dtype: torch.dtype = torch.float32, model_type: str = "i2v") -> dict:
    """A Wan 2.1 I2V DiT the host's UNETLoader detects: metadata `config` sets heads and text width. model_type
    "t2v" makes the text-to-video Wan of the same size instead (16 input channels, no image embedding)."""
    state = {k: v.to(dtype) for k, v in _tiny_wan_state(spec, seed, model_type).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=_metadata(spec))
    return state


def write_tiny_wan_vae(path: Path, dim: int = 8, seed: int = 0) -> dict:
    """A Wan 2.1 VAE (16 latent channels, 8x spatial / 4x temporal) at a tiny base width."""
    import comfy.ldm.wan.vae

    vae = comfy.ldm.wan.vae.WanVAE(dim=dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                                   attn_scales=[], temperal_downsample=[False, True, True])
    state = _randomise(vae, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return state


def write_tiny_lora(path, spec, rank=4, seed=5):
    """A LoRA on every self-attention q of the tiny Wan, in the common lora_up/lora_down layout."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for block in range(spec.num_layers):
        base = f"diffusion_model.blocks.{block}.self_attn.q"
        state[f"{base}.lora_up.weight"] = torch.randn(spec.dim, rank, generator=g)
        state[f"{base}.lora_down.weight"] = torch.randn(rank, spec.dim, generator=g)
        state[f"{base}.alpha"] = torch.tensor(float(rank))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
