"""Which model files are MultiTalk / InfiniteTalk adapters, from their safetensors header alone.

The adapter loader's list draws on `model_patches` and `diffusion_models`, where the base Wan models also
live; offering those only to refuse them later is a trap. File names prove nothing (users rename, and the
MeiGen originals are all `*.safetensors` with generic names), so the key names decide. Only the header is
read (8 bytes of length, then its JSON), never the tensors, and the answer is cached per path for as long as
the file's size and modification time stay the same: listing a folder of 30 GB models costs a few reads.
"""
from __future__ import annotations

import json
import os
import struct
from functools import lru_cache

from .weights import KNOWN_PREFIXES

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
# A 14B Wan DiT's header is ~150 kB; anything claiming more than this is not a model header we need to read.
MAX_HEADER_BYTES = 64 * 1024 * 1024
_PROJECTION = "audio_proj.proj1.weight"
_CROSS_ATTENTION = ".audio_cross_attn.kv_linear.weight"


def safetensors_keys(path: str) -> list[str] | None:
    """The tensor names in a safetensors file's header, or None when it is not a readable safetensors file."""
    try:
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) != 8:
                return None
            (length,) = struct.unpack("<Q", prefix)
            if not 2 <= length <= MAX_HEADER_BYTES:
                return None
            header = json.loads(handle.read(length))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict):
        return None
    return [k for k in header if k != "__metadata__"]


def has_adapter_keys(keys) -> bool:
    """True when the names hold the adapter's audio projection and its per-block audio cross-attention (under
    no prefix or one known prefix, as merged checkpoints store them)."""
    names = set(keys)
    for prefix in ("", *KNOWN_PREFIXES):
        if prefix + _PROJECTION in names:
            return any(k.startswith(prefix + "blocks.") and k.endswith(_CROSS_ATTENTION) for k in names)
    return False


def is_adapter_file(path: str) -> bool:
    """Whether `path` is an adapter file by its header (cached while its size and time stay the same).

    Files in another format than safetensors cannot be told apart without loading them, and a safetensors
    file whose header cannot be read (a cut download, an empty file, a web page saved under the name) is not
    known to be something else: both stay listed, and the loader says what is wrong with them and to
    re-download. Only a readable header without the adapter's keys (a base Wan model) hides a file."""
    if not path.lower().endswith(SAFETENSORS_SUFFIXES):
        return True
    try:
        stat = os.stat(path)
    except OSError:
        return False
    return _header_says_adapter(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _header_says_adapter(path: str, size: int, mtime_ns: int) -> bool:
    keys = safetensors_keys(path)
    return keys is None or has_adapter_keys(keys)
