"""Limits every part of the pack shares: how many speakers, and how large a buffer a user's numbers may size.

MAX_SPEAKERS: the label RoPE bands (`adapter.label_rope`) are laid out for at most four speakers; the
audio placement, the speaker masks, the widget and the diarization all stop there too.

MAX_BUFFER_BYTES: every number a user types that sizes memory (timeline start times, num_frames, fps, width,
height, window frames, the length of a video kept in RAM) is checked against this before anything is encoded or
allocated, so a typo is an error naming the input, not a machine that swaps and then kills ComfyUI and its queue.
The budget is one buffer of 16 GiB: ComfyUI running Wan 2.1 14B is typically a 32-64 GB machine whose RAM also
holds the offloaded model (14-28 GB) and ComfyUI's caches, and 16 GiB is what such a machine can still give one
tensor. Real use stays far inside it:
  * an hour at 25 fps with four speakers: 90,000 x 4 x 12 x 768 float32 features = 12.4 GiB;
  * an hour of 48 kHz stereo mixed audio: 1.3 GiB;
  * one 81-frame 832x480 window as float RGB: 0.36 GiB (1280x720: 0.84 GiB);
  * a video kept in RAM: 3,584 frames at 832x480 (2.4 minutes at 25 fps); longer videos go to disk with
    output_folder, where their length is not limited.
A start time typed as 100000 (meant as ms) asks for 2,500,000 frames: 86 GiB of features per speaker.
"""
from __future__ import annotations

from .errors import InputError

MAX_SPEAKERS = 4

GIB = 1024 ** 3
MAX_BUFFER_BYTES = 16 * GIB
FLOAT_BYTES = 4  # float32, how features, audio and ComfyUI IMAGE frames are held
PIXEL_BYTES = 3 * FLOAT_BYTES  # one RGB pixel of an IMAGE


def frames_bytes(frames: int, width: int, height: int) -> int:
    """Bytes of `frames` video frames as a ComfyUI IMAGE (float32 RGB)."""
    return int(frames) * int(width) * int(height) * PIXEL_BYTES


def check_buffer(nbytes: int, input_name: str, what: str, fix: str) -> None:
    """Refuse, before allocating, a buffer of `nbytes` for `what` (sized by `input_name`) beyond MAX_BUFFER_BYTES."""
    if nbytes > MAX_BUFFER_BYTES:
        raise InputError(input_name, f"{what} would need {nbytes / GIB:,.1f} GiB in one buffer, more than the "
                                     f"{MAX_BUFFER_BYTES // GIB} GiB MultiTalk Studio lets one buffer take.", fix)
