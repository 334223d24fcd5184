"""Offline speaker diarization of one recording: who speaks when, for 1-4 speakers, overlap included.

Pipeline (everything runs on the CPU, nothing is downloaded):
    1. mono 16 kHz; webrtcvad marks speech per 10 ms frame (small pauses bridged, blips dropped)
    2. the voice encoder (``voice_encoder.py``) embeds a window of up to 1 s around every 0.2 s of
       speech; windows never cross a pause, so a turn taken after a pause is not smeared into the
       previous speaker's window
    3. the embeddings are clustered (cosine; agglomerative start, k-means refinement); with
       ``num_speakers=0`` the count (1-4) is chosen from the data (centroid similarity and
       silhouette, with overlapped windows left out of the decision)
    4. each speech frame takes the label of its window; a speaker change shorter than ``min_gap``
       between two stretches of the same speaker is undone
    5. overlap: the encoder was never trained on two voices at once, so where a mixture lands is
       measured on this very recording: confidently labelled windows of two speakers are summed
       and embedded, and their mean is that pair's "mixture centroid". A window whose embedding is
       clearly closer to a mixture centroid than to any single speaker (averaged with its
       neighbours) marks overlap; the stretch is grown by half a window step and smoothed with the
       same ``min_gap``, and both speakers of the pair get it.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from ..errors import InputError
from ..limits import MAX_SPEAKERS
from ..optional import require
from ..timebase import rescale_samples
from .speaker_gating import Segment, true_runs
from .voice_encoder import load_voice_encoder, mel_frames, resolve_weights
from .waveform import WAV2VEC2_SAMPLE_RATE, prepare_waveform

RATE = WAV2VEC2_SAMPLE_RATE
HOP = 160                      # 10 ms frames at 16 kHz: the VAD and mel-spectrogram frame
MIN_SECONDS = 1.0              # shorter input cannot be diarized
WINDOW_FRAMES = 100            # embedding window (1 s), clipped to the speech island
MIN_WINDOW_FRAMES = 30         # islands shorter than this borrow labels from their neighbours
STEP_FRAMES = 20               # one embedding every 0.2 s of speech
SAME_SPEAKER_SIMILARITY = 0.84  # auto mode: centroids this similar (cosine) are one voice
MIN_SILHOUETTE = 0.3           # auto mode: a two-voice split clearer than this (cosine silhouette) is real
MIN_SHARE = 0.05               # auto mode: a voice must hold this share of the speech windows
MIXES_PER_PAIR = 16            # synthetic two-voice mixtures that place a pair's mixture centroid
MIX_GAINS_DB = (-6.0, -3.0, 0.0, 3.0, 6.0)  # level of the second voice against the first in those mixtures
OVERLAP_MARGIN = -0.04         # mixture similarity minus best single similarity above this = overlap
OVERLAP_WIDEN_FRAMES = STEP_FRAMES // 2  # a flagged window lies mostly inside the overlap: grow the stretch
LEVEL = 10 ** (-30 / 10)       # the encoder's working level (-30 dBFS); mel power scales with gain squared

AUTO_PACKAGES = {"sklearn": "scikit-learn", "webrtcvad": "webrtcvad-wheels"}
"""Optional: auto diarization's voice activity detection and clustering (module -> PyPI package)."""


def check_auto_diarization(input_name: str = "mode") -> None:
    """Auto diarization needs scikit-learn and webrtcvad: refuse up front, naming the input that chose it."""
    require(AUTO_PACKAGES, input_name, "auto diarization")


def diarize(waveform, sample_rate: int, num_speakers: int = 0, min_gap_seconds: float = 0.5,
            input_name: str = "audio", weights: list[str] | tuple[str, ...] = (),
            detect_overlap: bool = True) -> tuple[list[Segment], int]:
    """Segments (0-based speakers in arbitrary order, samples at ``sample_rate``; overlapping where two
    speakers talk at once) and the speaker count.

    ``weights``: candidate voice encoder files, the first existing one wins (``voice_encoder.resolve_weights``).
    """
    check_auto_diarization()
    if num_speakers not in (0, 1, 2, 3, 4):
        raise InputError("num_speakers", f"is {num_speakers}; it must be 0 (automatic) or 1-{MAX_SPEAKERS}.",
                         "Set num_speakers to 0, 2, 3 or 4.")
    encoder = load_voice_encoder(resolve_weights(weights))
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
    windows, embeddings, islands = embed_speech(wave, speech, encoder)
    if len(embeddings) == 0:
        raise InputError(input_name, "has no stretch of speech long enough to recognise a voice (0.3 s).",
                         "Connect a longer recording, or use timeline mode.")
    centers = windows[:, 0]
    min_gap = int(round(min_gap_seconds * RATE / HOP))

    def overlapped(labels):
        return find_overlap(wave, windows, embeddings, labels, encoder)[1] > 0

    labels, count = cluster(embeddings, num_speakers, overlapped if detect_overlap else None)
    frame_labels = smooth_labels(label_frames(speech, islands, centers, labels), min_gap)
    active = np.stack([frame_labels == k for k in range(count)])  # [speakers, frames]
    if detect_overlap and labels.max() >= 1:
        pairs, flags = find_overlap(wave, windows, embeddings, labels, encoder)
        overlap = widen_runs(label_frames(speech, islands, centers, flags), OVERLAP_WIDEN_FRAMES)
        overlap = smooth_labels(overlap, min_gap)
        for p, (i, j) in enumerate(pairs):
            active[[i, j]] |= overlap == p + 1
    return _segments(active, sample_rate, int(np.shape(waveform)[-1])), count


