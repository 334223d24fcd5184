"""Who-speaks-when -> one gated copy of the recording per speaker.

The recording is never demixed: each speaker's track is the original audio multiplied by that
speaker's gain envelope (1 while they speak, 0 elsewhere, short linear fades outside the cuts), so
speech inside a segment is bit-exact. Where segments of two speakers overlap, both tracks carry
the audio. Pauses shorter than ``min_gap`` between two segments of one speaker are bridged (unless
someone else speaks in the pause), so breaths do not chop a turn apart.

Speakers are numbered by first onset (who speaks first is speaker 1); ``order`` lets the user
reorder them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError


@dataclass(frozen=True)
class Segment:
    """Speaker ``speaker`` (0-based) is active on samples ``[start, end)``."""

    speaker: int
    start: int
    end: int


def activity_masks(segments: list[Segment], num_samples: int, num_speakers: int) -> np.ndarray:
    """``[num_speakers, num_samples]`` bool activity, segments clipped to the recording."""
    masks = np.zeros((num_speakers, num_samples), dtype=bool)
    for seg in segments:
        start, end = max(0, seg.start), min(num_samples, seg.end)
        if end > start:
            masks[seg.speaker, start:end] = True
    return masks


def bridge_short_gaps(masks: np.ndarray, min_gap: int) -> np.ndarray:
    """Fill pauses shorter than ``min_gap`` samples inside one speaker's activity, when nobody else talks there."""
    if min_gap <= 0:
        return masks
    out = masks.copy()
    for k in range(masks.shape[0]):
        others = np.delete(masks, k, axis=0).any(axis=0) if masks.shape[0] > 1 else np.zeros(masks.shape[1], bool)
        for start, end in true_runs(~masks[k]):
            inner = start > 0 and end < masks.shape[1]  # a gap between two segments, not the lead-in or tail
            if inner and end - start < min_gap and not others[start:end].any():
                out[k, start:end] = True
    return out


def onset_order(masks: np.ndarray) -> list[int]:
    """Speaker indices sorted by first active sample; speakers who never talk go last, in index order."""
    n = masks.shape[1]
    firsts = [int(np.argmax(m)) if m.any() else n + k for k, m in enumerate(masks)]
    return sorted(range(masks.shape[0]), key=lambda k: (firsts[k], k))


def parse_order(text: str, num_speakers: int, input_name: str = "order") -> list[int]:
    """'2,1' -> [1, 0]: output k takes speaker ``order[k]``; unlisted speakers follow in their order."""
    text = (text or "").strip()
    if not text:
        return list(range(num_speakers))
    items = [t for t in text.replace(";", ",").replace(" ", ",").split(",") if t]
    try:
        picked = [int(t) for t in items]
    except ValueError:
        raise InputError(input_name, f"'{text}' is not a list of speaker numbers.",
                         "Type speaker numbers separated by commas, e.g. '2,1' (empty = who speaks first is 1).") from None
    limit = max(num_speakers, 1)
    bad = [p for p in picked if not 1 <= p <= limit]
    if bad or len(set(picked)) != len(picked):
        raise InputError(input_name, f"'{text}' must name each speaker 1..{limit} at most once "
                                     f"({num_speakers} speaker track(s) were found).",
                         f"Use numbers from 1 to {limit} without repeats, e.g. '{','.join(map(str, range(limit, 0, -1)))}'.")
    chosen = [p - 1 for p in picked if p - 1 < num_speakers]
    return chosen + [k for k in range(num_speakers) if k not in chosen]


def fade_envelope(mask: np.ndarray, fade: int) -> np.ndarray:
    """1 on the mask, ramping linearly to 0 over ``fade`` samples outside it (the mask itself is untouched)."""
    n = mask.shape[0]
    if not mask.any():
        return np.zeros(n, dtype=np.float32)
    if fade <= 0:
        return mask.astype(np.float32)
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(mask, idx, -10 * n - 1))
    nxt = np.minimum.accumulate(np.where(mask, idx, 11 * n + 1)[::-1])[::-1]
    distance = np.minimum(idx - last, nxt - idx).astype(np.float64)
    env = np.clip(1.0 - distance / (fade + 1), 0.0, 1.0)
    return env.astype(np.float32)


def gate_tracks(waveform: torch.Tensor, masks: np.ndarray, fade: int) -> list[torch.Tensor]:
    """The original ``[C, N]`` waveform times each speaker's fade envelope: one ``[C, N]`` track per mask row."""
    return [waveform * torch.from_numpy(fade_envelope(m, fade))[None] for m in masks]


def segments_from_masks(masks: np.ndarray) -> list[Segment]:
    return [Segment(k, s, e) for k, m in enumerate(masks) for s, e in true_runs(m)]


def summarize(masks: np.ndarray, sample_rate: int, header: str = "") -> str:
    """One line per speaker: the spans they talk in (seconds) and their total talk time."""
    lines = [header] if header else []
    for k, m in enumerate(masks):
        spans = true_runs(m)
        total = sum(e - s for s, e in spans) / sample_rate
        text = ", ".join(f"{s / sample_rate:.2f}-{e / sample_rate:.2f}" for s, e in spans) or "silent"
        lines.append(f"speaker {k + 1} ({total:.2f} s): {text}")
    return "\n".join(lines)


def true_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of every run of True."""
    padded = np.concatenate([[False], np.asarray(flags, dtype=bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
