"""The layer ops the adapter borrows from the host, and their defaults without one: layer classes and attention.

The node layer passes ComfyUI's own `operations` (cast-on-use layers) and `optimized_attention`.
Without a host we fall back to `torch.nn` and torch SDPA. Plain `torch.nn` layers do not cast
their weights to the input dtype, so the two helpers below do that cast themselves; host layers
override `forward` and are simply called, letting the host decide how weights are cast/offloaded.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

# attention(q, k, v, heads, options=None) -> out, all [B, L, heads * dim_head] (ComfyUI's convention); `options` is
# the host's per-call dict from the patch hook, passed through untouched (ComfyUI keeps an attention override there).
Attention = Callable[..., torch.Tensor]

DEFAULT_OPERATIONS = torch.nn


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, options=None) -> torch.Tensor:
    """Multi-head attention in the host's [B, L, heads*dim] layout, scale 1/sqrt(dim_head)."""
    batch, q_len, width = q.shape
    dim_head = width // heads
    qh = q.reshape(batch, q_len, heads, dim_head).transpose(1, 2)
    kh = k.reshape(batch, k.shape[1], heads, dim_head).transpose(1, 2)
    vh = v.reshape(batch, v.shape[1], heads, v.shape[2] // heads).transpose(1, 2)
    out = F.scaled_dot_product_attention(qh, kh, vh)
    return out.transpose(1, 2).reshape(batch, q_len, -1)


def _is_plain(module: torch.nn.Module, base: type) -> bool:
    """True when the layer uses torch's own forward (no host casting logic)."""
    return type(module).forward is base.forward


def linear(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a Linear layer in the input's dtype (plain torch layers get their weights cast on use).

    Casting on use keeps fp8 / mismatched-dtype weights usable without host ops, the same rule
    ComfyUI's manual-cast layers follow.
    """
    weight = module.weight
    if not _is_plain(module, torch.nn.Linear) or (weight.dtype == x.dtype and weight.device == x.device):
        return module(x)
    bias = None if module.bias is None else module.bias.to(device=x.device, dtype=x.dtype)
    return F.linear(x, weight.to(device=x.device, dtype=x.dtype), bias)


def layer_norm_fp32(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm with float32 statistics (as the official code), result in x's dtype.

    On CUDA the half-precision LayerNorm kernel already accumulates mean and variance in float32,
    so it is called directly: an explicit upcast would write and read the whole residual stream
    in float32 once per block (memory-bound, ~1.5 ms a block at 14B / 832x480x81 on an H100).
    """
    if x.is_cuda and x.dtype in (torch.float16, torch.bfloat16):
        if _is_plain(module, torch.nn.LayerNorm):
            weight = None if module.weight is None else module.weight.to(device=x.device, dtype=x.dtype)
            bias = None if module.bias is None else module.bias.to(device=x.device, dtype=x.dtype)
            return F.layer_norm(x, module.normalized_shape, weight, bias, module.eps)
        return module(x)
    x32 = x.float()
    if _is_plain(module, torch.nn.LayerNorm):
        weight = None if module.weight is None else module.weight.to(device=x.device, dtype=torch.float32)
        bias = None if module.bias is None else module.bias.to(device=x.device, dtype=torch.float32)
        out = F.layer_norm(x32, module.normalized_shape, weight, bias, module.eps)
    else:
        out = module(x32)
    return out.to(x.dtype)
