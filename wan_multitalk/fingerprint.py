"""Fingerprints: short digests of everything that decides an output, so a stored run can tell whether it was made
from the same inputs, and which ones changed.

Data a user feeds in (audio, images, embeds, prompts, sigmas) is hashed in full. Model weights, gigabytes each, are
hashed by shape, dtype and a fixed sample of their elements (`sampled=True`): another file, a fine-tune or another
precision differs there too, and the cost stays a few milliseconds a tensor. Nested values (dicts, lists,
dataclasses, plain objects, modules) are described by their structure; what has no stable description (an object
address, a cycle, anything deeper than `MAX_DEPTH`) is described by its type alone, never by its `repr`.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import math
import os
from fractions import Fraction

import numpy as np
import torch

DIGEST_SIZE = 16
SAMPLE_POINTS = 256  # elements of a weight that stand for it
CHUNK_ELEMENTS = 1 << 24  # elements hashed (and moved off the device) at a time
MAX_DEPTH = 8


def tensor_digest(tensor: torch.Tensor, sampled: bool = False) -> str:
    """Digest of dtype, shape and elements (all of them, or `SAMPLE_POINTS` evenly spaced ones)."""
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    h.update(f"{tensor.dtype}|{tuple(tensor.shape)}|".encode())
    try:
        flat = tensor.detach().reshape(-1)
        if sampled and flat.numel() > SAMPLE_POINTS:
            points = torch.linspace(0, flat.numel() - 1, SAMPLE_POINTS, dtype=torch.float64).round().long()
            flat = flat[points.to(flat.device)]
        for start in range(0, flat.numel(), CHUNK_ELEMENTS):
            part = flat[start:start + CHUNK_ELEMENTS].to("cpu").contiguous()
            h.update(memoryview(part.view(torch.uint8).numpy()))
    except (RuntimeError, TypeError, NotImplementedError):  # a tensor subclass that cannot be read as bytes
        h.update(f"unreadable {type(tensor).__qualname__}".encode())
    return h.hexdigest()


def describe(value, sampled: bool = False) -> str:
    """A canonical text for `value`: equal for equal content, in this process and the next."""
    return _Describer(sampled).text(value, 0)


def digest(value, sampled: bool = False) -> str:
    """The digest of `describe(value)`."""
    return hashlib.blake2b(describe(value, sampled).encode(), digest_size=DIGEST_SIZE).hexdigest()


class _Describer:
    def __init__(self, sampled: bool):
        self.sampled, self.active = sampled, set()

    def text(self, value, depth: int) -> str:
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (bool, int, str, bytes)):
            return repr(value)
        if isinstance(value, float):
            return "nan" if math.isnan(value) else repr(value)
        if isinstance(value, os.PathLike):
            return repr(os.fspath(value))
        if isinstance(value, Fraction):
            return f"Fraction({value})"
        if isinstance(value, enum.Enum):
            return f"{type(value).__qualname__}.{value.name}"
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(np.ascontiguousarray(value))
        if isinstance(value, torch.Tensor):
            return f"tensor({tensor_digest(value, self.sampled)})"
        if isinstance(value, (torch.dtype, torch.device)):
            return str(value)
        if isinstance(value, functools.partial):
            return self._object(value, depth, {"func": value.func, "args": value.args, "kw": value.keywords})
        if callable(value) and hasattr(value, "__qualname__"):  # functions, methods, classes: by name
            return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
        if depth >= MAX_DEPTH or id(value) in self.active:
            return f"<{type(value).__qualname__}>"
        self.active.add(id(value))
        try:
            return self._nested(value, depth)
        finally:
            self.active.discard(id(value))

    def _nested(self, value, depth: int) -> str:
        if isinstance(value, dict):
            items = sorted((self.text(k, depth + 1), self.text(v, depth + 1)) for k, v in value.items())
            return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
        if isinstance(value, (list, tuple)):
            return f"{type(value).__name__}[" + ",".join(self.text(v, depth + 1) for v in value) + "]"
        if isinstance(value, (set, frozenset)):
            return "set[" + ",".join(sorted(self.text(v, depth + 1) for v in value)) + "]"
        if isinstance(value, torch.nn.Module):
            fields = {k: v for k, v in vars(value).items() if not k.startswith("_") and k != "training"}
            fields["state"] = dict(value.state_dict())
            return self._object(value, depth, fields)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return self._object(value, depth, {f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
        try:
            fields = vars(value)
        except TypeError:  # no __dict__ (slots, builtins): the type is all that is stable
            return f"<{type(value).__qualname__}>"
        return self._object(value, depth, fields)

    def _object(self, value, depth: int, fields: dict) -> str:
        return f"{type(value).__module__}.{type(value).__qualname__}{self.text(dict(fields), depth)}"


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """Named digests, one per input that decides the output (names as the user sees them: "noise_seed", ...)."""

    parts: dict

    @classmethod
    def of(cls, values: dict, sampled: tuple = ()) -> "Fingerprint":
        """Digest every value; the names in `sampled` are model weights, hashed by sample."""
        return cls({name: digest(value, name in sampled) for name, value in values.items()})

    def changed(self, other: "Fingerprint") -> list[str]:
        """The names whose digests differ (or that only one of the two has), in this fingerprint's order."""
        names = list(self.parts) + [n for n in other.parts if n not in self.parts]
        return [n for n in names if self.parts.get(n) != other.parts.get(n)]

    def to_json(self) -> dict:
        return dict(self.parts)

    @classmethod
    def from_json(cls, data) -> "Fingerprint":
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise ValueError("not a fingerprint")
        return cls(dict(data))

    def __str__(self) -> str:
        return json.dumps(self.parts, sort_keys=True)
