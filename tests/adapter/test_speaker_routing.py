"""End-to-end speaker routing: changing ONE speaker's audio changes only that speaker's tokens.

The adapter is built so that audio attention is decided by the label RoPE alone (query and key
are constant vectors; only their label difference varies the logit), which is what training is
expected to learn. The self-attention q/k make each token attend to its own region of the first
latent frame, so the speaker map is decisive. Then the change of the patch output caused by
perturbing speaker c's audio must sit inside speaker c's mask.
"""
import pytest
import torch
from adapter_factory import make_adapter_state_dict

from wan_multitalk.adapter.model import AudioAdapter
from wan_multitalk.adapter.patches import AudioConditioning, AudioCrossAttentionPatch, SpeakerMapPatch
from wan_multitalk.adapter.weights import inspect_adapter

DIM, HEADS, HEAD_DIM, LAYERS, CHANNELS, TOKENS, TOKEN_DIM = 64, 4, 16, 2, 8, 4, 16
LATENT_FRAMES, ROWS = 2, 4
FRAMES = (LATENT_FRAMES - 1) * 4 + 1
# Column layouts of the token grid: speaker strips 2 wide ("." = background column).
PARTITIONS = {2: "AABB", 3: "AABBCC", 4: "AABBCCDD"}  # every token belongs to a speaker
WITH_BACKGROUND = {2: "AA.BB", 3: "AA.BB.CC", 4: "AA.BB.CC.DD"}


def _routing_adapter(seed=0):
    """Random adapter whose audio q / k are constant: the logit depends on the label difference only.

    The shared vector lives in rotary pairs 1 and 2 (theta = 0.316 and 0.1 for head size 16), whose
    cosine kernel is >= 1.79 within 2 labels and <= 1.54 beyond 3 labels up to 24 apart; the
    temperature makes that gap decisive after the softmax.
    """
    sd = make_adapter_state_dict(num_blocks=1, dim=DIM, audio_layers=LAYERS, audio_channels=CHANNELS,
                                 intermediate=16, tokens=TOKENS, token_dim=TOKEN_DIM, seed=seed)
    shared = torch.zeros(HEAD_DIM)
    shared[2] = shared[4] = 1.0  # even element of pairs 1 and 2
    amplitude = 16.0  # logit = amplitude^2 * kernel / sqrt(16) = 64 * kernel
    p = "blocks.0.audio_cross_attn."
    sd[p + "q_linear.weight"] = 0.01 * sd[p + "q_linear.weight"]
    sd[p + "q_linear.bias"] = (amplitude * shared).repeat(HEADS)
    sd[p + "kv_linear.weight"][:DIM] = 0.0  # K ignores the audio content, V does not
    sd[p + "kv_linear.bias"][:DIM] = (amplitude * shared).repeat(HEADS)
    adapter = AudioAdapter(inspect_adapter(sd, num_heads=HEADS, audio_layers=LAYERS))
    adapter.load_state_dict(sd, strict=True)
    return adapter


def _layout(columns, speakers):
    """Region index of every token of one latent frame (speaker 0..S-1, background S) and the masks."""
    region = torch.tensor([speakers if c == "." else ord(c) - ord("A") for c in columns]).repeat(ROWS)
    masks = torch.stack([region == s for s in range(speakers)])
    return region, masks


def _self_attention_qk(region, speakers, seed=0):
    """q, k [1, L, H, D]: each token points at its own region; strongly favours same-region keys."""
    gen = torch.Generator().manual_seed(seed)
    regions = region.repeat(LATENT_FRAMES)
    basis = torch.eye(HEAD_DIM)[: speakers + 1]
    q = 5.0 * basis[regions][:, None].expand(-1, HEADS, -1) + 0.1 * torch.randn(len(regions), HEADS, HEAD_DIM, generator=gen)
    k = 5.0 * basis[regions][:, None].expand(-1, HEADS, -1) + 0.1 * torch.randn(len(regions), HEADS, HEAD_DIM, generator=gen)
    return q[None], k[None]


def _patch_output(adapter, windows, masks, x, q, k, grid):
    cond = AudioConditioning(adapter, windows, token_masks=masks)
    options = {"block_index": 0, "grid_sizes": grid, "cond_or_uncond": [0]}
    SpeakerMapPatch(cond)({"x": x, "q": q, "k": k, "transformer_options": options})
    return AudioCrossAttentionPatch(cond)({"x": x, "transformer_options": options})


@torch.no_grad()
def _change_shares(columns, speakers, use_masks=True):
    adapter = _routing_adapter()
    region, masks = _layout(columns, speakers)
    grid = (LATENT_FRAMES, ROWS, len(columns))
    x = torch.randn(1, LATENT_FRAMES * len(region), DIM, generator=torch.Generator().manual_seed(1))
    q, k = _self_attention_qk(region, speakers)
    windows = torch.randn(speakers, FRAMES, 5, LAYERS, CHANNELS, generator=torch.Generator().manual_seed(2))
    base = _patch_output(adapter, windows, masks if use_masks else None, x, q, k, grid)
    regions = region.repeat(LATENT_FRAMES)
    shares = []
    for s in range(speakers):
        perturbed = windows.clone()
        perturbed[s] += torch.randn(perturbed[s].shape, generator=torch.Generator().manual_seed(10 + s))
        change = (_patch_output(adapter, perturbed, masks if use_masks else None, x, q, k, grid) - base).pow(2).sum(-1)[0]
        per_region = torch.stack([change[regions == r].sum() for r in range(speakers + 1)])
        shares.append(per_region / per_region.sum())
    return torch.stack(shares)  # [perturbed speaker, region incl. background last]


@pytest.mark.parametrize("speakers", [2, 3, 4])  # 2 = the official bands {2, 22}
def test_one_speakers_audio_changes_only_its_region(speakers, record):
    shares = _change_shares(PARTITIONS[speakers], speakers)
    for s in range(speakers):
        leak = record(f"routing {speakers} spk: change OUTSIDE speaker {s + 1}'s mask", 1.0 - float(shares[s, s]))
        assert leak <= 0.05  # i.e. >= 95 % inside; measured 0 (below fp32 resolution of x)


@pytest.mark.parametrize("speakers", [2, 3, 4])
def test_background_tokens_hear_the_nearest_band(speakers, record):
    """With background tokens (label 12) present, other SPEAKERS still never hear the change, but
    background tokens listen to the band(s) nearest 12: both bands for 2 speakers (as trained),
    speaker 2 for 3 speakers, speakers 2 and 3 for 4 speakers. Their share is reported."""
    shares = _change_shares(WITH_BACKGROUND[speakers], speakers)
    near_background = {2: {0, 1}, 3: {1}, 4: {1, 2}}[speakers]
    for s in range(speakers):
        own = float(shares[s, s])
        others = float(shares[s, :speakers].sum()) - own
        record(f"routing {speakers} spk+bg: spk {s + 1} change in own mask", own)
        record(f"routing {speakers} spk+bg: spk {s + 1} change in other speakers", others)
        assert others <= 1e-3  # measured 0
        if s in near_background:
            assert float(shares[s, speakers]) >= 0.05  # the background really does hear this band
        else:
            assert own >= 0.95


def test_without_masks_the_change_spreads_everywhere():
    # Negative control: the same perturbation without label RoPE reaches every region.
    shares = _change_shares(PARTITIONS[3], 3, use_masks=False)
    assert float(shares[0, 0]) < 0.5
    assert torch.all(shares[0, 1:3] > 0.1)
