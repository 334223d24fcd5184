"""The wav2vec2 encoder on the host: where it computes (the host's devices) and encoding through it."""
from __future__ import annotations

from contextlib import contextmanager

import comfy.model_management as mm
import torch

from ...wan_multitalk.audio.features import encode_features
from ...wan_multitalk.audio.silence import silence_row


def torch_device(choice: str):
    return mm.get_torch_device() if choice == "main_device" else mm.intermediate_device()


class Wav2VecHandle:
    """The loaded encoder plus where it computes; it lives on the offload device between runs."""

    def __init__(self, model, dtype, device_choice: str):
        self.model, self.dtype, self.device_choice = model, dtype, device_choice
        self._silence = {}

    @property
    def feature_row_size(self) -> int:
        """Values in one frame's feature row: every transformer layer's output (12 x 768 for the base model)."""
        return int(self.model.config.num_hidden_layers) * int(self.model.config.hidden_size)

    def compute_device_and_dtype(self):
        device = torch_device(self.device_choice)
        # Half precision convolutions on a CPU are slow and partly unsupported: compute in fp32 there.
        return device, (self.dtype if device.type != "cpu" else torch.float32)

    @contextmanager
    def on_compute_device(self):
        """Move the encoder to its compute device once for all tracks of a run, then back to rest (instead of
        there and back for every track)."""
        device, dtype = self.compute_device_and_dtype()
        param = next(self.model.parameters())
        rest = (param.device, param.dtype)
        self.model.to(device=device, dtype=dtype)
        try:
            yield self
        finally:
            self.model.to(device=rest[0], dtype=rest[1])

    def silence_row(self, fps: float) -> torch.Tensor:
        if fps not in self._silence:
            device, dtype = self.compute_device_and_dtype()
            self._silence[fps] = silence_row(self.model, fps=fps, device=device, dtype=dtype)
        return self._silence[fps]

    def encode(self, wave16k, fps, input_name, progress=None):
        device, dtype = self.compute_device_and_dtype()
        return encode_features(self.model, wave16k, fps=fps, device=device, dtype=dtype,
                               input_name=input_name, progress=progress)
