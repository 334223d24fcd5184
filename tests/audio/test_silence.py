"""Encoded silence: real wav2vec2 features of digital silence, never zeros."""
from __future__ import annotations

import math

import pytest
import torch
from wav2vec2_factory import tiny_model
from wav2vec2_reference import official_features

from wan_multitalk.audio.silence import silence_features, silence_row


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=0)


@pytest.mark.parametrize("num_frames,fps", [(50, 25.0), (37, 30), (24, 23.976)])
def test_silence_features_are_the_features_of_zeros(model, num_frames, fps):
    got = silence_features(model, num_frames, fps=fps)
    assert got.shape == (num_frames, 2, 32)
    samples = math.ceil(num_frames * 16000 / float(fps))  # fewest samples holding num_frames frames
    expected = official_features(model, torch.zeros(samples), num_frames)
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=2e-5)


def test_silence_is_not_zeros(model):
    features = silence_features(model, 40)
    # Every row is clearly non-zero: post-LayerNorm rows have norm ~ sqrt(2 layers x 32 channels) = 8.
    assert (features.norm(dim=(1, 2)) > 1.0).all()


def test_silence_row_is_the_steady_middle_of_a_few_seconds(model):
    row = silence_row(model)
    assert row.shape == (2, 32) and row.dtype == torch.float32
    clip = silence_features(model, 100)  # 4 s at 25 fps: the documented clip
    torch.testing.assert_close(row, clip[50], rtol=0, atol=0)
    # Away from the clip edges (positional conv padding) encoded silence is constant.
    torch.testing.assert_close(clip[20:80], row.expand(60, 2, 32), rtol=0, atol=1e-5)
    assert row.norm() > 1.0
