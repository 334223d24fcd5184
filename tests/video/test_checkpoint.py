"""Checkpoint folders: a run continues exactly where its last finished window left it, a run of other inputs is
set aside or refused with the reason, and a process killed at any point of a commit leaves a consistent checkpoint."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wan_multitalk.errors import InputError
from wan_multitalk.fingerprint import Fingerprint
from wan_multitalk.video.checkpoint import MANIFEST, CheckpointFolder, Resume
from wan_multitalk.video.frame_sink import FrameFolder, FrameSink

ROOT = Path(__file__).resolve().parents[2]
PRINT = Fingerprint({"noise_seed": "a", "sigmas": "b"})


def frames(count: int, seed: int) -> torch.Tensor:
    return torch.rand(count, 6, 8, 3, generator=torch.Generator().manual_seed(seed))


def tail(value: float, dtype=torch.float32) -> torch.Tensor:
    """A motion tail no 8-bit image could hold: every element carries digits below 1/255."""
    return (torch.linspace(0, 1, 2 * 6 * 8 * 3).reshape(2, 6, 8, 3) * value + 1e-4 / 3).to(dtype)


def pngs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("frame_*.png"))


def test_a_new_folder_starts_at_window_1_with_a_manifest(tmp_path):
    resume = CheckpointFolder(tmp_path / "run", PRINT, 3).open(start_over=False)
    assert resume == Resume()
    manifest = json.loads((tmp_path / "run" / MANIFEST).read_text())
    assert (manifest["windows_done"], manifest["frames"], manifest["windows"]) == (0, 0, 3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_resume_returns_the_last_commit_with_its_tail_bit_for_bit(tmp_path, dtype):
    checkpoint = CheckpointFolder(tmp_path, PRINT, 3)
    checkpoint.open(start_over=False)
    sink = FrameSink(tmp_path, file_format="png")
    sink.append(frames(5, 0))
    checkpoint.commit(1, 5, tail(0.7, dtype))
    sink.append(frames(3, 1))
    checkpoint.commit(2, 8, tail(0.3, dtype))
    sink.append(frames(2, 2)[:1])  # a window in progress when the process died

    resume = CheckpointFolder(tmp_path, PRINT, 3).open(start_over=False)
    assert (resume.windows_done, resume.frames, resume.reason) == (2, 8, "")
    assert resume.tail.dtype == dtype and torch.equal(resume.tail, tail(0.3, dtype))
    assert pngs(tmp_path) == [f"frame_{i:08d}.png" for i in range(8)]  # the unfinished frame is gone
    assert sorted(p.name for p in tmp_path.glob("multitalk_tail_*")) == ["multitalk_tail_00002.safetensors"]
    # the sink continues the folder: frame 8 follows frame 7
    resumed = FrameSink(tmp_path, file_format="png", resume_at=resume.frames)
    resumed.append(frames(2, 3))
    assert len(resumed.result()) == 10 and pngs(tmp_path)[-1] == "frame_00000009.png"


def test_a_finished_run_has_no_tail(tmp_path):
    checkpoint = CheckpointFolder(tmp_path, PRINT, 1)
    checkpoint.open(start_over=False)
    FrameSink(tmp_path, file_format="png").append(frames(4, 0))
    checkpoint.commit(1, 4, None)
    resume = CheckpointFolder(tmp_path, PRINT, 1).open(start_over=False)
    assert (resume.windows_done, resume.frames, resume.tail) == (1, 4, None)
    assert not list(tmp_path.glob("multitalk_tail_*"))


def finished_window(folder: Path) -> None:
    checkpoint = CheckpointFolder(folder, PRINT, 3)
    checkpoint.open(start_over=False)
    FrameSink(folder, file_format="png").append(frames(5, 0))
    checkpoint.commit(1, 5, tail(0.5))


def test_other_inputs_start_over_with_the_old_files_set_aside(tmp_path):
    finished_window(tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in pngs(tmp_path)}
    other = Fingerprint({"noise_seed": "changed", "sigmas": "b"})
    resume = CheckpointFolder(tmp_path, other, 3).open(start_over=True)
    assert (resume.windows_done, resume.frames, resume.changed) == (0, 0, ("noise_seed",))
    assert "another noise_seed" in resume.reason
    assert resume.moved_to.parent == tmp_path and resume.moved_to.name.startswith("replaced_")
    assert pngs(tmp_path) == [] and not list(tmp_path.glob("multitalk_tail_*"))
    assert {name: (resume.moved_to / name).read_bytes() for name in pngs(resume.moved_to)} == before
    assert json.loads((tmp_path / MANIFEST).read_text())["fingerprint"] == other.to_json()


def test_other_inputs_can_stop_and_say_why(tmp_path):
    finished_window(tmp_path)
    listing = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(InputError) as info:
        CheckpointFolder(tmp_path, Fingerprint({"noise_seed": "a", "sigmas": "other"}), 3).open(start_over=False)
    assert info.value.input_name == "output_folder" and "another sigmas" in info.value.problem
    assert "start over" in info.value.fix
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # the folder is left as it was


@pytest.mark.parametrize("damage, reason", [
    ("no manifest", "no checkpoint"),
    ("bad manifest", "damaged"),
    ("missing frame", "missing"),
    ("missing tail", "missing or damaged"),
    ("other format", "another format"),
])
def test_a_folder_that_cannot_continue_says_why(tmp_path, damage, reason):
    finished_window(tmp_path)
    manifest = tmp_path / MANIFEST
    if damage == "no manifest":
        manifest.unlink()
    elif damage == "bad manifest":
        manifest.write_text("{not json")
    elif damage == "missing frame":
        (tmp_path / "frame_00000002.png").unlink()
    elif damage == "missing tail":
        next(tmp_path.glob("multitalk_tail_*")).unlink()
    else:
        manifest.write_text(json.dumps(dict(json.loads(manifest.read_text()), format=99)))
    with pytest.raises(InputError, match=reason):
        CheckpointFolder(tmp_path, PRINT, 3).open(start_over=False)
    resume = CheckpointFolder(tmp_path, PRINT, 3).open(start_over=True)
    assert resume.windows_done == 0 and reason in resume.reason and pngs(tmp_path) == []


CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {tests!r})
    from test_checkpoint import PRINT, frames, tail
    from wan_multitalk.video import checkpoint as module
    from wan_multitalk.video.frame_sink import FrameSink

    folder, point = sys.argv[1], sys.argv[2]
    checkpoint = module.CheckpointFolder(folder, PRINT, 3)
    checkpoint.open(start_over=False)
    sink = FrameSink(folder, file_format="png")
    sink.append(frames(5, 0))
    checkpoint.commit(1, 5, tail(0.7))

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    kind, _, number = point.partition(":")
    calls = [0]
    real_replace, real_write = os.replace, module._write_atomic
    def replace(src, dst):
        calls[0] += 1
        if kind == "before rename" and calls[0] == int(number):
            die()
        real_replace(src, dst)
        if kind == "after rename" and calls[0] == int(number):
            die()
    def half_write(path, data):
        with open(path.with_name(path.name + module.TEMP_SUFFIX), "wb") as f:
            f.write(data[:len(data) // 2])
        die()
    os.replace = replace
    if kind == "half write" and number == "tail":
        module._write_atomic = half_write
    if kind == "half write" and number == "manifest":
        module._write_atomic = lambda path, data: (half_write if path.name == module.MANIFEST else real_write)(path, data)
    window = frames(3, 1)
    sink.append(window[:2])
    if kind == "frames":
        die()
    sink.append(window[2:])
    checkpoint.commit(2, 8, tail(0.3))
    print("committed")
""")

