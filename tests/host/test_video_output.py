"""The sampler's VIDEO output through core Save Video (read back with PyAV), in RAM and folder mode; the IMAGE
output never stands in for the video with one frame; memory of a 20-window folder-mode run saved as a video, measured
in a fresh process (other_host.py long-rss)."""
from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

import other_host
from tests.host.test_long_video import WINDOW, MOTION, expected_total, fps_for, long_graph
from wan_multitalk.timebase import samples_for_frames
from wan_multitalk.video.windows import split_windows

FPS = 8.0  # the male voice at 8 fps: 17 frames, 3 windows


def sampler_node(prompt: dict) -> str:
    return next(k for k, n in prompt.items() if n["class_type"] in ("MTS_LongVideoSampler", "MTSTest_LongVideoSampler"))


def saved_through_core(prompt: dict, prefix: str, keep_images: bool = False) -> dict:
    """The prompt with the sampler's VIDEO into core SaveVideo (mp4, h264) and, unless `keep_images`, nothing
    reading its images."""
    sampler = sampler_node(prompt)
    if not keep_images:
        for key in [k for k, n in prompt.items() if n["class_type"] == "MTSTest_Capture"
                    and n["inputs"]["value"] == [sampler, 0]]:
            del prompt[key]
    # SaveVideo's inputs: format + codec (0.12.0), the format as a dynamic combo with its codec (newer hosts)
    prompt["save"] = {"class_type": "SaveVideo", "inputs": {"video": [sampler, 4], "filename_prefix": prefix,
                                                            "format": "mp4", "codec": "h264", "format.codec": "h264"}}
    return prompt


def read_video(path) -> dict:
    """Frames [N, H, W, 3] in 0..1, the video stream's rate, and the audio's length in seconds, from the file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    with av.open(str(path)) as container:
        audio = container.streams.audio
        samples = sum(f.samples for f in container.decode(audio[0])) if audio else 0
        sample_rate = audio[0].rate if audio else 1
    return {"frames": np.stack(frames) / 255.0, "rate": rate, "audio_seconds": samples / sample_rate,
            "sample_rate": sample_rate}


def saved_file(host, prefix: str):
    (path,) = (host.workdir / "output").glob(f"{prefix}_*.mp4")
    return path


@pytest.mark.parametrize("mode", ["folder", "ram"])
def test_video_output_saves_every_frame_with_the_audio(host, tiny_wan, tiny_adapter, wav2vec2_name, voices, mode,
                                                       tmp_path):
    total = expected_total(voices["male"], FPS)
    assert (total, len(split_windows(total, WINDOW, MOTION))) == (17, 3)
    folder = tmp_path / "frames" if mode == "folder" else ""
    prefix = f"video_{mode}"
    prompt = saved_through_core(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, FPS,
                                           output_folder=str(folder), capture=mode), prefix, keep_images=mode == "ram")
    result = host.run(prompt)
    saved = read_video(saved_file(host, prefix))

    assert saved["frames"].shape == (total, 48, 64, 3)
    assert saved["rate"] == Fraction(8)
    # the audio cut to the frames: its samples span them (AAC adds at most one frame of 1024 samples of padding)
    wanted = samples_for_frames(total, voices["male"]["rate"], FPS) / voices["male"]["rate"]
    assert wanted == pytest.approx(total / FPS, abs=1 / voices["male"]["rate"])
    assert wanted - 1e-6 <= saved["audio_seconds"] <= wanted + 2048 / saved["sample_rate"]
    # the frames the sampler made (h264 at its default quality: close, not equal)
    if mode == "folder":
        made = np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))]) / 255.0
        assert f"frames{mode}" not in result.captured  # nothing read the images: left on the disk
    else:
        made = result.captured[f"frames{mode}"].numpy()
    assert made.shape[0] == total
    # h264 (yuv420p, default quality) blurs the tiny model's noisy frames: each saved frame is nearest to its own
    distance = np.abs(saved["frames"][:, None] - made[None].astype(np.float64)).mean(axis=(2, 3, 4))
    assert list(distance.argmin(axis=1)) == list(range(total))


def test_images_in_folder_mode_are_all_frames_read_back(host, tiny_wan, tiny_adapter, wav2vec2_name, voices,
                                                        tmp_path):
    """Connected, the IMAGE output is the whole video read back from the folder - never its last frame alone."""
    total = expected_total(voices["male"], FPS)
    folder = tmp_path / "frames"
    result = host.run(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, FPS, output_folder=str(folder),
                                 capture="images"))
    frames = result.captured["framesimages"]
    pngs = np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))])
    assert frames.shape == (total, 48, 64, 3)
    torch.testing.assert_close(frames, torch.from_numpy(pngs).float() / 255, rtol=0, atol=0)


def test_saving_a_folder_video_reads_the_frames_one_at_a_time(host, tiny_wan, tiny_adapter, wav2vec2_name, voices,
                                                              tmp_path, monkeypatch):
    """Save Video on the folder-mode VIDEO pulls single frames, in order, and never a batch of them."""
    frame_folder = host.pack_module("wan_multitalk.video.frame_sink").FrameFolder
    reads, single = [], frame_folder.__getitem__

    def spy(self, key):
        reads.append(key)
        if isinstance(key, slice):
            raise AssertionError(f"frames {key} read as one batch")
        return single(self, key)

    monkeypatch.setattr(frame_folder, "__getitem__", spy)
    monkeypatch.setattr(frame_folder, "__iter__", lambda self: (self[i] for i in range(len(self))))
    total = expected_total(voices["male"], FPS)
    host.run(saved_through_core(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, FPS, capture="spy",
                                           output_folder=str(tmp_path / "frames")), "video_spy"))
    assert reads == list(range(total))
    assert read_video(saved_file(host, "video_spy"))["frames"].shape[0] == total


@pytest.mark.host_independent  # the pack's own buffers; one host shows them
def test_a_20_window_folder_run_saved_as_video_peaks_at_window_2s_memory(host, tiny_wan, tiny_adapter,
                                                                         wav2vec2_name, voices, tmp_path):
    """In a fresh process: peak RSS when window 2 is done, and after all 20 windows and Save Video."""
    fps = fps_for(voices["male"], WINDOW + 19 * (WINDOW - MOTION) - 0.5)  # 85 frames
    total = expected_total(voices["male"], fps)
    assert len(split_windows(total, WINDOW, MOTION)) == 20
    prompt = saved_through_core(long_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, fps, observed=True,
                                           output_folder=str(tmp_path / "frames"), steps=1), "rss")
    for key in [k for k, n in prompt.items() if n["class_type"] == "MTSTest_Capture"]:
        del prompt[key]  # nothing else held: the captures would keep inputs alive
    path = tmp_path / "prompt.json"
    path.write_text(json.dumps(prompt))
    answer = other_host.run("long-rss", str(host.root), str(host.workdir), str(path), timeout=600)
    assert answer["windows"] == 20 and answer["saved"] == 1, answer
    assert answer["peak"] <= answer["window_2"] * 1.05, answer
