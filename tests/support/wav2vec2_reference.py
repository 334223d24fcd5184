"""Independent references for the official wav2vec2 feature recipe, written for the tests.

* ``align_corners_reference``: linear interpolation with align_corners=True as an explicit
  float64 loop over the published formula (target row i sits at source i * (S - 1) / (T - 1)).
* ``hf_layer_states``: transformers' own ``Wav2Vec2Model.forward`` (output_hidden_states=True)
  with a forward hook that swaps the CNN output for given frame-rate features - exactly what the
  official Wav2Vec2Model subclass does - returning hidden_states[1:] stacked.
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
        return model.feature_extractor(wave.to(torch.float32)[None])[0].transpose(0, 1).to(torch.float64)


def hf_layer_states(model, frame_features: torch.Tensor) -> torch.Tensor:
    """``[T, layers, hidden]`` float64 from transformers' forward, CNN output replaced by ``frame_features`` [T, C]."""
    replacement = frame_features.to(torch.float32).transpose(0, 1)[None]
    handle = model.feature_extractor.register_forward_hook(lambda module, args, output: replacement.to(output.dtype))
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 400), output_hidden_states=True)
    finally:
        handle.remove()
    return torch.stack(out.hidden_states[1:], dim=2)[0].to(torch.float64)


def official_features(model, wave: torch.Tensor, num_frames: int) -> torch.Tensor:
    """The official recipe in one pass: CNN -> align-corners interpolation to ``num_frames`` -> transformer."""
    return hf_layer_states(model, align_corners_reference(cnn_rows(model, wave), num_frames))
