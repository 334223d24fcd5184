"""Our voice encoder against the installed resemblyzer (real weights), and the weights loader's rules."""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch

import cached_assets
from wan_multitalk.audio import voice_encoder
from wan_multitalk.audio.voice_encoder import (PARTIAL_FRAMES, bundled_weights, load_voice_encoder, mel_frames,
                                               partial_starts, resolve_weights)
from wan_multitalk.errors import InputError


def voiced_signal(seconds: float, seed: int = 0) -> np.ndarray:
    """A vowel-like 16 kHz test signal: harmonics of a gliding pitch with a syllable envelope, plus breath noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    voice = sum(np.sin(h * phase) / h for h in range(1, 25))
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 3.1 * t) ** 2
    return (0.05 * voice * envelope + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def resemblyzer_encoder():
    try:
        from resemblyzer import VoiceEncoder
    except Exception as exc:  # noqa: BLE001 - not installed, or its webrtcvad import fails
        cached_assets.missing(f"the resemblyzer package (the parity reference) ({exc})")
    return VoiceEncoder("cpu", verbose=False)


@pytest.fixture(scope="module")
def ours():
    path = bundled_weights()
    if path is None:
        cached_assets.missing("resemblyzer's pretrained.pt")
    return load_voice_encoder(path)


def test_mel_frames_match_resemblyzer(resemblyzer_encoder):
    from resemblyzer.audio import wav_to_mel_spectrogram

    wave = voiced_signal(2.3)
    reference = wav_to_mel_spectrogram(wave)
    mine = mel_frames(wave)
    assert mine.shape == reference.shape == (1 + len(wave) // 160, 40)
    assert np.abs(mine - reference).max() <= 1e-5 * np.abs(reference).max()


@pytest.mark.parametrize("seconds", [0.7, 1.6, 3.37, 6.0])
def test_utterance_embeddings_match_resemblyzer(resemblyzer_encoder, ours, seconds):
    wave = voiced_signal(seconds, seed=int(seconds * 10))
    reference = resemblyzer_encoder.embed_utterance(wave)
    mine = ours.embed_utterance(wave)
    assert mine.shape == (256,)
    assert np.abs(mine - reference).max() < 1e-5
    assert abs(np.linalg.norm(mine) - 1) < 1e-5


def test_batched_windows_match_resemblyzer(resemblyzer_encoder, ours):
    mels = torch.from_numpy(np.stack([mel_frames(voiced_signal(1.0, seed=s))[:100] * 1e3 for s in range(5)]))
    with torch.no_grad():
        reference = resemblyzer_encoder(mels)
        mine = ours(mels)
    assert (mine - reference).abs().max() < 1e-5


def test_partials_cover_the_utterance_like_resemblyzer(resemblyzer_encoder):
    for n in [1, 800, 16000, 25599, 25600, 25760, 40000, 123457, 480000]:
        _, mel_slices = resemblyzer_encoder.compute_partial_slices(n, rate=1.3, min_coverage=0.75)
        starts, needed = partial_starts(n)
        assert starts == [s.start for s in mel_slices], n
        assert needed == mel_slices[-1].stop * 160


# ---------------------------------------------------------------- weights files


def random_state(hidden: int = 256, layers: int = 3, seed: int = 0) -> dict:
    """A state dict with resemblyzer's key names and shapes (plus its two unused similarity scalars)."""
    g = torch.Generator().manual_seed(seed)
    state = {"similarity_weight": torch.tensor([10.0]), "similarity_bias": torch.tensor([-5.0])}
    for layer in range(layers):
        width = 40 if layer == 0 else hidden
        state[f"lstm.weight_ih_l{layer}"] = torch.randn(4 * hidden, width, generator=g) * 0.1
        state[f"lstm.weight_hh_l{layer}"] = torch.randn(4 * hidden, hidden, generator=g) * 0.1
        state[f"lstm.bias_ih_l{layer}"] = torch.randn(4 * hidden, generator=g) * 0.1
        state[f"lstm.bias_hh_l{layer}"] = torch.randn(4 * hidden, generator=g) * 0.1
    state["linear.weight"] = torch.randn(256, hidden, generator=g) * 0.1
    state["linear.bias"] = torch.randn(256, generator=g) * 0.1 + 0.05
    return state


