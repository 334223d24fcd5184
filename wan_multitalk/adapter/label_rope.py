"""L-RoPE: a 1-D rotary embedding whose "position" is a speaker label, not a place in time.

Each visual token gets a label position inside its speaker's band (or the background value);
each speaker's audio tokens get the centre of that speaker's band. The audio attention logit
then depends on the label difference, so a token mostly hears the speaker whose band it sits in.

Band rule (ours, generalising the official two-speaker layout):
    bands are 4 wide; centres are taken from the slots [2, 7, 17, 22], background stays at 12
    (the trained value).  N=2 -> {2, 22}  (exactly the official [0,4] / [20,24]);
    N=3 -> {2, 7, 22};  N=4 -> {2, 7, 17, 22};  N=1 -> no label RoPE at all.
Only the two-speaker layout was trained; 3-4 speakers are an extrapolation that keeps the trained
extremes and background and puts new bands between them, as far from 12 as the width allows.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..limits import MAX_SPEAKERS

ROPE_BASE = 10000.0
BAND_WIDTH = 4.0
BACKGROUND_POSITION = 12.0
_CENTRES = {1: (), 2: (2.0, 22.0), 3: (2.0, 7.0, 22.0), 4: (2.0, 7.0, 17.0, 22.0)}
assert max(_CENTRES) == MAX_SPEAKERS, "a band layout for every speaker count the pack allows"


def band_centres(num_speakers: int) -> tuple[float, ...]:
    """Band centre of each speaker, in speaker order; empty for one speaker (no label RoPE)."""
    if num_speakers not in _CENTRES:
        raise InputError(
            "speakers",
            f"{num_speakers} speakers; speaker routing supports 1 to {MAX_SPEAKERS}.",
            f"Use at most {MAX_SPEAKERS} speaker tracks and masks.",
        )
    return _CENTRES[num_speakers]


def label_positions(attention_map: torch.Tensor, centres: "tuple[float, ...] | torch.Tensor") -> torch.Tensor:
    """Per-token label positions [B, L] (float32) from a speaker attention map.

    attention_map: [B, S + 1, L], rows = speakers in order, then background.
    For speaker c: s_c(n) = lo_c + 4 (A_c(n) - min_c) / (max_c - min_c + 1e-8), min/max over all
    tokens of the batch element; the winner over speakers AND background (argmax of A) decides:
    s_winner(n) for a speaker, 12 for background.
    """
    speakers = len(centres)
    if attention_map.ndim != 3 or attention_map.shape[1] != speakers + 1:
        raise ValueError(
            f"attention map must be [B, {speakers + 1}, L] (speakers + background), got {list(attention_map.shape)}"
        )
    amap = attention_map.float()
    spk = amap[:, :speakers]
    low = spk.amin(dim=2, keepdim=True)
    high = spk.amax(dim=2, keepdim=True)
    starts = torch.as_tensor(centres, dtype=torch.float32, device=amap.device).view(1, -1, 1) - BAND_WIDTH / 2
    scaled = starts + BAND_WIDTH * (spk - low) / (high - low + 1e-8)
    background = torch.full_like(amap[:, :1], BACKGROUND_POSITION)
    candidates = torch.cat([scaled, background], dim=1)
    winner = amap.argmax(dim=1, keepdim=True)
    return candidates.gather(1, winner).squeeze(1)


def key_positions(centres: tuple[float, ...], tokens_per_speaker: int, device=None) -> torch.Tensor:
    """Label positions [S * tokens] of the audio keys: each speaker's tokens sit at its band centre."""
    values = torch.tensor(centres, dtype=torch.float32, device=device)
    return values.repeat_interleave(tokens_per_speaker)


def apply_label_rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Rotate x [..., N, H, D] by positions [..., N] (broadcast), computed in float32.

    Frequencies theta_i = 10000^(-2i/D), one per INTERLEAVED pair (2i, 2i+1):
    out[2i] = x[2i] cos - x[2i+1] sin,  out[2i+1] = x[2i+1] cos + x[2i] sin.  Same for all heads.
    """
    head_dim = x.shape[-1]
    if head_dim % 2:
        raise ValueError(f"RoPE needs an even head size, got {head_dim}")
    inv_freq = ROPE_BASE ** (-torch.arange(0, head_dim, 2, device=x.device, dtype=torch.float32) / head_dim)
    angles = positions.to(device=x.device, dtype=torch.float32)[..., None, None] * inv_freq  # [..., N, 1, D/2]
    # An interleaved pair (x[2i], x[2i+1]) is the complex number x[2i] + i x[2i+1]; multiplying by
    # e^{i angle} is exactly the rotation above, done in one fused pass over the (large) q tensor.
    pairs = x.float().unflatten(-1, (head_dim // 2, 2))
    if pairs.stride(-1) != 1 or pairs.storage_offset() % 2:
        pairs = pairs.contiguous()
    rotated = torch.view_as_complex(pairs) * torch.polar(torch.ones_like(angles), angles)
    return torch.view_as_real(rotated).flatten(-2).to(x.dtype)
