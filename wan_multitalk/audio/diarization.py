"""Offline speaker diarization of one recording: who speaks when, for 1-4 speakers.

Pipeline (everything runs on the CPU, nothing is downloaded):
    1. mono 16 kHz; webrtcvad marks speech per 10 ms frame (small pauses bridged, blips dropped)
    2. resemblyzer's voice encoder (weights ship inside the pip package) embeds a window of
       up to 1 s around every 0.2 s of speech; windows never cross a pause, so a turn taken after
       a pause is not smeared into the previous speaker's window
    3. the embeddings are clustered (cosine; agglomerative start, k-means refinement); with
       ``num_speakers=0`` the count (1-4) is chosen from the data
    4. each speech frame takes the label of its window; a speaker change shorter than ``min_gap``
       between two stretches of the same speaker is undone
The result is one label per speech frame, i.e. no overlap: a model that separates overlapping
voices is out of scope (the gating supports overlap for timelines typed by the user).
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from .speaker_gating import MAX_SPEAKERS, Segment
from .timing import rescale_samples
from .waveform import WAV2VEC2_SAMPLE_RATE, prepare_waveform

RATE = WAV2VEC2_SAMPLE_RATE
HOP = 160                      # 10 ms frames at 16 kHz: the VAD and mel-spectrogram frame
MIN_SECONDS = 1.0              # shorter input cannot be diarized
WINDOW_FRAMES = 100            # embedding window (1 s), clipped to the speech island
MIN_WINDOW_FRAMES = 30         # islands shorter than this borrow labels from their neighbours
STEP_FRAMES = 20               # one embedding every 0.2 s of speech
SAME_SPEAKER_SIMILARITY = 0.78  # auto mode: centroids this similar (cosine) are one voice
INSTALL_FIX = ("Install the pack's dependencies with ComfyUI's Python: pip install -r requirements.txt, and for auto "
               "diarization also `pip install resemblyzer==0.1.4 --no-deps` (its old webrtcvad pin does not build; "
               "requirements.txt brings the webrtcvad-wheels build instead), then restart. Timeline mode needs neither.")

_ENCODER = None


def diarize(waveform, sample_rate: int, num_speakers: int = 0, min_gap_seconds: float = 0.5,
            input_name: str = "audio") -> tuple[list[Segment], int]:
    """Segments (0-based speakers in arbitrary order, samples at ``sample_rate``) and the speaker count."""
    if num_speakers not in (0, 1, 2, 3, 4):
        raise InputError("num_speakers", f"is {num_speakers}; it must be 0 (automatic) or 1-{MAX_SPEAKERS}.",
                         "Set num_speakers to 0, 2, 3 or 4.")
    wave = prepare_waveform(waveform, sample_rate, input_name).numpy()
    if wave.shape[0] < MIN_SECONDS * RATE:
        raise InputError(input_name, f"is only {wave.shape[0] / RATE:.2f} s long; diarization needs at least "
                                     f"{MIN_SECONDS:g} s.", "Connect the whole conversation, or use timeline mode.")
    peak = float(np.abs(wave).max())
    if peak < 1e-4:
        raise InputError(input_name, "is silent (peak below -80 dBFS): there is nobody to assign.",
                         "Connect a recording that contains speech.")
    speech = detect_speech(wave / peak * 0.9)
    if speech.sum() * HOP < 0.5 * RATE:
        raise InputError(input_name, f"contains only {speech.sum() * HOP / RATE:.2f} s of detected speech; at least "
                                     "0.5 s is needed.", "Connect a recording with audible speech, or use timeline mode.")
    centers, embeddings, islands = embed_speech(wave, speech)
    if len(embeddings) == 0:
        raise InputError(input_name, "has no stretch of speech long enough to recognise a voice (0.3 s).",
                         "Connect a longer recording, or use timeline mode.")
    labels, count = cluster(embeddings, num_speakers)
    frame_labels = label_frames(speech, islands, centers, labels)
    frame_labels = smooth_labels(frame_labels, int(round(min_gap_seconds * RATE / HOP)))
    segments = []
    num_samples = int(np.shape(waveform)[-1])
    for start, end, speaker in _label_runs(frame_labels):
        a = min(num_samples, rescale_samples(start * HOP, RATE, sample_rate))
        b = min(num_samples, rescale_samples(end * HOP, RATE, sample_rate))
        if b > a:
            segments.append(Segment(int(speaker), a, b))
    return segments, count


def detect_speech(wave: np.ndarray, aggressiveness: int = 2) -> np.ndarray:
    """Bool per 10 ms frame: webrtcvad's speech decision, pauses < 150 ms bridged, blips < 60 ms dropped."""
    try:
        import webrtcvad
    except Exception as exc:  # noqa: BLE001 - missing, or the old sdist failing on pkg_resources
        raise InputError("mode", f"auto diarization needs webrtcvad, which could not be imported ({exc}).",
                         INSTALL_FIX + " (package webrtcvad-wheels)") from None
    vad = webrtcvad.Vad(aggressiveness)
    pcm = (np.clip(wave, -1.0, 1.0) * 32767).astype("<i2")
    frames = len(pcm) // HOP
    flags = np.array([vad.is_speech(pcm[i * HOP:(i + 1) * HOP].tobytes(), RATE) for i in range(frames)], dtype=bool)
    flags = _fill_short(flags, True, 15)
    return _fill_short(flags, False, 6)


