"""wav2vec2's convolutional front-end, run on audio of any length in bounded memory.

The CNN turns 16 kHz samples into ~50 Hz rows (hop 320, receptive field 400). On 30 minutes of
audio its first layer alone would hold 512 x 5.76 M float32 values (> 10 GB), so it runs a slice
at a time. Slices are exact because the convolutions have no padding: rows [a, b) depend only
on samples [a*hop, (b-1)*hop + receptive_field). The one non-local part is layer 0's GroupNorm
(one group per channel, i.e. per-channel statistics over the WHOLE clip); those statistics are
gathered in a first streaming pass, so every slice is normalised exactly as the one-pass model
would normalise it.

The official recipe then resamples these rows linearly (align_corners=True) to one row per video
frame; ``frame_interpolation`` gives that map in exact integer arithmetic, globally, so any
slice of frames can be produced on its own without shifting.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def cnn_geometry(config) -> tuple[int, int]:
    """(hop, receptive field) in samples of the conv stack described by a Wav2Vec2Config: (320, 400)."""
    hop, field = 1, 1
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        field += (int(kernel) - 1) * hop
        hop *= int(stride)
    return hop, field


def cnn_row_count(num_samples: int, config) -> int:
    """Rows the conv stack outputs for ``num_samples`` input samples (0 if shorter than the receptive field)."""
    length = int(num_samples)
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        if length < kernel:
            return 0
        length = (length - int(kernel)) // int(stride) + 1
    return length


@dataclass(frozen=True)
class FrameInterpolation:
    """Linear resampling map, align_corners=True: target row i sits at source position i*(S-1)/(T-1).

    ``lower``/``upper`` are the bracketing source rows, ``weight`` the fraction toward ``upper``.
    Computed with integers (quotient and remainder), so long clips get no float drift.
    """

    lower: torch.Tensor  # int64 [T]
    upper: torch.Tensor  # int64 [T]
    weight: torch.Tensor  # float64 [T]

    @property
    def num_target(self) -> int:
        return int(self.lower.shape[0])


def frame_interpolation(num_source: int, num_target: int) -> FrameInterpolation:
    """The align_corners=True linear map from ``num_source`` rows to ``num_target`` rows."""
    if num_source < 1 or num_target < 1:
        raise ValueError(f"need at least one source and one target row, got {num_source} -> {num_target}")
    index = torch.arange(num_target, dtype=torch.int64)
    if num_target == 1 or num_source == 1:
        lower = torch.zeros(num_target, dtype=torch.int64)
        return FrameInterpolation(lower, lower.clone(), torch.zeros(num_target, dtype=torch.float64))
    numerator = index * (num_source - 1)
    lower = torch.div(numerator, num_target - 1, rounding_mode="floor")
    weight = (numerator - lower * (num_target - 1)).to(torch.float64) / (num_target - 1)
    upper = torch.clamp(lower + 1, max=num_source - 1)
    return FrameInterpolation(lower, upper, weight)


class ChunkedFeatureEncoder:
    """Rows of ``model.feature_extractor`` over one whole clip, produced a slice at a time.

    ``rows(a, b)`` equals ``model.feature_extractor(wave)[0, :, a:b].T`` up to float rounding,
    while only ever holding ``rows_per_pass`` rows' worth of conv activations.
    """

    def __init__(self, model, wave: torch.Tensor, device, dtype, rows_per_pass: int):
        self.config = model.config
        self.layers = model.feature_extractor.conv_layers
        self.wave = wave
        self.device, self.dtype = torch.device(device), dtype
        self.rows_per_pass = max(1, int(rows_per_pass))
        self.hop, self.field = cnn_geometry(self.config)
        self.num_rows = cnn_row_count(wave.shape[0], self.config)
        first_norm = getattr(self.layers[0], "layer_norm", None)
        self.global_norm = first_norm if isinstance(first_norm, nn.GroupNorm) else None
        if self.global_norm is not None:
            self.mean, self.inv_std = self._first_layer_statistics()

    def _samples(self, start: int, stop: int) -> torch.Tensor:
        return self.wave[start:stop].to(self.device, self.dtype)[None, None]

    def _first_layer_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and 1/std of conv layer 0's output over the whole clip (float64 sums)."""
        conv = self.layers[0].conv
        kernel, stride = int(conv.kernel_size[0]), int(conv.stride[0])
        total = (self.wave.shape[0] - kernel) // stride + 1
        step = self.rows_per_pass * (self.hop // stride)
        sums = torch.zeros(conv.out_channels, dtype=torch.float64, device=self.device)
        squares = torch.zeros_like(sums)
        for first in range(0, total, step):
            last = min(first + step, total)
            out = conv(self._samples(first * stride, (last - 1) * stride + kernel))[0].to(torch.float32)
            sums += out.sum(dim=1, dtype=torch.float64)
            squares += out.square().sum(dim=1, dtype=torch.float64)
        mean = sums / total
        variance = (squares / total - mean.square()).clamp_min(0.0)
        inv_std = torch.rsqrt(variance + self.global_norm.eps)
        return mean.to(torch.float32)[:, None], inv_std.to(torch.float32)[:, None]

    def _first_layer(self, x: torch.Tensor) -> torch.Tensor:
        layer = self.layers[0]
        if self.global_norm is None:
            return layer(x)
        out = layer.conv(x).to(torch.float32)
        norm = self.global_norm
        scale = norm.weight.to(torch.float32)[:, None] * self.inv_std
        out = (out - self.mean) * scale + norm.bias.to(torch.float32)[:, None]
        return layer.activation(out.to(self.dtype))

    def rows(self, start: int, stop: int) -> torch.Tensor:
        """CNN rows [start, stop) as ``[stop - start, channels]`` on the compute device."""
        if not 0 <= start < stop <= self.num_rows:
            raise ValueError(f"rows [{start}, {stop}) outside [0, {self.num_rows})")
        pieces = []
        for first in range(start, stop, self.rows_per_pass):
            last = min(first + self.rows_per_pass, stop)
            x = self._first_layer(self._samples(first * self.hop, (last - 1) * self.hop + self.field))
            for layer in self.layers[1:]:
                x = layer(x)
            if x.shape[-1] != last - first:  # the exactness argument above would be broken
                raise RuntimeError(f"CNN slice gave {x.shape[-1]} rows, expected {last - first}")
            pieces.append(x[0].transpose(0, 1))
        return torch.cat(pieces) if len(pieces) > 1 else pieces[0]

    def frames(self, plan: FrameInterpolation, start: int, stop: int) -> torch.Tensor:
        """Video-frame rows [start, stop) of the globally interpolated CNN features, ``[n, channels]``."""
        lower, upper = plan.lower[start:stop], plan.upper[start:stop]
        first = int(lower[0])
        rows = self.rows(first, int(upper[-1]) + 1)
        return interpolate_rows(rows, lower - first, upper - first, plan.weight[start:stop])


def interpolate_rows(rows: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor,
                     weight: torch.Tensor) -> torch.Tensor:
    """rows[lower] * (1 - w) + rows[upper] * w, blended in float32 and returned in rows' dtype."""
    device = rows.device
    below = rows[lower.to(device)].to(torch.float32)
    above = rows[upper.to(device)].to(torch.float32)
    w = weight.to(device=device, dtype=torch.float32)[:, None]
    return (below + (above - below) * w).to(rows.dtype)


def cnn_features_for_frames(model, wave16k: torch.Tensor, num_frames: int, start: int = 0, stop: int | None = None,
                            rows_per_pass: int = 500, device=None, dtype=None) -> torch.Tensor:
    """Frame-aligned CNN features (before feature_projection) for frames [start, stop), float32 CPU.

    The building block of the official recipe, exposed for inspection and tests.
    """
    param = next(model.parameters())
    encoder = ChunkedFeatureEncoder(model, wave16k, device or param.device, dtype or param.dtype, rows_per_pass)
    plan = frame_interpolation(encoder.num_rows, num_frames)
    with torch.no_grad():
        return encoder.frames(plan, start, num_frames if stop is None else stop).to("cpu", torch.float32)
