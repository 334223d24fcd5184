"""FrameSink: RAM and folder modes hold the same frames."""
import numpy as np
import pytest
import torch
from PIL import Image

from wan_multitalk.errors import InputError
from wan_multitalk.video.frame_sink import FrameFolder, FrameSink


def batches():
    g = torch.Generator().manual_seed(7)
    return [torch.rand(n, 6, 8, 3, generator=g) for n in (5, 1, 3, 4)]


def test_ram_and_npy_folder_hold_identical_frames(tmp_path):
    parts = batches()
    ram, disk = FrameSink(), FrameSink(tmp_path / "run")
    for part in parts:
        ram.append(part)
        disk.append(part)
    expected = torch.cat(parts)
    assert ram.count == disk.count == 13
    in_ram = ram.result()
    assert torch.equal(in_ram, expected)
    folder = disk.result()
    assert isinstance(folder, FrameFolder) and len(folder) == 13
    assert torch.equal(folder.load(), expected)
    assert torch.equal(folder[6], expected[6])  # crosses into the third chunk
    assert torch.equal(folder[4:10], expected[4:10])
    assert torch.equal(folder[-1], expected[-1])
    assert torch.equal(FrameFolder(tmp_path / "run")[::4], expected[::4])  # reopen later
    with pytest.raises(IndexError):
        folder[13]


def test_png_folder_is_eight_bit(tmp_path):
    parts = batches()
    sink = FrameSink(tmp_path, file_format="png")
    for part in parts:
        sink.append(part)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[0] == "frame_00000000.png" and names[-1] == "frame_00000012.png"
    expected = torch.cat(parts)
    first = np.asarray(Image.open(tmp_path / "frame_00000007.png"))
    assert np.array_equal(first, np.round(expected[7].numpy() * 255).astype(np.uint8))
    loaded = sink.result().load()
    assert loaded.shape == (13, 6, 8, 3)
    assert (loaded - expected).abs().max() <= 0.5 / 255 + 1e-6


def test_ram_mode_copies_frames():
    sink = FrameSink()
    window = torch.zeros(10, 2, 2, 3)
    sink.append(window[4:])
    window += 1  # the caller reuses its buffer
    assert float(sink.result().max()) == 0.0 and sink.count == 6


def test_folder_with_old_frames_is_refused(tmp_path):
    FrameSink(tmp_path).append(torch.zeros(1, 2, 2, 3))
    with pytest.raises(InputError) as info:
        FrameSink(tmp_path, input_name="save_frames_to")
    assert info.value.input_name == "save_frames_to" and "empty folder" in info.value.fix


def test_misuse_is_reported():
    sink = FrameSink()
    with pytest.raises(ValueError):
        sink.result()
    sink.append(torch.zeros(2, 4, 4, 3))
    with pytest.raises(ValueError):
        sink.append(torch.zeros(2, 4, 5, 3))
    with pytest.raises(InputError):
        FrameSink(file_format="jpg")
