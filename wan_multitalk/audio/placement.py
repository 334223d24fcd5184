"""Putting 1-4 speaker tracks on one timeline: where each speaker's audio and features go.

Modes:
* ``para``     - every track starts at 0 (simultaneous speech, singing). Unlike the official code,
                 tracks may differ in length; the shorter ones are followed by silence.
* ``add``      - turn taking in input order: track k starts where track k-1 ended (official "add").
* ``timeline`` - track k starts at ``starts_seconds[k]``; tracks may overlap or leave gaps.

One ``Placement`` (at the feature sample rate, 16 kHz) is the single source of truth: features
are placed at its frame offsets and the audio to mux is mixed at the same times, so lips and
sound cannot drift apart. Frame offsets use exact integer arithmetic (frames_for_samples).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from .timing import check_sample_rate, frames_for_samples, rescale_samples, seconds_to_samples
from .waveform import as_channels_first, resample

MODES = ("para", "add", "timeline")
MAX_SPEAKERS = 4


@dataclass(frozen=True)
class Placement:
    """Start and length of every track on the shared timeline, in samples and in video frames."""

    mode: str
    sample_rate: int
    fps: float
    lengths: tuple[int, ...]  # samples of each track
    starts: tuple[int, ...]  # first sample of each track on the timeline
    start_frames: tuple[int, ...]  # frames_for_samples(start): the frame where each track's row 0 goes
    frame_counts: tuple[int, ...]  # frames_for_samples(length): rows the track's features have
    total_samples: int
    total_frames: int

    @property
    def num_tracks(self) -> int:
        return len(self.lengths)

    @property
    def ends(self) -> tuple[int, ...]:
        return tuple(start + length for start, length in zip(self.starts, self.lengths))


def _track_starts(lengths: list[int], sample_rate: int, mode: str, starts_seconds, input_name: str) -> list[int]:
    if mode == "para":
        return [0] * len(lengths)
    if mode == "add":
        starts, position = [], 0
        for length in lengths:
            starts.append(position)
            position += length
        return starts
    if starts_seconds is None or len(starts_seconds) != len(lengths):
        given = "none" if starts_seconds is None else len(starts_seconds)
        raise InputError(input_name, f"timeline mode needs one start time per speaker track: "
                         f"{len(lengths)} tracks, {given} start times given.",
                         "Give one start time in seconds for every connected speaker audio, in order.")
    starts = []
    for index, seconds in enumerate(starts_seconds):
        sample = seconds_to_samples(seconds, sample_rate, input_name)
        if sample < 0:
            raise InputError(input_name, f"start time {seconds} s of speaker {index + 1} is negative.",
                             "Use start times of 0 s or later.")
        starts.append(sample)
    return starts


def plan_placement(lengths_samples: list[int], sample_rate: int, fps, mode: str, starts_seconds=None,
                   starts_input: str = "starts_seconds") -> Placement:
    """Place tracks of the given lengths (samples at ``sample_rate``) by ``mode``; ``starts_seconds`` only for timeline
    (``starts_input``: the input errors about them name).

    A zero length is allowed (a speaker without audio stays silent throughout).
    """
    if mode not in MODES:
        raise InputError("mode", f"unknown placement mode {mode!r}.", f"Use one of {', '.join(MODES)}.")
    lengths = [int(n) for n in lengths_samples]
    if not 1 <= len(lengths) <= MAX_SPEAKERS:
        raise InputError("audio", f"{len(lengths)} speaker tracks given; 1 to {MAX_SPEAKERS} are supported.",
                         f"Connect between 1 and {MAX_SPEAKERS} speaker audio inputs.")
    if any(n < 0 for n in lengths):
        raise ValueError(f"track lengths must be non-negative, got {lengths}")
    rate = check_sample_rate(sample_rate)
    starts = _track_starts(lengths, rate, mode, starts_seconds, starts_input)
    total_samples = max(start + length for start, length in zip(starts, lengths))
    total_frames = frames_for_samples(total_samples, rate, fps)
    if total_frames < 1:
        raise InputError("audio", f"the placed audio lasts {total_samples / rate:.3f} s, less than one video frame.",
                         "Connect longer audio.")
    return Placement(
        mode=mode,
        sample_rate=rate,
        fps=float(fps),
        lengths=tuple(lengths),
        starts=tuple(starts),
        start_frames=tuple(frames_for_samples(s, rate, fps) for s in starts),
        frame_counts=tuple(frames_for_samples(n, rate, fps) for n in lengths),
        total_samples=total_samples,
        total_frames=total_frames,
    )


def place_features(per_track_features: list, placement: Placement, silence_row: torch.Tensor,
                   total_frames: int | None = None) -> torch.Tensor:
    """``[S, T, L, C]`` float32 CPU: track k's rows from frame ``start_frames[k]``, encoded silence elsewhere.

    T = ``total_frames`` (cuts or pads with silence) or ``placement.total_frames``. A ``None``
    entry is a speaker without audio: silence throughout.
    """
    if len(per_track_features) != placement.num_tracks:
        raise ValueError(f"{len(per_track_features)} feature tensors for {placement.num_tracks} placed tracks")
    frames = placement.total_frames if total_frames is None else int(total_frames)
    row = silence_row.detach().to("cpu", torch.float32)
    out = row.expand((placement.num_tracks, frames) + tuple(row.shape)).clone()
    for index, features in enumerate(per_track_features):
        if features is None:
            continue
        if tuple(features.shape[1:]) != tuple(row.shape):
            raise ValueError(f"track {index} features {tuple(features.shape)} do not match "
                             f"silence row {tuple(row.shape)}")
        first = placement.start_frames[index]
        last = min(frames, first + features.shape[0])
        if last > first:
            out[index, first:last] = features[: last - first].to("cpu", torch.float32)
    return out


def mix_tracks(waveforms: list, rates: list[int], placement: Placement, gains: list[float] | None = None,
               input_names: list[str] | None = None) -> tuple[torch.Tensor, int]:
    """The audio to mux: every track at its placed time, summed, as ``([1, C, N], rate)``.

    Output rate is the first track's (others are resampled); C is the largest channel count
    (mono tracks are copied to every channel; other mismatched layouts are averaged to mono
    first). Start times come from ``placement`` (converted to the output rate, nearest sample),
    so the sound lines up with the placed features. ``gains`` (e.g. from loudness_gain) scale
    each track; a ``None`` waveform is a speaker without audio. The sum is not clipped.
    """
    if len(waveforms) != placement.num_tracks or len(rates) != placement.num_tracks:
        raise ValueError(f"{len(waveforms)} waveforms / {len(rates)} rates for {placement.num_tracks} placed tracks")
    names = input_names or [f"audio_{k + 1}" for k in range(len(waveforms))]
    present = [k for k, wave in enumerate(waveforms) if wave is not None]
    if not present:
        raise InputError("audio", "no speaker has audio to mix.", "Connect at least one speaker audio.")
    out_rate = check_sample_rate(rates[present[0]], names[present[0]])
    tracks = {}
    for k in present:
        channels = as_channels_first(waveforms[k], names[k], check_sample_rate(rates[k], names[k]))
        channels = resample(channels, rates[k], out_rate)
        tracks[k] = channels * float(gains[k]) if gains is not None else channels
    num_channels = max(track.shape[0] for track in tracks.values())
    starts = {k: rescale_samples(placement.starts[k], placement.sample_rate, out_rate) for k in present}
    length = max(starts[k] + tracks[k].shape[1] for k in present)
    mix = torch.zeros(num_channels, length, dtype=torch.float32)
    for k, track in tracks.items():
        if track.shape[0] not in (1, num_channels):
            track = track.mean(dim=0, keepdim=True)
        mix[:, starts[k]:starts[k] + track.shape[1]] += track
    return mix[None], out_rate
