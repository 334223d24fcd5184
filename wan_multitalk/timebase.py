"""The time base: every conversion between seconds, audio samples, video frames and Wan latent frames.

All of it is exact rational arithmetic. Floating point drops frames: the official ``int(n / 16000 * 25)``
turns 18,560 samples (29 frames exactly) into 28.999999999999996 -> 28. A float a person typed is read as
the decimal it prints as (23.976 means 2997/125, not the nearest binary double).

The rounding rule, the same everywhere:

* A duration of ``d`` seconds spans ``floor(d * fps)`` video frames, the frames it covers in full (frame i
  shows [i / fps, (i + 1) / fps)). Audio of n samples at rate r lasts exactly n / r seconds whatever its
  rate, so the embeds' frame count, the feature rows and the sampler's output length all come from this one
  formula and agree.
* The audio that goes with ``f`` frames is the fewest samples that cover them, ``ceil(f / fps * r)``, so
  audio cut to a frame count counts as that many frames again.
* An instant (a start time, a sample offset moved to another rate) goes to the nearest sample, halves up.
* A video resampled to another frame rate keeps every output frame that starts inside it (no source frame
  is lost): ``ceil(n_source / source_fps * fps)`` frames, frame i showing source frame
  ``floor(i * source_fps / fps)``.
* Wan's causal VAE encodes frame 0 alone and then groups of four: a window has 4k + 1 frames and ``f``
  frames fill ``(f - 1) // 4 + 1`` latent frames.
"""
from __future__ import annotations

import math
from fractions import Fraction
from numbers import Rational

from .errors import InputError

FRAMES_PER_LATENT = 4
"""Wan 2.1's VAE compresses time by four after the first frame."""
MIN_WINDOW = 5
"""The shortest generation window: 4k + 1 with k >= 1."""


def exact_fraction(value, input_name: str) -> Fraction:
    """``value`` as an exact Fraction; a float is read as the decimal it prints as."""
    if isinstance(value, bool):
        raise InputError(input_name, f"must be a number, got {value!r}.", f"Set {input_name} to a number.")
    if isinstance(value, Rational):
        return Fraction(value)
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise InputError(input_name, f"must be a number, got {value!r}.", f"Set {input_name} to a number.") from None
    if not math.isfinite(as_float):
        raise InputError(input_name, f"must be a finite number, got {as_float}.",
                         f"Set {input_name} to a finite number.")
    return Fraction(repr(as_float))


def exact_rate(value, input_name: str) -> Fraction:
    """A frame or sample rate as an exact positive Fraction (InputError naming ``input_name`` otherwise)."""
    rate = exact_fraction(value, input_name)
    if rate <= 0:
        raise InputError(input_name, f"must be greater than 0, got {value}.",
                         f"Set {input_name} to a positive value (e.g. 25 fps, 16000 Hz).")
    return rate


def exact_fps(fps) -> Fraction:
    return exact_rate(fps, "fps")


def check_sample_rate(sample_rate, input_name: str = "sample_rate") -> int:
    """A sample rate as a positive int; anything else is an InputError naming ``input_name``."""
    try:
        valid = not isinstance(sample_rate, bool) and float(sample_rate).is_integer() and sample_rate > 0
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise InputError(input_name, f"has an invalid sample rate {sample_rate!r}.",
                         "Pass audio with a positive integer sample rate (e.g. 16000, 44100, 48000).")
    return int(sample_rate)


def _count(value, input_name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise InputError(input_name, f"{value!r} is not a count.", "use a whole number >= 0.")
    return int(value)


def duration(num_samples: int, sample_rate) -> Fraction:
    """Seconds that ``num_samples`` samples last, exactly."""
    return Fraction(_count(num_samples, "audio"), check_sample_rate(sample_rate))


def frames_for_seconds(seconds, fps) -> int:
    """Whole video frames a duration covers: floor(seconds * fps)."""
    return math.floor(exact_fraction(seconds, "seconds") * exact_fps(fps))


def frames_for_samples(num_samples: int, sample_rate, fps) -> int:
    """Whole video frames ``num_samples`` samples cover: floor(n * fps / rate)."""
    return frames_for_seconds(duration(num_samples, sample_rate), fps)


def samples_for_frames(frames: int, sample_rate, fps) -> int:
    """The fewest samples that cover ``frames`` video frames: ceil(frames / fps * rate)."""
    return math.ceil(_count(frames, "frames") / exact_fps(fps) * check_sample_rate(sample_rate))


def seconds_to_samples(seconds, sample_rate, input_name: str) -> int:
    """An instant in seconds as the nearest sample (ties round up)."""
    return math.floor(exact_fraction(seconds, input_name) * check_sample_rate(sample_rate) + Fraction(1, 2))


def rescale_samples(num_samples: int, src_rate: int, dst_rate: int) -> int:
    """A sample offset at ``src_rate`` as the nearest sample at ``dst_rate`` (ties round up)."""
    return math.floor(Fraction(int(num_samples) * int(dst_rate), int(src_rate)) + Fraction(1, 2))


def resampled_frame_count(num_source_frames: int, source_fps, fps) -> int:
    """Output frames of a video resampled from ``source_fps`` to ``fps``: every frame starting inside it."""
    ratio = exact_rate(source_fps, "source_fps") / exact_fps(fps)
    return math.ceil(int(num_source_frames) / ratio)


def source_frame_at(frames, source_fps, fps):
    """The source frame on screen at output frame ``frames`` (an int or an int64 tensor): floor(i * src / fps)."""
    ratio = exact_rate(source_fps, "source_fps") / exact_fps(fps)
    return frames * ratio.numerator // ratio.denominator


def check_window_size(frames, input_name: str = "frame_window_size", minimum: int = MIN_WINDOW) -> int:
    """A window's frame count must be 4k+1 (at least ``minimum``); the error suggests the nearest valid sizes."""
    if isinstance(frames, bool) or int(frames) != frames:
        raise InputError(input_name, f"{frames!r} is not a whole number of frames.",
                         "use a value of the form 4k+1, e.g. 81.")
    frames = int(frames)
    if frames >= minimum and (frames - 1) % FRAMES_PER_LATENT == 0:
        return frames
    below = (frames - 1) // FRAMES_PER_LATENT * FRAMES_PER_LATENT + 1
    options = [v for v in (below, below + FRAMES_PER_LATENT) if v >= minimum] or [minimum]
    raise InputError(input_name, f"{frames} frames is not of the form 4k+1 (at least {minimum}).",
                     "use " + " or ".join(str(v) for v in options) + ".")


def latent_frames(frames: int, input_name: str = "frames") -> int:
    """Latent frames that hold ``frames`` pixel frames under the causal 1 + 4k compression."""
    if isinstance(frames, bool) or int(frames) != frames or frames < 1:
        raise InputError(input_name, f"{frames!r} is not a positive frame count.",
                         "use a whole number of frames >= 1.")
    return (int(frames) - 1) // FRAMES_PER_LATENT + 1
