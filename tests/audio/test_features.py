"""The official feature recipe: exact frame counts, align-corners interpolation, one-pass vs chunked."""
from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from wav2vec2_factory import tiny_model
from wav2vec2_reference import align_corners_reference, cnn_rows, layer_states, official_features

from wan_multitalk.audio import cnn_frontend, features
from wan_multitalk.audio.cnn_frontend import cnn_features_for_frames, frame_interpolation
from wan_multitalk.audio.features import encode_features, frames_for_samples
from wan_multitalk.errors import InputError

# fps -> the exact rational a person means by it (written out by hand, independent of the code).
FPS_AS_RATIO = {25.0: (25, 1), 24: (24, 1), 30: (30, 1), 23.976: (2997, 125), 29.97: (2997, 100), 12.5: (25, 2),
                59.94: (2997, 50)}


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=0)


@pytest.fixture(scope="module")
def long_wave():
    """70 s of noise plus a slow tone: long enough for several transformer windows."""
    generator = torch.Generator().manual_seed(1)
    n = 70 * 16000
    t = torch.arange(n, dtype=torch.float64) / 16000
    return (0.1 * torch.randn(n, generator=generator) + 0.3 * torch.sin(2 * torch.pi * 3.0 * t).float()).float()


# ---------------------------------------------------------------- frame counts


def test_frames_for_samples_keeps_the_frame_the_float_formula_loses():
    assert int(18560 / 16000 * 25) == 28  # the official float formula: 28.999999999999996
    assert frames_for_samples(18560, 16000, 25.0) == 29  # 18560 * 25 / 16000 = 29 exactly


