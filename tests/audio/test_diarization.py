"""Audio to speakers, library side: diarization of real two-voice dialogues (with and without overlapping
speech, three voice pairs), gating, timeline, errors."""
from __future__ import annotations

import importlib.abc
import sys
from contextlib import contextmanager

import numpy as np
import pytest
import torch

import cached_assets
import dialogue_audio
from wan_multitalk.audio.speaker_gating import (Segment, bridge_short_gaps, fade_envelope, gate_tracks, onset_order,
                                                parse_order, activity_masks)
from wan_multitalk.audio.speaker_timeline import parse_timeline
from wan_multitalk.audio.voice_encoder import bundled_weights
from wan_multitalk.errors import InputError

pytestmark = pytest.mark.skipif(not dialogue_audio.have_espeak(), reason="espeak-ng is not installed")
PAIR_IDS = ["m3-f3", "us-f2", "f4-scotland"]


class _Refuse(importlib.abc.MetaPathFinder):
    def __init__(self, package):
        self.package = package

    def find_spec(self, name, path=None, target=None):
        if name == self.package or name.startswith(self.package + "."):
            raise ImportError(f"{name} is hidden for this test")
        return None


@contextmanager
def package_hidden(package: str):
    """Inside: ``import package`` fails as if it were not installed (already imported modules are set aside)."""
    saved = {m: sys.modules.pop(m) for m in list(sys.modules) if m == package or m.startswith(package + ".")}
    finder = _Refuse(package)
    sys.meta_path.insert(0, finder)
    try:
        yield
        assert not any(m == package or m.startswith(package + ".") for m in sys.modules), f"{package} was imported"
    finally:
        sys.meta_path.remove(finder)
        sys.modules.update(saved)


def share_right(truth: np.ndarray, masks: np.ndarray) -> float:
    """Share of single-speaker speech samples given to the right speaker and to nobody else."""
    speech = truth > 0
    right = np.zeros_like(speech)
    for k in range(masks.shape[0]):
        others = np.delete(masks, k, axis=0).any(axis=0)
        right |= (truth == k + 1) & masks[k] & ~others
    return float(right[speech].mean())


def overlap_recall(truth: np.ndarray, masks: np.ndarray) -> float:
    """Share of the overlapped samples (truth -1) present in both speakers' tracks."""
    return float(masks[:2].all(axis=0)[truth == -1].mean())


@pytest.fixture(scope="module")
def weights():
    pytest.importorskip("webrtcvad")
    path = bundled_weights()
    if path is None:
        cached_assets.missing("the voice encoder weights (resemblyzer's pretrained.pt)")
    return [path]


def split(dialogue, weights, num_speakers, **kw):
    """Diarize with resemblyzer hidden, then gate the way the node does: bridge short gaps, onset order."""
    from wan_multitalk.audio.diarization import diarize

    with package_hidden("resemblyzer"):
        segments, count = diarize(torch.from_numpy(dialogue.wave)[None, None], dialogue.rate, num_speakers, 0.5,
                                  weights=weights, **kw)
    masks = activity_masks(segments, len(dialogue.wave), count)
    return bridge_short_gaps(masks, int(0.5 * dialogue.rate))[onset_order(masks)], count


@pytest.fixture(scope="module")
def dialogue():
    return dialogue_audio.make_dialogue()


@pytest.mark.parametrize("num_speakers", [2, 0], ids=["fixed_2", "automatic"])
def test_two_voice_dialogue_is_split_by_speaker(dialogue, weights, num_speakers):
    masks, count = split(dialogue, weights, num_speakers)
    assert count == 2
    accuracy = share_right(dialogue.truth, masks)
    print(f"\nnum_speakers={num_speakers}: {accuracy:.1%} of speech time assigned to the right speaker")
    assert accuracy >= 0.90
    # who speaks first is speaker 1: the first voiced sample of track 1 lies in the first (speaker 1) turn
    first_turn = dialogue.turns[0]
    assert first_turn[1] - 0.3 * dialogue.rate <= np.argmax(masks[0]) < first_turn[2]


