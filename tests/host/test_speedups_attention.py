"""The adapter's attention calls go through the host's optimized attention: a MODEL's attention override (what
attention-switch nodes install) sees every one of them, and the host's sage path (`--use-sage-attention`) runs them
through its own `attention_sage` layout code. Graph: a two-speaker window from test_adapter_nodes.py, guided with
text 1 / audio 2 (two passes a step, batched)."""
from __future__ import annotations

import torch

from model_chain import set_inputs, through
from single_window import window_graph
from tests.host.test_adapter_nodes import guided

# The tiny window: 3 latent frames of 3x4 tokens (12 a frame, 36 in all); 32 audio tokens a speaker.
FRAME_TOKENS, TOKENS, AUDIO_TOKENS = 12, 36, 32
STEPS, BLOCKS = 2, 2


def two_pass_window(tiny_wan, tiny_adapter, wav2vec2_name, voices, key, seed=7):
    g, apply, vae = window_graph(tiny_wan, tiny_adapter, wav2vec2_name, voices, speakers=2)
    guided(g, apply, vae, 1.0, 2.0, key)
    return set_inputs(g.finalize(), "RandomNoise", noise_seed=seed)


def ours(calls):
    """The adapter's calls among all recorded (q shape, k shape): the speaker map (keys = one latent frame's
    tokens), the audio cross-attention with both speakers' tokens, and the null-audio pass (one speaker's)."""
    kinds = {"map": [], "audio": [], "null": []}
    for q, k in calls:
        if k[1] == FRAME_TOKENS and q[1] == TOKENS:
            kinds["map"].append((q, k))
        elif q[1] == FRAME_TOKENS and k[1] == 2 * AUDIO_TOKENS:
            kinds["audio"].append((q, k))
        elif q[1] == FRAME_TOKENS and k[1] == AUDIO_TOKENS:
            kinds["null"].append((q, k))
    return kinds


def test_attention_override_sees_every_adapter_call_and_changes_nothing(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                        voices):
    import host_test_nodes

    plain = host.run(two_pass_window(tiny_wan, tiny_adapter, wav2vec2_name, voices, "plain")).captured["plain"]
    host_test_nodes.ATTENTION_CALLS.clear()
    prompt = through(two_pass_window(tiny_wan, tiny_adapter, wav2vec2_name, voices, "override"),
                     "MTS_ApplyAudioAdapter", "MTSTest_RecordAttention")
    overridden = host.run(prompt).captured["override"]

    kinds = ours(host_test_nodes.ATTENTION_CALLS)
    dim = tiny_wan["spec"].dim  # the DiT's width (hosts before 0.15.1 get a wider tiny model: host_models)
    forwards = STEPS * BLOCKS  # both passes of a step share one batched forward
    # one call of each kind per block and forward, each on its own rows: the map and the audio on the real-audio
    # pass (batch 1, the audio call folds the 3 latent frames into the batch), the null tokens on the other
    assert [q for q, _ in kinds["map"]] == [(1, TOKENS, dim)] * forwards
    assert [q for q, _ in kinds["audio"]] == [(3, FRAME_TOKENS, dim)] * forwards
    assert [q for q, _ in kinds["null"]] == [(3, FRAME_TOKENS, dim)] * forwards
    # the override called the host's own function: the result is exactly the one without it
    torch.testing.assert_close(overridden["samples"], plain["samples"], rtol=0, atol=0)


def test_sage_path_runs_the_adapter_through_the_hosts_attention_sage(host, tiny_wan, tiny_adapter, wav2vec2_name,
                                                                     voices, monkeypatch):
    """`--use-sage-attention` makes the host's optimized_attention its `attention_sage`, which calls the sageattention
    package. That package needs CUDA, so a stand-in with its signature computes exact attention here."""
    import comfy.ldm.modules.attention as attention

    layouts = []

    def sageattn_stand_in(q, k, v, tensor_layout="HND", is_causal=False, sm_scale=None, **kwargs):
        layouts.append((tensor_layout, tuple(q.shape), tuple(k.shape)))
        if tensor_layout == "NHD":  # [B, L, H, D]
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=sm_scale)
        return out.transpose(1, 2) if tensor_layout == "NHD" else out

    plain = host.run(two_pass_window(tiny_wan, tiny_adapter, wav2vec2_name, voices, "no_sage", seed=8))
    # another prompt in between, so the host samples afresh instead of answering from its cache
    host.run(two_pass_window(tiny_wan, tiny_adapter, wav2vec2_name, voices, "between", seed=9))
    monkeypatch.setattr(attention, "sageattn", sageattn_stand_in, raising=False)
    monkeypatch.setattr(attention, "optimized_attention", attention.attention_sage)
    sage = host.run(two_pass_window(tiny_wan, tiny_adapter, wav2vec2_name, voices, "sage", seed=8))

    # the DiT bound its attention function at import; the adapter asks the host for it at every call
    calls = ours([(q, k) for _, q, k in layouts])
    heads = tiny_wan["spec"].num_heads
    assert [q for q, _ in calls["audio"]] == [(3, FRAME_TOKENS, heads, tiny_wan["spec"].dim // heads)] * STEPS * BLOCKS
    assert len(calls["map"]) == len(calls["null"]) == STEPS * BLOCKS
    assert {layout for layout, _, _ in layouts} == {"NHD"}
    torch.testing.assert_close(sage.captured["sage"]["samples"], plain.captured["no_sage"]["samples"],
                               rtol=1e-4, atol=1e-5)
