"""AudioProjModel: per-frame wav2vec2 windows -> audio context tokens per LATENT frame.

The Wan VAE packs video frames 1+4k into latent frames, so latent frame 0 sees video frame 0
alone and every later latent frame sees 4 video frames. The adapter was trained with one
window of audio rows per latent frame: frame 0's full window, and for each later group of 4
frames a contiguous stretch of rows (first frame's left half + centre, the two middle centres,
last frame's centre + right half: 8 rows for the 5-row window).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError
from .host import DEFAULT_OPERATIONS, layer_norm_fp32, linear

FRAMES_PER_LATENT = 4  # Wan 2.1 VAE temporal compression


def latent_frame_count(video_frames: int) -> int:
    """Latent frames for a 4k+1 video frame count; anything else cannot be encoded by the VAE."""
    if video_frames < 1 or (video_frames - 1) % FRAMES_PER_LATENT:
        raise InputError(
            "length",
            f"the window has {video_frames} video frames; the Wan VAE needs 4k+1 frames (e.g. 77, 81, 85).",
            "Set the frame count to a multiple of 4 plus 1.",
        )
    return (video_frames - 1) // FRAMES_PER_LATENT + 1


def group_latent_rows(windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split per-frame windows [S, F, W, L, C] into latent-frame row groups.

    Returns (first [S, 1, W, L, C], later [S, N_t - 1, W + 3, L, C]).
    """
    if windows.ndim != 5:
        raise InputError(
            "audio",
            f"audio windows must be [speakers, frames, window, layers, channels], got {list(windows.shape)}.",
            "Build the windows with the audio library's window function.",
        )
    speakers, frames, width = windows.shape[:3]
    latents = latent_frame_count(frames)
    centre = width // 2
    first = windows[:, :1]
    groups = windows[:, 1:].reshape(speakers, latents - 1, FRAMES_PER_LATENT, *windows.shape[2:])
    later = torch.cat(
        [
            groups[:, :, 0, : centre + 1],  # first frame of the group: left half and centre
            groups[:, :, 1:-1, centre],  # middle frames: centre row only
            groups[:, :, -1, centre:],  # last frame: centre and right half
        ],
        dim=2,
    )
    return first, later


class AudioProjection(nn.Module):
    """The official audio_proj MLP (keys proj1, proj1_vf, proj2, proj3, norm)."""

    def __init__(
        self,
        window: int = 5,
        audio_layers: int = 12,
        audio_channels: int = 768,
        intermediate: int = 512,
        context_tokens: int = 32,
        token_dim: int = 768,
        operations=DEFAULT_OPERATIONS,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if window < 1 or window % 2 == 0:
            raise ValueError(f"the audio window must be odd (centred on the frame), got {window}")
        row = audio_layers * audio_channels
        self.window = window
        self.row_width = row
        self.context_tokens = context_tokens
        self.token_dim = token_dim
        factory = {"device": device, "dtype": dtype}
        self.proj1 = operations.Linear(window * row, intermediate, **factory)
        self.proj1_vf = operations.Linear((window + 3) * row, intermediate, **factory)
        self.proj2 = operations.Linear(intermediate, intermediate, **factory)
        self.proj3 = operations.Linear(intermediate, context_tokens * token_dim, **factory)
        self.norm = operations.LayerNorm(token_dim, eps=1e-5, **factory)

    def check_windows(self, windows: torch.Tensor) -> int:
        """Validate windows [S, F, W, L, C] against this projection; returns the latent frame count."""
        if windows.ndim != 5:
            raise InputError(
                "audio",
                f"audio windows must be [speakers, frames, window, layers, channels], got {list(windows.shape)}.",
                "Build the windows with the audio library's window function.",
            )
        if windows.shape[2] != self.window or windows.shape[3] * windows.shape[4] != self.row_width:
            raise InputError(
                "audio",
                f"audio windows are {windows.shape[2]} rows of {windows.shape[3]}x{windows.shape[4]} features; "
                f"the adapter expects {self.window} rows of {self.row_width} "
                "(the official adapters: 12 layers x 768 of chinese-wav2vec2-base).",
                "Encode the audio with the wav2vec2 model the adapter was trained with (chinese-wav2vec2-base).",
            )
        return latent_frame_count(windows.shape[1])

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """windows [S, F, W, L, C] (F = 4k+1) -> tokens [S, N_t, context_tokens, token_dim].

        Computed in the dtype of `windows`; the LayerNorm always runs in float32.
        """
        self.check_windows(windows)
        first, later = group_latent_rows(windows)
        hidden = [torch.relu(linear(self.proj1, first.flatten(2)))]
        if later.shape[1]:
            hidden.append(torch.relu(linear(self.proj1_vf, later.flatten(2))))
        hidden = torch.relu(linear(self.proj2, torch.cat(hidden, dim=1)))
        tokens = linear(self.proj3, hidden).unflatten(-1, (self.context_tokens, self.token_dim))
        return layer_norm_fp32(self.norm, tokens)
