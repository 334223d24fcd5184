"""The typed who-speaks-when timeline: no model, the user says it.

Format: a speaker number, a colon, then one or more ``start-end`` spans in seconds. Entries are
separated by commas, semicolons or new lines, and a speaker may appear more than once::

    1: 0-3.2, 2: 3.2-6.5, 1: 6.5-9
    1: 0-3.2 6.5-9; 2: 3.2-6.5

Spans of different speakers may overlap (both tracks carry the overlap). ``end`` may be the word
``end`` (the end of the recording). Times are converted to the nearest sample, exactly.
"""
from __future__ import annotations

import re

from ..errors import InputError
from ..limits import MAX_SPEAKERS
from ..timebase import seconds_to_samples
from .speaker_gating import Segment

_LABEL = re.compile(r"(?:^|[,;\n])\s*(?:speaker\s*)?(\d+)\s*:", re.IGNORECASE)
_SPAN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*-\s*(\d+(?:\.\d*)?|\.\d+|end)", re.IGNORECASE)
EXAMPLE = "1: 0-3.2, 2: 3.2-6.5"


def parse_timeline(text: str, sample_rate: int, num_samples: int, input_name: str = "timeline") -> list[Segment]:
    """Segments (0-based speakers, sample indices) from the typed timeline; every problem is an InputError."""
    text = (text or "").strip()
    if not text:
        raise InputError(input_name, "is empty, but mode is timeline.",
                         f"Type who speaks when, e.g. '{EXAMPLE}', or switch mode to auto diarization.")
    labels = list(_LABEL.finditer(text))
    if not labels or labels[0].start() != 0 and text[: labels[0].start()].strip(" ,;\n"):
        raise InputError(input_name, f"'{text}' does not start with a speaker number and a colon.",
                         f"Write entries like '{EXAMPLE}' (speaker: start-end in seconds).")
    duration = num_samples / sample_rate
    segments = []
    for i, label in enumerate(labels):
        speaker = int(label.group(1))
        if not 1 <= speaker <= MAX_SPEAKERS:
            raise InputError(input_name, f"names speaker {speaker}; speakers 1 to {MAX_SPEAKERS} are supported.",
                             f"Use speaker numbers 1-{MAX_SPEAKERS}.")
        body = text[label.end(): labels[i + 1].start() if i + 1 < len(labels) else len(text)]
        spans = list(_SPAN.finditer(body))
        leftover = _SPAN.sub(" ", body).strip(" ,;\n\t")
        if leftover:
            raise InputError(input_name, f"'{leftover}' (speaker {speaker}) is not a span like '0-3.2'.",
                             "Write each span as start-end in seconds, e.g. '3.2-6.5' (or '3.2-end').")
        if not spans:
            raise InputError(input_name, f"speaker {speaker} has no time span.",
                             f"Give start-end seconds after the colon, e.g. '{speaker}: 0-3.2'.")
        for span in spans:
            segments.append(_segment(span, speaker - 1, sample_rate, num_samples, duration, input_name))
    return segments


def _segment(match, speaker, sample_rate, num_samples, duration, input_name) -> Segment:
    span = match.group(0)
    start = seconds_to_samples(match.group(1), sample_rate, input_name)
    end = num_samples if match.group(2).lower() == "end" else seconds_to_samples(match.group(2), sample_rate, input_name)
    if end <= start:
        raise InputError(input_name, f"span '{span}' of speaker {speaker + 1} ends before it starts.",
                         "Write start-end with the end later than the start.")
    if start >= num_samples:
        raise InputError(input_name, f"span '{span}' of speaker {speaker + 1} starts after the recording "
                                     f"ends ({duration:.2f} s).", f"Keep every span within 0-{duration:.2f} s.")
    return Segment(speaker, start, min(end, num_samples))
