"""Adapter files: shape inspection, wrong-file errors, fp8 folding, variant from metadata only."""
import pytest
import torch
from adapter_factory import make_adapter_state_dict, make_base_model_state_dict, quantize_fp8, write_adapter_file

from wan_multitalk.adapter.model import AudioAdapter
from wan_multitalk.adapter.weights import (
    AdapterSpec,
    check_base_model,
    check_fits,
    detect_variant,
    inspect_adapter,
    prepare_state_dict,
    read_adapter_file,
)
from wan_multitalk.errors import InputError


def test_inspect_reads_every_size_from_shapes():
    sd = make_adapter_state_dict(num_blocks=3, dim=256, intermediate=48, tokens=8, token_dim=96)
    spec = inspect_adapter(sd)
    assert spec == AdapterSpec(
        num_blocks=3, dim=256, num_heads=2, audio_layers=12, audio_channels=768, audio_rows=5, later_audio_rows=8,
        intermediate=48, context_tokens=8, token_dim=96, variant=None,
    )
    assert spec.head_dim == 128


def test_block_count_comes_from_the_keys_not_a_constant():
    for blocks in (1, 5):
        sd = make_adapter_state_dict(num_blocks=blocks, audio_layers=2, audio_channels=8, tokens=2, token_dim=16)
        assert inspect_adapter(sd, num_heads=4, audio_layers=2).num_blocks == blocks


def test_head_and_audio_layer_overrides():
    sd = make_adapter_state_dict(dim=64, audio_layers=3, audio_channels=8, tokens=2, token_dim=16)
    spec = inspect_adapter(sd, num_heads=4, audio_layers=3)
    assert (spec.num_heads, spec.head_dim, spec.audio_layers, spec.audio_channels) == (4, 16, 3, 8)
    with pytest.raises(InputError, match="128"):
        inspect_adapter(sd)  # width 64 cannot hold 128-wide heads and no override was given


@pytest.mark.parametrize("prefix", ["diffusion_model.", "model.diffusion_model.", "module."])
def test_known_prefixes_are_stripped(prefix):
    sd = make_adapter_state_dict(num_blocks=2, dim=128, tokens=2, token_dim=16)
    spec = inspect_adapter({prefix + k: v for k, v in sd.items()})
    assert (spec.num_blocks, spec.dim) == (2, 128)
    prepared = prepare_state_dict({prefix + k: v for k, v in sd.items()}, torch.float32)
    assert set(prepared) == set(sd)


def test_base_model_file_is_explained():
    with pytest.raises(InputError) as err:
        inspect_adapter(make_base_model_state_dict())
    assert err.value.input_name == "model_name"
    assert "Wan base model" in str(err.value) and "Load Diffusion Model" in str(err.value)
    with pytest.raises(InputError, match="Wan base model"):
        inspect_adapter({"model.diffusion_model." + k: v for k, v in make_base_model_state_dict().items()})


def test_unrelated_file_is_refused():
    with pytest.raises(InputError) as err:
        inspect_adapter({"encoder.layer.0.weight": torch.zeros(2, 2)})
    assert err.value.input_name == "model_name" and "audio_proj" in err.value.problem


def test_missing_keys_are_named():
    sd = make_adapter_state_dict(num_blocks=3, dim=128, tokens=2, token_dim=16)
    del sd["blocks.1.audio_cross_attn.proj.bias"]
    with pytest.raises(InputError, match=r"blocks\.1\.audio_cross_attn\.proj\.bias"):
        inspect_adapter(sd)
    sd = make_adapter_state_dict(num_blocks=3, dim=128, tokens=2, token_dim=16)
    for key in [k for k in sd if k.startswith("blocks.1.")]:
        del sd[key]
    with pytest.raises(InputError, match=r"blocks\.1\.\*"):
        inspect_adapter(sd)
    sd = make_adapter_state_dict(num_blocks=1, dim=128, tokens=2, token_dim=16)
    del sd["audio_proj.proj2.weight"]
    with pytest.raises(InputError, match=r"audio_proj\.proj2\.weight"):
        inspect_adapter(sd)


