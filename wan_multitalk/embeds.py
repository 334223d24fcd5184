"""The audio conditioning that travels from the embeds node to the samplers."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import torch

from .audio.frame_audio import frame_audio
from .audio.placement import Placement
from .errors import InputError
from .limits import FLOAT_BYTES, MAX_SPEAKERS, check_buffer
from .masks import validate_masks
from .timebase import exact_fps


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

    def frame_audio(self, start: int, count: int) -> torch.Tensor:
        """[S, count, rows, L, C]: the frame audio of video frames [start, start + count), silence past the end."""
        return frame_audio(self.features, start, count, self.silence)


def check_speaker_masks(masks: torch.Tensor | None, include_background: bool, num_tracks: int,
                        input_name: str = "ref_target_masks") -> int:
    """How many speakers the masks describe (0 without masks); raises before any encoding when they do not fit."""
    if masks is None:
        return 0
    speakers = masks.shape[0] - (1 if include_background else 0)
    if speakers < 1:
        raise InputError(input_name, "holds only a background mask.", "Add one mask per speaker before it.")
    if speakers > MAX_SPEAKERS:
        raise InputError(input_name, f"has {speakers} speaker masks; at most {MAX_SPEAKERS} speakers are supported.",
                         f"Pass at most {MAX_SPEAKERS} speaker masks (plus an optional background).")
    if num_tracks > 1 and speakers < num_tracks:
        raise InputError(input_name, f"has {speakers} speaker mask(s) for {num_tracks} audio tracks.",
                         "Give one mask per audio track, in the same order (speaker 1 = audio_1).")
    validate_masks(masks, input_name, has_background=include_background)
    return speakers


def check_features_size(speakers: int, frames: int, row_size: int, fps, input_name: str, fix: str) -> None:
    """Refuse, before any encoding, features [speakers, frames, row_size] float32 that one buffer cannot hold."""
    seconds = Fraction(int(frames)) / exact_fps(fps)
    check_buffer(int(speakers) * int(frames) * int(row_size) * FLOAT_BYTES, input_name,
                 f"{int(frames):,} frames ({float(seconds):,.0f} s at {float(fps):g} fps) of features for "
                 f"{int(speakers)} speaker(s)", fix)


def check_timeline_size(placement: Placement, total_frames: int, row_size: int, audio: tuple[int, int],
                        input_name: str, fix: str) -> None:
    """Refuse, before any encoding, a timeline whose features or mixed audio (`audio` = (rate, channels)) one
    buffer cannot hold: the placed speakers' features over `total_frames`, and the mix over the longer of the
    voices' latest end and the frames."""
    check_features_size(placement.num_tracks, total_frames, row_size, placement.fps, input_name, fix)
    rate, channels = audio
    seconds = max(max(placement.ends), Fraction(int(total_frames)) / placement.fps)
    check_buffer(math.ceil(seconds * rate) * int(channels) * FLOAT_BYTES, input_name,
                 f"{float(seconds):,.0f} s of mixed audio ({int(channels)} channel(s) at {int(rate)} Hz)", fix)


def describe(tracks: int, silent: tuple[int, ...], frames: int, fps: float) -> str:
    """The one-line summary the embeds node shows and logs."""
    text = f"{tracks} voice track(s), {frames} frames ({frames / fps:.2f} s at {fps:g} fps)"
    if silent:
        text += "; silent speakers (held quiet): " + ", ".join(str(k + 1) for k in silent)
    return text
