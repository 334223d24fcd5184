"""attn1 / attn2 patches: parity with the float64 pipeline, batch chunks, null audio, errors."""
import pytest
import torch
from adapter_factory import make_adapter_state_dict
import adapter_reference as ref

from wan_multitalk.adapter.model import AudioAdapter
from wan_multitalk.adapter.patches import (
    LABEL_POSITIONS_KEY,
    NULL_AUDIO_CONDS_KEY,
    AudioConditioning,
    AudioCrossAttentionPatch,
    SpeakerMapPatch,
)
from wan_multitalk.adapter.weights import inspect_adapter
from wan_multitalk.errors import InputError

DIM, HEADS, LAYERS, CHANNELS, TOKENS, TOKEN_DIM = 64, 4, 2, 8, 4, 16
GRID = (3, 3, 4)  # latent frames, token rows, token columns
FRAMES = (GRID[0] - 1) * 4 + 1
FRAME_TOKENS = GRID[1] * GRID[2]
LENGTH = GRID[0] * FRAME_TOKENS


@pytest.fixture(scope="module")
def adapter_sd():
    sd = make_adapter_state_dict(num_blocks=2, dim=DIM, audio_layers=LAYERS, audio_channels=CHANNELS,
                                 intermediate=16, tokens=TOKENS, token_dim=TOKEN_DIM, seed=5)
    adapter = AudioAdapter(inspect_adapter(sd, num_heads=HEADS, audio_layers=LAYERS))
    adapter.load_state_dict(sd, strict=True)
    return adapter, sd


def _frame_audio(speakers, seed=0):
    return torch.randn(speakers, FRAMES, 5, LAYERS, CHANNELS, generator=torch.Generator().manual_seed(seed))


def _two_speaker_masks():
    masks = torch.zeros(2, GRID[1], GRID[2], dtype=torch.bool)
    masks[0, :, :2] = True  # columns 0-1: speaker 1
    masks[1, :, 3] = True  # column 3: speaker 2; column 2 is background
    return masks.flatten(1)


def _inputs(batch, seed=1):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, LENGTH, DIM, generator=gen)
    q = 2 * torch.randn(batch, LENGTH, HEADS, DIM // HEADS, generator=gen)
    k = 2 * torch.randn(batch, LENGTH, HEADS, DIM // HEADS, generator=gen)
    return x, q, k


def _run(cond, x, q, k, conds, block=1):
    """One DiT block as the host calls the patches."""
    options = {"block_index": block, "grid_sizes": torch.Size(GRID), "cond_or_uncond": conds}
    attn_out = torch.randn_like(x)
    assert SpeakerMapPatch(cond)({"x": attn_out, "q": q, "k": k, "transformer_options": options}) is attn_out
    out = AudioCrossAttentionPatch(cond)({"x": x, "transformer_options": options})
    assert LABEL_POSITIONS_KEY not in options  # consumed by the same block
    return out


def _reference(sd, x, q, k, frame_audio, masks, block=1, scale=1.0):
    return ref.patch_output(sd, block, x, HEADS, TOKENS, TOKEN_DIM, frame_audio, masks, q, k, FRAME_TOKENS, scale)


def test_single_speaker_patch_matches_reference(adapter_sd, record):
    adapter, sd = adapter_sd
    frame_audio = _frame_audio(1)
    cond = AudioConditioning(adapter, frame_audio, audio_scale=0.7)
    x, q, k = _inputs(1)
    out = _run(cond, x, q, k, [0])
    expected = _reference(sd, x[0], q[0], k[0], frame_audio, None, scale=0.7)
    err = record("attn2 patch, 1 speaker vs float64 pipeline", ref.rel_err(out[0], expected))
    assert err < 2e-5  # measured 1.4e-7


def test_two_speaker_patch_matches_reference(adapter_sd, record):
    adapter, sd = adapter_sd
    frame_audio, masks = _frame_audio(2), _two_speaker_masks()
    cond = AudioConditioning(adapter, frame_audio, token_masks=masks)
    x, q, k = _inputs(2)
    out = _run(cond, x, q, k, [0])
    bg_masks = torch.cat([masks, ~masks.any(0, keepdim=True)])
    expected = torch.stack([_reference(sd, x[b], q[b], k[b], frame_audio, bg_masks) for b in range(2)])
    err = record("attn1+attn2 patches, 2 speakers vs float64 pipeline", ref.rel_err(out, expected))
    assert err < 2e-5  # measured 1.7e-7


@pytest.mark.parametrize("speakers", [1, 2])
def test_cond_and_uncond_chunks_equal_separate_runs(adapter_sd, speakers):
    adapter, _ = adapter_sd
    masks = _two_speaker_masks() if speakers == 2 else None
    cond = AudioConditioning(adapter, _frame_audio(speakers), token_masks=masks)
    x, q, k = _inputs(4)  # 2 chunks x per-chunk batch 2
    together = _run(cond, x, q, k, [0, 1])
    first = _run(cond, x[:2], q[:2], k[:2], [0])
    second = _run(cond, x[2:], q[2:], k[2:], [1])
    assert together.shape == x.shape
    assert torch.allclose(together, torch.cat([first, second]), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1]])
