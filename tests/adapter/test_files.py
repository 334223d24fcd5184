"""Telling adapter files from base Wan models by the safetensors header (what the loader's list offers)."""
import struct

import pytest
import torch
from adapter_factory import make_adapter_state_dict, make_base_model_state_dict, write_adapter_file
from safetensors.torch import save_file

from wan_multitalk.adapter import files
from wan_multitalk.adapter.files import has_adapter_keys, is_adapter_file, safetensors_keys


def save(path, sd, prefix=""):
    save_file({prefix + k: v.contiguous() for k, v in sd.items()}, str(path))
    return str(path)


def test_header_keys_are_read_without_the_tensors(tmp_path):
    sd = make_adapter_state_dict(num_blocks=3)
    path = save(tmp_path / "a.safetensors", sd)
    assert sorted(safetensors_keys(path)) == sorted(sd)
    # a file whose tensor data is cut off: the header alone is enough
    truncated = tmp_path / "cut.safetensors"
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    truncated.write_bytes(data[:8 + length])
    assert sorted(safetensors_keys(str(truncated))) == sorted(sd)


@pytest.mark.parametrize("prefix", ["", "diffusion_model.", "model.diffusion_model."])
def test_adapter_files_are_adapters_under_any_name(tmp_path, prefix):
    # named like a base model: the keys decide, not the name
    path = tmp_path / "wan2.1_i2v_480p_14B_fp16.safetensors"
    write_adapter_file(path, prefix=prefix)
    assert is_adapter_file(str(path))


def test_fp8_scaled_and_metadata_adapters_are_adapters(tmp_path):
    path = tmp_path / "x.safetensors"
    write_adapter_file(path, fp8="e4m3fn", metadata={"model": "InfiniteTalk"})
    assert is_adapter_file(str(path))


def test_base_wan_model_is_not_an_adapter_whatever_its_name(tmp_path):
    path = save(tmp_path / "wan2.1_infiniteTalk_single_fp16.safetensors", make_base_model_state_dict())
    assert not is_adapter_file(path)


def test_merged_checkpoint_with_the_adapter_inside_is_an_adapter(tmp_path):
    merged = {**make_base_model_state_dict(), **make_adapter_state_dict()}
    assert is_adapter_file(save(tmp_path / "merged.safetensors", merged, prefix="model.diffusion_model."))


def test_half_an_adapter_is_not_one():
    keys = list(make_adapter_state_dict())
    assert has_adapter_keys(keys)
    assert not has_adapter_keys([k for k in keys if not k.startswith("blocks.")])
    assert not has_adapter_keys([k for k in keys if not k.startswith("audio_proj.")])


@pytest.mark.parametrize("content", [b"", b"short", struct.pack("<Q", 1 << 40) + b"{}", struct.pack("<Q", 4) + b"[1]x",
                                     struct.pack("<Q", 5) + b"{nope"])
def test_unreadable_files_stay_listed_for_the_loader_to_explain(tmp_path, content):
    """A cut download or a saved web page is not known to be another model: hiding it would leave the user
    looking for the file they downloaded; the loader refuses it naming model_name and re-download."""
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    assert safetensors_keys(str(path)) is None
    assert is_adapter_file(str(path))


def test_other_formats_cannot_be_told_and_stay_listed(tmp_path):
    path = tmp_path / "adapter.pt"
    torch.save(make_base_model_state_dict(), path)
    assert is_adapter_file(str(path))


def test_header_is_read_once_until_the_file_changes(tmp_path, monkeypatch):
    path = tmp_path / "swap.safetensors"
    write_adapter_file(path)
    reads = []
    real = files.safetensors_keys
    monkeypatch.setattr(files, "safetensors_keys", lambda p: reads.append(p) or real(p))
    files._header_says_adapter.cache_clear()
    assert is_adapter_file(str(path)) and is_adapter_file(str(path))
    assert len(reads) == 1
    # replaced by a base model under the same name (other size and time): read again, and refused
    save(path, make_base_model_state_dict(dim=96, num_blocks=3))
    assert not is_adapter_file(str(path))
    assert len(reads) == 2
