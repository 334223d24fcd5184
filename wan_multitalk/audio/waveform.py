"""Turning a ComfyUI AUDIO waveform into what wav2vec2 was trained on: mono float32 at 16 kHz.

Also loudness normalisation (the official pipeline brings every speaker track to -23 LUFS before
encoding, so a quiet recording still moves the mouth) and a resampler that works with or without
torchaudio.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError
from ..timebase import check_sample_rate

WAV2VEC2_SAMPLE_RATE = 16000
"""wav2vec2 was trained on 16 kHz audio; every feature in this package is computed at this rate."""

DEFAULT_TARGET_LUFS = -23.0
"""The official MultiTalk/InfiniteTalk loudness target (EBU R128)."""

_SILENCE_LOUDNESS_LIMIT = 100.0
"""|integrated loudness| above this means silence or garbage; such tracks are left as they are."""


def resample(wave: torch.Tensor, src_rate: int, dst_rate: int) -> torch.Tensor:
    """Band-limited resampling along the last axis; returns float32 with ceil(N * dst / src) samples.

    torchaudio's windowed-sinc resampler is used when importable (pure PyTorch, no binary deps);
    otherwise librosa (soxr). Equal rates return the input unchanged.
    """
    src_rate, dst_rate = int(src_rate), int(dst_rate)
    wave = torch.as_tensor(wave)
    if src_rate == dst_rate:
        return wave.to(torch.float32)
    try:
        import torchaudio.functional as audio_functional
    except Exception:  # noqa: BLE001 - torchaudio missing or its binary part failing to load
        audio_functional = None
    if audio_functional is not None:
        return audio_functional.resample(wave.to(torch.float32), src_rate, dst_rate)
    import librosa

    as_numpy = wave.detach().to("cpu", torch.float32).numpy()
    out = librosa.resample(as_numpy, orig_sr=src_rate, target_sr=dst_rate, axis=-1)
    expected = math.ceil(wave.shape[-1] * dst_rate / src_rate)
    out = librosa.util.fix_length(out, size=expected, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)).to(wave.device)


def as_channels_first(waveform, input_name: str, sample_rate: int | None = None) -> torch.Tensor:
    """``[B, C, N]`` (B must be 1), ``[C, N]`` or ``[N]`` -> CPU float32 ``[C, N]``; rejects empty/NaN/inf."""
    if not isinstance(waveform, torch.Tensor):
        try:
            waveform = torch.as_tensor(np.asarray(waveform))
        except Exception:  # noqa: BLE001
            raise InputError(
                input_name, f"is not an audio waveform (got {type(waveform).__name__}).", "Connect an AUDIO output."
            ) from None
    if waveform.dim() == 3:
        if waveform.shape[0] != 1:
            raise InputError(
                input_name,
                f"holds a batch of {waveform.shape[0]} audio clips; one clip per speaker input is expected.",
                "Split the batch and connect one clip to each speaker input, or select one clip.",
            )
        waveform = waveform[0]
    elif waveform.dim() == 1:
        waveform = waveform[None]
    elif waveform.dim() != 2:
        raise InputError(
            input_name,
            f"has shape {tuple(waveform.shape)}; expected [batch, channels, samples].",
            "Connect a ComfyUI AUDIO output (e.g. from Load Audio).",
        )
    if waveform.shape[0] == 0 or waveform.shape[1] == 0:
        raise InputError(
            input_name,
            f"is empty (shape {tuple(waveform.shape)}: no samples).",
            "Connect an audio clip that contains sound; check the file and any trim/crop settings.",
        )
    if waveform.dtype.is_complex:
        raise InputError(input_name, "holds complex numbers, not audio samples.", "Connect a real-valued AUDIO.")
    waveform = waveform.detach().to("cpu", torch.float32)
    _check_finite(waveform, input_name, sample_rate)
    return waveform


def _check_finite(waveform: torch.Tensor, input_name: str, sample_rate: int | None = None) -> None:
    bad = ~torch.isfinite(waveform)
    count = int(bad.sum())
    if count == 0:
        return
    first = int(bad.any(dim=0).nonzero()[0])
    channel = int(bad[:, first].nonzero()[0])
    num_nan = int(torch.isnan(waveform).sum())
    where = f"first at sample {first} of channel {channel}"
    if sample_rate:
        where += f" ({first / sample_rate:.3f} s)"
    raise InputError(
        input_name,
        f"contains {count} non-finite samples ({num_nan} NaN, {count - num_nan} infinite), {where}.",
        "Re-export or re-decode the audio; if it comes from an effect node, check that node's settings.",
    )


def prepare_waveform(waveform, sample_rate, input_name: str) -> torch.Tensor:
    """One speaker's AUDIO -> ``[N]`` float32 mono at 16 kHz, the input wav2vec2 expects.

    Channels are averaged (not "take channel 0"), so a stereo recording with the voice panned to
    one side is still heard. Every check runs before the (comparatively slow) resampling.
    """
    rate = check_sample_rate(sample_rate, input_name)
    channels = as_channels_first(waveform, input_name, rate)
    mono = channels.mean(dim=0)
    return resample(mono, rate, WAV2VEC2_SAMPLE_RATE).to(torch.float32).contiguous()


def loudness_gain(wave: torch.Tensor, sample_rate: int = WAV2VEC2_SAMPLE_RATE,
                  target_lufs: float = DEFAULT_TARGET_LUFS) -> float:
    """Linear gain that brings ``wave`` ([N] or [C, N]) to ``target_lufs`` (ITU-R BS.1770, pyloudnorm).

    Returns 1.0 for silence (loudness -inf or |loudness| > 100, the official rule) and for clips
    shorter than the meter's 400 ms block. Exposed separately so the same gain can be applied to
    the original-rate, multi-channel track that gets muxed into the video.
    """
    import pyloudnorm

    data = torch.as_tensor(wave).detach().to("cpu", torch.float64).numpy()
    data = data.T if data.ndim == 2 else data
    meter = pyloudnorm.Meter(int(sample_rate))
    try:
        loudness = meter.integrated_loudness(data)
    except ValueError:  # shorter than one gating block: nothing meaningful to measure
        return 1.0
    if not math.isfinite(loudness) or abs(loudness) > _SILENCE_LOUDNESS_LIMIT:
        return 1.0
    return float(10.0 ** ((float(target_lufs) - loudness) / 20.0))


def normalize_loudness(wave: torch.Tensor, sample_rate: int = WAV2VEC2_SAMPLE_RATE,
                       target_lufs: float = DEFAULT_TARGET_LUFS) -> torch.Tensor:
    """``wave`` scaled by a pure gain to ``target_lufs``; silent or too-short tracks come back unchanged."""
    gain = loudness_gain(wave, sample_rate, target_lufs)
    if gain == 1.0:
        return wave
    return wave * gain