@pytest.mark.parametrize("voices", dialogue_audio.VOICE_PAIRS, ids=PAIR_IDS)
def test_overlapping_speech_goes_to_both_speakers(weights, voices):
    talk = dialogue_audio.make_dialogue(dialogue_audio.TURNS, voices, interruptions=dialogue_audio.INTERRUPTIONS)
    plain = dialogue_audio.make_dialogue(dialogue_audio.TURNS, voices)
    assert len(talk.overlaps) == 2 and all(b - a > talk.rate for a, b in talk.overlaps)
    for num_speakers in (2, 0):
        masks, count = split(talk, weights, num_speakers)
        assert count == 2
        accuracy, recall = share_right(talk.truth, masks), overlap_recall(talk.truth, masks)
        masks_plain, count_plain = split(plain, weights, num_speakers)
        accuracy_plain = share_right(plain.truth, masks_plain)
        print(f"\n{voices} num_speakers={num_speakers}: overlap dialogue {accuracy:.1%} single-speaker time right, "
              f"{recall:.1%} of the overlap in both tracks; plain dialogue {accuracy_plain:.1%} right")
        assert accuracy >= 0.90 and recall >= 0.70
        assert count_plain == 2 and accuracy_plain >= 0.90
    one_label, _ = split(talk, weights, 2, detect_overlap=False)
    assert overlap_recall(talk.truth, one_label) < 0.2  # without the overlap stage each moment has one speaker


def test_one_voice_is_one_speaker(weights):
    monologue = dialogue_audio.make_dialogue([(1, text) for _, text in dialogue_audio.TURNS[:3]])
    masks, count = split(monologue, weights, 0)
    assert count == 1
    assert masks[0][monologue.truth > 0].mean() >= 0.95


def test_silence_and_too_short_input_are_clear_errors(weights):
    from wan_multitalk.audio.diarization import diarize

    with pytest.raises(InputError, match="silent"):
        diarize(torch.zeros(1, 1, 48000), 16000, weights=weights)
    with pytest.raises(InputError, match="only 0.50 s long"):
        diarize(torch.randn(1, 1, 8000) * 0.1, 16000, weights=weights)
    with pytest.raises(InputError, match="num_speakers"):
        diarize(torch.randn(1, 1, 48000) * 0.1, 16000, num_speakers=7, weights=weights)


def test_timeline_is_exact_to_the_sample():
    rate = 22050
    segments = parse_timeline("1: 0-3.2, 2: 3.2-6.5; 1: 6.5-end", rate, 7 * rate)
    assert segments == [Segment(0, 0, 70560), Segment(1, 70560, 143325), Segment(0, 143325, 7 * rate)]
    wave = torch.randn(2, 7 * rate)
    masks = activity_masks(segments, 7 * rate, 2)
    one, two = gate_tracks(wave, masks, fade=0)
    assert torch.equal(one[:, :70560], wave[:, :70560]) and torch.equal(one[:, 143325:], wave[:, 143325:])
    assert torch.all(one[:, 70560:143325] == 0) and torch.all(two[:, :70560] == 0)
    assert torch.equal(two[:, 70560:143325], wave[:, 70560:143325])
    assert torch.equal(one + two, wave)  # no sample lost or doubled


def test_overlap_goes_to_both_and_fades_sit_outside_the_cut():
    rate = 1000
    segments = parse_timeline("1: 0-0.6\n2: 0.5-1", rate, 1000)
    masks = activity_masks(segments, 1000, 2)
    one, two = gate_tracks(torch.ones(1, 1000), masks, fade=10)
    assert torch.all(one[0, 500:600] == 1) and torch.all(two[0, 500:600] == 1)  # overlap: both carry it
    assert torch.all(one[0, :600] == 1) and 0 < one[0, 600] < 1 and one[0, 605] < one[0, 600]
    assert torch.all(one[0, 611:] == 0)
    assert torch.all(two[0, :489] == 0) and 0 < two[0, 495] < 1 and torch.all(two[0, 500:] == 1)
    env = fade_envelope(np.array([False] * 5 + [True] * 3 + [False] * 5), 2)
    assert env.tolist() == pytest.approx([0, 0, 0, 1 / 3, 2 / 3, 1, 1, 1, 2 / 3, 1 / 3, 0, 0, 0])


