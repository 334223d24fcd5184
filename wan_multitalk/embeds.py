"""The audio conditioning that travels from the embeds node to the samplers."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class SpeakerEmbeds:
    """Per-speaker wav2vec2 features already placed on the video timeline.

    features: [S, T, L, C] float32 on the CPU; row t is video frame t (t / fps seconds).
        S speakers in mask order, T = num_frames, L = 12 layers, C = 768 channels.
        Speakers that are silent at a frame carry silence features there, never zeros.
    silence: [L, C] features of real silence, used to pad windows that run past the audio.
    masks: optional [M, H, W] float pixel masks, one per speaker in order, optionally followed by
        a background mask (M == S + 1). None means no spatial routing (one speaker, or auto layout).
    silent_speakers: indices of speakers that have no audio track (held quiet).
    """

    features: torch.Tensor
    fps: float
    audio_scale: float = 1.0
    silence: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    silent_speakers: tuple[int, ...] = field(default_factory=tuple)

    @property
    def num_speakers(self) -> int:
        return int(self.features.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[1])