def _segments(active: np.ndarray, sample_rate: int, num_samples: int) -> list[Segment]:
    """Per-speaker runs of 10 ms frames -> sample spans at the caller's rate."""
    segments = []
    for speaker, row in enumerate(active):
        for start, end in true_runs(row):
            a = min(num_samples, rescale_samples(start * HOP, RATE, sample_rate))
            b = min(num_samples, rescale_samples(end * HOP, RATE, sample_rate))
            if b > a:
                segments.append(Segment(speaker, a, b))
    return segments


def detect_speech(wave: np.ndarray, aggressiveness: int = 2) -> np.ndarray:
    """Bool per 10 ms frame: webrtcvad's speech decision, pauses < 150 ms bridged, blips < 60 ms dropped."""
    check_auto_diarization()
    import webrtcvad
    vad = webrtcvad.Vad(aggressiveness)
    pcm = (np.clip(wave, -1.0, 1.0) * 32767).astype("<i2")
    frames = len(pcm) // HOP
    flags = np.array([vad.is_speech(pcm[i * HOP:(i + 1) * HOP].tobytes(), RATE) for i in range(frames)], dtype=bool)
    flags = _fill_short(flags, True, 15)
    return _fill_short(flags, False, 6)


def embed_speech(wave: np.ndarray, speech: np.ndarray, encoder):
    """Windows ``[M, 3]`` (center, start, end frame), their ``[M, 256]`` unit embeddings, and the speech
    islands (start, end frames) they were cut from."""
    mel = mel_frames(wave)  # [T, 40], 10 ms hop, power (no log)
    islands = [(s, e) for s, e in true_runs(speech) if e - s >= MIN_WINDOW_FRAMES]
    windows = []
    for start, end in islands:
        for center in range(start + STEP_FRAMES // 2, end, STEP_FRAMES):
            a = max(start, center - WINDOW_FRAMES // 2)
            b = min(end, a + WINDOW_FRAMES)
            a = max(start, b - WINDOW_FRAMES)
            windows.append((center, a, min(b, mel.shape[0])))
    windows = np.array(windows, dtype=np.int64).reshape(-1, 3)
    pieces = [(mel[a:b], wave[a * HOP:b * HOP]) for _, a, b in windows]
    return windows, _embed(encoder, pieces), islands


def _embed(encoder, pieces) -> np.ndarray:
    """Embeddings of (mel frames, waveform) pieces, each brought to the encoder's working level, batched by length."""
    import torch

    by_length: dict[int, list[int]] = {}
    for i, (mel, _) in enumerate(pieces):
        by_length.setdefault(mel.shape[0], []).append(i)
    embeddings = np.zeros((len(pieces), 256), dtype=np.float32)
    with torch.inference_mode():
        for indices in by_length.values():
            batch = [pieces[i][0] * (LEVEL / (float(np.mean(pieces[i][1] ** 2)) + 1e-10)) for i in indices]
            embeddings[indices] = encoder(torch.from_numpy(np.stack(batch)).float()).numpy()
    return embeddings


def find_overlap(wave, windows, embeddings, labels, encoder) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Speaker pairs and, per window, 0 (one voice) or 1 + the index of the pair heard together there."""
    k = int(labels.max()) + 1
    centroids = _centroids(embeddings, labels, k)
    fit = embeddings @ centroids.T
    mine = fit[np.arange(len(labels)), labels]
    confidence = mine - np.where(np.eye(k, dtype=bool)[labels], -np.inf, fit).max(axis=1)
    full = (windows[:, 2] - windows[:, 1]) == WINDOW_FRAMES
    pools = []
    for j in range(k):  # the surest half of each speaker's windows (full-length ones when there are any)
        own = np.flatnonzero(labels == j)
        own = own[full[own]] if full[own].any() else own
        pools.append(own[np.argsort(-confidence[own], kind="stable")][: max(4, (len(own) + 1) // 2)])
    rng = np.random.default_rng(0)  # the same mixtures every run: the result is deterministic
    pairs = [(i, j) for i, j in combinations(range(k), 2) if len(pools[i]) and len(pools[j])]
    if not pairs:
        return [], np.zeros(len(labels), dtype=np.int64)
    mixture_centroids = []
    for i, j in pairs:
        pieces = []
        for n in range(MIXES_PER_PAIR):
            first, second = (_unit_power(wave, windows[rng.choice(pools[x])]) for x in (i, j))
            length = min(len(first), len(second))
            mix = first[:length] + second[:length] * 10 ** (MIX_GAINS_DB[n % len(MIX_GAINS_DB)] / 20)
            pieces.append((mel_frames(mix)[: length // HOP], mix))
        mixed = _embed(encoder, pieces).mean(axis=0)
        mixture_centroids.append(mixed / max(float(np.linalg.norm(mixed)), 1e-8))
    score = embeddings @ np.stack(mixture_centroids).T - fit.max(axis=1, keepdims=True)  # [M, pairs]
    score = _neighbour_mean(score, windows)
    flags = np.where(score.max(axis=1) > OVERLAP_MARGIN, score.argmax(axis=1) + 1, 0)
    return pairs, flags.astype(np.int64)


def _unit_power(wave, window) -> np.ndarray:
    piece = wave[window[1] * HOP: window[2] * HOP].astype(np.float32)
    return piece / np.sqrt(float(np.mean(piece ** 2)) + 1e-10)


def _neighbour_mean(values: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Each window's row averaged with the windows just before and after it in the same speech island
    (consecutive windows of one island are exactly one step apart; islands are further apart)."""
    out = values.astype(np.float64)
    count = np.ones(len(values))
    step = np.diff(windows[:, 0]) == STEP_FRAMES  # window m and m + 1 are neighbours
    out[1:][step] += values[:-1][step]
    count[1:][step] += 1
    out[:-1][step] += values[1:][step]
    count[:-1][step] += 1
    return out / count[:, None]


def cluster(embeddings: np.ndarray, num_speakers: int, overlapped=None) -> tuple[np.ndarray, int]:
    """Labels 0..k-1 per embedding and k; ``num_speakers=0`` picks k in 1..4 from the data.

    Two voices are told apart when their centroids are not too similar and the split is clear
    (silhouette); a further speaker is added only while that makes the clusters clearer. Windows
    that ``overlapped(labels)`` marks as two voices at once are left out of that decision, since
    they would otherwise look like a voice of their own.
    """
    count = len(embeddings)
    if num_speakers:
        return _kmeans(embeddings, min(num_speakers, count)), num_speakers
    one = np.zeros(count, dtype=np.int64)
    if count < 4:
        return one, 1
    labels = _kmeans(embeddings, 2)
    clarity = _clarity(embeddings, labels, 2)
    if clarity < MIN_SILHOUETTE:
        return one, 1
    best, best_k = labels, 2
    for k in range(3, MAX_SPEAKERS + 1):
        keep = ~overlapped(best) if overlapped is not None else np.ones(count, dtype=bool)
        if keep.sum() < 2 * k:
            break
        kept = embeddings[keep]
        labels = _kmeans(kept, k)
        before, after = _clarity(kept, best[keep], k - 1), _clarity(kept, labels, k)
        if after <= before:
            break  # splitting further only cuts one voice in two
        best, best_k = np.argmax(embeddings @ _centroids(kept, labels, k).T, axis=1), k
    return best, best_k


def _clarity(embeddings: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Cosine silhouette of the split, or -1 when two centroids are one voice or a cluster is tiny."""
    from sklearn.metrics import silhouette_score

    if k < 2 or len(labels) <= k or np.bincount(labels, minlength=k).min() < max(MIN_SHARE * len(labels), 1):
        return -1.0
    centroids = _centroids(embeddings, labels, k)
    similarity = centroids @ centroids.T
    np.fill_diagonal(similarity, -1.0)
    if similarity.max() > SAME_SPEAKER_SIMILARITY:
        return -1.0
    return float(silhouette_score(embeddings, labels, metric="cosine"))


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


def widen_runs(labels: np.ndarray, frames: int) -> np.ndarray:
    """Runs of positive labels grown by up to ``frames`` on each side, over 0-labelled frames only."""
    out = labels.copy()
    for start, end, value in _value_runs(labels):
        if value <= 0:
            continue
        a, b = start, end
        while a > 0 and start - a < frames and labels[a - 1] == 0:
            a -= 1
        while b < len(labels) and b - end < frames and labels[b] == 0:
            b += 1
        out[a:b] = value
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


def _value_runs(values: np.ndarray):
    if len(values) == 0:
        return []
    edges = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [len(values)]])
    return [(int(s), int(e), int(values[s])) for s, e in zip(starts, ends)]


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
