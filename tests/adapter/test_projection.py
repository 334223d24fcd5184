"""AudioProjection: the 5 / 8-row latent grouping and the MLP, against a float64 loop re-derivation."""
import pytest
import torch
from adapter_factory import make_adapter_state_dict
import adapter_reference as ref

from wan_multitalk.adapter.projection import AudioProjection, group_latent_rows, latent_frame_count
from wan_multitalk.errors import InputError


def _projection(sd, layers, channels, intermediate, tokens, token_dim, dtype=torch.float32):
    proj = AudioProjection(audio_rows=5, audio_layers=layers, audio_channels=channels, intermediate=intermediate,
                           context_tokens=tokens, token_dim=token_dim, dtype=dtype)
    proj.load_state_dict({k[len("audio_proj."):]: v for k, v in sd.items() if k.startswith("audio_proj.")})
    return proj


def test_rows_are_the_contiguous_audio_stretch_of_each_latent_frame():
    # Window entry (f, o) holds the audio row index f + o it was gathered from (o = -2..2).
    frames = 13
    rows = torch.arange(frames)[:, None] + torch.arange(-2, 3)[None, :]
    windows = rows.float().view(1, frames, 5, 1, 1).repeat(2, 1, 1, 1, 1)
    first, later = group_latent_rows(windows)
    assert first.shape == (2, 1, 5, 1, 1) and later.shape == (2, 3, 8, 1, 1)
    assert first[0, 0].flatten().tolist() == [-2, -1, 0, 1, 2]
    for j in range(1, 4):  # latent j >= 1 reads audio rows 4j-5 ... 4j+2
        assert later[1, j - 1].flatten().tolist() == list(range(4 * j - 5, 4 * j + 3))


@pytest.mark.parametrize(
    "layers, channels, intermediate, tokens, token_dim, frames",
    [(3, 8, 24, 4, 16, 13), (12, 768, 32, 4, 64, 9)],  # tiny; real wav2vec2 width
)
def test_projection_matches_float64_loop_reference(layers, channels, intermediate, tokens, token_dim, frames, record):
    sd = make_adapter_state_dict(num_blocks=1, audio_layers=layers, audio_channels=channels, intermediate=intermediate,
                                 tokens=tokens, token_dim=token_dim, seed=3)
    windows = torch.randn(2, frames, 5, layers, channels, generator=torch.Generator().manual_seed(1))
    out = _projection(sd, layers, channels, intermediate, tokens, token_dim)(windows)
    expected = ref.projection(sd, windows, tokens, token_dim)
    assert out.shape == (2, (frames - 1) // 4 + 1, tokens, token_dim)
    err = record(f"projection fp32 vs float64 loops ({layers}x{channels})", ref.rel_err(out, expected))
    assert err < 2e-5  # measured 2.7e-7 (3x8) / 1.8e-6 (12x768)


def test_one_frame_window_uses_only_proj1(record):
    sd = make_adapter_state_dict(num_blocks=1, audio_layers=2, audio_channels=4, intermediate=8, tokens=2, token_dim=8)
    windows = torch.randn(1, 1, 5, 2, 4)
    out = _projection(sd, 2, 4, 8, 2, 8)(windows)
    assert out.shape == (1, 1, 2, 8)
    assert ref.rel_err(out, ref.projection(sd, windows, 2, 8)) < 2e-5


def test_bf16_weights_stay_close_with_fp32_layer_norm(record):
    sd = make_adapter_state_dict(num_blocks=1, audio_layers=3, audio_channels=8, intermediate=24, tokens=4, token_dim=16)
    windows = torch.randn(1, 9, 5, 3, 8)
    out = _projection(sd, 3, 8, 24, 4, 16, dtype=torch.bfloat16)(windows.bfloat16())
    assert out.dtype == torch.bfloat16
    err = record("projection bf16 vs float64 loops", ref.rel_err(out, ref.projection(sd, windows, 4, 16)))
    assert err < 3e-2  # bf16 has 8 mantissa bits; measured 5.5e-3


@pytest.mark.parametrize("frames", [0, 2, 80, 82])
def test_frame_count_must_be_4k_plus_1(frames):
    with pytest.raises(InputError) as err:
        latent_frame_count(frames)
    assert err.value.input_name == "length" and "4k+1" in err.value.problem
    proj = AudioProjection(audio_layers=2, audio_channels=4, intermediate=8, context_tokens=2, token_dim=8)
    if frames:
        with pytest.raises(InputError, match="4k\\+1"):
            proj(torch.zeros(1, frames, 5, 2, 4))


def test_wrong_feature_width_is_explained():
    proj = AudioProjection(audio_layers=12, audio_channels=768, intermediate=8, context_tokens=2, token_dim=8)
    with pytest.raises(InputError, match="1024"):
        proj(torch.zeros(1, 9, 5, 24, 1024))  # a wav2vec2-large encoder
    with pytest.raises(InputError, match="speakers, frames, rows"):
        proj(torch.zeros(9, 5, 12, 768))
