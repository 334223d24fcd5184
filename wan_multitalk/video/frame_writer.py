"""Hand finished frames to a `FrameSink` without holding up the GPU.

A decoded 81-frame 832x480 window is 388 MB of float32: copying it to host memory takes ~0.2 s and
writing it as PNG files several seconds, while the next window could already be sampling. The
writer starts the device-to-host copy into a pinned buffer (asynchronous, on the copy engine) and a
thread waits for it and appends to the sink (copy into pageable memory, PNG encoding), so the window
loop only pays for launching the copy. At most `depth` windows are in flight, so memory stays flat.
Work that must follow the frames onto the disk (a checkpoint naming them) is queued behind them with `after`.
"""
from __future__ import annotations

import queue
import threading

import torch

from .frame_sink import FrameSink


class BackgroundWriter:
    """`submit(frames)` in order, `wait()` until all are in the sink, `close()` at the end.

    threaded=False appends at once on the caller's thread (the CPU path: nothing to overlap with).
    A failure in the writer thread (a full disk, say) is raised again by the next submit or wait.
    """

    def __init__(self, sink: FrameSink, threaded: bool = True, depth: int = 2):
        self.sink = sink
        self.submitted = 0
        self._threaded = threaded
        self._jobs: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._free_pinned: list[torch.Tensor] = []
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def submit(self, frames: torch.Tensor) -> None:
        """Queue finished frames [N, H, W, C] (any device); the caller may drop its reference."""
        self._raise_failure()
        if frames.shape[0] == 0:
            return
        self.submitted += int(frames.shape[0])
        if not self._threaded:
            self.sink.append(frames)
            return
        if frames.is_cuda:
            buffer = self._pinned_buffer(frames)
            staging = buffer[:frames.numel()].view(frames.shape)
            staging.copy_(frames, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record()
            job = (staging, copied, buffer, frames)  # `frames` stays referenced until the copy is done
        else:
            job = (frames.detach().clone(), None, None, None)
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="multitalk-frame-writer", daemon=True)
            self._thread.start()
        self._jobs.put(job)  # blocks while `depth` windows are still being written

    def after(self, task) -> None:
        """Run `task()` once everything submitted before it is in the sink (on the writer thread when threaded)."""
        self._raise_failure()
        if not self._threaded or self._thread is None:
            self.wait()
            task()
            return
        self._jobs.put((None, None, None, task))

    def wait(self) -> None:
        """Return once every submitted frame is in the sink."""
        if self._thread is not None:
            self._jobs.join()
        self._raise_failure()

    def close(self) -> None:
        """Finish what was submitted and stop the thread (idempotent)."""
        if self._thread is not None:
            self._jobs.join()
            self._jobs.put(None)
            self._thread.join()
            self._thread = None
        self._free_pinned.clear()

    def _pinned_buffer(self, frames: torch.Tensor) -> torch.Tensor:
        """A flat pinned host buffer with room for `frames` (reused: pinning memory is slow)."""
        with self._lock:
            for i, buffer in enumerate(self._free_pinned):
                if buffer.dtype == frames.dtype and buffer.numel() >= frames.numel():
                    return self._free_pinned.pop(i)
        return torch.empty(frames.numel(), dtype=frames.dtype, pin_memory=True)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                staging, copied, buffer, task = job  # task: the frames kept alive, or an `after` task
                if self._error is None and staging is None:
                    task()
                elif self._error is None:
                    if copied is not None:
                        copied.synchronize()
                    self.sink.append(staging)  # the sink copies into its own (pageable) memory
                    if buffer is not None:
                        with self._lock:
                            self._free_pinned.append(buffer)
            except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
                self._error = error
            finally:
                del job
                self._jobs.task_done()

    def _raise_failure(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error
