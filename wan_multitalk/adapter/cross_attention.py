"""Audio cross-attention: the visual tokens of latent frame t hear only frame t's audio tokens.

Folding the latent-frame axis into the batch ((B * N_t) sequences of S_f queries against K audio
keys each) makes the frame-locality exact with a plain attention call, no block mask needed.
"""
from __future__ import annotations

import torch
from torch import nn

from .label_rope import apply_label_rope
from .ops import DEFAULT_OPERATIONS, Attention, linear, sdpa_attention


class AudioCrossAttention(nn.Module):
    """Official `audio_cross_attn` (keys q_linear, kv_linear, proj; all with bias)."""

    def __init__(
        self, dim: int, token_dim: int, num_heads: int, operations=DEFAULT_OPERATIONS, device=None, dtype=None
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        factory = {"device": device, "dtype": dtype}
        self.q_linear = operations.Linear(dim, dim, **factory)
        self.kv_linear = operations.Linear(token_dim, 2 * dim, **factory)
        self.proj = operations.Linear(dim, dim, **factory)

    def forward(
        self,
        x: torch.Tensor,
        audio_tokens: torch.Tensor,
        q_positions: torch.Tensor | None = None,
        k_positions: torch.Tensor | None = None,
        attention: Attention | None = None,
    ) -> torch.Tensor:
        """x [B, N_t * S_f, dim], audio_tokens [B or 1, N_t, K, token_dim] -> [B, N_t * S_f, dim].

        q_positions [B, L] / k_positions [K] or [B, K]: label-RoPE positions (both or neither).
        Attention scale is 1/sqrt(head_dim) (the host attention's default).
        """
        attention = attention or sdpa_attention
        batch, length, _ = x.shape
        frames, keys = audio_tokens.shape[1], audio_tokens.shape[2]
        if length % frames:
            raise ValueError(f"{length} visual tokens do not split into {frames} latent frames")
        frame_tokens = length // frames
        heads, head_dim = self.num_heads, self.head_dim
        if audio_tokens.shape[0] != batch:
            audio_tokens = audio_tokens.expand(batch, -1, -1, -1)

        q = linear(self.q_linear, x).view(batch, length, heads, head_dim)
        kv = linear(self.kv_linear, audio_tokens.to(x.dtype)).view(batch, frames, keys, 2, heads, head_dim)
        k, v = kv.unbind(3)
        if (q_positions is None) != (k_positions is None):
            raise ValueError("label RoPE needs both query and key positions, or neither")
        if q_positions is not None:
            q = apply_label_rope(q, q_positions)
            k_pos = k_positions.to(k.device)
            k_pos = k_pos.view(1, 1, keys) if k_pos.ndim == 1 else k_pos.view(batch, 1, keys)
            k = apply_label_rope(k, k_pos)

        out = attention(
            q.reshape(batch * frames, frame_tokens, heads * head_dim),
            k.reshape(batch * frames, keys, heads * head_dim),
            v.reshape(batch * frames, keys, heads * head_dim),
            heads,
        )
        return linear(self.proj, out.reshape(batch, length, self.dim))