def test_short_gaps_do_not_flip_or_split_the_speaker():
    masks = activity_masks([Segment(0, 0, 100), Segment(0, 130, 200), Segment(1, 300, 400), Segment(0, 410, 430),
                            Segment(1, 440, 520), Segment(1, 560, 600)], 640, 2)
    bridged = bridge_short_gaps(masks, 50)
    assert bridged[0, 100:130].all()            # a 30-sample pause stays with speaker 1
    assert not bridged[0, 200:300].any()        # a long pause does not
    assert bridged[1, 520:560].all()            # speaker 2's 40-sample pause with nobody in it is bridged,
    assert not bridged[1, 400:440].any()        # the same pause with speaker 1 talking in it is not
    assert not bridged[0, 430:].any() and not bridged[1, :300].any() and not bridged[1, 600:].any()  # lead-in, tail
    assert bridge_short_gaps(masks, 0) is masks


def test_fades_of_one_sample_and_none_and_tracks_stay_float32():
    mask = np.array([False, False, True, False, False])
    assert fade_envelope(mask, 0).tolist() == [0, 0, 1, 0, 0] and fade_envelope(mask, 0).dtype == np.float32
    assert fade_envelope(mask, 1).tolist() == [0, 0.5, 1, 0.5, 0]
    assert fade_envelope(np.zeros(4, bool), 3).tolist() == [0, 0, 0, 0]
    tracks = gate_tracks(torch.ones(2, 5), np.stack([mask, ~mask]), fade=2)
    assert all(t.dtype == torch.float32 and t.shape == (2, 5) for t in tracks)
    assert gate_tracks(torch.ones(1, 4), np.zeros((1, 4), bool), fade=2)[0].dtype == torch.float32


def test_order_with_one_or_no_speaker():
    assert parse_order("1", 1) == [0]
    with pytest.raises(InputError, match="order"):
        parse_order("2", 1)
    assert parse_order("1", 0) == []  # nobody was found: nothing to order


def test_smoothing_undoes_short_speaker_flips():
    from wan_multitalk.audio.diarization import smooth_labels

    labels = np.array([0] * 50 + [1] * 10 + [0] * 50 + [-1] * 20 + [1] * 60)
    smoothed = smooth_labels(labels, 30)
    assert (smoothed[:110] == 0).all() and (smoothed[110:130] == -1).all() and (smoothed[130:] == 1).all()


def test_overlap_stretches_widen_over_single_speech_only():
    from wan_multitalk.audio.diarization import widen_runs

    labels = np.array([-1] * 3 + [0] * 6 + [1] * 4 + [0] * 2 + [-1] * 2 + [0] * 3 + [2] * 2 + [0] * 5)
    widened = widen_runs(labels, 3)
    expected = np.array([-1] * 3 + [0] * 3 + [1] * 9 + [-1] * 2 + [2] * 3 + [2] * 2 + [2] * 3 + [0] * 2)
    assert widened.tolist() == expected.tolist()


def test_order_is_onset_then_user_choice():
    masks = activity_masks([Segment(0, 50, 60), Segment(1, 10, 20), Segment(2, 30, 40)], 100, 3)
    assert onset_order(masks) == [1, 2, 0]
    assert parse_order("", 3) == [0, 1, 2]
    assert parse_order("2,1", 3) == [1, 0, 2]
    assert parse_order("3 1 2", 3) == [2, 0, 1]
    for bad in ("1,1", "5", "a,b"):
        with pytest.raises(InputError, match="order"):
            parse_order(bad, 3)