def _encoder():
    global _ENCODER
    if _ENCODER is None:
        try:
            from resemblyzer import VoiceEncoder
        except Exception as exc:  # noqa: BLE001
            raise InputError("mode", f"auto diarization needs resemblyzer, which could not be imported ({exc}).",
                             INSTALL_FIX) from None
        _ENCODER = VoiceEncoder("cpu", verbose=False)  # loads pretrained.pt bundled in the package
    return _ENCODER


def embed_speech(wave: np.ndarray, speech: np.ndarray):
    """(center frame of each window, [M, 256] unit embeddings, speech islands as (start, end) frames)."""
    import torch
    from resemblyzer.audio import wav_to_mel_spectrogram

    encoder = _encoder()
    mel = wav_to_mel_spectrogram(wave.astype(np.float32))  # [T, 40], 10 ms hop, power (no log)
    islands = [(s, e) for s, e in _runs(speech) if e - s >= MIN_WINDOW_FRAMES]
    windows = []
    for start, end in islands:
        for center in range(start + STEP_FRAMES // 2, end, STEP_FRAMES):
            a = max(start, center - WINDOW_FRAMES // 2)
            b = min(end, a + WINDOW_FRAMES)
            a = max(start, b - WINDOW_FRAMES)
            windows.append((center, a, min(b, mel.shape[0])))
    by_length: dict[int, list[int]] = {}
    for i, (_, a, b) in enumerate(windows):
        by_length.setdefault(b - a, []).append(i)
    embeddings = np.zeros((len(windows), 256), dtype=np.float32)
    target = 10 ** (-30 / 10)  # resemblyzer's -30 dBFS working level; mel power scales with gain squared
    with torch.inference_mode():
        for length, indices in by_length.items():
            batch = []
            for i in indices:
                _, a, b = windows[i]
                power = float(np.mean(wave[a * HOP:b * HOP] ** 2)) + 1e-10
                batch.append(mel[a:b] * (target / power))
            out = encoder(torch.from_numpy(np.stack(batch)).float())
            embeddings[indices] = out.numpy()
    return np.array([w[0] for w in windows], dtype=np.int64), embeddings, islands


def cluster(embeddings: np.ndarray, num_speakers: int) -> tuple[np.ndarray, int]:
    """Labels 0..k-1 per embedding and k; ``num_speakers=0`` picks k in 1..4 from centroid similarity."""
    count = len(embeddings)
    if num_speakers:
        k = min(num_speakers, count)
        return _kmeans(embeddings, k), num_speakers
    best = np.zeros(count, dtype=np.int64)
    best_k = 1
    for k in range(2, min(MAX_SPEAKERS, count) + 1):
        labels = _kmeans(embeddings, k)
        centroids = _centroids(embeddings, labels, k)
        similarity = centroids @ centroids.T
        np.fill_diagonal(similarity, -1.0)
        shares = np.bincount(labels, minlength=k) / count
        if similarity.max() > SAME_SPEAKER_SIMILARITY or shares.min() < 0.05:
            break  # splitting further only cuts one voice in two
        best, best_k = labels, k
    return best, best_k


def _kmeans(embeddings: np.ndarray, k: int, iterations: int = 20) -> np.ndarray:
    """Cosine k-means started from average-linkage agglomerative clusters (deterministic)."""
    if k <= 1:
        return np.zeros(len(embeddings), dtype=np.int64)
    from sklearn.cluster import AgglomerativeClustering

    labels = AgglomerativeClustering(n_clusters=k, metric="cosine", linkage="average").fit_predict(embeddings)
    for _ in range(iterations):
        centroids = _centroids(embeddings, labels, k)
        new = np.argmax(embeddings @ centroids.T, axis=1)
        if np.array_equal(new, labels) or len(np.unique(new)) < k:
            break
        labels = new
    return labels.astype(np.int64)


def _centroids(embeddings, labels, k):
    c = np.stack([embeddings[labels == j].mean(axis=0) if np.any(labels == j) else np.zeros(embeddings.shape[1])
                  for j in range(k)])
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-8)


def label_frames(speech: np.ndarray, islands, centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-1 for non-speech, else the label of the nearest window center (same island first)."""
    out = np.full(speech.shape[0], -1, dtype=np.int64)
    speech_idx = np.flatnonzero(speech)
    order = np.argsort(centers, kind="stable")
    centers, labels = centers[order], labels[order]
    for start, end in islands:
        inside = (centers >= start) & (centers < end)
        c, lab = centers[inside], labels[inside]
        frames = np.arange(start, end)
        out[start:end] = lab[_nearest(c, frames)]
    rest = speech_idx[out[speech_idx] < 0]  # short islands: take the nearest window anywhere
    if len(rest):
        out[rest] = labels[_nearest(centers, rest)]
    return out


def smooth_labels(frame_labels: np.ndarray, min_gap_frames: int) -> np.ndarray:
    """A stretch of speaker B shorter than ``min_gap_frames`` between two stretches of speaker A becomes A."""
    if min_gap_frames <= 0:
        return frame_labels
    out = frame_labels.copy()
    speech = np.flatnonzero(out >= 0)
    seq = out[speech]
    changed = True
    while changed:
        changed = False
        runs = _value_runs(seq)
        for i in range(1, len(runs) - 1):
            (a0, a1, before), (s, e, value), (b0, b1, after) = runs[i - 1], runs[i], runs[i + 1]
            span = speech[e - 1] - speech[s] + 1
            if before == after != value and span < min_gap_frames:
                seq[s:e] = before
                changed = True
                break
    out[speech] = seq
    return out


def _nearest(sorted_points: np.ndarray, queries: np.ndarray) -> np.ndarray:
    pos = np.clip(np.searchsorted(sorted_points, queries), 1, len(sorted_points) - 1) if len(sorted_points) > 1 \
        else np.zeros(len(queries), dtype=np.int64)
    if len(sorted_points) > 1:
        left = sorted_points[pos - 1]
        pos = np.where(np.abs(queries - left) <= np.abs(sorted_points[pos] - queries), pos - 1, pos)
    return pos


def _label_runs(frame_labels: np.ndarray):
    return [(s, e, v) for s, e, v in _value_runs(frame_labels) if v >= 0]


def _value_runs(values: np.ndarray):
    if len(values) == 0:
        return []
    edges = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(values)]])
    return [(int(s), int(e), int(values[s])) for s, e in zip(starts, ends)]


def _runs(flags: np.ndarray):
    return [(s, e) for s, e, v in _value_runs(flags.astype(np.int64)) if v]


def _fill_short(flags: np.ndarray, value: bool, max_len: int) -> np.ndarray:
    """Interior runs of ``not value`` shorter than ``max_len`` frames become ``value``.

    With ``value=True`` short pauses inside speech are bridged; with ``value=False`` short blips of
    speech inside silence are dropped.
    """
    out = flags.copy()
    for s, e, v in _value_runs(flags.astype(np.int64)):
        if bool(v) != value and e - s < max_len and s > 0 and e < len(flags):
            out[s:e] = value
    return out
