"""Putting 1-4 speaker tracks on one timeline: where each speaker's audio and features go.

Modes:
* ``para``     - every track starts at 0 (simultaneous speech, singing). Unlike the official code,
                 tracks may differ in length; the shorter ones are followed by silence.
* ``add``      - turn taking in input order: track k starts where track k-1 ended (official "add").
* ``timeline`` - track k starts at ``starts_seconds[k]``; tracks may overlap or leave gaps.

Speakers without audio (masks after the last voice) come after the voiced tracks. In ``add`` mode each takes a
silent turn as long as the last voiced track, as the official code does for a 'None' speaker (zeros as long as the
other speaker's track, so whoever follows starts after that silence); in the other modes they take no time.

One ``Placement`` (in exact seconds, whatever each track's sample rate) is the single source of truth:
features are placed at its frame offsets and the audio to mux is mixed at the same times, so lips and
sound cannot drift apart. Frame counts follow the time base's rule (`timebase`).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import torch

from ..errors import InputError
from ..limits import MAX_SPEAKERS
from ..timebase import check_sample_rate, exact_fps, exact_fraction, frames_for_seconds, seconds_to_samples
from .waveform import as_channels_first, resample

MODES = ("para", "add", "timeline")


@dataclass(frozen=True)
class Placement:
    """Start and duration of every track on the shared timeline, in exact seconds and in video frames."""

    mode: str
    fps: Fraction
    starts: tuple[Fraction, ...]  # seconds from the start of the video
    durations: tuple[Fraction, ...]  # seconds each track lasts (a speaker without audio: its silent turn, or 0)
    start_frames: tuple[int, ...]  # frames_for_seconds(start): the frame where each track's row 0 goes
    frame_counts: tuple[int, ...]  # frames_for_seconds(duration): rows the track's features have
    total_frames: int  # frames_for_seconds(the latest end)

    @property
    def num_tracks(self) -> int:
        return len(self.durations)

    @property
    def ends(self) -> tuple[Fraction, ...]:
        return tuple(start + length for start, length in zip(self.starts, self.durations))


def parse_start_times(text: str, count: int, input_name: str) -> list[Fraction]:
    """'0, 3.2' (commas or semicolons) -> exact start seconds, one per track."""
    items = [t for t in (text or "").replace(";", ",").split(",") if t.strip()]
    try:
        return [Fraction(t.strip()) for t in items]
    except (ValueError, ZeroDivisionError):
        raise InputError(input_name, f"'{text}' is not a list of seconds.",
                         f"Type {count} start times in seconds, e.g. '0, 3.2'.") from None


def _track_starts(durations: list[Fraction], mode: str, starts_seconds, input_name: str) -> list[Fraction]:
    if mode == "para":
        return [Fraction(0)] * len(durations)
    if mode == "add":
        starts, position = [], Fraction(0)
        for length in durations:
            starts.append(position)
            position += length
        return starts
    if starts_seconds is None or len(starts_seconds) != len(durations):
        given = "none" if starts_seconds is None else len(starts_seconds)
        raise InputError(input_name, f"timeline mode needs one start time per speaker track: "
                         f"{len(durations)} tracks, {given} start times given.",
                         "Give one start time in seconds for every connected speaker audio, in order.")
    starts = []
    for index, seconds in enumerate(starts_seconds):
        start = exact_fraction(seconds, input_name)
        if start < 0:
            raise InputError(input_name, f"start time {seconds} s of speaker {index + 1} is negative.",
                             "Use start times of 0 s or later.")
        starts.append(start)
    return starts


def place_tracks(durations: list, fps, mode: str, starts_seconds=None, starts_input: str = "starts_seconds",
                 silent_speakers: int = 0) -> Placement:
    """Place tracks of the given durations (seconds, e.g. `timebase.duration(samples, rate)`) by ``mode``, then
    ``silent_speakers`` speakers without audio; ``starts_seconds`` only for timeline (``starts_input``: the input
    errors about them name).

    A zero duration is allowed (a speaker without audio stays silent throughout).
    """
    if mode not in MODES:
        raise InputError("mode", f"unknown placement mode {mode!r}.", f"Use one of {', '.join(MODES)}.")
    lengths = [exact_fraction(d, "audio") for d in durations]
    if not lengths or len(lengths) + silent_speakers > MAX_SPEAKERS:
        raise InputError("audio", f"{len(lengths)} speaker tracks and {silent_speakers} silent speakers given; 1 to "
                         f"{MAX_SPEAKERS} speakers in all, at least one with audio, are supported.",
                         f"Connect between 1 and {MAX_SPEAKERS} speaker audio inputs.")
    if any(d < 0 for d in lengths):
        raise ValueError(f"track durations must be non-negative, got {lengths}")
    rate = exact_fps(fps)
    starts = _track_starts(lengths, mode, starts_seconds, starts_input)
    turn = lengths[-1] if mode == "add" else Fraction(0)  # a silent speaker's turn (see the module docstring)
    for _ in range(silent_speakers):
        starts.append(starts[-1] + lengths[-1] if mode == "add" else Fraction(0))
        lengths.append(turn)
    end = max(start + length for start, length in zip(starts, lengths))
    total_frames = frames_for_seconds(end, rate)
    if total_frames < 1:
        raise InputError("audio", f"the placed audio lasts {float(end):.3f} s, less than one video frame.",
                         "Connect longer audio.")
    return Placement(mode=mode, fps=rate, starts=tuple(starts), durations=tuple(lengths),
                     start_frames=tuple(frames_for_seconds(s, rate) for s in starts),
                     frame_counts=tuple(frames_for_seconds(d, rate) for d in lengths), total_frames=total_frames)


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
    starts = {k: seconds_to_samples(placement.starts[k], out_rate, "audio") for k in present}
    length = max(starts[k] + tracks[k].shape[1] for k in present)
    mix = torch.zeros(num_channels, length, dtype=torch.float32)
    for k, track in tracks.items():
        if track.shape[0] not in (1, num_channels):
            track = track.mean(dim=0, keepdim=True)
        mix[:, starts[k]:starts[k] + track.shape[1]] += track
    return mix[None], out_rate
