"""Synthetic dialogues with known turn times, generated with espeak-ng at test time.

Each turn is spoken by one espeak-ng voice, its leading/trailing silence trimmed, and the turns are
laid end to end with known gaps. A turn may instead start some seconds before the previous turn
ends (an interruption): the two voices are then summed, so that stretch is overlapped speech.
The ground truth is the sample span of each trimmed utterance.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

VOICES = {1: "en+m3", 2: "en+f3"}
VOICE_PAIRS = ({1: "en+m3", 2: "en+f3"}, {1: "en-us", 2: "en+f2"}, {1: "en+f4", 2: "en-gb-scotland"})
TURNS = (
    (1, "Good morning, did you bring the report we talked about yesterday?"),
    (2, "Yes, I finished it last night and printed two copies."),
    (1, "Great, let us read it together after lunch."),
    (2, "Sure, I will book the small meeting room for us."),
    (1, "Thank you, see you at two then."),
)
OTHER_TURNS = (
    (1, "The train was late again this morning, so I missed the first half of the meeting."),
    (2, "Nobody minded, we only went through the budget and the holiday plans."),
    (1, "Then tell me quickly, what did they decide about the new office?"),
    (2, "They want to move in March, but the rent is still being discussed."),
    (1, "March sounds fine to me, as long as there is a kitchen."),
)
INTERRUPTIONS = {1: 1.3, 3: 1.1}   # turn index -> seconds it starts before the previous turn ends


@dataclass
class Dialogue:
    wave: np.ndarray          # [N] float32 mono
    rate: int
    truth: np.ndarray         # [N] int: 0 = nobody, k = only speaker k (1-based, 1 speaks first), -1 = overlap
    turns: list               # (speaker, start_sample, end_sample)
    overlaps: list            # (start_sample, end_sample) where two voices sound together


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def _speak(text: str, voice: str, speed: int = 165) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "turn.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
                       check=True, capture_output=True)
        data, rate = soundfile.read(str(path), dtype="float32")
    loud = np.flatnonzero(np.abs(data) > 0.01)
    return data[loud[0]: loud[-1] + 1], rate


def make_dialogue(turns=TURNS, voices=None, gap: float = 0.35, lead: float = 0.3,
                  interruptions: dict | None = None) -> Dialogue:
    """``interruptions``: {turn index: seconds that turn starts before the previous one ends}."""
    voices = voices or VOICES
    interruptions = interruptions or {}
    spoken = [(speaker, *_speak(text, voices[speaker])) for speaker, text in turns]
    rate = spoken[0][2]
    spans, position = [], int(lead * rate)
    for k, (speaker, voice, _) in enumerate(spoken):
        if k in interruptions:
            start = max(spans[-1][1], spans[-1][2] - int(interruptions[k] * rate))
        else:
            start = position + (int(gap * rate) if k else 0)
        spans.append((speaker, start, start + len(voice)))
        position = max(position, start + len(voice))
    total = position + int(lead * rate)
    wave = np.zeros(total, np.float32)
    count = np.zeros(total, np.int64)
    truth = np.zeros(total, np.int64)
    for (speaker, start, end), (_, voice, _) in zip(spans, spoken):
        wave[start:end] += voice
        count[start:end] += 1
        truth[start:end] = speaker
    truth[count > 1] = -1
    peak = float(np.abs(wave).max())
    if peak > 0.95:
        wave *= 0.95 / peak
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (count > 1).astype(np.int64), [0]])))
    overlaps = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    return Dialogue(wave, rate, truth, spans, overlaps)
