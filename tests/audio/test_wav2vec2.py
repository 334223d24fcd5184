"""Loading wav2vec2 checkpoints in all the spellings found in the wild, and refusing the wrong model."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from wav2vec2_factory import meta_state_dict, tiny_model, tiny_state_dict, to_checkpoint_spelling, write_tiny_wav2vec2

from wan_multitalk.audio.wav2vec2 import build_wav2vec2, config_from_state_dict, load_wav2vec2, normalize_state_dict
from wan_multitalk.errors import InputError


@pytest.fixture(scope="module")
def wave():
    return torch.randn(1, 9000, generator=torch.Generator().manual_seed(0)) * 0.2


def layer_states(model, wave):
    with torch.no_grad():
        return torch.stack(model(wave, output_hidden_states=True).hidden_states)


@pytest.fixture(scope="module")
def reference_states(wave):
    return layer_states(tiny_model(seed=0), wave)


SPELLINGS = [
    ("a.safetensors", dict(prefix=True, weight_norm="old", dtype=torch.float32)),
    ("b.safetensors", dict(prefix=False, weight_norm="old", dtype=torch.float32)),
    ("c.safetensors", dict(prefix=True, weight_norm="new", dtype=torch.float32)),
    ("d.safetensors", dict(prefix=False, weight_norm="new", dtype=torch.float16)),
    ("e.safetensors", dict(prefix=True, weight_norm="old", dtype=torch.float16)),
    ("folder", dict(as_folder=True, prefix=True, weight_norm="old", dtype=torch.float32)),
    ("folder16", dict(as_folder=True, prefix=False, weight_norm="new", dtype=torch.float16)),
]


@pytest.mark.parametrize("name,options", SPELLINGS, ids=[name for name, _ in SPELLINGS])
def test_every_spelling_loads_to_the_same_model(tmp_path, wave, reference_states, name, options):
    path = write_tiny_wav2vec2(tmp_path / name, **options)
    model = load_wav2vec2(path, allow_any_size=True)
    assert not model.training
    assert all(p.dtype == torch.float32 and not p.requires_grad for p in model.parameters())
    # The factory rounds weights to fp16, so fp16 and fp32 files hold identical numbers.
    torch.testing.assert_close(layer_states(model, wave), reference_states, rtol=0, atol=0)


@pytest.mark.parametrize("suffix", [".pt", ".bin"])
def test_torch_save_files_load_with_a_given_head_count(tmp_path, wave, reference_states, suffix):
    path = write_tiny_wav2vec2(tmp_path / f"model{suffix}", prefix=True)
    model = load_wav2vec2(path, allow_any_size=True, num_attention_heads=2)
    torch.testing.assert_close(layer_states(model, wave), reference_states, rtol=0, atol=0)


def test_wrapped_torch_checkpoint_is_unwrapped(tmp_path, wave, reference_states):
    torch.save({"state_dict": to_checkpoint_spelling(tiny_state_dict())}, tmp_path / "wrapped.pt")
    model = load_wav2vec2(tmp_path / "wrapped.pt", allow_any_size=True, num_attention_heads=2)
    torch.testing.assert_close(layer_states(model, wave), reference_states, rtol=0, atol=0)


def test_bf16_file_loads_and_casts(tmp_path, wave):
    path = write_tiny_wav2vec2(tmp_path / "bf16.safetensors", dtype=torch.bfloat16)
    reference = tiny_model(seed=0)
    with torch.no_grad():
        for param in reference.parameters():
            param.copy_(param.bfloat16().float())
    model = load_wav2vec2(path, allow_any_size=True)
    torch.testing.assert_close(layer_states(model, wave), layer_states(reference, wave), rtol=0, atol=0)
    half = load_wav2vec2(path, dtype=torch.float16, allow_any_size=True)
    assert {p.dtype for p in half.parameters()} == {torch.float16}


def test_positional_conv_without_weight_norm_is_reconstructed(tmp_path, wave, reference_states):
    reference = tiny_model(seed=0)
    sd = tiny_state_dict()
    del sd["encoder.pos_conv_embed.conv.parametrizations.weight.original0"]
    del sd["encoder.pos_conv_embed.conv.parametrizations.weight.original1"]
    sd["encoder.pos_conv_embed.conv.weight"] = reference.encoder.pos_conv_embed.conv.weight.detach().clone()
    save_file(sd, str(tmp_path / "plain.safetensors"), metadata={"num_attention_heads": "2"})
    model = load_wav2vec2(tmp_path / "plain.safetensors", allow_any_size=True)
    torch.testing.assert_close(layer_states(model, wave), reference_states, rtol=0, atol=1e-5)


def test_normalize_state_dict_gives_exactly_the_model_keys():
    expected = set(tiny_model().state_dict())
    for prefix in (True, False):
        for weight_norm in ("old", "new"):
            spelled = to_checkpoint_spelling(tiny_state_dict(), prefix=prefix, weight_norm=weight_norm)
            assert set(normalize_state_dict(spelled)) == expected


def test_config_is_read_from_the_tensors():
    spelled = to_checkpoint_spelling(tiny_state_dict())
    config = config_from_state_dict(spelled, allow_any_size=True, num_attention_heads=2)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (32, 2, 2)
    assert config.intermediate_size == 64 and tuple(config.conv_dim) == (32,) * 7
    assert tuple(config.conv_kernel) == (10, 3, 3, 3, 3, 2, 2) and tuple(config.conv_stride) == (5, 2, 2, 2, 2, 2, 2)
    assert (config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups) == (16, 2)
    assert config.feat_extract_norm == "group" and not config.do_stable_layer_norm and not config.conv_bias


def test_full_size_chinese_base_layout_is_accepted():
    config = config_from_state_dict(meta_state_dict("chinese-base"))
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert (config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups) == (128, 16)
    assert tuple(config.conv_dim) == (512,) * 7 and config.feat_extract_norm == "group"


@pytest.mark.parametrize("kind,words", [("large", ["1024", "24 layers", "chinese-wav2vec2-base"]),
                                        ("layer-norm-base", ["layer-norm", "chinese-wav2vec2-base"])])
def test_other_wav2vec2_sizes_are_refused(kind, words):
    with pytest.raises(InputError) as error:
        config_from_state_dict(meta_state_dict(kind))
    assert error.value.input_name == "model"
    for word in words:
        assert word in str(error.value)


def test_tiny_file_is_refused_without_allow_any_size(tmp_path):
    path = write_tiny_wav2vec2(tmp_path / "tiny.safetensors")
    with pytest.raises(InputError) as error:
        load_wav2vec2(path)
    assert error.value.input_name == "model" and "hidden size 32" in str(error.value)


def test_non_wav2vec2_file_is_refused(tmp_path):
    save_file({"unet.down.0.weight": torch.randn(4, 4), "text_model.embeddings": torch.randn(3)},
              str(tmp_path / "other.safetensors"))
    with pytest.raises(InputError) as error:
        load_wav2vec2(tmp_path / "other.safetensors", allow_any_size=True)
    assert error.value.input_name == "model" and "not a wav2vec2" in str(error.value)


def test_missing_and_unexpected_tensors_are_named(tmp_path):
    sd = to_checkpoint_spelling(tiny_state_dict(), prefix=False)
    del sd["encoder.layers.1.final_layer_norm.bias"]
    sd["encoder.layers.0.attention.extra_gate"] = torch.zeros(3)
    save_file(sd, str(tmp_path / "broken.safetensors"), metadata={"num_attention_heads": "2"})
    with pytest.raises(InputError) as error:
        load_wav2vec2(tmp_path / "broken.safetensors", allow_any_size=True)
    message = str(error.value)
    assert "encoder.layers.1.final_layer_norm.bias" in message and "missing" in message
    assert "encoder.layers.0.attention.extra_gate" in message and "unexpected" in message


def test_wrongly_shaped_tensor_is_named():
    sd = tiny_state_dict()
    config = config_from_state_dict(sd, allow_any_size=True, num_attention_heads=2)
    sd["encoder.layers.0.attention.k_proj.bias"] = torch.zeros(31)
    with pytest.raises(InputError) as error:
        build_wav2vec2(config, sd)
    assert "wrongly shaped" in str(error.value) and "k_proj.bias" in str(error.value)


def test_missing_path_and_empty_folder_are_input_errors(tmp_path):
    with pytest.raises(InputError) as error:
        load_wav2vec2(tmp_path / "nope.safetensors")
    assert error.value.input_name == "model"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        load_wav2vec2(tmp_path / "empty")
