"""BackgroundWriter: the sink ends up with exactly what was submitted, in order, with bounded frames in flight."""
import threading
import time

import pytest
import torch

from wan_multitalk.video.frame_sink import FrameSink
from wan_multitalk.video.frame_writer import BackgroundWriter


def windows(count=6, frames=4):
    g = torch.Generator().manual_seed(3)
    return [torch.rand(frames, 6, 8, 3, generator=g) for _ in range(count)]


class SlowSink(FrameSink):
    """A sink whose appends take a while (like PNG encoding), recording the thread they ran on."""

    def __init__(self, *args, delay=0.02, fail_at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.delay, self.fail_at, self.threads = delay, fail_at, []

    def append(self, frames):
        time.sleep(self.delay)
        self.threads.append(threading.current_thread().name)
        if self.fail_at is not None and len(self.threads) == self.fail_at:
            raise OSError("disk full")
        super().append(frames)


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("folder", [False, True])
def test_sink_holds_every_submitted_frame_in_order(tmp_path, threaded, folder):
    parts = windows()
    sink = SlowSink(tmp_path / "out" if folder else None, file_format="npy")
    writer = BackgroundWriter(sink, threaded=threaded, depth=2)
    for part in parts:
        source = part.clone()
        writer.submit(source)
        source.zero_()  # the caller reuses its buffer at once: the writer must have taken its own copy
    writer.wait()
    assert writer.submitted == sink.count == 24
    result = sink.result()
    torch.testing.assert_close(result if not folder else result.load(), torch.cat(parts), rtol=0, atol=0)
    writer.close()
    on_caller = [name == threading.current_thread().name for name in sink.threads]
    assert all(on_caller) != threaded  # threaded: every append ran off the caller's thread


@pytest.mark.parametrize("threaded", [True, False])
def test_after_tasks_run_once_the_frames_before_them_are_in_the_sink(threaded):
    """What a checkpoint records must already be on the disk: each task sees every frame submitted before it,
    on the writer's thread when threaded, and a task's failure reaches the caller like a write's."""
    sink = SlowSink(delay=0.03)
    writer = BackgroundWriter(sink, threaded=threaded, depth=2)
    seen = []
    for k, part in enumerate(windows(count=4)):
        writer.submit(part)
        writer.after(lambda k=k: seen.append((k, sink.count, threading.current_thread().name)))
    writer.wait()
    assert [(k, count) for k, count, _ in seen] == [(k, 4 * (k + 1)) for k in range(4)]
    assert all((name != threading.current_thread().name) == threaded for _, _, name in seen)
    with pytest.raises(ZeroDivisionError):  # raised by the next call when threaded, at once otherwise
        writer.after(lambda: 1 / 0)
        writer.wait()
    writer.close()


def test_frames_in_flight_stay_bounded():
    parts = windows(count=8)
    sink = SlowSink(delay=0.05)
    writer = BackgroundWriter(sink, threaded=True, depth=2)
    in_flight = []
    for part in parts:
        writer.submit(part)
        in_flight.append(writer.submitted - sink.count)
    writer.close()
    # at most `depth` windows queued plus the one being written
    assert max(in_flight) <= 3 * 4, in_flight
    assert sink.count == 32


def test_a_writer_failure_reaches_the_caller():
    sink = SlowSink(fail_at=2)
    writer = BackgroundWriter(sink, threaded=True)
    for part in windows(count=3):
        writer.submit(part)
    with pytest.raises(OSError, match="disk full"):
        writer.wait()
    writer.close()
    assert sink.count == 4  # the first window made it; nothing after the failure was written


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_frames_are_copied_through_pinned_buffers():
    parts = [p.cuda() for p in windows()]
    sink = FrameSink()
    writer = BackgroundWriter(sink, threaded=True)
    with torch.inference_mode():  # as ComfyUI's executor runs the loop: inference tensors track no views
        for part in parts[:3] + [p[:3] for p in parts[3:]]:  # smaller windows reuse the pinned buffers
            writer.submit(part)
    writer.close()
    parts = parts[:3] + [p[:3] for p in parts[3:]]
    torch.testing.assert_close(sink.result(), torch.cat(parts).cpu(), rtol=0, atol=0)
