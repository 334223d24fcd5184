"""The official MultiTalk/InfiniteTalk audio features: one wav2vec2 row per video frame.

Recipe (official ``get_embedding`` + its Wav2Vec2Model subclass): raw 16 kHz waveform (no
normalisation) -> CNN front-end (~50 Hz rows) -> LINEAR resampling, align_corners=True, to
exactly one row per video frame -> feature_projection -> transformer run at the video rate ->
the outputs of all transformer layers stacked -> ``[T, layers, hidden]``; row i is frame i.

Audio up to ``chunk_seconds + 2 * context_seconds`` is encoded in one pass, exactly as the
official code does. Longer audio is encoded in overlapping windows so memory stays bounded:

* window k holds the core frames [k*core, (k+1)*core) plus ``context`` frames on each side
  (clipped to the clip), where core = round(chunk_seconds*fps), context = round(context_seconds*fps);
* at the seam s = k*core, windows k-1 and k are crossfaded linearly over the ``context`` frames
  [s - context//2, s - context//2 + context): window k's weight is (f - start + 0.5) / context;
* the CNN rows and the frame interpolation are global (see cnn_frontend), so chunking never
  shifts a frame; only self-attention, which now sees a window instead of the whole clip, differs.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..errors import InputError
from ..timebase import exact_fps, exact_fraction, frames_for_samples
from .cnn_frontend import ChunkedFeatureEncoder, cnn_geometry, cnn_row_count, frame_interpolation, interpolate_rows
from .waveform import WAV2VEC2_SAMPLE_RATE

__all__ = ["frames_for_samples", "encode_features", "window_layout", "seam_weights"]

DEFAULT_CHUNK_SECONDS = 30.0
"""Core length of one transformer window; ~750 frames at 25 fps, a length wav2vec2 handles well."""
DEFAULT_CONTEXT_SECONDS = 5.0
"""Extra audio each side of a window's core; also the crossfade length at seams."""
DEFAULT_CNN_CHUNK_SECONDS = 10.0
"""Audio per CNN pass; bounds the conv activations to ~130 MB for the 512-channel base model."""


def _frames_from_seconds(seconds, fps, input_name: str, minimum: int) -> int:
    frames = round(exact_fraction(seconds, input_name) * exact_fps(fps))
    if frames < minimum:
        raise InputError(input_name, f"is {seconds} s, which is less than {minimum} frame(s) at {fps} fps.",
                         f"Set {input_name} to a larger value.")
    return int(frames)


def window_layout(num_frames: int, core: int, context: int) -> list[tuple[int, int]]:
    """[start, stop) of every transformer window; one window when the clip fits in one."""
    if num_frames <= core + 2 * context:
        return [(0, num_frames)]
    return [(max(0, seam - context), min(num_frames, seam + core + context)) for seam in range(0, num_frames, core)]


def seam_weights(start: int, stop: int, seam_before: int | None, seam_after: int | None, fade: int) -> torch.Tensor:
    """Crossfade weight of one window for global frames [start, stop), float32.

    Rises across the fade band of the seam it starts at, falls across the band of the next seam.
    The weights of neighbouring windows sum to exactly 1 on every frame.
    """
    frames = torch.arange(start, stop, dtype=torch.float64)
    weight = torch.ones_like(frames)
    if seam_before is not None:
        weight *= _rise(frames, seam_before, fade)
    if seam_after is not None:
        weight *= 1.0 - _rise(frames, seam_after, fade)
    return weight.to(torch.float32)


def _rise(frames: torch.Tensor, seam: int, fade: int) -> torch.Tensor:
    if fade == 0:
        return (frames >= seam).to(torch.float64)
    band_start = seam - fade // 2
    return ((frames - band_start + 0.5) / fade).clamp(0.0, 1.0)


def _check_wave(wave16k, receptive_field: int, input_name: str) -> torch.Tensor:
    if not isinstance(wave16k, torch.Tensor) or wave16k.dim() != 1:
        shape = tuple(wave16k.shape) if isinstance(wave16k, torch.Tensor) else type(wave16k).__name__
        raise ValueError(f"{input_name}: expected a 1-D 16 kHz waveform (use prepare_waveform), got {shape}")
    if wave16k.shape[0] < receptive_field:
        raise InputError(
            input_name,
            f"is only {wave16k.shape[0]} samples ({wave16k.shape[0] / WAV2VEC2_SAMPLE_RATE * 1000:.1f} ms) at 16 kHz; "
            f"wav2vec2 needs at least {receptive_field} samples.",
            "Connect a longer audio clip.",
        )
    return wave16k.detach().to("cpu", torch.float32).contiguous()


