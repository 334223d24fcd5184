"""Exact sample <-> video-frame arithmetic.

The official recipe computes frame counts as ``int(n / 16000 * 25)`` in floating point, which
drops a frame whenever ``n * fps / rate`` is a whole number that floats round just below
(18,560 samples -> 28.999999999999996 -> 28). Every frame count in this package therefore goes
through exact rational arithmetic instead, so audio, features and video never drift apart.
"""
from __future__ import annotations

import math
from fractions import Fraction
from numbers import Rational

from ..errors import InputError


def exact_fraction(value, input_name: str) -> Fraction:
    """``value`` as an exact Fraction; a float is read as the decimal it prints as.

    Why the printed decimal: a person who types 23.976 means 2997/125, not the nearest binary
    double (which is a hair smaller and would lose a frame on exact multiples).
    """
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


def exact_fps(fps) -> Fraction:
    """The frame rate as an exact positive Fraction (InputError on 0, negatives, NaN)."""
    rate = exact_fraction(fps, "fps")
    if rate <= 0:
        raise InputError("fps", f"must be positive, got {fps}.", "Set fps to the video frame rate, e.g. 25.")
    return rate


def check_sample_rate(sample_rate, input_name: str = "sample_rate") -> int:
    """A sample rate as a positive int; anything else is an InputError naming ``input_name``."""
    try:
        valid = not isinstance(sample_rate, bool) and float(sample_rate).is_integer() and sample_rate > 0
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise InputError(
            input_name,
            f"has an invalid sample rate {sample_rate!r}.",
            "Pass audio with a positive integer sample rate (e.g. 16000, 44100, 48000).",
        )
    return int(sample_rate)


def frames_for_samples(num_samples: int, sample_rate: int, fps) -> int:
    """Number of whole video frames covered by ``num_samples`` samples: floor(n * fps / rate), exact."""
    if int(num_samples) != num_samples or num_samples < 0:
        raise ValueError(f"num_samples must be a non-negative integer, got {num_samples!r}")
    rate = check_sample_rate(sample_rate)
    return math.floor(int(num_samples) * exact_fps(fps) / rate)


def seconds_to_samples(seconds, sample_rate: int, input_name: str) -> int:
    """A time in seconds as the nearest whole sample (ties round up), exact."""
    rate = check_sample_rate(sample_rate)
    return math.floor(exact_fraction(seconds, input_name) * rate + Fraction(1, 2))


def rescale_samples(num_samples: int, src_rate: int, dst_rate: int) -> int:
    """A sample offset at ``src_rate`` as the nearest sample at ``dst_rate`` (ties round up), exact."""
    return math.floor(Fraction(int(num_samples) * int(dst_rate), int(src_rate)) + Fraction(1, 2))