def test_inconsistent_shapes_are_named():
    sd = make_adapter_state_dict(num_blocks=2, dim=128, tokens=2, token_dim=16)
    sd["blocks.1.audio_cross_attn.kv_linear.weight"] = torch.zeros(256, 32)
    with pytest.raises(InputError, match=r"blocks\.1\.audio_cross_attn\.kv_linear\.weight is \[256, 32\]"):
        inspect_adapter(sd)
    sd = make_adapter_state_dict(num_blocks=1, dim=128, tokens=2, token_dim=16)
    sd["audio_proj.proj1_vf.weight"] = torch.zeros(32, 7 * 12 * 768)
    with pytest.raises(InputError, match=r"window \+ 3 audio rows"):
        inspect_adapter(sd)


def test_check_fits_names_both_sides():
    spec = inspect_adapter(make_adapter_state_dict(num_blocks=2, dim=128, tokens=2, token_dim=16))
    check_fits(spec, 128, 2)
    with pytest.raises(InputError) as err:
        check_fits(spec, 5120, 40)
    assert "adapter is for dim 128 / 2 blocks, the MODEL has dim 5120 / 40 blocks" in str(err.value)
    with pytest.raises(InputError, match="MODEL has dim 128 / 30 blocks"):
        check_fits(spec, 128, 30)


def test_the_base_model_must_be_an_image_to_video_wan_with_clip_vision_when_it_reads_it():
    check_base_model(36, needs_clip_vision=True, has_clip_vision=True)  # Wan 2.1 I2V with CLIP vision
    check_base_model(36, needs_clip_vision=False, has_clip_vision=False)  # an I2V without an image embedding
    with pytest.raises(InputError) as err:
        check_base_model(16, needs_clip_vision=False, has_clip_vision=True)
    assert err.value.input_name == "model" and "text-to-video" in err.value.problem
    assert "16 channels" in err.value.problem
    assert "Wan 2.1 I2V" in err.value.fix
    with pytest.raises(InputError) as err:
        check_base_model(48, needs_clip_vision=True, has_clip_vision=True)
    assert err.value.input_name == "model" and "48 channels" in err.value.problem
    with pytest.raises(InputError) as err:
        check_base_model(36, needs_clip_vision=True, has_clip_vision=False)
    assert err.value.input_name == "clip_vision_output" and "CLIP Vision Encode" in err.value.fix


@pytest.mark.parametrize("fmt", ["e4m3fn", "e5m2"])
@pytest.mark.parametrize("scale_key", ["scale_weight", "weight_scale"])
def test_scaled_fp8_file_is_dequantized(tmp_path, fmt, scale_key, record):
    path = tmp_path / "adapter_fp8_scaled.safetensors"
    original = write_adapter_file(path, fp8=f"{fmt}_scaled", scale_key=scale_key, num_blocks=2, dim=128,
                                  tokens=2, token_dim=16, prefix="diffusion_model.")
    stored, metadata = read_adapter_file(str(path))
    prepared = prepare_state_dict(stored, torch.float32)
    assert set(prepared) == set(original)  # scale keys and the scaled_fp8 marker are gone
    mantissa_bits = {"e4m3fn": 3, "e5m2": 2}[fmt]
    worst_fold = worst_round = 0.0
    for key, value in prepared.items():
        raw = stored["diffusion_model." + key]
        if raw.dtype.itemsize != 1:
            assert torch.equal(value, raw) and value.dtype == torch.float32  # biases / norms untouched
            continue
        layer = key[: -len(".weight")]
        scale = stored[f"diffusion_model.{layer}.{scale_key}"]
        expected = raw.to(torch.float64) * scale.to(torch.float64)
        assert value.dtype == torch.float32
        worst_fold = max(worst_fold, float(((value.double() - expected).abs() / expected.abs().clamp_min(1e-30)).max()))
        # against the unquantised weights: fp8 rounding (half an ulp) plus the subnormal floor
        tol = original[key].abs() * 2.0 ** -(mantissa_bits + 1) + scale * torch.finfo(raw.dtype).smallest_normal
        worst_round = max(worst_round, float(((value - original[key]).abs() / tol).max()))
    record(f"fp8 {fmt} ({scale_key}) fold: rel err vs scale*fp8", worst_fold)
    assert worst_fold <= 2.0 ** -24  # one float32 rounding of the product
    assert worst_round <= 1.0 + 1e-6
    spec = inspect_adapter(stored, metadata, num_heads=1)
    AudioAdapter(spec).load_state_dict(prepared, strict=True)


