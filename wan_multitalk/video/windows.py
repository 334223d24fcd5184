"""Generation windows: a video of any length as overlapping windows of one size.

Each window after the first starts with the last `motion` frames of the previous one as context and
contributes only the frames after them. The kept frames add up to the video exactly, so audio and video
stay in sync over minutes.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError
from ..limits import check_buffer, frames_bytes
from ..timebase import check_window_size


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


def check_motion(motion, window: int, input_name: str = "motion_frame") -> int:
    """Frames of overlap must leave a window at least one new frame."""
    if isinstance(motion, bool) or int(motion) != motion or not 1 <= motion < window:
        raise InputError(input_name, f"{motion!r} frames of overlap do not fit a {window}-frame window.",
                         f"use 1 to {window - 1} (9 for InfiniteTalk, 25 for MultiTalk).")
    return int(motion)


def check_window_pixels(width: int, height: int, frames: int, frames_input: str) -> None:
    """Refuse, before anything is encoded, a window whose frames (as one float IMAGE) one buffer cannot hold."""
    check_buffer(frames_bytes(frames, width, height), f"width/height/{frames_input}",
                 f"one window of {frames} frames at {width}x{height}",
                 f"lower width/height (Wan 2.1 is made for 832x480, 1280x720 at most) or {frames_input} (81 is what "
                 "the models were trained on).")


def split_windows(total_frames: int, window: int, motion: int) -> list[Window]:
    """Cover `total_frames` with windows advancing by window - motion frames.

    The kept frames of all windows are consecutive, never repeated, and add up to exactly
    `total_frames`. Count: 1 if total <= window, else
    1 + ceil((total - window) / (window - motion)).
    """
    window = check_window_size(window)
    motion = check_motion(motion, window)
    if int(total_frames) != total_frames or total_frames < 1:
        raise InputError("total_frames", f"the video would have {total_frames} frames.",
                         "give audio at least one frame long (1/fps seconds) or a positive "
                         "frame count.")
    total = int(total_frames)
    step = window - motion
    count = 1 if total <= window else 1 + -(-(total - window) // step)
    windows = []
    for index in range(count):
        start = index * step
        keep_from = 0 if index == 0 else motion
        keep_to = min(window, total - start)
        windows.append(Window(index, start, window, keep_from, keep_to,
                              max(0, start + window - total), index == count - 1))
    return windows