def test_null_audio_chunk_gets_zero_feature_tokens(adapter_sd, order, record):
    adapter, sd = adapter_sd
    frame_audio, masks = _frame_audio(2), _two_speaker_masks()
    cond = AudioConditioning(adapter, frame_audio, token_masks=masks, null_audio_conds={2})
    x, q, k = _inputs(6)  # 3 chunks x per-chunk batch 2
    out = _run(cond, x, q, k, order)
    bg_masks = torch.cat([masks, ~masks.any(0, keepdim=True)])
    null_audio = torch.zeros(1, FRAMES, 5, LAYERS, CHANNELS)
    worst = 0.0
    for chunk, cond_index in enumerate(order):
        for b in range(2 * chunk, 2 * chunk + 2):
            if cond_index == 2:
                expected = _reference(sd, x[b], q[b], k[b], null_audio, None)
            else:
                expected = _reference(sd, x[b], q[b], k[b], frame_audio, bg_masks)
            worst = max(worst, ref.rel_err(out[b], expected))
    record(f"3-chunk batch {order} (null audio in cond 2) vs float64", worst)
    assert worst < 2e-5  # measured 2.3e-7


def test_null_only_pass_skips_the_speaker_map(adapter_sd):
    adapter, _ = adapter_sd
    cond = AudioConditioning(adapter, _frame_audio(2), token_masks=_two_speaker_masks(), null_audio_conds={2})
    x, q, k = _inputs(1)
    options = {"block_index": 0, "grid_sizes": GRID, "cond_or_uncond": [2]}
    SpeakerMapPatch(cond)({"x": x, "q": q, "k": k, "transformer_options": options})
    assert LABEL_POSITIONS_KEY not in options
    out = AudioCrossAttentionPatch(cond)({"x": x, "transformer_options": options})
    alone = AudioConditioning(adapter, torch.zeros(1, FRAMES, 5, LAYERS, CHANNELS))
    assert torch.allclose(out, _run(alone, x, q, k, [0], block=0), atol=1e-6)


def test_tokens_are_projected_once_per_device_and_dtype(adapter_sd):
    adapter, _ = adapter_sd
    cond = AudioConditioning(adapter, _frame_audio(1), null_audio_conds={1})
    calls = []
    hook = adapter.audio_proj.proj2.register_forward_hook(lambda *a: calls.append(1))
    x, q, k = _inputs(2)
    for step in range(3):
        for block in range(2):
            _run(cond, x, q, k, [0, 1], block=block)
    assert len(calls) == 2  # audio tokens once, null tokens once
    _run(cond, x.double(), q.double(), k.double(), [0, 1])
    assert len(calls) == 4  # a new dtype projects again
    hook.remove()


def test_missing_block_index_is_an_error_not_zeros(adapter_sd):
    adapter, _ = adapter_sd
    cond = AudioConditioning(adapter, _frame_audio(1))
    x, _, _ = _inputs(1)
    with pytest.raises(RuntimeError, match="block_index"):
        AudioCrossAttentionPatch(cond)({"x": x, "transformer_options": {"grid_sizes": GRID}})
    with pytest.raises(InputError, match="adapter has 2 blocks"):
        AudioCrossAttentionPatch(cond)({"x": x, "transformer_options": {"grid_sizes": GRID, "block_index": 2}})


def test_two_speakers_without_speaker_map_is_an_error(adapter_sd):
    adapter, _ = adapter_sd
    cond = AudioConditioning(adapter, _frame_audio(2), token_masks=_two_speaker_masks())
    x, _, _ = _inputs(1)
    with pytest.raises(RuntimeError, match="SpeakerMapPatch"):
        AudioCrossAttentionPatch(cond)({"x": x, "transformer_options": {"grid_sizes": GRID, "block_index": 0}})


def test_sequence_and_window_mismatches_are_explained(adapter_sd):
    adapter, _ = adapter_sd
    cond = AudioConditioning(adapter, _frame_audio(1))
    x, _, _ = _inputs(1)
    patch = AudioCrossAttentionPatch(cond)
    with pytest.raises(InputError, match="extra tokens"):
        patch({"x": torch.cat([x, x[:, :4]], 1), "transformer_options": {"grid_sizes": GRID, "block_index": 0}})
    with pytest.raises(InputError, match="3 latent frames, the video latent has 4"):
        patch({"x": torch.cat([x, x[:, :FRAME_TOKENS]], 1),
               "transformer_options": {"grid_sizes": (4, 3, 4), "block_index": 0}})
    masked = AudioConditioning(adapter, _frame_audio(2), token_masks=_two_speaker_masks())
    with pytest.raises(InputError, match="token masks cover 12 tokens"):
        SpeakerMapPatch(masked)({"x": x[:, :24], "q": torch.zeros(1, 24, HEADS, 16), "k": torch.zeros(1, 24, HEADS, 16),
                                 "transformer_options": {"grid_sizes": (3, 2, 4), "block_index": 0}})


