"""The long-video loop with frames written from a background thread (the default on CUDA): the same frames,
in RAM and in a folder, and an interrupt still keeps exactly the finished windows. Graph: test_long_video.py."""
from __future__ import annotations

import pytest
import torch

from tests.host.test_long_video import WINDOW, fps_for, hooked, long_graph


@pytest.mark.parametrize("to_folder", [False, True])
def test_background_writes_give_the_same_frames(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, tmp_path,
                                                to_folder):
    fps = fps_for(voices["male"], 15.5)
    frames = {}
    for threaded in (False, True):
        folder = str(tmp_path / f"frames_{threaded}") if to_folder else ""
        # another prompt in between, so the host runs the sampler afresh instead of answering from its cache
        host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, seed=9, steps=1))
        windows_done = []
        with hooked(lambda e, i: windows_done.append(e == "window_done"), background_writes=threaded):
            out = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, output_folder=folder,
                                      observed=True)).captured
        assert sum(windows_done) == 3
        frames[threaded] = out["frames"]
        if to_folder:
            assert len(list((tmp_path / f"frames_{threaded}").glob("frame_*.png"))) == out["count"]
    torch.testing.assert_close(frames[True], frames[False], rtol=0, atol=0)


def test_interrupt_with_background_writes_keeps_window_1(host, tiny_wan, tiny_adapter, wav2vec2_name, voices,
                                                         tmp_path):
    import comfy.model_management as mm

    folder = tmp_path / "frames"

    def interrupt(event, info):
        if event == "window_done" and info["window"].index == 0:
            mm.interrupt_current_processing()

    try:
        with hooked(interrupt, background_writes=True):
            result = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps_for(voices["male"], 15.5),
                                         output_folder=str(folder), observed=True), expect_success=False)
    finally:
        mm.interrupt_current_processing(False)
    assert any(event == "execution_interrupted" for event, _ in result.messages)
    assert len(list(folder.glob("frame_*.png"))) == WINDOW  # window 1 written by the thread before the stop
