"""Loading chinese-wav2vec2-base in its two real forms (Hugging Face folder, single safetensors file), every key
spelling they come in, and refusing anything else before its weights are read."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from wav2vec2_factory import (chinese_base_model, tiny_config, tiny_model, tiny_state_dict, to_checkpoint_spelling,
                              write_checkpoint)

from wan_multitalk.audio.wav2vec2 import build_wav2vec2, load_wav2vec2, normalize_state_dict
from wan_multitalk.errors import InputError


@pytest.fixture(scope="module")
def wave():
    return torch.randn(1, 9000, generator=torch.Generator().manual_seed(0)) * 0.2


def layer_states(model, wave):
    with torch.no_grad():
        return torch.stack(model(wave, output_hidden_states=True).hidden_states)


@pytest.fixture(scope="module")
def chinese_base():
    """A full-size random chinese-wav2vec2-base, its weights rounded to fp16 so fp16 files hold them exactly."""
    model = chinese_base_model(seed=3)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            tensor.copy_(tensor.half().float())
    return model


def same_weights(loaded, source, dtype=torch.float32):
    expected = {k: v.to(dtype) for k, v in source.state_dict().items()}
    got = loaded.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key].dtype == dtype and torch.equal(got[key], value), key


# ------------------------------------------------------------------------------------------------ the two forms


FORMS = {
    "file fp16 (prefix, weight_g/v)": dict(folder=False, dtype=torch.float16),
    "folder pytorch_model.bin": dict(folder=True, dtype=torch.float32, weights="pytorch_model.bin"),
    "folder model.safetensors (parametrizations)": dict(folder=True, dtype=torch.float16, weights="model.safetensors",
                                                         weight_norm="new"),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_both_forms_load_to_exactly_the_saved_model(tmp_path, chinese_base, form):
    options = FORMS[form]
    name = "chinese-wav2vec2-base" if options["folder"] else "wav2vec2-chinese-base.safetensors"
    path = write_checkpoint(tmp_path / name, chinese_base, **options)
    model = load_wav2vec2(path)
    assert not model.training and all(not p.requires_grad for p in model.parameters())
    same_weights(model, chinese_base)
    assert (model.config.hidden_size, model.config.num_hidden_layers, model.config.num_attention_heads) == (768, 12, 12)


def test_precision_is_applied_on_load(tmp_path, chinese_base):
    path = write_checkpoint(tmp_path / "w.safetensors", chinese_base, dtype=torch.float16)
    same_weights(load_wav2vec2(path, dtype=torch.bfloat16), chinese_base, dtype=torch.bfloat16)


def test_a_file_without_the_spec_augment_vector_loads(tmp_path):
    model = chinese_base_model(seed=1, spec_embed=False)
    path = write_checkpoint(tmp_path / "no_spec.safetensors", model, dtype=torch.float32)
    same_weights(load_wav2vec2(path), model)


# ------------------------------------------------------------------------------------------------ key spellings


SPELLINGS = [dict(prefix=p, weight_norm=w) for p in (True, False) for w in ("old", "new")]


@pytest.mark.parametrize("spelling", SPELLINGS, ids=[f"prefix={s['prefix']}-{s['weight_norm']}" for s in SPELLINGS])
def test_every_spelling_builds_the_same_model(wave, spelling):
    reference = tiny_model(seed=0)
    model = build_wav2vec2(tiny_config(), to_checkpoint_spelling(tiny_state_dict(), **spelling))
    torch.testing.assert_close(layer_states(model, wave), layer_states(reference, wave), rtol=0, atol=0)


def test_normalize_state_dict_gives_exactly_the_model_keys():
    expected = set(tiny_model().state_dict())
    for spelling in SPELLINGS:
        assert set(normalize_state_dict(to_checkpoint_spelling(tiny_state_dict(), **spelling))) == expected


def test_missing_unexpected_and_wrongly_shaped_tensors_are_named():
    sd = to_checkpoint_spelling(tiny_state_dict(), prefix=False)
    del sd["encoder.layers.1.final_layer_norm.bias"]
    sd["encoder.layers.0.attention.extra_gate"] = torch.zeros(3)
    sd["encoder.layers.0.attention.k_proj.bias"] = torch.zeros(31)
    with pytest.raises(InputError) as error:
        build_wav2vec2(tiny_config(), sd)
    message = str(error.value)
    assert error.value.input_name == "model"
    assert "missing" in message and "encoder.layers.1.final_layer_norm.bias" in message
    assert "unexpected" in message and "encoder.layers.0.attention.extra_gate" in message
    assert "wrongly shaped" in message and "k_proj.bias" in message


def test_a_truncated_folder_is_refused_not_filled_with_random_weights(tmp_path, chinese_base):
    path = write_checkpoint(tmp_path / "folder", chinese_base, folder=True, dtype=torch.float16)
    sd = torch.load(path / "pytorch_model.bin", weights_only=True)
    del sd["wav2vec2.encoder.layers.11.final_layer_norm.weight"]
    torch.save(sd, path / "pytorch_model.bin")
    with pytest.raises(InputError) as error:
        load_wav2vec2(path)
    assert "missing" in str(error.value) and "layers.11.final_layer_norm.weight" in str(error.value)


# ------------------------------------------------------------------------------------------------ refusals


LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
             feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True)


def test_a_folder_of_another_size_is_refused_from_its_config_before_the_weights(tmp_path):
    from transformers import Wav2Vec2Config

    folder = tmp_path / "wav2vec2-large-xlsr"
    folder.mkdir()
    (folder / "config.json").write_text(Wav2Vec2Config(**LARGE).to_json_string())
    (folder / "pytorch_model.bin").write_bytes(b"never read")
    with pytest.raises(InputError) as error:
        load_wav2vec2(folder)
    assert error.value.input_name == "model"
    for word in ("hidden size 1024", "24 layers", "layer-norm", "chinese-wav2vec2-base"):
        assert word in str(error.value)


@pytest.mark.parametrize("norm,words", [("group", ["hidden size 32", "2 layers"]), ("layer", ["layer-norm conv"])])
def test_a_single_file_of_another_wav2vec2_is_refused(tmp_path, norm, words):
    path = tmp_path / "other_wav2vec2.safetensors"
    save_file(to_checkpoint_spelling(tiny_state_dict(norm=norm)), str(path))
    with pytest.raises(InputError) as error:
        load_wav2vec2(path)
    assert error.value.input_name == "model" and "chinese-wav2vec2-base" in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_a_file_that_is_no_wav2vec2_is_refused(tmp_path):
    save_file({"unet.down.0.weight": torch.randn(4, 4)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InputError) as error:
        load_wav2vec2(tmp_path / "other.safetensors")
    assert error.value.input_name == "model" and "not a wav2vec2" in str(error.value)


def test_unreadable_paths_are_input_errors(tmp_path):
    cases = {"nope.safetensors": None, "empty": "dir", "config_only": "config", "corrupt.safetensors": b"\x00" * 64}
    for name, content in cases.items():
        path = tmp_path / name
        if content == "dir":
            path.mkdir()
        elif content == "config":
            path.mkdir()
            (path / "config.json").write_text(json.dumps({"hidden_size": 768}))
        elif content is not None:
            path.write_bytes(content)
        with pytest.raises(InputError) as error:
            load_wav2vec2(path)
        assert error.value.input_name == "model", name