def test_bad_masks_are_refused(adapter_sd):
    adapter, _ = adapter_sd
    with pytest.raises(InputError, match="one per speaker"):
        AudioConditioning(adapter, _frame_audio(2), token_masks=torch.ones(4, FRAME_TOKENS, dtype=torch.bool))
    masks = _two_speaker_masks()
    masks[1] = False
    with pytest.raises(InputError, match="speaker 2"):
        AudioConditioning(adapter, _frame_audio(2), token_masks=masks)
    with pytest.raises(InputError, match="1 to 4"):
        AudioConditioning(adapter, _frame_audio(5), token_masks=torch.ones(5, FRAME_TOKENS, dtype=torch.bool))
    with pytest.raises(InputError, match="4k\\+1"):
        AudioConditioning(adapter, torch.zeros(1, 8, 5, LAYERS, CHANNELS))


def test_zero_audio_scale_returns_x_untouched(adapter_sd):
    adapter, _ = adapter_sd
    cond = AudioConditioning(adapter, _frame_audio(2), token_masks=_two_speaker_masks(), audio_scale=0.0)
    x, q, k = _inputs(2)
    assert torch.equal(_run(cond, x, q, k, [0, 1]), x)


def test_the_guiders_choice_of_null_conds_wins_over_the_default(adapter_sd):
    """A guider sets the null-audio conds per sampling in transformer_options; without cond_or_uncond the whole
    batch is cond 0."""
    adapter, sd = adapter_sd
    windows = _frame_audio(1)
    cond = AudioConditioning(adapter, windows, null_audio_conds={0})
    x, q, k = _inputs(2)
    null_windows = torch.zeros(1, FRAMES, 5, LAYERS, CHANNELS)
    options = {"block_index": 1, "grid_sizes": torch.Size(GRID), "cond_or_uncond": [0, 1],
               NULL_AUDIO_CONDS_KEY: [1]}
    out = AudioCrossAttentionPatch(cond)({"x": x, "transformer_options": options})
    assert ref.rel_err(out[0], _reference(sd, x[0], q[0], k[0], windows, None)) < 2e-5
    assert ref.rel_err(out[1], _reference(sd, x[1], q[1], k[1], null_windows, None)) < 2e-5
    plain = AudioConditioning(adapter, windows, null_audio_conds={1})
    out = AudioCrossAttentionPatch(plain)({"x": x[:1], "transformer_options": {"block_index": 1,
                                                                               "grid_sizes": torch.Size(GRID)}})
    assert ref.rel_err(out[0], _reference(sd, x[0], q[0], k[0], windows, None)) < 2e-5


def test_one_speaker_with_a_mask_is_not_routed(adapter_sd):
    adapter, sd = adapter_sd
    windows = _frame_audio(1)
    cond = AudioConditioning(adapter, windows, token_masks=torch.ones(1, FRAME_TOKENS, dtype=torch.bool))
    assert not cond.routes_speakers
    x, q, k = _inputs(1)
    out = AudioCrossAttentionPatch(cond)({"x": x, "transformer_options": {"block_index": 1, "grid_sizes": torch.Size(GRID),
                                                                          "cond_or_uncond": [0]}})
    assert ref.rel_err(out[0], _reference(sd, x[0], q[0], k[0], windows, None)) < 2e-5


def test_a_given_background_mask_is_used(adapter_sd):
    adapter, sd = adapter_sd
    windows, masks = _frame_audio(2), _two_speaker_masks()
    background = torch.zeros(1, FRAME_TOKENS, dtype=torch.bool)
    background[0, :3] = True  # its own region, not the complement of the speakers
    cond = AudioConditioning(adapter, windows, token_masks=torch.cat([masks, background]))
    x, q, k = _inputs(1)
    out = _run(cond, x, q, k, [0])
    given = _reference(sd, x[0], q[0], k[0], windows, torch.cat([masks, background]))
    assert ref.rel_err(out[0], given) < 2e-5


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_tokens_come_in_the_compute_dtype(adapter_sd, dtype):
    adapter, _ = adapter_sd
    cond = AudioConditioning(adapter, _frame_audio(2), token_masks=_two_speaker_masks())
    for tokens in (cond.audio_tokens("cpu", dtype), cond.null_tokens("cpu", dtype)):
        assert tokens.dtype == dtype
    assert cond.null_tokens("cpu", dtype).shape[2] == TOKENS  # one zero speaker


def test_audio_scale_applies_to_real_and_null_rows_of_a_mixed_batch(adapter_sd):
    adapter, sd = adapter_sd
    windows = _frame_audio(1)
    cond = AudioConditioning(adapter, windows, audio_scale=0.5, null_audio_conds={1})
    x, q, k = _inputs(2)
    out = AudioCrossAttentionPatch(cond)({"x": x, "transformer_options": {"block_index": 1, "grid_sizes": torch.Size(GRID),
                                                                          "cond_or_uncond": [0, 1]}})
    null_windows = torch.zeros(1, FRAMES, 5, LAYERS, CHANNELS)
    assert ref.rel_err(out[0], _reference(sd, x[0], q[0], k[0], windows, None, scale=0.5)) < 2e-5
    assert ref.rel_err(out[1], _reference(sd, x[1], q[1], k[1], null_windows, None, scale=0.5)) < 2e-5
