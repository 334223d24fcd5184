"""The adapter as one module whose parameter names are the official file's keys.

`AudioAdapter(spec).load_state_dict(prepare_state_dict(sd), strict=True)` loads MultiTalk,
InfiniteTalk and ComfyUI's repackaged model-patch files without any renaming.
"""
from __future__ import annotations

import torch
from torch import nn

from .cross_attention import AudioCrossAttention
from .ops import DEFAULT_OPERATIONS, Attention, layer_norm_fp32
from .projection import AudioProjection
from .weights import AdapterSpec


class AudioBlock(nn.Module):
    """The per-DiT-block part: pre-LayerNorm `norm_x` (eps 1e-6, affine) + `audio_cross_attn`."""

    def __init__(self, spec: AdapterSpec, operations=DEFAULT_OPERATIONS, device=None, dtype=None):
        super().__init__()
        self.norm_x = operations.LayerNorm(spec.dim, eps=1e-6, elementwise_affine=True, device=device, dtype=dtype)
        self.audio_cross_attn = AudioCrossAttention(
            spec.dim, spec.token_dim, spec.num_heads, operations=operations, device=device, dtype=dtype
        )

    def forward(self, x, audio_tokens, q_positions=None, k_positions=None, attention=None) -> torch.Tensor:
        """The audio residual (no gate, no modulation: the official block adds it as is)."""
        return self.audio_cross_attn(layer_norm_fp32(self.norm_x, x), audio_tokens, q_positions, k_positions, attention)


class AudioAdapter(nn.Module):
    """`audio_proj` + `blocks[i]` for every DiT block, sized by an `AdapterSpec`."""

    def __init__(self, spec: AdapterSpec, operations=DEFAULT_OPERATIONS, device=None, dtype=None):
        super().__init__()
        if spec.later_audio_rows != spec.audio_rows + 3:
            raise ValueError(f"later frames' audio of {spec.later_audio_rows} rows must be {spec.audio_rows + 3}")
        self.spec = spec
        self.audio_proj = AudioProjection(
            audio_rows=spec.audio_rows,
            audio_layers=spec.audio_layers,
            audio_channels=spec.audio_channels,
            intermediate=spec.intermediate,
            context_tokens=spec.context_tokens,
            token_dim=spec.token_dim,
            operations=operations,
            device=device,
            dtype=dtype,
        )
        self.blocks = nn.ModuleList(
            AudioBlock(spec, operations=operations, device=device, dtype=dtype) for _ in range(spec.num_blocks)
        )

    def project(self, frame_audio: torch.Tensor) -> torch.Tensor:
        """Frame audio [S, F, W, L, C] -> tokens [S, N_t, context_tokens, token_dim]."""
        return self.audio_proj(frame_audio)

    def block_forward(
        self,
        index: int,
        x: torch.Tensor,
        tokens: torch.Tensor,
        q_pos: torch.Tensor | None = None,
        k_pos: torch.Tensor | None = None,
        attention: Attention | None = None,
    ) -> torch.Tensor:
        """Audio residual of DiT block `index`: audio_cross_attn(norm_x(x), tokens [B or 1, N_t, K, C])."""
        return self.blocks[index](x, tokens, q_pos, k_pos, attention)