def test_unscaled_fp8_weights_stay_fp8_and_run_cast_on_use():
    sd = quantize_fp8(make_adapter_state_dict(num_blocks=1, dim=64, audio_layers=2, audio_channels=8, tokens=2,
                                              token_dim=16), "e4m3fn")
    prepared = prepare_state_dict(sd, torch.bfloat16)
    assert prepared["blocks.0.audio_cross_attn.q_linear.weight"].dtype == torch.float8_e4m3fn
    assert prepared["blocks.0.audio_cross_attn.q_linear.bias"].dtype == torch.float32
    spec = inspect_adapter(prepared, num_heads=4, audio_layers=2)
    adapter = AudioAdapter(spec)
    adapter.load_state_dict(prepared, strict=True, assign=True)  # keep the fp8 tensors as parameters
    x = torch.randn(1, 2 * 3, 64)
    tokens = torch.randn(1, 2, 2, 16)
    out = adapter.block_forward(0, x, tokens)
    upcast = AudioAdapter(spec)
    upcast.load_state_dict({k: v.float() for k, v in prepared.items()}, strict=True)
    assert torch.allclose(out, upcast.block_forward(0, x, tokens), rtol=1e-5, atol=1e-6)


def test_blockwise_scales_are_refused():
    sd = make_adapter_state_dict(num_blocks=1, dim=128, tokens=2, token_dim=16)
    sd["blocks.0.audio_cross_attn.q_linear.scale_weight"] = torch.ones(128, 1)
    with pytest.raises(InputError, match="block-wise scale"):
        prepare_state_dict(sd, torch.float32)


def test_merged_checkpoint_keeps_only_adapter_tensors():
    adapter = make_adapter_state_dict(num_blocks=2, dim=64, tokens=2, token_dim=16)
    merged = {**make_base_model_state_dict(64, 2), **adapter}
    prepared = prepare_state_dict({"model.diffusion_model." + k: v for k, v in merged.items()}, torch.float32)
    assert set(prepared) == set(adapter)


@pytest.mark.parametrize(
    "metadata, expected",
    [
        ({"model": "MeiGen InfiniteTalk multi"}, "infinitetalk"),
        ({"description": "infinite_talk single speaker"}, "infinitetalk"),
        ({"modelspec.title": "MeiGen-MultiTalk"}, "multitalk"),
        ({"Multi-Talk": "audio adapter"}, "multitalk"),
        ({"info": "InfiniteTalk, fine-tuned from MultiTalk"}, "infinitetalk"),
        ({"format": "pt"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_variant_from_metadata(metadata, expected):
    assert detect_variant(metadata) == expected


def test_variant_ignores_the_file_name(tmp_path):
    path = tmp_path / "infinitetalk_multi_fp16.safetensors"
    write_adapter_file(path, num_blocks=1, dim=128, tokens=2, token_dim=16)
    sd, metadata = read_adapter_file(str(path))
    assert inspect_adapter(sd, metadata).variant is None
    write_adapter_file(path, metadata={"model": "MultiTalk"}, num_blocks=1, dim=128, tokens=2, token_dim=16)
    sd, metadata = read_adapter_file(str(path))
    assert inspect_adapter(sd, metadata).variant == "multitalk"
