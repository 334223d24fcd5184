"""Video-to-video dubbing: the source video resampled to the output frame rate, and per window its keyframe (the
window's reference), its frames (the start latent for partial denoise) and its face mask, each fitted to the
video size one window at a time so an hour of source never sits resized in memory."""
from __future__ import annotations

import torch

from ..errors import InputError
from ..timebase import resampled_frame_count, source_frame_at
from .resize import fit_to_video
from .windows import Window


def source_keyframe_index(window: Window | int, source_frames: int) -> int:
    """Dubbing: the source frame that anchors a window - the one at the window's start, or the
    last source frame once the source has run out."""
    if source_frames < 1:
        raise InputError("video", "the source video has no frames.", "connect a non-empty video.")
    start = window.start if isinstance(window, Window) else int(window)
    return min(start, int(source_frames) - 1)


def resample_frame_indices(num_source_frames: int, source_fps, fps,
                           num_frames: int | None = None) -> torch.Tensor:
    """Source frame shown at each output frame: int64 [num_frames].

    Output frame i is at time i / fps and shows the latest source frame that started at or
    before it, clamped to the last source frame. By default the output covers the source
    (`timebase.resampled_frame_count`).
    """
    if int(num_source_frames) != num_source_frames or num_source_frames < 1:
        raise InputError("video", "the source video has no frames.", "connect a non-empty video.")
    if num_frames is None:
        num_frames = resampled_frame_count(num_source_frames, source_fps, fps)
    index = source_frame_at(torch.arange(int(num_frames), dtype=torch.int64), source_fps, fps)
    return index.clamp_max(int(num_source_frames) - 1)


def window_source_indices(frame_map: torch.Tensor, window: Window) -> torch.Tensor:
    """Source frame for every frame of a window: int64 [window.length].

    frame_map[i] is the source frame shown at output frame i (see `resample_frame_indices`); frames
    past the end of the map repeat its last entry.
    """
    if frame_map.numel() < 1:
        raise InputError("source_video", "has no frames.", "connect a non-empty IMAGE batch.")
    positions = torch.arange(window.start, window.end).clamp_max(frame_map.numel() - 1)
    return frame_map[positions]


class DubbingSource:
    """The source video at the output fps; `face_mask` [M, h, w] (1 = may change) one mask or one per frame."""

    def __init__(self, video: torch.Tensor, source_fps, fps, face_mask: torch.Tensor | None, size: tuple[int, int]):
        self.video, self.face_mask, (self.width, self.height) = video, face_mask, size
        self.frame_map = resample_frame_indices(video.shape[0], source_fps, fps)

    @property
    def frames(self) -> int:
        return int(self.frame_map.numel())

    def keyframe(self, window: Window) -> tuple[int, torch.Tensor]:
        """(source index, [1, H, W, 3] fitted frame) of the frame that anchors the window."""
        index = int(self.frame_map[source_keyframe_index(window, self.frames)])
        return index, fit_to_video(self.video[index:index + 1], self.width, self.height)

    def window_frames(self, window: Window) -> torch.Tensor:
        return self._fitted(self.video, window_source_indices(self.frame_map, window))

    def window_mask(self, window: Window) -> torch.Tensor | None:
        """[1, 1, F, H, W] (the host resizes it to the latent), or None without a face mask."""
        if self.face_mask is None:
            return None
        idx = window_source_indices(self.frame_map, window).clamp_max(self.face_mask.shape[0] - 1)
        return self._fitted(self.face_mask, idx)[None, None]

    def _fitted(self, source: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """source[idx] fitted to the video, resizing each distinct source frame once (one mask for the whole
        video, or a source slower than the output, repeats frames)."""
        distinct, where = idx.unique(return_inverse=True)
        return fit_to_video(source[distinct], self.width, self.height)[where]