@pytest.mark.parametrize("fps", sorted(FPS_AS_RATIO, key=float))
@pytest.mark.parametrize("rate", [16000, 44100, 48000, 22050])
def test_frames_for_samples_matches_integer_reference(fps, rate):
    num, den = FPS_AS_RATIO[fps]
    rng = random.Random(f"{fps}-{rate}")
    lengths = list(range(0, 5000, 7)) + [rng.randrange(0, 30 * 60 * rate) for _ in range(300)]
    lengths += [k * rate * den // num for k in range(1, 200)]  # near exact frame boundaries
    for n in lengths:
        assert frames_for_samples(n, rate, fps) == (n * num) // (den * rate), n


@pytest.mark.parametrize("bad", [0, -25.0, float("nan"), float("inf")])
def test_frames_for_samples_rejects_bad_fps(bad):
    with pytest.raises(InputError) as error:
        frames_for_samples(16000, 16000, bad)
    assert error.value.input_name == "fps"


# ---------------------------------------------------------------- interpolation map


@pytest.mark.parametrize("source,target", [(499, 250), (91, 46), (1000, 375), (7, 20), (5, 1), (1, 4), (3, 3)])
def test_frame_interpolation_matches_float64_align_corners(source, target):
    plan = frame_interpolation(source, target)
    rows = torch.randn(source, 3, dtype=torch.float64)
    got = rows[plan.lower] * (1 - plan.weight[:, None]) + rows[plan.upper] * plan.weight[:, None]
    torch.testing.assert_close(got, align_corners_reference(rows, target), rtol=0, atol=1e-12)
    if target > 1:  # and torch's own align_corners in float64 agrees with both
        torch_ref = F.interpolate(rows.T[None], size=target, mode="linear", align_corners=True)[0].T
        torch.testing.assert_close(got, torch_ref, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- one-pass recipe


def test_identity_interpolation_equals_transformers_forward(model):
    """At fps 50 and N = 320k + 100, frames == CNN rows: the recipe must be plain Wav2Vec2Model."""
    wave = torch.randn(320 * 150 + 100, generator=torch.Generator().manual_seed(2)) * 0.2
    got = encode_features(model, wave, fps=50)
    with torch.no_grad():
        hidden = model(wave[None], output_hidden_states=True).hidden_states
    expected = torch.stack(hidden[1:], dim=2)[0]  # [T, layers, hidden]: all layer outputs, no embedding state
    assert got.shape == (150, 2, 32) and got.dtype == torch.float32 and got.device.type == "cpu"
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("seconds,fps", [(3.7, 25.0), (9.13, 30), (6.0, 23.976)])
def test_one_pass_matches_official_recipe(model, seconds, fps):
    wave = torch.randn(round(seconds * 16000), generator=torch.Generator().manual_seed(3)) * 0.2
    got = encode_features(model, wave, fps=fps)
    num_frames = frames_for_samples(wave.shape[0], 16000, fps)
    assert got.shape[0] == num_frames
    torch.testing.assert_close(got.double(), official_features(model, wave, num_frames), rtol=0, atol=2e-5)


@pytest.mark.parametrize("samples", [18560, 18559, 16000, 400 + 640, 33333])
def test_row_count_is_frames_for_samples(model, samples):
    wave = torch.randn(samples, generator=torch.Generator().manual_seed(samples)) * 0.1
    assert encode_features(model, wave).shape == (frames_for_samples(samples, 16000, 25.0), 2, 32)
    assert encode_features(model, wave, num_frames=7).shape == (7, 2, 32)


def test_short_audio_never_touches_the_chunked_path(model, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("chunked CNN used for a clip that fits in one window")

    monkeypatch.setattr(features, "ChunkedFeatureEncoder", forbidden)
    wave = torch.randn(16000 * 12, generator=torch.Generator().manual_seed(4)) * 0.1
    # 300 frames == core 250 + 2 x context 25: still one window
    got = encode_features(model, wave, chunk_seconds=10, context_seconds=1)
    torch.testing.assert_close(got.double(), official_features(model, wave, 300), rtol=0, atol=2e-5)


# ---------------------------------------------------------------- chunked long audio


def test_chunked_cnn_equals_one_pass_cnn(model, long_wave):
    """The CNN is local except layer 0's GroupNorm; with global statistics the slices are exact."""
    num_frames = frames_for_samples(long_wave.shape[0], 16000, 25.0)
    expected = align_corners_reference(cnn_rows(model, long_wave), num_frames)
    got = cnn_features_for_frames(model, long_wave, num_frames, rows_per_pass=97)
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=1e-6)
    part = cnn_features_for_frames(model, long_wave, num_frames, start=1203, stop=1290, rows_per_pass=13)
    torch.testing.assert_close(part.double(), expected[1203:1290], rtol=0, atol=1e-6)


def _expected_windowed(model, frame_features, num_frames, core, context):
    """Each window through the float64 reference transformer, crossfaded as the documented layout says."""
    out = torch.zeros((num_frames, 2, 32), dtype=torch.float64)
    seams = list(range(core, num_frames, core))
    for k, window_start in enumerate(range(0, num_frames, core)):
        start, stop = max(0, window_start - context), min(num_frames, window_start + core + context)
        states = layer_states(model, frame_features[start:stop])
        for f in range(start, stop):
            weight = 1.0
            if k > 0:  # rising across [seam - context//2, seam - context//2 + context)
                weight *= min(1.0, max(0.0, (f - (seams[k - 1] - context // 2) + 0.5) / context))
            if k < len(seams):
                weight *= 1.0 - min(1.0, max(0.0, (f - (seams[k] - context // 2) + 0.5) / context))
            out[f] += weight * states[f - start]
    return out


def test_chunked_encoding_follows_window_layout_and_stays_close_to_one_pass(model, long_wave):
    num_frames = frames_for_samples(long_wave.shape[0], 16000, 25.0)  # 1750
    core, context = 300, 50  # 12 s and 2 s at 25 fps
    calls = []
    got = encode_features(model, long_wave, chunk_seconds=12, context_seconds=2, cnn_chunk_seconds=2.9,
                          progress=lambda done, total: calls.append((done, total)))
    assert got.shape == (num_frames, 2, 32)
    assert calls == [(k, 6) for k in range(1, 7)]
    frame_features = align_corners_reference(cnn_rows(model, long_wave), num_frames)
    expected = _expected_windowed(model, frame_features, num_frames, core, context)
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=3e-5)

    one_pass = layer_states(model, frame_features)
    deviation = (got.double() - one_pass).abs().max().item()
    # Measured max 0.150, mean 0.016 (features have std 1.01); within 25 frames of a seam the max is
    # 0.117. Random attention is nearly uniform over the whole clip, so a 16 s window differs from
    # the 70 s clip everywhere by about as much as at the seams.
    assert deviation < 0.16
    assert one_pass.std().item() > 0.9


def test_chunking_never_shifts_frames(model):
    """Short bursts at known times show up at row round(t * fps) +-1, in every window."""
    generator = torch.Generator().manual_seed(5)
    n = 60 * 16000
    times = [1.0, 7.37, 13.02, 29.5, 44.21, 58.9]
    wave = torch.zeros(n)
    for t in times:
        start = round(t * 16000)
        wave[start:start + 160] = 0.5 * torch.randn(160, generator=generator)
    for fps in (25.0, 30, 23.976):
        settings = dict(fps=fps, chunk_seconds=12, context_seconds=2, cnn_chunk_seconds=4)
        change = (encode_features(model, wave, **settings) - encode_features(model, torch.zeros(n), **settings))
        energy = change.norm(dim=(1, 2))
        for t in times:
            centre = round(t * float(fps))
            found = centre - 10 + int(energy[centre - 10:centre + 10].argmax())
            assert abs(found - t * float(fps)) <= 1.0, (fps, t, found)


def test_chunked_memory_is_bounded_by_the_chunk_sizes(model, long_wave):
    seen = {"cnn": 0, "transformer": 0}

    def record(key):  # conv input is [1, 1, samples]; layer input is [1, frames, hidden]
        axis = -2 if key == "transformer" else -1
        return lambda module, args, output: seen.__setitem__(key, max(seen[key], args[0].shape[axis]))

    hooks = [model.feature_extractor.conv_layers[0].conv.register_forward_hook(record("cnn")),
             model.encoder.layers[0].register_forward_hook(record("transformer"))]
    try:
        encode_features(model, long_wave, chunk_seconds=12, context_seconds=2, cnn_chunk_seconds=2.9)
    finally:
        for hook in hooks:
            hook.remove()
    rows_per_pass = round(2.9 * 50)
    assert 0 < seen["cnn"] <= rows_per_pass * 320 + 400 < long_wave.shape[0] // 10
    assert 0 < seen["transformer"] <= 300 + 2 * 50


def test_features_are_computed_where_the_model_is_and_in_its_dtype():
    """No device or dtype of its own: a float64 copy of the model gives the float64 reference to rounding."""
    model = tiny_model(seed=0).double()
    wave = torch.randn(16000 * 2, generator=torch.Generator().manual_seed(6)) * 0.1
    got = encode_features(model, wave)
    assert next(model.parameters()).dtype == torch.float64 and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), official_features(model, wave, 50), rtol=0, atol=1e-6)


# ---------------------------------------------------------------- errors


def test_too_short_audio_names_the_input(model):
    with pytest.raises(InputError) as error:
        encode_features(model, torch.zeros(399), input_name="audio_2")
    assert error.value.input_name == "audio_2" and "400" in str(error.value)
    with pytest.raises(InputError):
        encode_features(model, torch.zeros(500), fps=25.0)  # 31 ms: no whole frame


def test_context_longer_than_chunk_is_rejected(model):
    with pytest.raises(InputError) as error:
        encode_features(model, torch.zeros(16000), chunk_seconds=1, context_seconds=2)
    assert error.value.input_name == "context_seconds"


def test_stable_layer_norm_model_is_rejected():
    with pytest.raises(InputError) as error:
        encode_features(tiny_model(norm="layer"), torch.zeros(16000))
    assert error.value.input_name == "model"


def test_cnn_geometry_is_the_real_wav2vec2_hop_and_field(model):
    assert cnn_frontend.cnn_geometry(model.config) == (320, 400)
    for n in (399, 400, 719, 720, 16000, 18560, 33333):
        with torch.no_grad():
            actual = model.feature_extractor(torch.zeros(1, n)).shape[-1] if n >= 400 else 0
        assert cnn_frontend.cnn_row_count(n, model.config) == actual == max(0, (n - 400) // 320 + 1)
