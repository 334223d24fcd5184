"""Speaker attention map: one attention with the masks as values == explicit per-head softmax loop."""
import torch
import adapter_reference as ref

from wan_multitalk.adapter.speaker_map import speaker_attention_map, with_background


def _masks(frame_tokens):
    masks = torch.zeros(3, frame_tokens, dtype=torch.bool)
    masks[0, :5] = True
    masks[1, 7:13] = True
    return with_background(masks[:2])


def test_with_background_marks_tokens_in_no_speaker_mask():
    masks = torch.tensor([[1, 1, 0, 0, 0], [0, 1, 1, 0, 0]], dtype=torch.bool)
    assert with_background(masks)[2].tolist() == [False, False, False, True, True]


def test_map_matches_explicit_softmax_loop(record):
    gen = torch.Generator().manual_seed(0)
    batch, frames, frame_tokens, heads, dim = 2, 3, 16, 4, 16
    q = 2 * torch.randn(batch, frames * frame_tokens, heads, dim, generator=gen)
    k = 2 * torch.randn(batch, frames * frame_tokens, heads, dim, generator=gen)
    masks = _masks(frame_tokens)
    calls = []

    def counting_attention(q_, k_, v_, heads_):
        calls.append((q_.shape, k_.shape, v_.shape, heads_))
        return torch.nn.functional.scaled_dot_product_attention(
            *(t.unflatten(-1, (heads_, -1)).transpose(1, 2) for t in (q_, k_, v_))).transpose(1, 2).flatten(2)

    out = speaker_attention_map(q, k, masks, frame_tokens, attention=counting_attention)
    expected = torch.stack([ref.speaker_map(q[b], k[b], masks, frame_tokens) for b in range(batch)])
    assert out.shape == (batch, 3, frames * frame_tokens) and out.dtype == torch.float32
    err = record("speaker map (one SDPA) vs float64 softmax loop", ref.rel_err(out, expected))
    assert err < 1e-5  # measured 2.1e-7
    # ONE attention call: all queries against the first frame's keys, masks as values
    assert calls == [((batch, 48, 64), (batch, frame_tokens, 64), (batch, frame_tokens, 64), heads)]
    assert ref.rel_err(speaker_attention_map(q, k, masks, frame_tokens), expected) < 1e-5  # default SDPA


def test_bf16_inputs_give_a_usable_map(record):
    gen = torch.Generator().manual_seed(1)
    q = torch.randn(1, 32, 2, 16, generator=gen)
    k = torch.randn(1, 32, 2, 16, generator=gen)
    masks = _masks(16)
    out = speaker_attention_map(q.bfloat16(), k.bfloat16(), masks, 16)
    err = record("speaker map bf16 inputs vs float64 loop", ref.rel_err(out, ref.speaker_map(q[0], k[0], masks, 16)[None]))
    assert err < 3e-2  # measured 2.2e-3


def test_empty_class_gives_zero():
    q = torch.randn(1, 8, 1, 8)
    k = torch.randn(1, 8, 1, 8)
    masks = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.bool)
    out = speaker_attention_map(q, k, masks, 4)
    assert torch.all(out[:, 1] == 0)
    assert torch.allclose(out[:, 0], torch.full((1, 8), 0.25))  # all mass on a 4-token class
