"""Which speaker does each visual token look at? (the map that drives the label positions)

A_c(n) = mean over heads of the softmax attention that token n pays to the first latent frame's
tokens inside class c's mask, divided by the mask area. Summing softmax weights over a mask is
exactly attention with the mask indicator as the VALUE, so the whole map is ONE ordinary
attention call (flash/SDPA speed, no L x S_f matrix kept), instead of the official chunked
explicit softmax that costs ~15x more per block.
"""
from __future__ import annotations

import torch

from .ops import Attention, sdpa_attention


def with_background(token_masks: torch.Tensor) -> torch.Tensor:
    """Append the background class: tokens that are in no speaker mask. [S, S_f] -> [S + 1, S_f]."""
    masks = token_masks.bool()
    return torch.cat([masks, ~masks.any(dim=0, keepdim=True)], dim=0)


def speaker_attention_map(
    q: torch.Tensor,
    k: torch.Tensor,
    token_masks: torch.Tensor,
    frame_tokens: int,
    attention: Attention | None = None,
) -> torch.Tensor:
    """A [B, M, L] (float32) for q, k [B, L, H, D] (post norm + RoPE) and masks [M, S_f].

    Keys are the first latent frame's tokens (k[:, :S_f]). The M class masks are written into the
    first M value channels of every head (heads share them), so head h's output channel c is
    sum_{j in mask_c} softmax_j(q_n . k_j / sqrt(D)). An empty mask gives A_c = 0.
    """
    attention = attention or sdpa_attention
    batch, length, heads, head_dim = q.shape
    classes = token_masks.shape[0]
    if token_masks.shape[1] != frame_tokens:
        raise ValueError(f"token masks cover {token_masks.shape[1]} tokens, the latent frame has {frame_tokens}")
    if classes > head_dim:
        raise ValueError(f"{classes} mask classes do not fit into {head_dim} value channels per head")
    masks = token_masks.to(device=q.device, dtype=q.dtype)
    values = q.new_zeros(frame_tokens, heads, head_dim)
    values[:, :, :classes] = masks.t().unsqueeze(1)
    values = values.reshape(1, frame_tokens, heads * head_dim).expand(batch, -1, -1).contiguous()
    keys = k[:, :frame_tokens].reshape(batch, frame_tokens, heads * head_dim)
    out = attention(q.reshape(batch, length, heads * head_dim), keys, values, heads)
    mass = out.view(batch, length, heads, head_dim)[..., :classes].float().mean(dim=2)  # [B, L, M]
    area = token_masks.to(device=q.device, dtype=torch.float32).sum(dim=1).clamp_min(1.0)
    return (mass / area).transpose(1, 2)
