"""Audio to speakers, library side: diarization of a real two-voice dialogue, gating, timeline, errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dialogue_audio
from wan_multitalk.audio.speaker_gating import (Segment, bridge_short_gaps, fade_envelope, gate_tracks, onset_order,
                                                parse_order, speaker_masks)
from wan_multitalk.audio.speaker_timeline import parse_timeline
from wan_multitalk.errors import InputError

pytestmark = pytest.mark.skipif(not dialogue_audio.have_espeak(), reason="espeak-ng is not installed")


def share_right(truth: np.ndarray, masks: np.ndarray) -> float:
    """Share of true speech samples given to the right speaker and to nobody else."""
    speech = truth > 0
    right = np.zeros_like(speech)
    for k in range(masks.shape[0]):
        others = np.delete(masks, k, axis=0).any(axis=0)
        right |= (truth == k + 1) & masks[k] & ~others
    return float(right[speech].mean())


@pytest.fixture(scope="module")
def dialogue():
    pytest.importorskip("resemblyzer")
    pytest.importorskip("webrtcvad")
    return dialogue_audio.make_dialogue()


@pytest.fixture(scope="module")
def diarized(dialogue):
    from wan_multitalk.audio.diarization import diarize

    wave = torch.from_numpy(dialogue.wave)[None, None]
    return {k: diarize(wave, dialogue.rate, k, 0.5) for k in (0, 2)}


@pytest.mark.parametrize("num_speakers", [2, 0], ids=["fixed_2", "automatic"])
def test_two_voice_dialogue_is_split_by_speaker(dialogue, diarized, num_speakers):
    segments, count = diarized[num_speakers]
    assert count == 2
    masks = speaker_masks(segments, len(dialogue.wave), count)
    masks = bridge_short_gaps(masks, int(0.5 * dialogue.rate))[onset_order(masks)]
    accuracy = share_right(dialogue.truth, masks)
    print(f"\nnum_speakers={num_speakers}: {accuracy:.1%} of speech time assigned to the right speaker")
    assert accuracy >= 0.90
    # who speaks first is speaker 1: the first voiced sample of track 1 lies in the first (speaker 1) turn
    first_turn = dialogue.turns[0]
    assert first_turn[1] - 0.3 * dialogue.rate <= np.argmax(masks[0]) < first_turn[2]


def test_silence_and_too_short_input_are_clear_errors():
    pytest.importorskip("resemblyzer")
    from wan_multitalk.audio.diarization import diarize

    with pytest.raises(InputError, match="silent"):
        diarize(torch.zeros(1, 1, 48000), 16000)
    with pytest.raises(InputError, match="only 0.50 s long"):
        diarize(torch.randn(1, 1, 8000) * 0.1, 16000)
    with pytest.raises(InputError, match="num_speakers"):
        diarize(torch.randn(1, 1, 48000) * 0.1, 16000, num_speakers=7)


def test_timeline_is_exact_to_the_sample():
    rate = 22050
    segments = parse_timeline("1: 0-3.2, 2: 3.2-6.5; 1: 6.5-end", rate, 7 * rate)
    assert segments == [Segment(0, 0, 70560), Segment(1, 70560, 143325), Segment(0, 143325, 7 * rate)]
    wave = torch.randn(2, 7 * rate)
    masks = speaker_masks(segments, 7 * rate, 2)
    one, two = gate_tracks(wave, masks, fade=0)
    assert torch.equal(one[:, :70560], wave[:, :70560]) and torch.equal(one[:, 143325:], wave[:, 143325:])
    assert torch.all(one[:, 70560:143325] == 0) and torch.all(two[:, :70560] == 0)
    assert torch.equal(two[:, 70560:143325], wave[:, 70560:143325])
    assert torch.equal(one + two, wave)  # no sample lost or doubled


def test_overlap_goes_to_both_and_fades_sit_outside_the_cut():
    rate = 1000
    segments = parse_timeline("1: 0-0.6\n2: 0.5-1", rate, 1000)
    masks = speaker_masks(segments, 1000, 2)
    one, two = gate_tracks(torch.ones(1, 1000), masks, fade=10)
    assert torch.all(one[0, 500:600] == 1) and torch.all(two[0, 500:600] == 1)  # overlap: both carry it
    assert torch.all(one[0, :600] == 1) and 0 < one[0, 600] < 1 and one[0, 605] < one[0, 600]
    assert torch.all(one[0, 611:] == 0)
    assert torch.all(two[0, :489] == 0) and 0 < two[0, 495] < 1 and torch.all(two[0, 500:] == 1)
    env = fade_envelope(np.array([False] * 5 + [True] * 3 + [False] * 5), 2)
    assert env.tolist() == pytest.approx([0, 0, 0, 1 / 3, 2 / 3, 1, 1, 1, 2 / 3, 1 / 3, 0, 0, 0])


def test_short_gaps_do_not_flip_or_split_the_speaker():
    masks = speaker_masks([Segment(0, 0, 100), Segment(0, 130, 200), Segment(1, 300, 400), Segment(0, 420, 500),
                           Segment(1, 520, 600)], 600, 2)
    bridged = bridge_short_gaps(masks, 50)
    assert bridged[0, 100:130].all()            # a 30-sample pause stays with speaker 1
    assert not bridged[0, 200:300].any()        # a long pause does not
    assert not bridged[1, 400:420].any()        # someone else talks in that gap: no bridge over them
    assert not bridged[0, 500:].any() and not bridged[1, :300].any()  # lead-in and tail stay silent


def test_smoothing_undoes_short_speaker_flips():
    from wan_multitalk.audio.diarization import smooth_labels

    labels = np.array([0] * 50 + [1] * 10 + [0] * 50 + [-1] * 20 + [1] * 60)
    smoothed = smooth_labels(labels, 30)
    assert (smoothed[:110] == 0).all() and (smoothed[110:130] == -1).all() and (smoothed[130:] == 1).all()


def test_order_is_onset_then_user_choice():
    masks = speaker_masks([Segment(0, 50, 60), Segment(1, 10, 20), Segment(2, 30, 40)], 100, 3)
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