def _transformer_layers(model, features: torch.Tensor) -> torch.Tensor:
    """feature_projection + encoder on ``[1, n, conv_channels]``; returns ``[n, layers, hidden]``.

    Goes through transformers' public forward with ``output_hidden_states`` (the same on 4.x and 5.x; the
    layer modules' own return types are not), after swapping the CNN's output for the frame-rate rows, as
    the official Wav2Vec2Model subclass does. The CNN itself runs on a minimal stub waveform.
    """
    rows = features.transpose(1, 2)
    _hop, receptive_field = cnn_geometry(model.config)
    stub = features.new_zeros((1, receptive_field))
    handle = model.feature_extractor.register_forward_hook(lambda _module, _args, _output: rows)
    try:
        hidden_states = model(stub, output_hidden_states=True).hidden_states
    finally:
        handle.remove()
    return torch.stack(hidden_states[1:], dim=2)[0]  # hidden_states[0] is the encoder's input


def encode_features(model, wave16k: torch.Tensor, fps=25.0, num_frames: int | None = None,
                    chunk_seconds=DEFAULT_CHUNK_SECONDS, context_seconds=DEFAULT_CONTEXT_SECONDS,
                    cnn_chunk_seconds=DEFAULT_CNN_CHUNK_SECONDS, input_name: str = "audio",
                    progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """wav2vec2 features of one 16 kHz mono track, one row per video frame: ``[T, layers, hidden]`` float32 CPU.

    T = ``num_frames`` or frames_for_samples(N, 16000, fps). Computed where the model is, in its dtype (the
    host's memory manager places it). ``progress(done, total)`` is called after each transformer window (it
    may raise to cancel).
    """
    if getattr(model.config, "do_stable_layer_norm", False):
        raise InputError("model", "is a stable-layer-norm wav2vec2 (large/XLSR style).",
                         "Use chinese-wav2vec2-base, the encoder MultiTalk/InfiniteTalk were trained with.")
    hop, field = cnn_geometry(model.config)
    wave = _check_wave(wave16k, field, input_name)
    if num_frames is not None and int(num_frames) < 1:
        raise ValueError(f"num_frames must be at least 1, got {num_frames}")
    total = frames_for_samples(wave.shape[0], WAV2VEC2_SAMPLE_RATE, fps) if num_frames is None else int(num_frames)
    if total < 1:
        raise InputError(input_name, f"is {wave.shape[0] / WAV2VEC2_SAMPLE_RATE:.3f} s long, shorter than one frame "
                         f"at {fps} fps.", "Connect a longer audio clip.")
    core = _frames_from_seconds(chunk_seconds, fps, "chunk_seconds", 1)
    context = _frames_from_seconds(context_seconds, fps, "context_seconds", 0)
    if context > core:
        raise InputError("context_seconds", f"({context_seconds} s) is longer than chunk_seconds ({chunk_seconds} s).",
                         "Use a context no longer than the chunk.")
    rows_per_pass = max(1, round(float(cnn_chunk_seconds) * WAV2VEC2_SAMPLE_RATE / hop))
    param = next(model.parameters())
    with torch.no_grad():
        return _encode(model, wave, total, core, context, rows_per_pass, param.device, param.dtype, progress)


def _encode(model, wave, total, core, context, rows_per_pass, device, dtype, progress):
    windows = window_layout(total, core, context)
    plan = frame_interpolation(cnn_row_count(wave.shape[0], model.config), total)
    if len(windows) == 1:  # the official one-pass path, CNN included
        rows = model.feature_extractor(wave.to(device, dtype)[None])[0].transpose(0, 1)
        features = interpolate_rows(rows, plan.lower, plan.upper, plan.weight)
        out = _transformer_layers(model, features[None]).to("cpu", torch.float32)
        if progress is not None:
            progress(1, 1)
        return out
    cnn = ChunkedFeatureEncoder(model, wave, device, dtype, rows_per_pass)
    out = None
    for index, (start, stop) in enumerate(windows):
        states = _transformer_layers(model, cnn.frames(plan, start, stop)[None]).to("cpu", torch.float32)
        if out is None:
            out = torch.zeros((total,) + tuple(states.shape[1:]), dtype=torch.float32)
        seam_before = index * core if index > 0 else None
        seam_after = (index + 1) * core if index + 1 < len(windows) else None
        weight = seam_weights(start, stop, seam_before, seam_after, context)
        used = weight.nonzero()
        first, last = int(used[0]), int(used[-1]) + 1
        out[start + first:start + last] += states[first:last] * weight[first:last, None, None]
        if progress is not None:
            progress(index + 1, len(windows))
    return out
