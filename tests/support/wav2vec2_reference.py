"""Independent references for the official wav2vec2 feature recipe, written for the tests.

* ``align_corners_reference``: linear interpolation with align_corners=True as an explicit
  float64 loop over the published formula (target row i sits at source i * (S - 1) / (T - 1)).
* ``layer_states``: the post-LN wav2vec2 transformer (feature projection, weight-normed positional
  convolution, 12 x [self-attention, LayerNorm, GELU feed-forward, LayerNorm]) written out in float64
  from the published architecture and the model's weights alone; transformers' forward is not used,
  so the same reference holds under every transformers version.
None of this touches the package under test.
"""
from __future__ import annotations

import math

import torch


def align_corners_reference(rows: torch.Tensor, num_target: int) -> torch.Tensor:
    """``[num_target, C]`` float64: rows ``[S, C]`` resampled linearly, align_corners=True."""
    rows = rows.to(torch.float64)
    num_source = rows.shape[0]
    out = torch.empty((num_target, rows.shape[1]), dtype=torch.float64)
    for i in range(num_target):
        position = 0.0 if num_target == 1 else i * (num_source - 1) / (num_target - 1)
        below = min(int(math.floor(position)), num_source - 1)
        above = min(below + 1, num_source - 1)
        fraction = position - below
        out[i] = rows[below] * (1.0 - fraction) + rows[above] * fraction
    return out


def cnn_rows(model, wave: torch.Tensor) -> torch.Tensor:
    """``[T50, C]`` float64: the model's CNN front-end run once over the whole waveform."""
    with torch.no_grad():
        dtype = next(model.parameters()).dtype
        return model.feature_extractor(wave.to(dtype)[None])[0].transpose(0, 1).to(torch.float64)


def _tensor(sd: dict, key: str) -> torch.Tensor:
    return sd[key].detach().to("cpu", torch.float64)


def _linear(sd: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    return x @ _tensor(sd, prefix + ".weight").T + _tensor(sd, prefix + ".bias")


def _layer_norm(sd: dict, prefix: str, x: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * _tensor(sd, prefix + ".weight") + _tensor(sd, prefix + ".bias")


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _positional(sd: dict, config, x: torch.Tensor) -> torch.Tensor:
    """Grouped conv over time, weight = g * v / ||v|| (norm over all but the kernel axis), 'same' padding with
    the last step dropped for an even kernel, then GELU. x: [T, C]."""
    base = "encoder.pos_conv_embed.conv."
    g_key = base + ("parametrizations.weight.original0" if base + "parametrizations.weight.original0" in sd else "weight_g")
    v_key = base + ("parametrizations.weight.original1" if base + "parametrizations.weight.original1" in sd else "weight_v")
    g, v = _tensor(sd, g_key), _tensor(sd, v_key)
    weight = g * v / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt()
    kernel, groups = config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups
    out = torch.nn.functional.conv1d(x.T[None], weight, _tensor(sd, base + "bias"), padding=kernel // 2, groups=groups)
    if kernel % 2 == 0:
        out = out[..., :-1]
    return _gelu(out[0].T)


def _attention(sd: dict, prefix: str, x: torch.Tensor, heads: int) -> torch.Tensor:
    t, width = x.shape
    d = width // heads
    q = _linear(sd, prefix + ".q_proj", x).reshape(t, heads, d).transpose(0, 1)
    k = _linear(sd, prefix + ".k_proj", x).reshape(t, heads, d).transpose(0, 1)
    v = _linear(sd, prefix + ".v_proj", x).reshape(t, heads, d).transpose(0, 1)
    weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(d), dim=-1)
    return _linear(sd, prefix + ".out_proj", (weights @ v).transpose(0, 1).reshape(t, width))


def layer_states(model, frame_features: torch.Tensor) -> torch.Tensor:
    """``[T, layers, hidden]`` float64: every transformer layer's output for CNN rows ``frame_features`` [T, C]."""
    config = model.config
    sd = model.state_dict()
    eps = config.layer_norm_eps
    x = frame_features.to(torch.float64)
    x = _linear(sd, "feature_projection.projection", _layer_norm(sd, "feature_projection.layer_norm", x, eps))
    x = _layer_norm(sd, "encoder.layer_norm", x + _positional(sd, config, x), eps)
    outputs = []
    for i in range(config.num_hidden_layers):
        base = f"encoder.layers.{i}"
        x = _layer_norm(sd, base + ".layer_norm", x + _attention(sd, base + ".attention", x,
                                                                  config.num_attention_heads), eps)
        hidden = _gelu(_linear(sd, base + ".feed_forward.intermediate_dense", x))
        x = _layer_norm(sd, base + ".final_layer_norm", x + _linear(sd, base + ".feed_forward.output_dense", hidden),
                        eps)
        outputs.append(x)
    return torch.stack(outputs, dim=1)


def official_features(model, wave: torch.Tensor, num_frames: int) -> torch.Tensor:
    """The official recipe in one pass: CNN -> align-corners interpolation to ``num_frames`` -> transformer."""
    return layer_states(model, align_corners_reference(cnn_rows(model, wave), num_frames))
