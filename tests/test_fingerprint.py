"""Fingerprints: equal content gives equal digests (in this process and the next), any change in the data gives
another, weights are hashed by a fixed sample; `Fingerprint.changed` names what differs."""
from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from wan_multitalk.fingerprint import DIGEST_SIZE, SAMPLE_POINTS, Fingerprint, describe, digest, tensor_digest

ROOT = Path(__file__).resolve().parents[1]


def reference_digest(array: np.ndarray, dtype_name: str) -> str:
    """blake2b over "dtype|shape|" and the raw bytes in C order, written out independently."""
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    h.update(f"{dtype_name}|{tuple(array.shape)}|".encode())
    h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.uint8])
def test_full_digest_is_the_hash_of_every_byte(dtype):
    t = (torch.randn(3, 5, 7) * 50).to(dtype)
    raw = t.view(torch.int16).numpy() if dtype == torch.bfloat16 else t.numpy()
    assert tensor_digest(t) == reference_digest(raw, str(dtype))
    # a non-contiguous view hashes its elements in logical order, like a copy
    view = t.transpose(0, 2)
    assert tensor_digest(view) == tensor_digest(view.contiguous())


def test_any_single_element_changes_the_full_digest():
    g = torch.Generator().manual_seed(0)
    t = torch.rand(4, 100, 3, generator=g)
    base = tensor_digest(t)
    for index in torch.randint(0, t.numel(), (20,), generator=g).tolist():
        changed = t.clone().reshape(-1)
        changed[index] = torch.nextafter(changed[index], torch.tensor(2.0))  # the smallest possible change
        assert tensor_digest(changed.reshape(t.shape)) != base
    assert tensor_digest(t.reshape(400, 3)) != base  # the shape counts
    assert tensor_digest(t.double()) != base  # so does the dtype


def test_sampled_digest_reads_evenly_spaced_elements():
    t = torch.arange(10_000, dtype=torch.float32)
    points = torch.linspace(0, 9_999, SAMPLE_POINTS, dtype=torch.float64).round().long()
    assert tensor_digest(t, sampled=True) == _sampled_reference(t, points)
    sampled_element = int(points[7])
    other = t.clone()
    other[sampled_element] += 1
    assert tensor_digest(other, sampled=True) != tensor_digest(t, sampled=True)
    assert tensor_digest(t.half(), sampled=True) != tensor_digest(t, sampled=True)
    small = torch.rand(SAMPLE_POINTS)  # no bigger than the sample: hashed in full
    assert tensor_digest(small, sampled=True) == tensor_digest(small)


def _sampled_reference(t: torch.Tensor, points: torch.Tensor) -> str:
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    h.update(f"{t.dtype}|{tuple(t.shape)}|".encode())  # the whole tensor's shape, the sampled elements
    h.update(t[points].numpy().tobytes())
    return h.hexdigest()


@dataclass
class Settings:
    seed: int
    weights: torch.Tensor


class Holder:
    def __init__(self, **fields):
        self.__dict__.update(fields)


class Shifted(torch.nn.Module):
    def __init__(self, shift):
        super().__init__()
        self.shift = shift
        self.register_buffer("sigmas", torch.linspace(1, 0, 5) * shift)


def sampler_function(x, sigmas, eta=1.0):
    return x


def test_structures_are_described_by_content_not_identity():
    a = {"b": [1, 2.5, "x", None], "a": Settings(3, torch.ones(2)), "f": sampler_function}
    b = {"f": sampler_function, "a": Settings(3, torch.ones(2)), "b": [1, 2.5, "x", None]}  # other order, new objects
    assert digest(a) == digest(b)
    assert digest(Holder(x=1, y=torch.zeros(3))) == digest(Holder(x=1, y=torch.zeros(3)))
    assert digest(Holder(x=1)) != digest(Holder(x=2))
    assert digest(Settings(3, torch.ones(2))) != digest(Settings(4, torch.ones(2)))
    assert digest(functools.partial(sampler_function, eta=0.5)) != digest(functools.partial(sampler_function, eta=1))
    assert digest(Shifted(7.0)) != digest(Shifted(5.0))  # module attributes and buffers count
    assert digest(np.float32(0.5)) == digest(0.5) and digest(np.int64(3)) == digest(3)
    assert digest((1, 2)) != digest([1, 2])
    assert "0x" not in describe({"o": object(), "h": Holder(z=object())})  # never an address


def test_cycles_and_depth_end():
    loop = Holder(name="a")
    loop.me = loop
    assert digest(loop) == digest(loop)
    deep = current = Holder()
    for _ in range(50):
        current.next = Holder()
        current = current.next
    assert len(describe(deep)) < 2000


def test_digests_are_the_same_in_another_process():
    code = ("import torch, sys; sys.path.insert(0, %r); from wan_multitalk.fingerprint import digest; "
            "print(digest({'s': {'b', 'a', 'c'}, 't': torch.arange(6.0).reshape(2, 3), 'n': [1.5, None, 'x']}))"
            % str(ROOT))
    out = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=dict(os.environ, PYTHONHASHSEED=str(seed))).stdout.strip() for seed in (1, 2)}
    here = digest({"s": {"b", "a", "c"}, "t": torch.arange(6.0).reshape(2, 3), "n": [1.5, None, "x"]})
    assert out == {here}


def test_fingerprint_names_what_changed_and_survives_json():
    weights = torch.randn(64, 64)
    a = Fingerprint.of({"model": {"w": weights}, "noise_seed": 1, "sigmas": torch.tensor([1.0, 0.0])},
                       sampled=("model",))
    b = Fingerprint.of({"model": {"w": weights.clone()}, "noise_seed": 2, "sigmas": torch.tensor([1.0, 0.0])},
                       sampled=("model",))
    assert a.changed(b) == ["noise_seed"]
    assert a.changed(Fingerprint.from_json(a.to_json())) == []
    assert Fingerprint({"x": "1"}).changed(Fingerprint({"y": "1"})) == ["x", "y"]
    with pytest.raises(ValueError):
        Fingerprint.from_json({"x": 3})