KILL_POINTS = ["frames", "half write:tail", "half write:manifest"] + \
    [f"{when} rename:{n}" for when in ("before", "after") for n in (1, 2)]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_kill_during_a_commit_leaves_the_previous_or_the_new_checkpoint(tmp_path, point):
    """SIGKILL while window 2 is written or committed (the tail's rename is the first, the manifest's the second):
    the folder then resumes either after window 1 with window 1's tail or after window 2 with window 2's, never a
    mix, and holds exactly the frames it says are finished."""
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=str(ROOT), tests=str(Path(__file__).parent)))
    folder = tmp_path / "run"
    child = subprocess.run([sys.executable, str(script), str(folder), point], capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr
    resume = CheckpointFolder(folder, PRINT, 3).open(start_over=False)
    expected = {1: (5, tail(0.7)), 2: (8, tail(0.3))}
    assert resume.windows_done in expected
    count, want = expected[resume.windows_done]
    assert resume.frames == count and torch.equal(resume.tail, want)
    assert resume.windows_done == (2 if point == "after rename:2" else 1)
    assert pngs(folder) == [f"frame_{i:08d}.png" for i in range(count)]
    assert not list(folder.glob("*.partial"))
    stored = np.stack([np.asarray(Image.open(folder / name)) for name in pngs(folder)])
    made = torch.cat([frames(5, 0), frames(3, 1)])[:count]
    assert np.array_equal(stored, (made.numpy() * 255).round().astype(np.uint8))


def test_frame_folder_streams_one_frame_at_a_time(tmp_path):
    made = frames(7, 4)
    FrameSink(tmp_path, file_format="png").append(made)
    folder = FrameFolder(tmp_path, count=5)
    assert len(folder) == 5 and folder.shape == (5, 6, 8, 3)
    streamed = list(folder)
    assert len(streamed) == 5 and all(f.shape == (6, 8, 3) for f in streamed)
    assert torch.equal(torch.stack(streamed), FrameFolder(tmp_path).load()[:5])
    with pytest.raises(ValueError):
        FrameFolder(tmp_path, count=8)
