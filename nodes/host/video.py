"""The sampler's frame outputs: a core VIDEO (comfy_api Input.Video) that core Save Video writes, and IMAGE.

In RAM mode it is the host's own VideoFromComponents. In folder mode it is `FolderVideo`, which reads the frames
from the output folder one at a time while it is written out, so saving an hour of video needs the memory of one
frame. Its `save_to` hands the host's VideoFromComponents a stand-in for the IMAGE batch that has the batch's shape
and yields one frame at a time - all that the host's encoder loop reads (0.12.0 to today). A host that reads more of
it fails loudly (an AttributeError naming `_FolderFrames`), and tests/host/test_video_output.py runs that loop.
"""
from __future__ import annotations

from fractions import Fraction

import comfy.model_management as mm
import torch
from comfy_api.latest import Input, InputImpl, Types
from comfy_execution.graph_utils import ExecutionBlocker

from ...wan_multitalk.errors import InputError
from ...wan_multitalk.limits import frames_bytes
from ...wan_multitalk.timebase import exact_fps, samples_for_frames
from ...wan_multitalk.video.frame_sink import FrameFolder


def video_output(frames, fps, audio: dict | None):
    """A VIDEO of `frames` (an IMAGE batch, or a FrameFolder) at `fps` with `audio` (already cut to the frames)."""
    rate = exact_fps(fps)
    if isinstance(frames, FrameFolder):
        return FolderVideo(frames, rate, audio)
    return InputImpl.VideoFromComponents(Types.VideoComponents(images=frames, audio=audio, frame_rate=rate))


class _FolderFrames:
    """Frames [first, first + count) of a FrameFolder posing as the IMAGE batch [N, H, W, 3] an encoder loops over."""

    def __init__(self, folder: FrameFolder, first: int, count: int):
        self.folder, self.first, self.count = folder, first, count
        self.shape = (count,) + tuple(folder.shape[1:])

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        for index in range(self.first, self.first + self.count):
            yield self.folder[index]


class FolderVideo(Input.Video):
    """A video whose frames are the png files of a long run's output folder (see the module docstring)."""

    def __init__(self, folder: FrameFolder, fps: Fraction, audio: dict | None, first: int = 0,
                 count: int | None = None):
        self.folder, self.fps, self.audio = folder, Fraction(fps), audio
        self.first = int(first)
        self.count = len(folder) - self.first if count is None else int(count)

    def _frames(self) -> _FolderFrames:
        return _FolderFrames(self.folder, self.first, self.count)

    def get_components(self) -> Types.VideoComponents:
        """All frames in RAM (what a node asking for the components wants; saving does not need it)."""
        images = self.folder[self.first:self.first + self.count]
        return Types.VideoComponents(images=images, audio=self.audio, frame_rate=self.fps)

    def save_to(self, path, format=Types.VideoContainer.AUTO, codec=Types.VideoCodec.AUTO, metadata=None,
                **options):
        components = Types.VideoComponents(images=self._frames(), audio=self.audio, frame_rate=self.fps)
        InputImpl.VideoFromComponents(components).save_to(path, format=format, codec=codec, metadata=metadata,
                                                          **options)

    def get_dimensions(self) -> tuple[int, int]:
        _, height, width, _ = self.folder.shape
        return width, height

    def get_duration(self) -> float:
        return float(self.count / self.fps)

    def get_frame_count(self) -> int:
        return self.count

    def get_frame_rate(self) -> Fraction:
        return self.fps

    def get_container_format(self) -> str:
        return "mp4"  # what save_to writes by default; the frames themselves are png files

    def as_trimmed(self, start_time: float | None = None, duration: float | None = None,
                   strict_duration: bool = False):
        """The frames from `start_time` on, `duration` seconds of them (None: to the end); None when that is
        empty, or shorter than `duration` with `strict_duration`."""
        first = round(Fraction(repr(float(start_time or 0.0))) * self.fps)
        available = self.count - first
        count = available if not duration else round(Fraction(repr(float(duration))) * self.fps)
        if first < 0 or count <= 0 or available <= 0 or (strict_duration and count > available):
            return None
        count = min(count, available)
        return FolderVideo(self.folder, self.fps, _audio_after(self.audio, first, self.fps), self.first + first, count)


def _audio_after(audio: dict | None, frames: int, fps: Fraction) -> dict | None:
    """The audio from video frame `frames` on."""
    if audio is None:
        return None
    skip = samples_for_frames(frames, audio["sample_rate"], fps)
    return {"waveform": audio["waveform"][..., skip:], "sample_rate": audio["sample_rate"]}


def images_output(frames, connected: bool):
    """The IMAGE output: all frames. A folder's frames are read back only when something uses them; otherwise the
    output blocks whatever is connected later (the host may answer from its cache) with a message saying why."""
    if not isinstance(frames, FrameFolder):
        return frames
    if connected:
        return frames.load()
    return ExecutionBlocker(
        "images: this run's frames were left in its output_folder, since nothing used images when it ran. Fix: "
        "connect video to Save Video (it reads the folder), or clear ComfyUI's node cache and queue again.")


def check_images_fit(frames: int, width: int, height: int) -> None:
    """Before sampling: all frames as one float32 IMAGE must fit in the free RAM."""
    needed = frames_bytes(frames, width, height)
    free = mm.get_free_memory(torch.device("cpu"))
    if needed > 0.8 * free:
        raise InputError("images", f"holding all {frames} frames as one IMAGE needs {needed / 2**30:.1f} GB of RAM, "
                                   f"{free / 2**30:.1f} GB are free.",
                         "connect video to Save Video instead (it reads the frames from output_folder one at a "
                         "time), or leave images unconnected.")
