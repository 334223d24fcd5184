"""Label RoPE: interleaved 1-D rotation, band rule for 1-4 speakers, per-token label positions."""
import pytest
import torch
import adapter_reference as ref

from wan_multitalk.adapter.label_rope import apply_label_rope, band_centres, key_positions, label_positions
from wan_multitalk.errors import InputError


def test_rope_matches_explicit_pair_loop(record):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 30, 3, 16, generator=gen)
    pos = 24 * torch.rand(2, 30, generator=gen)
    out = apply_label_rope(x, pos)
    expected = torch.stack([ref.rope(x[b], pos[b]) for b in range(2)])
    err = record("label RoPE fp32 vs float64 pair loop", ref.rel_err(out, expected))
    assert err < 2e-6  # measured 1.7e-7 (fp32 trig)
    # key-style broadcast: one position vector shared by the batch
    shared = apply_label_rope(x, pos[0].view(1, 30))
    assert ref.rel_err(shared[1], ref.rope(x[1], pos[0])) < 2e-6


def test_rope_logit_depends_only_on_label_difference():
    gen = torch.Generator().manual_seed(1)
    q, k = torch.randn(1, 1, 2, 32, generator=gen), torch.randn(1, 1, 2, 32, generator=gen)
    def logit(pq, pk):
        return (apply_label_rope(q, torch.tensor([[pq]])) * apply_label_rope(k, torch.tensor([[pk]]))).sum(-1)
    assert torch.allclose(logit(4.0, 2.0), logit(22.5, 20.5), atol=1e-5)
    assert not torch.allclose(logit(4.0, 2.0), logit(4.0, 22.0), atol=1e-2)


def test_rope_keeps_dtype_and_needs_even_heads():
    x = torch.randn(1, 4, 2, 8, dtype=torch.bfloat16)
    assert apply_label_rope(x, torch.zeros(1, 4)).dtype == torch.bfloat16
    assert torch.equal(apply_label_rope(x, torch.zeros(1, 4)), x)  # position 0 is the identity
    with pytest.raises(ValueError):
        apply_label_rope(torch.zeros(1, 2, 1, 7), torch.zeros(1, 2))


def test_band_rule():
    assert band_centres(1) == ()
    assert band_centres(2) == (2.0, 22.0)
    assert band_centres(3) == (2.0, 7.0, 22.0)
    assert band_centres(4) == (2.0, 7.0, 17.0, 22.0)
    for bad in (0, 5):
        with pytest.raises(InputError):
            band_centres(bad)
    assert key_positions((2.0, 22.0), 3).tolist() == [2, 2, 2, 22, 22, 22]


@pytest.mark.parametrize("speakers", [2, 3, 4])
def test_label_positions_match_token_loop(speakers, record):
    gen = torch.Generator().manual_seed(speakers)
    amap = torch.rand(3, speakers + 1, 50, generator=gen) / 40  # 3 batch elements, own min/max each
    amap[1, -1, :10] = 1.0  # background wins for these tokens
    out = label_positions(amap, band_centres(speakers))
    expected = torch.stack([ref.label_positions(amap[b].double(), ref.BANDS[speakers]) for b in range(3)])
    err = record(f"label positions ({speakers} speakers) vs token loop", ref.rel_err(out, expected))
    assert err < 1e-6  # measured 4.7e-8
    assert torch.all(out[1, :10] == 12.0)
    for c, centre in enumerate(ref.BANDS[speakers]):
        won = (amap.argmax(1) == c)
        assert torch.all((out[won] >= centre - 2 - 1e-6) & (out[won] <= centre + 2 + 1e-6))


def test_two_speaker_positions_are_the_official_bands():
    # speaker 1 wins the first 4 tokens, speaker 2 the next 4, background the last 2
    amap = torch.tensor([[[0.9, 0.5, 0.7, 0.6, 0.1, 0.0, 0.2, 0.1, 0.1, 0.1],
                          [0.1, 0.2, 0.1, 0.0, 0.8, 0.9, 0.5, 0.6, 0.1, 0.1],
                          [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]]])
    out = label_positions(amap, band_centres(2))[0]
    s1 = 4 * (amap[0, 0] - 0.0) / (0.9 - 0.0 + 1e-8)  # band [0, 4]
    s2 = 20 + 4 * (amap[0, 1] - 0.0) / (0.9 + 1e-8)  # band [20, 24]
    expected = torch.cat([s1[:4], s2[4:8], torch.tensor([12.0, 12.0])])
    assert torch.allclose(out, expected, atol=1e-5)
    assert out[0] == pytest.approx(4.0, abs=1e-5) and out[5] == pytest.approx(24.0, abs=1e-5)


def test_map_shape_is_checked():
    with pytest.raises(ValueError, match="speakers \\+ background"):
        label_positions(torch.rand(1, 2, 5), band_centres(2))
