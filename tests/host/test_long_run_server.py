"""A long run on a real ComfyUI server in a subprocess (main.py --cpu on a free port, this pack and the test nodes
as custom nodes, the tiny models of the session): the previews and status text the server sends on its websocket,
and resuming after an interrupt and after a SIGKILL in the middle of window 3 and a restart - ending with exactly
the frames of an uninterrupted run - while another seed does not resume. In-process resume cases:
test_long_video_resume.py."""
from __future__ import annotations

import io
import json

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import host_test_nodes
from browser_host import ComfyServer
from server_client import events, interrupt, previews, queue, texts
from tests.host.test_long_video import WINDOW, MOTION, expected_total, fps_for, long_graph
from wan_multitalk.video.windows import split_windows

STEPS, WINDOWS = 2, 4
FOUR_WINDOWS = 20.5  # frames of the male voice, for fps_for: 20 frames, 4 windows
PAUSE = 0.5  # seconds the test sampler waits after each step: time to interrupt or kill within a known step
IN_WINDOW_3 = 2 * STEPS + 1  # the progress value after the first step of window 3


def png_frames(folder) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))])


def manifest(folder) -> dict:
    return json.loads((folder / "multitalk_checkpoint.json").read_text())


@pytest.fixture(scope="module")
def server(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, tmp_path_factory):
    """One server over the session's model and input folders, with the test nodes loaded as a custom node."""
    base = tmp_path_factory.mktemp("server")
    for name in ("models", "input"):
        (base / name).symlink_to(host.workdir / name, target_is_directory=True)
    package = base / "custom_nodes" / "mts_test_nodes"
    package.mkdir(parents=True)
    support = str(Path(host_test_nodes.__file__).parent)
    (package / "__init__.py").write_text(
        f"import sys\nsys.path.insert(0, {support!r})\nfrom host_test_nodes import TEST_NODES\n"
        "NODE_CLASS_MAPPINGS = dict(TEST_NODES)\n")
    running = ComfyServer(host.root, base, extra_args=("--preview-method", "latent2rgb")).start(timeout=240)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def prompt(tiny_wan, tiny_adapter, wav2vec2_name, voices):
    """prompt(folder, seed) -> the API prompt of a 4-window run into `folder`, with the slow test sampler."""
    fps = fps_for(voices["male"], FOUR_WINDOWS)
    assert len(split_windows(expected_total(voices["male"], fps), WINDOW, MOTION)) == WINDOWS

    def make(folder, seed=11) -> dict:
        p = long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, output_folder=str(folder), seed=seed,
                       steps=STEPS)
        for key, node in list(p.items()):
            if node["class_type"] == "KSamplerSelect":
                p[key] = {"class_type": "MTSTest_SlowSampler", "inputs": {"seconds": PAUSE}}
            elif node["class_type"] == "MTSTest_Capture" and node["inputs"]["key"] != "count":
                del p[key]
        return p

    return make


def sampler_id(prompt: dict) -> str:
    return next(k for k, n in prompt.items() if n["class_type"] == "MTS_LongVideoSampler")


def when_progress(prompt: dict, value: int, act):
    """A websocket reaction: `act()` once the sampler's progress reaches `value`."""
    node = sampler_id(prompt)

    def react(message):
        if isinstance(message, dict) and message.get("type") == "progress":
            data = message["data"]
            if str(data.get("node")) == node and data["value"] == value:
                act()
    return react


@pytest.fixture(scope="module")
def whole(server, prompt, tmp_path_factory):
    """An uninterrupted run: (its png frames, every message the server sent while it ran)."""
    folder = tmp_path_factory.mktemp("whole") / "frames"
    messages = queue(server, prompt(folder))
    assert events(messages, "execution_success"), server.log()[-3000:]
    frames = png_frames(folder)
    assert frames.shape == (20, 48, 64, 3)
    return frames, messages


def test_the_server_sends_step_previews_and_window_strips(whole, voices):
    """With a preview method set, every step of every window sends a latent preview (as core samplers do) and
    every finished window a strip of its frames; all are pictures the frontend can show."""
    _, messages = whole
    pictures = [Image.open(io.BytesIO(data)) for data in previews(messages)]
    assert len(pictures) == STEPS * WINDOWS + WINDOWS
    assert all(p.format == "JPEG" for p in pictures)
    # latent previews have the video's shape (64 x 48): STEPS of them, then the window's strip of (up to four of)
    # its new frames side by side
    windows = split_windows(expected_total(voices["male"], fps_for(voices["male"], FOUR_WINDOWS)), WINDOW, MOTION)
    expected = [s for w in windows for s in [64 / 48] * STEPS + [min(4, w.keep_count) * 64 / 48]]
    assert np.allclose([p.size[0] / p.size[1] for p in pictures], expected, atol=0.05)
    assert [t for t in texts(messages) if t.startswith("window ")] == [f"window {k} of {WINDOWS}"
                                                                         for k in range(1, WINDOWS + 1)]


def test_interrupted_in_window_3_and_queued_again_ends_with_the_uninterrupted_frames(server, prompt, whole,
                                                                                       tmp_path):
    folder = tmp_path / "frames"
    run = prompt(folder)
    stopped = queue(server, run, when_progress(run, IN_WINDOW_3, lambda: interrupt(server)))
    assert events(stopped, "execution_interrupted")
    assert (manifest(folder)["windows_done"], manifest(folder)["frames"]) == (2, WINDOW + 4)

    resumed = queue(server, run)
    assert events(resumed, "execution_success")
    said = texts(resumed)
    assert any(t.startswith(f"resuming at window 3 of {WINDOWS} (2 finished, 13 frames in") for t in said), said
    assert [t for t in said if t.startswith("window ")] == ["window 3 of 4 (resumed at window 3)",
                                                            "window 4 of 4 (resumed at window 3)"]
    steps = [d["value"] for d in events(resumed, "progress") if str(d["node"]) == sampler_id(run)]
    assert steps == sorted(steps) and (steps[0], steps[-1]) == (2 * STEPS, STEPS * WINDOWS)  # windows 1-2 done
    assert np.array_equal(png_frames(folder), whole[0])

    # another seed in the same folder: no resume - it starts over, the finished run set aside (stop it there)
    def stop_when_starting_over(message):
        if any(t.startswith("starting over") for t in texts([message])):
            interrupt(server)

    other = queue(server, prompt(folder, seed=12), stop_when_starting_over)
    said = [t for t in texts(other) if t.startswith("starting over")]
    assert said and "it was made with another noise_seed" in said[0]
    assert not any(t.startswith("resuming") for t in texts(other))
    (moved,) = folder.glob("replaced_*")
    assert np.array_equal(png_frames(moved), whole[0])


def test_killed_in_window_3_and_restarted_ends_with_the_uninterrupted_frames(server, prompt, whole, tmp_path):
    """SIGKILL (a crash, the OOM killer) in the middle of window 3; a new server, the same prompt queued again."""
    folder = tmp_path / "frames"
    run = prompt(folder)
    queue(server, run, when_progress(run, IN_WINDOW_3, server.kill))
    assert server.proc.poll() is not None
    assert (manifest(folder)["windows_done"], manifest(folder)["frames"]) == (2, WINDOW + 4)

    server.start(timeout=240)
    resumed = queue(server, prompt(folder))
    assert events(resumed, "execution_success"), server.log()[-3000:]
    assert any(t.startswith(f"resuming at window 3 of {WINDOWS}") for t in texts(resumed))
    assert np.array_equal(png_frames(folder), whole[0])
    assert not list(folder.glob("multitalk_tail_*"))  # finished: nothing left to continue from
