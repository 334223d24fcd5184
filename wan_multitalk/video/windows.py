"""Window plan for a video of any length, and the exact frame/audio bookkeeping around it.

Long videos are generated as overlapping windows: each window after the first starts with the
last `motion` frames of the previous one as context and contributes only the frames after them.
Getting the counts exactly right is what keeps audio and video in sync over minutes, so every
conversion here is done in exact rational arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch

from ..errors import InputError

MIN_WINDOW = 5  # 4k+1 with k >= 1: Wan's VAE needs one leading frame plus groups of four


def _exact(value, name: str) -> Fraction:
    """A Fraction from an int, Fraction or float; floats are read as the decimal they print as,
    so 29.97 means 2997/100 rather than its binary approximation."""
    if isinstance(value, bool):
        raise InputError(name, f"must be a number, got {value!r}.", f"set {name} to a number.")
    if isinstance(value, float):
        value = repr(value)
    try:
        exact = Fraction(value)
    except (TypeError, ValueError, ZeroDivisionError):
        raise InputError(name, f"must be a number, got {value!r}.", f"set {name} to a number.")
    if exact <= 0:
        raise InputError(name, f"must be greater than 0, got {value}.",
                         f"set {name} to a positive value (e.g. 25 fps, 16000 Hz).")
    return exact


def _round_half_up(x: Fraction) -> int:
    return int((x + Fraction(1, 2)).__floor__())


def check_window_size(frames: int, input_name: str = "frame_window_size") -> int:
    """Wan generates 4k+1 frames per window (k >= 1); suggest the nearest valid sizes otherwise."""
    if int(frames) != frames:
        raise InputError(input_name, f"{frames!r} is not a whole number of frames.",
                         "use a value of the form 4k+1, e.g. 81.")
    frames = int(frames)
    if frames >= MIN_WINDOW and (frames - 1) % 4 == 0:
        return frames
    below = (frames - 1) // 4 * 4 + 1
    options = [v for v in (below, below + 4) if v >= MIN_WINDOW] or [MIN_WINDOW]
    raise InputError(input_name, f"{frames} frames is not of the form 4k+1 (at least 5).",
                     "use " + " or ".join(str(v) for v in options) + ".")


@dataclass(frozen=True)
class Window:
    """One generation window. Keep `decoded[keep_from:keep_to]` of its frames when stitching.

    start: global frame index of the window's first frame.
    length: frames generated (the window size).
    keep_from: the first frame that is new (0 for the first window, `motion` afterwards: earlier
        frames repeat the previous window's tail).
    keep_to: one past the last frame to keep; below `length` only when the last window runs past
        the end of the video.
    overrun: frames of this window past the end of the video; the caller pads their audio with
        silence.
    """

    index: int
    start: int
    length: int
    keep_from: int
    keep_to: int
    overrun: int
    is_last: bool

    @property
    def end(self) -> int:
        """Global index one past the window's last generated frame."""
        return self.start + self.length

    @property
    def keep_count(self) -> int:
        return self.keep_to - self.keep_from

    @property
    def new_frames(self) -> range:
        """Global indices of the frames this window adds to the video."""
        return range(self.start + self.keep_from, self.start + self.keep_to)


def plan_windows(total_frames: int, window: int, motion: int) -> list[Window]:
    """Cover `total_frames` with windows advancing by window - motion frames.

    The kept frames of all windows are consecutive, never repeated, and add up to exactly
    `total_frames`. Count: 1 if total <= window, else
    1 + ceil((total - window) / (window - motion)).
    """
    window = check_window_size(window)
    if int(motion) != motion or motion < 1 or motion >= window:
        raise InputError("motion_frames", f"{motion!r} context frames do not fit a {window}-frame "
                         "window.", f"use between 1 and {window - 1} (9 for InfiniteTalk, 25 for "
                         "MultiTalk).")
    if int(total_frames) != total_frames or total_frames < 1:
        raise InputError("total_frames", f"the video would have {total_frames} frames.",
                         "give audio at least one frame long (1/fps seconds) or a positive "
                         "frame count.")
    total, motion = int(total_frames), int(motion)
    step = window - motion
    count = 1 if total <= window else 1 + -(-(total - window) // step)
    plan = []
    for index in range(count):
        start = index * step
        keep_from = 0 if index == 0 else motion
        keep_to = min(window, total - start)
        plan.append(Window(index, start, window, keep_from, keep_to,
                           max(0, start + window - total), index == count - 1))
    return plan


def target_frames(num_audio_samples: int, sample_rate, fps) -> int:
    """Frames that match the audio: round(samples / sample_rate * fps), halves rounded up."""
    if int(num_audio_samples) != num_audio_samples or num_audio_samples < 0:
        raise InputError("audio", f"has an invalid length of {num_audio_samples!r} samples.",
                         "connect a non-empty AUDIO.")
    seconds = Fraction(int(num_audio_samples)) / _exact(sample_rate, "sample_rate")
    return _round_half_up(seconds * _exact(fps, "fps"))


def audio_samples_for_frames(frames: int, sample_rate, fps) -> int:
    """Audio samples spanning `frames` video frames (to trim the AUDIO output to the video)."""
    if int(frames) != frames or frames < 0:
        raise InputError("frames", f"{frames!r} is not a frame count.", "use a whole number >= 0.")
    return _round_half_up(int(frames) / _exact(fps, "fps") * _exact(sample_rate, "sample_rate"))


def motion_latent_frames(motion: int) -> int:
    """Latent frames holding `motion` pixel frames under Wan's causal 1 + 4k VAE compression."""
    if int(motion) != motion or motion < 1:
        raise InputError("motion_frames", f"{motion!r} is not a positive frame count.",
                         "use 9 (InfiniteTalk) or 25 (MultiTalk).")
    return (int(motion) - 1) // 4 + 1


def source_keyframe_index(window: Window | int, source_frames: int) -> int:
    """Dubbing: the source frame that anchors a window - the one at the window's start, or the
    last source frame once the source has run out."""
    if source_frames < 1:
        raise InputError("video", "the source video has no frames.", "connect a non-empty video.")
    start = window.start if isinstance(window, Window) else int(window)
    return min(start, int(source_frames) - 1)


def resample_frame_indices(num_source_frames: int, source_fps, fps,
                           num_frames: int | None = None) -> torch.Tensor:
    """Source frame shown at each output frame: int64 [num_frames].

    Output frame i is at time i / fps and shows the latest source frame that started at or
    before it, floor(i * source_fps / fps), clamped to the last source frame. By default the
    output covers the source duration: ceil(num_source_frames * fps / source_fps) frames.
    """
    if int(num_source_frames) != num_source_frames or num_source_frames < 1:
        raise InputError("video", "the source video has no frames.", "connect a non-empty video.")
    ratio = _exact(source_fps, "source_fps") / _exact(fps, "fps")
    if num_frames is None:
        num_frames = -(-(int(num_source_frames) * ratio.denominator) // ratio.numerator)
    i = torch.arange(int(num_frames), dtype=torch.int64)
    index = i * ratio.numerator // ratio.denominator
    return index.clamp_max(int(num_source_frames) - 1)