@pytest.mark.parametrize("text, problem", [
    ("", "is empty"), ("0-3", "speaker number"), ("1: 3-2", "ends before it starts"), ("5: 0-1", "speakers 1 to 4"),
    ("1: 0-1, 2: soon", "not a span"), ("1: 9-10", "starts after the recording ends"),
])
def test_timeline_mistakes_are_named(text, problem):
    with pytest.raises(InputError, match=problem) as info:
        parse_timeline(text, 16000, 7 * 16000)
    assert info.value.input_name == "timeline"


# ---------------------------------------------------------------- the automatic speaker count's thresholds
# Synthetic voice embeddings (unit vectors around two centres) placed just either side of each threshold of
# `cluster(..., num_speakers=0)`: the count flips between the two cases, so moving a threshold flips one of them.


def two_voices(similarity: float, spread: float, sizes=(50, 50), dim: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    first, second = np.zeros(dim), np.zeros(dim)
    first[0], second[0], second[1] = 1.0, similarity, np.sqrt(1.0 - similarity ** 2)
    points = [c + spread * rng.standard_normal((n, dim)) for c, n in zip((first, second), sizes)]
    points = np.concatenate(points)
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32), np.repeat([0, 1], sizes)


def centroid_similarity(embeddings, labels) -> float:
    a, b = (embeddings[labels == k].astype(np.float64).mean(axis=0) for k in (0, 1))
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def cosine_silhouette(embeddings, labels) -> float:
    """Mean over points of (b - a) / max(a, b), a / b the mean cosine distance to the own / the other voice."""
    e = embeddings.astype(np.float64)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    distance = 1.0 - e @ e.T
    scores = []
    for i, own in enumerate(labels):
        same = (labels == own) & (np.arange(len(labels)) != i)
        a, b = distance[i, same].mean(), distance[i, labels != own].mean()
        scores.append((b - a) / max(a, b))
    return float(np.mean(scores))


@pytest.mark.parametrize("similarity, count", [(0.835, 2), (0.845, 1)])
def test_two_voices_this_similar_are_one(similarity, count):
    """SAME_SPEAKER_SIMILARITY 0.84: centroids at cosine 0.835 are two voices, at 0.845 one."""
    from wan_multitalk.audio.diarization import cluster

    embeddings, labels = two_voices(similarity, 0.02)
    assert abs(centroid_similarity(embeddings, labels) - similarity) < 0.003
    assert cosine_silhouette(embeddings, labels) > 0.8  # a clear split otherwise
    found, k = cluster(embeddings, 0)
    assert k == count
    if count == 2:
        assert (found == found[0]).sum() == 50


@pytest.mark.parametrize("spread, silhouette, count", [(0.255, (0.303, 0.32), 2), (0.265, (0.28, 0.297), 1)])
def test_a_split_must_be_this_clear(spread, silhouette, count):
    """MIN_SILHOUETTE 0.3: two well separated voices (centroids orthogonal) whose split has a silhouette just
    above 0.3 are two speakers, just below it one."""
    from wan_multitalk.audio.diarization import cluster

    embeddings, labels = two_voices(0.0, spread)
    assert silhouette[0] < cosine_silhouette(embeddings, labels) < silhouette[1]
    assert abs(centroid_similarity(embeddings, labels)) < 0.05
    assert cluster(embeddings, 0)[1] == count


@pytest.mark.parametrize("minority, count", [(5, 2), (4, 1)])
def test_a_voice_needs_five_percent_of_the_speech(minority, count):
    """MIN_SHARE 0.05: of 100 windows, a distinct voice in 5 is a speaker, in 4 it is not."""
    from wan_multitalk.audio.diarization import cluster

    embeddings, labels = two_voices(0.0, 0.02, sizes=(100 - minority, minority))
    found, k = cluster(embeddings, 0)
    assert k == count
    if count == 2:
        assert sorted(np.bincount(found).tolist()) == [minority, 100 - minority]