def reference_embedding(state: dict, mels: torch.Tensor) -> torch.Tensor:
    """The published recipe written out step by step: LSTM cells by hand, last hidden state, linear, ReLU, L2."""
    x = mels.double()
    for layer in range(3):
        w_ih, w_hh = state[f"lstm.weight_ih_l{layer}"].double(), state[f"lstm.weight_hh_l{layer}"].double()
        bias = (state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"]).double()
        h = torch.zeros(x.shape[0], 256, dtype=torch.float64)
        c = torch.zeros_like(h)
        outputs = []
        for t in range(x.shape[1]):
            i, f, g, o = (x[:, t] @ w_ih.T + h @ w_hh.T + bias).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        x = torch.stack(outputs, dim=1)
    raw = torch.relu(h @ state["linear.weight"].double().T + state["linear.bias"].double())
    return raw / raw.norm(dim=1, keepdim=True)


@pytest.mark.parametrize("layout", ["resemblyzer checkpoint", "plain state dict", "safetensors"])
def test_loader_accepts_the_real_key_names_and_shapes(tmp_path, layout):
    state = random_state()
    if layout == "safetensors":
        from safetensors.torch import save_file

        path = tmp_path / "voice.safetensors"
        save_file(state, str(path))
    else:
        path = tmp_path / "voice.pt"
        torch.save({"step": 7, "model_state": state} if layout == "resemblyzer checkpoint" else state, path)
    encoder = load_voice_encoder(str(path))
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, state[key]), key
    mels = torch.rand(2, 30, 40, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        embedded = encoder(mels)
    assert torch.allclose(embedded.double(), reference_embedding(state, mels), atol=1e-5)


@pytest.mark.parametrize("content, problem", [
    ("smaller", r"wrong shapes: lstm\.weight_ih_l0 \(512, 40\) \(expected \(1024, 40\)\)"),
    ("other model", "missing lstm.weight_ih_l0"),
    ("garbage", "could not be read"),
    ("pickled object", "could not be read"),
])
def test_loader_rejects_a_wrong_file_with_a_clear_error(tmp_path, content, problem):
    path = tmp_path / "wrong.pt"
    if content == "smaller":
        torch.save({"model_state": random_state(hidden=128)}, path)
    elif content == "other model":
        torch.save({"conv.weight": torch.zeros(8, 3, 3, 3)}, path)
    elif content == "garbage":
        path.write_bytes(b"this is not a checkpoint" * 10)
    else:  # arbitrary pickled code must not be run: weights_only refuses it
        torch.save({"model_state": random_state(), "extra": np.random.default_rng(0)}, path)
    with pytest.raises(InputError, match=problem) as info:
        load_voice_encoder(str(path))
    assert info.value.input_name == "voice_encoder"
    assert "models/diarization" in info.value.fix and "pretrained.pt" in info.value.fix


def test_weights_are_looked_up_in_order_without_importing_resemblyzer(tmp_path, monkeypatch):
    user_file = tmp_path / "mine.pt"
    torch.save(random_state(), user_file)
    assert resolve_weights([str(tmp_path / "absent.pt"), str(user_file)]) == str(user_file)

    for name in [m for m in sys.modules if m == "resemblyzer" or m.startswith("resemblyzer.")]:
        monkeypatch.delitem(sys.modules, name)
    bundled = bundled_weights()
    assert not any(m == "resemblyzer" or m.startswith("resemblyzer.") for m in sys.modules)
    if importlib.util.find_spec("resemblyzer") is not None:
        assert bundled is not None and bundled.endswith("pretrained.pt")
        assert resolve_weights([str(tmp_path / "absent.pt")]) == bundled

    monkeypatch.setattr(voice_encoder.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="no file in models/diarization") as info:
        resolve_weights([str(tmp_path / "absent.pt")])
    assert "pretrained.pt" in info.value.fix and "PyPI" in info.value.fix and "GitHub" in info.value.fix


def test_partials_need_at_least_one_window():
    assert partial_starts(10) == ([0], PARTIAL_FRAMES * 160)
