"""Audio cross-attention and the adapter module: official keys, per-frame attention, label RoPE."""
import torch
from adapter_factory import make_adapter_state_dict
import adapter_reference as ref

from wan_multitalk.adapter.model import AudioAdapter
from wan_multitalk.adapter.weights import inspect_adapter

DIM, HEADS, TOKEN_DIM, TOKENS = 64, 4, 16, 4


def _adapter(dtype=torch.float32, seed=0):
    sd = make_adapter_state_dict(num_blocks=2, dim=DIM, audio_layers=2, audio_channels=8, intermediate=16,
                                 tokens=TOKENS, token_dim=TOKEN_DIM, seed=seed)
    adapter = AudioAdapter(inspect_adapter(sd, num_heads=HEADS, audio_layers=2), dtype=dtype)
    adapter.load_state_dict(sd, strict=True)
    return adapter, sd


def test_parameter_names_are_the_official_keys():
    adapter, sd = _adapter()
    assert set(adapter.state_dict()) == set(sd)
    assert adapter.blocks[0].norm_x.eps == 1e-6 and adapter.audio_proj.norm.eps == 1e-5


def test_block_matches_per_frame_softmax_reference(record):
    adapter, sd = _adapter()
    gen = torch.Generator().manual_seed(1)
    frames, frame_tokens, keys = 3, 10, 2 * TOKENS
    x = torch.randn(2, frames * frame_tokens, DIM, generator=gen)
    tokens = torch.randn(2, frames, keys, TOKEN_DIM, generator=gen)
    out = adapter.block_forward(1, x, tokens)
    expected = torch.stack([ref.audio_attention(sd, 1, x[b], tokens[b], HEADS) for b in range(2)])
    err = record("audio cross-attn (no RoPE) vs float64 per-frame loop", ref.rel_err(out, expected))
    assert err < 2e-5  # measured 5.0e-7
    # tokens with batch 1 are shared by every batch element
    shared = adapter.block_forward(1, x, tokens[:1])
    assert ref.rel_err(shared[1], ref.audio_attention(sd, 1, x[1], tokens[0], HEADS)) < 2e-5


def test_block_with_label_rope_matches_reference(record):
    adapter, sd = _adapter(seed=2)
    gen = torch.Generator().manual_seed(3)
    frames, frame_tokens, keys = 2, 12, 2 * TOKENS
    x = torch.randn(2, frames * frame_tokens, DIM, generator=gen)
    tokens = torch.randn(1, frames, keys, TOKEN_DIM, generator=gen)
    q_pos = 24 * torch.rand(2, frames * frame_tokens, generator=gen)
    k_pos = torch.tensor([2.0] * TOKENS + [22.0] * TOKENS)
    out = adapter.block_forward(0, x, tokens, q_pos, k_pos)
    expected = torch.stack([ref.audio_attention(sd, 0, x[b], tokens[0], HEADS, q_pos[b], k_pos) for b in range(2)])
    err = record("audio cross-attn + label RoPE vs float64 loop", ref.rel_err(out, expected))
    assert err < 2e-5  # measured 2.8e-7
    per_batch_keys = adapter.block_forward(0, x, tokens, q_pos, k_pos.expand(2, -1))
    assert torch.allclose(per_batch_keys, out, atol=1e-6)


def test_frames_only_hear_their_own_audio():
    adapter, _ = _adapter()
    frames, frame_tokens = 3, 5
    x = torch.randn(1, frames * frame_tokens, DIM)
    tokens = torch.randn(1, frames, TOKENS, TOKEN_DIM)
    changed = tokens.clone()
    changed[:, 1] += 1.0  # perturb latent frame 1's audio only
    diff = (adapter.block_forward(0, x, changed) - adapter.block_forward(0, x, tokens)).abs().amax(-1)[0]
    assert torch.all(diff[:frame_tokens] == 0) and torch.all(diff[2 * frame_tokens:] == 0)
    assert torch.all(diff[frame_tokens:2 * frame_tokens] > 1e-4)


def test_injected_attention_is_used_per_frame():
    adapter, _ = _adapter()
    seen = []

    def attention(q, k, v, heads):
        seen.append((tuple(q.shape), tuple(k.shape), heads))
        return torch.zeros_like(q)

    out = adapter.block_forward(0, torch.randn(2, 3 * 7, DIM), torch.randn(2, 3, TOKENS, TOKEN_DIM), attention=attention)
    assert seen == [((2 * 3, 7, DIM), (2 * 3, TOKENS, DIM), HEADS)]
    bias = adapter.state_dict()["blocks.0.audio_cross_attn.proj.bias"]
    assert torch.allclose(out, bias.expand_as(out))  # zero attention -> only the output bias remains


def test_bf16_module_stays_close(record):
    adapter, sd = _adapter(dtype=torch.bfloat16)
    x = torch.randn(1, 2 * 6, DIM)
    tokens = torch.randn(1, 2, TOKENS, TOKEN_DIM)
    out = adapter.block_forward(0, x.bfloat16(), tokens.bfloat16())
    assert out.dtype == torch.bfloat16
    expected = ref.audio_attention(sd, 0, x[0], tokens[0], HEADS)[None]
    err = record("audio cross-attn bf16 module vs float64", ref.rel_err(out, expected))
    assert err < 5e-2  # measured 5.0e-3
