"""A speaker-embedding network (the GE2E-trained voice encoder that resemblyzer publishes), our own code.

Why our own: resemblyzer's package metadata pins the old `webrtcvad` sdist (needs a compiler and
imports `pkg_resources`), so it cannot be a requirement. Only its weights file is needed, and that
file is loaded here with `torch.load(weights_only=True)`; nothing of resemblyzer is imported.

The network, as the weights define it:
    16 kHz mono -> power mel spectrogram (40 bands, 25 ms Hann window, 10 ms hop, no log)
    -> 3-layer LSTM, 256 units -> last layer's final hidden state -> linear 256 -> ReLU -> L2 norm.
A whole utterance is embedded as the normalised mean of its 1.6 s partial utterances.

Where the weights come from, in order: a file the user chose (or the first file in the models
folder the node passes in), else the `pretrained.pt` bundled in an installed resemblyzer package
(located with `importlib.util.find_spec`, which does not import it), else an InputError that says
where to put the file and where to get it.
"""
from __future__ import annotations

import importlib.util
import os
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from ..errors import InputError, unreadable_file

SAMPLE_RATE = 16000
MEL_BANDS = 40
WINDOW = 400                # 25 ms
HOP = 160                   # 10 ms
HIDDEN = 256
LAYERS = 3
EMBEDDING = 256
PARTIAL_FRAMES = 160        # 1.6 s per partial utterance
PARTIALS_PER_SECOND = 1.3
MIN_LAST_COVERAGE = 0.75    # a trailing partial is kept when at least this much of it is real audio
WEIGHTS_NAME = "pretrained.pt"
MODELS_FOLDER = "models/diarization"
WHERE_TO_GET = ("Get `pretrained.pt` (17 MB) from the resemblyzer package: on PyPI (Resemblyzer 0.1.4, the wheel "
                "holds resemblyzer/pretrained.pt) or on GitHub (resemble-ai/Resemblyzer, resemblyzer/pretrained.pt), "
                f"put it in ComfyUI's {MODELS_FOLDER}/ folder and press R to refresh the list.")


class VoiceEncoder(nn.Module):
    """mel frames ``[B, T, 40]`` -> unit-length speaker embeddings ``[B, 256]`` (all entries >= 0)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(MEL_BANDS, HIDDEN, LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBEDDING)

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        raw = torch.relu(self.linear(hidden[-1]))
        return raw / raw.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @torch.inference_mode()
    def embed_utterance(self, wave: np.ndarray) -> np.ndarray:
        """One embedding for a whole 16 kHz utterance: the normalised mean of its 1.6 s partials."""
        starts, needed = partial_starts(len(wave))
        padded = np.pad(np.asarray(wave, np.float32), (0, max(0, needed - len(wave))))
        mel = mel_frames(padded)
        batch = np.stack([mel[s:s + PARTIAL_FRAMES] for s in starts])
        partials = self(torch.from_numpy(batch)).numpy()
        mean = partials.mean(axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-12)


def partial_starts(num_samples: int) -> tuple[list[int], int]:
    """Start frames of the partial utterances and the sample count they need (the wave is zero-padded to it).

    Partials advance by 1/1.3 s and cover the whole utterance; the last one is dropped when less than
    75 % of it is real audio, unless it is the only one.
    """
    frames = int(np.ceil((num_samples + 1) / HOP))
    step = int(round(SAMPLE_RATE / PARTIALS_PER_SECOND / HOP))
    starts = list(range(0, max(1, frames - PARTIAL_FRAMES + step + 1), step))
    if len(starts) > 1 and (num_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP) < MIN_LAST_COVERAGE:
        starts.pop()
    return starts, (starts[-1] + PARTIAL_FRAMES) * HOP


@lru_cache(maxsize=1)
def _mel_basis() -> torch.Tensor:
    import librosa

    # Slaney-style mel scale and area normalisation: librosa's defaults, which the weights were trained on.
    return torch.from_numpy(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=WINDOW, n_mels=MEL_BANDS))


def mel_frames(wave: np.ndarray) -> np.ndarray:
    """``[1 + N // 160, 40]`` float32 power mel frames; frame i is centred on sample 160 i (zero padding)."""
    x = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
    spec = torch.stft(x, n_fft=WINDOW, hop_length=HOP, window=torch.hann_window(WINDOW), center=True,
                      pad_mode="constant", return_complex=True)
    power = spec.real ** 2 + spec.imag ** 2
    return (_mel_basis() @ power).T.contiguous().numpy()


# ---- weights -------------------------------------------------------------------------------------

def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor the network needs, by its key in the weights file."""
    return {k: tuple(v.shape) for k, v in VoiceEncoder().state_dict().items()}


def bundled_weights() -> str | None:
    """resemblyzer's bundled ``pretrained.pt`` when that package is installed; it is located, never imported."""
    try:
        spec = importlib.util.find_spec("resemblyzer")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, WEIGHTS_NAME)
        if os.path.isfile(path):
            return path
    return None


def resolve_weights(candidates: list[str] | tuple[str, ...] = (), input_name: str = "voice_encoder") -> str:
    """The first existing file of ``candidates``, else resemblyzer's bundled file, else a clear InputError."""
    for path in candidates:
        if path and os.path.isfile(path):
            return path
    bundled = bundled_weights()
    if bundled:
        return bundled
    raise InputError(input_name, "auto diarization needs the voice encoder weights, and none were found (no file in "
                                 f"{MODELS_FOLDER}/, and no installed resemblyzer package).", WHERE_TO_GET)


def load_voice_encoder(path: str, input_name: str = "voice_encoder") -> VoiceEncoder:
    """The encoder with the weights of ``path`` (cached per file and modification time), in eval mode."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        raise InputError(input_name, f"'{path}' does not exist.", WHERE_TO_GET) from None
    return _load(os.path.abspath(path), stamp, input_name)


@lru_cache(maxsize=2)
def _load(path: str, _stamp: int, input_name: str) -> VoiceEncoder:
    state = _read_state(path, input_name)
    expected = expected_shapes()
    missing = [k for k in expected if k not in state]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {expected[k]})" for k in expected
             if k in state and tuple(state[k].shape) != expected[k]]
    if missing or wrong:
        found = ", ".join(list(state)[:4]) + (", ..." if len(state) > 4 else "")
        problem = (f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}" if missing
                   else f"wrong shapes: {'; '.join(wrong[:3])}")
        raise InputError(input_name, f"'{os.path.basename(path)}' is not the resemblyzer voice encoder ({problem}; "
                                     f"the file holds {found or 'no tensors'}).", WHERE_TO_GET)
    encoder = VoiceEncoder()
    encoder.load_state_dict({k: state[k].float() for k in expected})
    return encoder.eval()


def _read_state(path: str, input_name: str) -> dict:
    """The tensors of a ``.pt`` checkpoint (plain, or under ``model_state`` as resemblyzer saves it) or a safetensors file."""
    try:
        if path.lower().endswith((".safetensors", ".sft")):
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same advice
        raise unreadable_file(input_name, path, exc, WHERE_TO_GET) from None
    if isinstance(state, dict) and isinstance(state.get("model_state"), dict):
        state = state["model_state"]
    if not isinstance(state, dict):
        raise InputError(input_name, f"'{os.path.basename(path)}' holds a {type(state).__name__}, not a state dict.",
                         WHERE_TO_GET)
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
