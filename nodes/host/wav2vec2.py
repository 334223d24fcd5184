"""The wav2vec2 encoder on the host: a model of ComfyUI's memory manager (like core's audio encoders), loaded to
its compute device when it encodes and offloaded by the host when memory is needed."""
from __future__ import annotations

import comfy.model_management as mm
import comfy.model_patcher
import torch

from ...wan_multitalk.audio.features import encode_features
from ...wan_multitalk.audio.silence import silence_row


def torch_device(choice: str):
    return mm.get_torch_device() if choice == "main_device" else mm.intermediate_device()


class _Wav2VecModule(torch.nn.Module):
    """The encoder in a plain module for the host's model patcher, which sets `.device` on what it manages (a
    read-only property of transformers models)."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder


class Wav2VecHandle:
    """The loaded encoder (already in its compute dtype) and its model patcher."""

    def __init__(self, encoder, device_choice: str):
        self.patcher = comfy.model_patcher.CoreModelPatcher(
            _Wav2VecModule(encoder), load_device=torch_device(device_choice),
            offload_device=mm.text_encoder_offload_device())
        self._silence = {}

    def loaded(self):
        """The encoder, on its compute device."""
        mm.load_model_gpu(self.patcher)
        return self.patcher.model.encoder

    def silence_row(self, fps: float) -> torch.Tensor:
        if fps not in self._silence:
            self._silence[fps] = silence_row(self.loaded(), fps=fps)
        return self._silence[fps]

    def encode(self, wave16k, fps, input_name, progress=None):
        return encode_features(self.loaded(), wave16k, fps=fps, input_name=input_name, progress=progress)
