"""AudioProjModel: the audio rows each frame reads (wav2vec2 features) -> audio tokens per LATENT frame.

The Wan VAE packs video frames 1+4k into latent frames, so latent frame 0 sees video frame 0
alone and every later latent frame sees 4 video frames. The adapter was trained with one
stretch of audio rows per latent frame: frame 0's rows, and for each later group of 4
frames a contiguous stretch of rows (first frame's left half + centre, the two middle centres,
last frame's centre + right half: 8 rows for the 5 rows of a frame).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError
from ..timebase import FRAMES_PER_LATENT, check_window_size, latent_frames
from .ops import DEFAULT_OPERATIONS, layer_norm_fp32, linear

def latent_frame_count(video_frames: int) -> int:
    """Latent frames of a window; its 4k+1 frame count is what the VAE can encode."""
    return latent_frames(check_window_size(video_frames, "length", minimum=1))


def group_latent_rows(frame_audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the frame audio [S, F, W, L, C] into latent-frame row groups.

    Returns (first [S, 1, W, L, C], later [S, N_t - 1, W + 3, L, C]).
    """
    if frame_audio.ndim != 5:
        raise InputError(
            "audio",
            f"frame audio must be [speakers, frames, rows, layers, channels], got {list(frame_audio.shape)}.",
            "Build it with SpeakerEmbeds.frame_audio.",
        )
    speakers, frames, width = frame_audio.shape[:3]
    latents = latent_frame_count(frames)
    centre = width // 2
    first = frame_audio[:, :1]
    groups = frame_audio[:, 1:].reshape(speakers, latents - 1, FRAMES_PER_LATENT, *frame_audio.shape[2:])
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
        audio_rows: int = 5,
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
        if audio_rows < 1 or audio_rows % 2 == 0:
            raise ValueError(f"the frame audio must be odd (centred on the frame), got {audio_rows}")
        row = audio_layers * audio_channels
        self.audio_rows = audio_rows
        self.row_width = row
        self.context_tokens = context_tokens
        self.token_dim = token_dim
        factory = {"device": device, "dtype": dtype}
        self.proj1 = operations.Linear(audio_rows * row, intermediate, **factory)
        self.proj1_vf = operations.Linear((audio_rows + 3) * row, intermediate, **factory)
        self.proj2 = operations.Linear(intermediate, intermediate, **factory)
        self.proj3 = operations.Linear(intermediate, context_tokens * token_dim, **factory)
        self.norm = operations.LayerNorm(token_dim, eps=1e-5, **factory)

    def check_frame_audio(self, frame_audio: torch.Tensor) -> int:
        """Validate the frame audio [S, F, W, L, C] against this projection; returns the latent frame count."""
        if frame_audio.ndim != 5:
            raise InputError(
                "audio",
                f"frame audio must be [speakers, frames, rows, layers, channels], got {list(frame_audio.shape)}.",
                "Build it with SpeakerEmbeds.frame_audio.",
            )
        if frame_audio.shape[2] != self.audio_rows or frame_audio.shape[3] * frame_audio.shape[4] != self.row_width:
            raise InputError(
                "audio",
                f"the frame audio has {frame_audio.shape[2]} rows of {frame_audio.shape[3]}x{frame_audio.shape[4]} features; "
                f"the adapter expects {self.audio_rows} rows of {self.row_width} "
                "(the official adapters: 12 layers x 768 of chinese-wav2vec2-base).",
                "Encode the audio with the wav2vec2 model the adapter was trained with (chinese-wav2vec2-base).",
            )
        return latent_frame_count(frame_audio.shape[1])

    def forward(self, frame_audio: torch.Tensor) -> torch.Tensor:
        """frame_audio [S, F, W, L, C] (F = 4k+1) -> tokens [S, N_t, context_tokens, token_dim].

        Computed in the dtype of `frame_audio`; the LayerNorm always runs in float32.
        """
        self.check_frame_audio(frame_audio)
        first, later = group_latent_rows(frame_audio)
        hidden = [torch.relu(linear(self.proj1, first.flatten(2)))]
        if later.shape[1]:
            hidden.append(torch.relu(linear(self.proj1_vf, later.flatten(2))))
        hidden = torch.relu(linear(self.proj2, torch.cat(hidden, dim=1)))
        tokens = linear(self.proj3, hidden).unflatten(-1, (self.context_tokens, self.token_dim))
        return layer_norm_fp32(self.norm, tokens)
