"""Checkpoints of a long video streamed to a folder: a crash, an OOM or a restart loses at most the window in progress.

After every finished window the folder holds its frames (frame_NNNNNNNN.png, written by the FrameSink), the
colour-matched motion tail the next window continues from, at full precision (multitalk_tail_KKKKK.safetensors), and
the manifest (multitalk_checkpoint.json): the fingerprint of the inputs, the window count and how many windows and
frames are finished. Each file is written under a temporary name, flushed to the disk and renamed into place; the
frames and the tail come first and the manifest, which names its tail, last. A process killed at any moment thus
leaves the previous checkpoint or the new one, never a mix: frames past the manifest's count are unfinished and are
deleted when the run resumes, and a tail no manifest names is never read.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from ..errors import InputError
from ..fingerprint import Fingerprint
from .frame_sink import CHUNK_PATTERN, FRAME_PATTERN, frame_file, frame_index

MANIFEST = "multitalk_checkpoint.json"
TAIL_PATTERN = "multitalk_tail_*.safetensors"
TEMP_SUFFIX = ".partial"
FORMAT = 1  # of the manifest and of what a window leaves behind; another number never resumes


def tail_file(folder: Path, windows_done: int) -> Path:
    return folder / f"multitalk_tail_{windows_done:05d}.safetensors"


@dataclass(frozen=True)
class Resume:
    """Where a run starts: after `windows_done` finished windows holding `frames` frames, continuing from `tail`.

    `reason` says why an earlier run in the folder could not be continued (empty when none was there or it was
    continued), `changed` names the inputs that differ from it, `moved_to` is where its files went.
    """

    windows_done: int = 0
    frames: int = 0
    tail: torch.Tensor | None = None
    reason: str = ""
    changed: tuple[str, ...] = ()
    moved_to: Path | None = None


class CheckpointFolder:
    """The output folder of one long video of `windows` windows made from the inputs `fingerprint` describes."""

    def __init__(self, folder: str | os.PathLike, fingerprint: Fingerprint, windows: int):
        self.folder, self.fingerprint, self.windows = Path(folder), fingerprint, int(windows)
        self._synced = 0  # frames known to be on the disk

    def open(self, start_over: bool) -> Resume:
        """Continue the run the folder holds when it was made from the same inputs; else set its files aside in a
        `replaced_<time>` subfolder (`start_over`) or raise an InputError that says what changed."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._own_files():
            return self._begin(Resume())
        resume, reason, changed = self._read()
        if resume is not None:
            self._drop_unfinished(resume)
            self._synced = resume.frames
            return resume
        if not start_over:
            raise InputError("output_folder", f"'{self.folder}' holds a run that cannot be continued: {reason}.",
                             "queue it again with the inputs it was made with, choose another output_folder, or set "
                             "on_changed_inputs to 'start over' (its files then move to a subfolder).")
        return self._begin(Resume(reason=reason, changed=changed, moved_to=self._set_aside()))

    def commit(self, windows_done: int, frames: int, tail: torch.Tensor | None) -> None:
        """Record that `windows_done` windows and their `frames` frames are finished; `tail` (None after the last
        window) is what the next window continues from. The frames must already be in the folder."""
        for index in range(self._synced, frames):
            _sync_file(frame_file(self.folder, index))
        _sync_file(self.folder)
        self._synced = frames
        tail_name = None
        if tail is not None:
            tail_name = tail_file(self.folder, windows_done).name
            _write_atomic(self.folder / tail_name, save_tensors({"tail": tail.detach().to("cpu").contiguous()}))
        self._write_manifest(windows_done, frames, tail_name)
        for stale in self.folder.glob(TAIL_PATTERN):
            if stale.name != tail_name:
                stale.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------------------------

    def _read(self) -> tuple[Resume | None, str, tuple[str, ...]]:
        """(the resume point, "", ()) or (None, why it cannot resume, the changed inputs)."""
        try:
            manifest = json.loads((self.folder / MANIFEST).read_text())
        except FileNotFoundError:
            return None, "its frames have no checkpoint (an earlier version of this node or another program)", ()
        except (OSError, ValueError):
            return None, "its checkpoint file is damaged", ()
        try:
            if manifest["format"] != FORMAT:
                return None, f"its checkpoint has another format ({manifest['format']}, this version writes {FORMAT})", ()
            stored = Fingerprint.from_json(manifest["fingerprint"])
            done, frames, windows = int(manifest["windows_done"]), int(manifest["frames"]), int(manifest["windows"])
            tail_name = manifest["tail"]
        except (KeyError, TypeError, ValueError):
            return None, "its checkpoint file is damaged", ()
        changed = tuple(self.fingerprint.changed(stored))
        if changed:
            return None, "it was made with another " + ", ".join(changed), changed
        if windows != self.windows or not 0 <= done <= windows:
            return None, f"its checkpoint counts {windows} windows, this run has {self.windows}", ()
        missing = self._missing_frames(frames)
        if missing:
            return None, f"{len(missing)} of its {frames} finished frames are missing (from frame {missing[0]})", ()
        tail = None
        if 0 < done < windows:
            try:
                tail = load_tensors((self.folder / str(tail_name)).read_bytes())["tail"]
            except (OSError, KeyError, TypeError, ValueError, RuntimeError):
                return None, "the motion frames its next window continues from are missing or damaged", ()
        return Resume(done, frames, tail), "", ()

    def _missing_frames(self, frames: int) -> list[int]:
        present = {frame_index(p) for p in self.folder.glob(FRAME_PATTERN)}
        return [i for i in range(frames) if i not in present]

    # -- writing -----------------------------------------------------------------------------------------------

    def _begin(self, resume: Resume) -> Resume:
        self._synced = 0
        self._write_manifest(0, 0, None)
        return resume

    def _write_manifest(self, windows_done: int, frames: int, tail_name: str | None) -> None:
        manifest = {"format": FORMAT, "fingerprint": self.fingerprint.to_json(), "windows": self.windows,
                    "windows_done": windows_done, "frames": frames, "tail": tail_name}
        _write_atomic(self.folder / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())

    def _drop_unfinished(self, resume: Resume) -> None:
        """Frames of the window that was in progress (a run killed while writing it) and leftover temp files."""
        for path in self.folder.glob(FRAME_PATTERN):
            if frame_index(path) is not None and frame_index(path) >= resume.frames:
                path.unlink(missing_ok=True)
        for path in self.folder.glob("*" + TEMP_SUFFIX):
            path.unlink(missing_ok=True)

    def _own_files(self) -> list[Path]:
        patterns = (FRAME_PATTERN, CHUNK_PATTERN, TAIL_PATTERN, MANIFEST, "*" + TEMP_SUFFIX)
        return [p for pattern in patterns for p in self.folder.glob(pattern) if p.is_file()]

    def _set_aside(self) -> Path:
        """Move the earlier run's files into a new `replaced_<time>` subfolder (a rename: nothing is copied)."""
        stamp = time.strftime("%Y%m%d_%H%M%S")
        target, n = self.folder / f"replaced_{stamp}", 1
        while target.exists():
            n += 1
            target = self.folder / f"replaced_{stamp}_{n}"
        target.mkdir()
        for path in self._own_files():
            os.replace(path, target / path.name)
        _sync_file(self.folder)
        return target


def _write_atomic(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + TEMP_SUFFIX)
    with open(temp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
    _sync_file(path.parent)


def _sync_file(path: Path) -> None:
    """Flush a file (or a folder's entries) to the disk, so a power cut cannot undo what a manifest records."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync folders
        pass
    finally:
        os.close(fd)
