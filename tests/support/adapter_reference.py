"""Float64 re-derivations of the published adapter formulas, written independently of the library.

Everything here reads raw state-dict tensors and uses explicit loops / einsum, so a test that
compares the library against these functions checks the formulas, not the code against itself.
(Sources: the MultiTalk/InfiniteTalk papers' description as summarised in the shared reference
notes, sections 3-5.)
"""
from __future__ import annotations

import math

import torch

F64 = torch.float64
BANDS = {2: (2.0, 22.0), 3: (2.0, 7.0, 22.0), 4: (2.0, 7.0, 17.0, 22.0)}  # the pack's documented rule
BACKGROUND = 12.0


def rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """max |actual - expected| / max |expected| (norm-wise; elementwise ratios blow up near zero)."""
    actual, expected = actual.detach(), expected.detach().to(F64)
    return float((actual.to(F64) - expected).abs().max() / expected.abs().max().clamp_min(1e-300))


def _lin(sd, name, x):
    w, b = sd[name + ".weight"].to(F64), sd[name + ".bias"].to(F64)
    return torch.einsum("...i,oi->...o", x.to(F64), w) + b


def layer_norm(x, weight, bias, eps):
    x = x.to(F64)
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight.to(F64) + bias.to(F64)


def latent_rows(windows_one_speaker: torch.Tensor) -> list[torch.Tensor]:
    """Per latent frame, the list of audio rows the projection reads, by explicit index loops.

    windows: [F, 5, L, C]. Latent 0: frame 0 offsets -2..2. Latent j>=1: frame 4j-3 offsets -2,-1,0;
    frames 4j-2 and 4j-1 offset 0; frame 4j offsets 0,+1,+2 (offset o is window index o + 2).
    """
    frames = windows_one_speaker.shape[0]
    groups = [torch.stack([windows_one_speaker[0, o + 2] for o in (-2, -1, 0, 1, 2)])]
    for j in range(1, (frames - 1) // 4 + 1):
        picks = [(4 * j - 3, -2), (4 * j - 3, -1), (4 * j - 3, 0), (4 * j - 2, 0), (4 * j - 1, 0),
                 (4 * j, 0), (4 * j, 1), (4 * j, 2)]
        groups.append(torch.stack([windows_one_speaker[f, o + 2] for f, o in picks]))
    return groups


def projection(sd, windows: torch.Tensor, tokens: int, token_dim: int) -> torch.Tensor:
    """[S, F, 5, L, C] -> [S, N_t, tokens, token_dim] (ReLU MLP, LayerNorm eps 1e-5), float64."""
    out = []
    for s in range(windows.shape[0]):
        frames = []
        for j, rows in enumerate(latent_rows(windows[s])):
            layer = "audio_proj.proj1" if j == 0 else "audio_proj.proj1_vf"
            h = torch.relu(_lin(sd, layer, rows.reshape(-1)))
            h = torch.relu(_lin(sd, "audio_proj.proj2", h))
            t = _lin(sd, "audio_proj.proj3", h).reshape(tokens, token_dim)
            frames.append(layer_norm(t, sd["audio_proj.norm.weight"], sd["audio_proj.norm.bias"], 1e-5))
        out.append(torch.stack(frames))
    return torch.stack(out)


def rope(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Interleaved 1-D RoPE on x [N, H, D] with positions [N], explicit loop over pairs."""
    x = x.to(F64)
    out = torch.empty_like(x)
    dim = x.shape[-1]
    pos = positions.to(F64)
    for i in range(dim // 2):
        theta = 10000.0 ** (-2.0 * i / dim)
        c = torch.cos(pos * theta)[:, None]
        s = torch.sin(pos * theta)[:, None]
        a, b = x[..., 2 * i], x[..., 2 * i + 1]
        out[..., 2 * i] = a * c - b * s
        out[..., 2 * i + 1] = b * c + a * s
    return out


def speaker_map(q: torch.Tensor, k: torch.Tensor, masks: torch.Tensor, frame_tokens: int) -> torch.Tensor:
    """A [M, L] for one element: q, k [L, H, D]; explicit softmax per head over first-frame keys."""
    q, k = q.to(F64), k.to(F64)
    length, heads, dim = q.shape
    m = masks.to(F64)
    out = torch.zeros(m.shape[0], length, dtype=F64)
    for h in range(heads):
        logits = q[:, h] @ k[:frame_tokens, h].T / math.sqrt(dim)  # [L, S_f]
        logits = logits - logits.max(dim=1, keepdim=True).values
        p = logits.exp()
        p = p / p.sum(dim=1, keepdim=True)
        for c in range(m.shape[0]):
            out[c] += (p * m[c]).sum(dim=1) / m[c].sum()
    return out / heads


def label_positions(amap: torch.Tensor, centres) -> torch.Tensor:
    """Positions [L] from A [S+1, L] (last row background), token by token."""
    speakers = len(centres)
    out = torch.empty(amap.shape[1], dtype=F64)
    lows = [float(amap[c].min()) for c in range(speakers)]
    highs = [float(amap[c].max()) for c in range(speakers)]
    for n in range(amap.shape[1]):
        column = [float(v) for v in amap[:, n]]
        winner = max(range(speakers + 1), key=lambda c: column[c])
        if winner == speakers:
            out[n] = BACKGROUND
        else:
            lo = centres[winner] - 2.0
            out[n] = lo + 4.0 * (column[winner] - lows[winner]) / (highs[winner] - lows[winner] + 1e-8)
    return out


def audio_attention(sd, block, x, tokens, heads, q_pos=None, k_pos=None) -> torch.Tensor:
    """Audio residual for one element: x [L, dim], tokens [N_t, K, C] -> [L, dim], per-frame softmax."""
    p = f"blocks.{block}."
    h = layer_norm(x, sd[p + "norm_x.weight"], sd[p + "norm_x.bias"], 1e-6)
    dim = h.shape[-1]
    head_dim = dim // heads
    frames, keys = tokens.shape[:2]
    frame_tokens = h.shape[0] // frames
    q = _lin(sd, p + "audio_cross_attn.q_linear", h).reshape(-1, heads, head_dim)
    kv = _lin(sd, p + "audio_cross_attn.kv_linear", tokens).reshape(frames, keys, 2, heads, head_dim)
    if q_pos is not None:
        q = rope(q, q_pos)
    out = torch.zeros(h.shape[0], heads, head_dim, dtype=F64)
    for t in range(frames):
        k, v = kv[t, :, 0], kv[t, :, 1]
        if k_pos is not None:
            k = rope(k, k_pos)
        rows = slice(t * frame_tokens, (t + 1) * frame_tokens)
        for hd in range(heads):
            logits = q[rows, hd] @ k[:, hd].T / math.sqrt(head_dim)
            weights = torch.softmax(logits, dim=1)
            out[rows, hd] = weights @ v[:, hd]
    return _lin(sd, p + "audio_cross_attn.proj", out.reshape(-1, dim))


def patch_output(sd, block, x, heads, tokens_per_speaker, token_dim, windows, masks=None, q=None, k=None,
                 frame_tokens=None, scale=1.0) -> torch.Tensor:
    """Reference of the attn2 patch for ONE batch element: x + scale * audio residual.

    Null audio = windows torch.zeros(1, F, 5, L, C) (one speaker of zero features, no label RoPE).
    With 2+ speakers and masks [S+1, S_f] the label positions come from self-attention q/k [L, H, D].
    """
    proj = projection(sd, windows, tokens_per_speaker, token_dim)  # [S, N_t, T, C]
    speakers = proj.shape[0]
    tokens = torch.cat([proj[s] for s in range(speakers)], dim=1)  # speaker 1's tokens first
    q_pos = k_pos = None
    if speakers > 1 and masks is not None:
        centres = BANDS[speakers]
        amap = speaker_map(q, k, masks, frame_tokens)
        q_pos = label_positions(amap, centres)
        k_pos = torch.tensor([centres[s] for s in range(speakers) for _ in range(tokens_per_speaker)], dtype=F64)
    return x.to(F64) + scale * audio_attention(sd, block, x, tokens, heads, q_pos, k_pos)
