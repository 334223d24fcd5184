"""Collect finished frames in RAM or stream them to a folder, so long videos need not fit in RAM.

An hour at 832x480 is 90,000 frames, about 430 GB as float32: the window loop hands every
window's new frames to a `FrameSink` and forgets them. In RAM mode the sink keeps CPU copies and
concatenates them at the end; in folder mode each `append` becomes one file on disk and
`result()` is a lazy `FrameFolder` that loads frames only when indexed or iterated.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import InputError

FILE_FORMATS = ("npy", "png")
CHUNK_PATTERN = "chunk_*.npy"  # npy: one file per append, lossless, dtype kept
FRAME_PATTERN = "frame_*.png"  # png: one 8-bit file per frame, readable by any video tool


def frame_file(folder: str | os.PathLike, index: int) -> Path:
    """The png of frame `index` in a sink's folder."""
    return Path(folder) / f"frame_{int(index):08d}.png"


def frame_index(path: str | os.PathLike) -> int | None:
    """The frame number of a sink's png file name (None for any other file)."""
    name = Path(path).name
    if not (name.startswith("frame_") and name.endswith(".png")) or not name[6:-4].isdigit():
        return None
    return int(name[6:-4])


class FrameFolder:
    """Frames stored by a `FrameSink` in a folder, loaded on demand.

    len() is the frame count; indexing with an int gives [H, W, 3], with a slice [n, H, W, 3];
    iterating yields one frame at a time, so a whole video passes through a loop (an encoder) in
    the memory of one frame; `load()` reads everything into one tensor. npy chunks are
    memory-mapped, so indexing a few frames reads only those frames. `count` limits a png folder
    to its first frames (a resumable run's folder may hold the unfinished frames of a window).
    """

    def __init__(self, folder: str | os.PathLike, count: int | None = None):
        self.folder = Path(folder)
        self.chunks = sorted(self.folder.glob(CHUNK_PATTERN))
        self.pngs = sorted(self.folder.glob(FRAME_PATTERN))
        if self.chunks and self.pngs:
            raise ValueError(f"{self.folder} mixes npy chunks and png frames")
        if count is not None:
            if self.chunks or len(self.pngs) < count:
                raise ValueError(f"{self.folder} holds {len(self.pngs)} png frames, fewer than {count}")
            self.pngs = self.pngs[:count]
        lengths = [np.load(p, mmap_mode="r").shape[0] for p in self.chunks] or [1] * len(self.pngs)
        self._offsets = np.cumsum([0] + lengths)

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """[N, H, W, C] of the whole video (what `load()` would return), read from the first frame only."""
        if len(self) == 0:
            raise ValueError(f"{self.folder} holds no frames")
        return (len(self),) + tuple(self._frame(0).shape)

    def __iter__(self):
        for i in range(len(self)):
            yield torch.from_numpy(self._frame(i))

    def _frame(self, i: int) -> np.ndarray:
        if self.pngs:
            with Image.open(self.pngs[i]) as im:
                return np.asarray(im.convert("RGB"), dtype=np.float32) / 255
        chunk = int(np.searchsorted(self._offsets, i, side="right")) - 1
        return np.array(np.load(self.chunks[chunk], mmap_mode="r")[i - self._offsets[chunk]])

    def __getitem__(self, key: int | slice) -> torch.Tensor:
        if isinstance(key, slice):
            indices = range(*key.indices(len(self)))
            if len(indices) == 0:
                raise IndexError("empty frame selection")
            return torch.from_numpy(np.stack([self._frame(i) for i in indices]))
        i = int(key) + (len(self) if key < 0 else 0)
        if not 0 <= i < len(self):
            raise IndexError(f"frame {key} out of range for {len(self)} frames")
        return torch.from_numpy(self._frame(i))

    def load(self) -> torch.Tensor:
        """All frames as one [N, H, W, 3] tensor (needs the RAM the folder mode avoided)."""
        if self.chunks:
            return torch.from_numpy(np.concatenate([np.load(p) for p in self.chunks]))
        return self[:]


class FrameSink:
    """Append-only frame collector: `append([N, H, W, 3])`, `count`, `result()`.

    folder=None keeps frames in RAM and `result()` returns one [count, H, W, 3] CPU tensor.
    With a folder (created if missing; it must not already hold frames) every append is
    written immediately and `result()` returns a `FrameFolder`. file_format "npy" stores the
    frames losslessly in their dtype; "png" stores 8-bit numbered images (frame_00000000.png, ...).
    `resume_at` (png only) continues a folder whose first `resume_at` frames are already there.
    """

    def __init__(self, folder: str | os.PathLike | None = None, file_format: str = "npy",
                 input_name: str = "output_folder", resume_at: int = 0):
        if file_format not in FILE_FORMATS:
            raise InputError("file_format", f"'{file_format}' is not supported.",
                             f"use one of {', '.join(FILE_FORMATS)}.")
        self.folder = None if folder is None else Path(folder)
        self.file_format = file_format
        self._frames: list[torch.Tensor] = []
        self._count = int(resume_at)
        self._chunks = 0
        self._frame_shape: tuple[int, ...] | None = None
        if resume_at:
            if self.folder is None or file_format != "png":
                raise ValueError("only a png folder can be resumed")
            self._frame_shape = tuple(FrameFolder(self.folder, resume_at)[resume_at - 1].shape)
        elif self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            if any(self.folder.glob(CHUNK_PATTERN)) or any(self.folder.glob(FRAME_PATTERN)):
                raise InputError(input_name, f"'{self.folder}' already holds frames from an "
                                 "earlier run.", "choose an empty folder or delete those files.")

    @property
    def count(self) -> int:
        """Frames appended so far."""
        return self._count

    def append(self, frames: torch.Tensor) -> None:
        """Add finished frames [N, H, W, C]; they are copied off the caller's device at once."""
        if frames.ndim != 4:
            raise ValueError(f"expected frames [N, H, W, C], got shape {tuple(frames.shape)}")
        if self._frame_shape is None:
            self._frame_shape = tuple(frames.shape[1:])
        elif tuple(frames.shape[1:]) != self._frame_shape:
            raise ValueError(f"frame size changed from {self._frame_shape} to "
                             f"{tuple(frames.shape[1:])}")
        if frames.shape[0] == 0:
            return
        # clone: a CPU slice of a whole window would otherwise keep the window alive.
        cpu = frames.detach().to("cpu").clone() if frames.is_cpu else frames.detach().to("cpu")
        if self.folder is None:
            self._frames.append(cpu)
        elif self.file_format == "npy":
            np.save(self.folder / f"chunk_{self._chunks:08d}.npy", cpu.numpy())
        else:
            self._write_pngs(cpu)
        self._chunks += 1
        self._count += int(cpu.shape[0])

    def _write_pngs(self, frames: torch.Tensor) -> None:
        pixels = (frames.float().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
        for offset, frame in enumerate(pixels):
            Image.fromarray(frame).save(frame_file(self.folder, self._count + offset))

    def result(self) -> torch.Tensor | FrameFolder:
        """RAM mode: one [count, H, W, C] tensor; folder mode: a lazy `FrameFolder`."""
        if self._count == 0:
            raise ValueError("no frames were appended")
        if self.folder is not None:
            return FrameFolder(self.folder, self._count if self.file_format == "png" else None)
        if len(self._frames) > 1:  # concatenate once and drop the pieces
            self._frames = [torch.cat(self._frames)]
        return self._frames[0]
