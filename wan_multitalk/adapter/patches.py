"""Host-agnostic patch objects for the Wan DiT's attn1 / attn2 hooks.

The host calls, per block: attn1_patch({"x", "q", "k", "transformer_options"}) inside
self-attention, then attn2_patch({"x", "transformer_options"}) after the text/image
cross-attention. `transformer_options` carries block_index, grid_sizes (T, H, W) and
cond_or_uncond (the cond index of each equal batch chunk). Chunks are routed by cond index:
real-audio chunks get the speakers' tokens (+ label RoPE), chunks of a `null_audio_conds` cond
get the null-audio tokens, so cond/uncond/no-audio passes may share one batched forward.
"""
from __future__ import annotations

from functools import partial
from typing import Iterable

import torch

from ..errors import InputError
from .label_rope import band_centres, key_positions, label_positions
from .model import AudioAdapter
from .ops import Attention, sdpa_attention
from .speaker_map import speaker_attention_map, with_background

# Private transformer_options key: label positions from a block's attn1 for the same block's attn2.
LABEL_POSITIONS_KEY = "_wan_multitalk_label_positions"
# transformer_options key a guider sets: cond indices whose chunks get null audio in this pass.
NULL_AUDIO_CONDS_KEY = "wan_multitalk_null_audio_conds"


def null_conds_for(options: dict, default: frozenset) -> frozenset:
    """The guider's per-sampling choice wins over the conditioning's default."""
    chosen = options.get(NULL_AUDIO_CONDS_KEY)
    return default if chosen is None else frozenset(int(c) for c in chosen)


class AudioConditioning:
    """Everything one generation window needs from the audio: tokens, masks, scale, null conds.

    frame_audio: [S, F, W, L, C] the audio rows each of the window's frames reads, speakers in mask order.
    token_masks: bool [S + 1, S_f] (speakers then background) or [S, S_f] (background derived),
        at the post-patchify token grid of one latent frame; None = no speaker routing.
    null_audio_conds: cond indices (positions in the guider's cond list) whose chunks get null
        audio, e.g. {2} for the 3-cond audio-CFG guider.
    """

    def __init__(
        self,
        adapter: AudioAdapter,
        frame_audio: torch.Tensor,
        token_masks: torch.Tensor | None = None,
        audio_scale: float = 1.0,
        null_audio_conds: Iterable[int] = (),
        attention: Attention | None = None,
    ):
        self.adapter = adapter
        self.latent_frames = adapter.audio_proj.check_frame_audio(frame_audio)
        self.frame_audio = frame_audio
        self.audio_scale = float(audio_scale)
        self.null_audio_conds = frozenset(int(c) for c in null_audio_conds)
        self.attention = attention or sdpa_attention
        self.token_masks = self._checked_masks(token_masks)
        # Speaker routing (label RoPE) needs 2+ speakers and masks; one speaker never uses it.
        self.routes_speakers = self.num_speakers > 1 and self.token_masks is not None
        self.centres = band_centres(self.num_speakers) if self.routes_speakers else ()
        self._cache: dict[tuple, torch.Tensor] = {}

    @property
    def num_speakers(self) -> int:
        return int(self.frame_audio.shape[0])

    def _checked_masks(self, token_masks: torch.Tensor | None) -> torch.Tensor | None:
        if token_masks is None:
            return None
        masks = token_masks.bool()
        speakers = self.num_speakers
        if masks.ndim != 2 or masks.shape[0] not in (speakers, speakers + 1):
            raise InputError(
                "masks",
                f"got {list(masks.shape)} token masks for {speakers} speakers; need one per speaker "
                f"(optionally + background) over one latent frame's tokens.",
                "Give exactly one mask per speaker track, in the same order.",
            )
        if masks.shape[0] == speakers:
            masks = with_background(masks)
        empty = [str(i + 1) for i in range(speakers) if not bool(masks[i].any())]
        if empty:
            raise InputError(
                "masks",
                f"the mask of speaker {', '.join(empty)} covers no token of the {masks.shape[1]}-token latent grid.",
                "Draw each speaker's mask over the face and upper body (at least 16x16 pixels).",
            )
        return masks

    def _cached(self, name: str, device, dtype, build) -> torch.Tensor:
        key = (name, torch.device(device), dtype)
        if key not in self._cache:
            with torch.no_grad():
                self._cache[key] = build()
        return self._cache[key]

    def audio_tokens(self, device, dtype) -> torch.Tensor:
        """[1, N_t, S * tokens, C]: speakers concatenated on the token axis (speaker 1 first).

        Projected once per window and device/dtype (tokens do not depend on the timestep), in
        float32: it runs once, and fp16 could overflow in the 73,728-wide first layer.
        """

        def build():
            tokens = self.adapter.project(self.frame_audio.to(device=device, dtype=torch.float32))
            return tokens.permute(1, 0, 2, 3).flatten(1, 2).unsqueeze(0).to(dtype)

        return self._cached("audio", device, dtype, build)

    def null_tokens(self, device, dtype) -> torch.Tensor:
        """[1, N_t, tokens, C]: ONE speaker of all-zero features, as the official no-audio pass.

        Zero features give bias-only tokens that are equal for every later latent frame, so a
        one-group projection (5 frames) is expanded over time instead of projecting F frames.
        """

        def build():
            zeros = torch.zeros(1, 5, *self.frame_audio.shape[2:], device=device, dtype=torch.float32)
            first, later = self.adapter.project(zeros)[0].unbind(0)
            rest = later.unsqueeze(0).expand(self.latent_frames - 1, -1, -1)
            return torch.cat([first.unsqueeze(0), rest], dim=0).unsqueeze(0).to(dtype)

        return self._cached("null", device, dtype, build)

    def key_positions(self, device) -> torch.Tensor:
        return self._cached(
            "keys", device, torch.float32,
            lambda: key_positions(self.centres, self.adapter.spec.context_tokens, device=device),
        )

    def centres_on(self, device) -> torch.Tensor:
        """The speakers' band centres as a tensor on `device`, made once (not a blocking copy per block)."""
        return self._cached("centres", device, torch.float32,
                            lambda: torch.tensor(self.centres, dtype=torch.float32, device=device))

    def masks_on(self, device) -> torch.Tensor:
        return self._cached("masks", device, torch.bool, lambda: self.token_masks.to(device))

    def frame_tokens(self, transformer_options: dict, length: int) -> int:
        """Tokens per latent frame, after checking the sequence matches this window and masks."""
        grid = transformer_options.get("grid_sizes")
        if grid is None:
            raise RuntimeError("the audio patch needs transformer_options['grid_sizes'] (ComfyUI newer than Jan 2026)")
        frames, height, width = (int(v) for v in grid)
        if frames * height * width != length:
            raise InputError(
                "model",
                f"the DiT sequence has {length} tokens but the video grid is {frames}x{height}x{width}; "
                "extra tokens (reference/context latents) cannot be routed to audio frames.",
                "Use a plain Wan 2.1 I2V model with the audio adapter.",
            )
        if frames != self.latent_frames:
            raise InputError(
                "length",
                f"the frame audio covers {self.latent_frames} latent frames, the video latent has {frames}.",
                "Build the frame audio for the same frame count as the video latent.",
            )
        if self.token_masks is not None and self.token_masks.shape[1] != height * width:
            raise InputError(
                "masks",
                f"token masks cover {self.token_masks.shape[1]} tokens, the latent frame has {height}x{width}.",
                "Make the masks at the video's resolution (they are resized to the token grid).",
            )
        return height * width

    def check_block(self, index: int) -> None:
        if index >= len(self.adapter.blocks):
            raise InputError(
                "adapter",
                f"the DiT reached block {index} but the adapter has {len(self.adapter.blocks)} blocks.",
                "Use the adapter made for this base model.",
            )


def split_batch(transformer_options: dict, batch: int, null_conds: frozenset) -> tuple[list[int], list[int]]:
    """Rows of real-audio chunks and of null-audio chunks, each ascending.

    The batch is len(cond_or_uncond) equal chunks in that order; without cond_or_uncond the
    whole batch is one chunk of cond 0.
    """
    conds = list(transformer_options.get("cond_or_uncond") or [0])
    if batch % len(conds):
        raise RuntimeError(f"batch {batch} does not split into {len(conds)} cond chunks {conds}")
    per_chunk = batch // len(conds)
    real, null = [], []
    for chunk, cond in enumerate(conds):
        (null if cond in null_conds else real).extend(range(chunk * per_chunk, (chunk + 1) * per_chunk))
    return real, null


def _row_slice(rows: list[int]) -> slice | None:
    """The rows as a slice when they are one contiguous range (they are whenever a single null cond shares the
    batch, in either chunk order): a view instead of a copy, and no host-to-device index tensor (a sync)."""
    if rows and rows == list(range(rows[0], rows[-1] + 1)):
        return slice(rows[0], rows[-1] + 1)
    return None


def _take(t: torch.Tensor, rows: list[int]) -> torch.Tensor:
    sl = _row_slice(rows)
    return t[sl] if sl is not None else t.index_select(0, torch.tensor(rows, device=t.device))


class SpeakerMapPatch:
    """attn1 patch: label positions from this block's self-attention q/k; returns x unchanged.

    Runs only when speakers are routed (2+ speakers with masks) and only for real-audio rows.
    """

    def __init__(self, cond: AudioConditioning):
        self.cond = cond

    def __call__(self, args: dict) -> torch.Tensor:
        x, options = args["x"], args["transformer_options"]
        options.pop(LABEL_POSITIONS_KEY, None)  # never let another block's positions leak
        cond = self.cond
        if not cond.routes_speakers or cond.audio_scale == 0.0:  # no map needed: the audio patch returns x
            return x
        q, k = args["q"], args["k"]
        rows, _ = split_batch(options, q.shape[0], null_conds_for(options, cond.null_audio_conds))
        if not rows:
            return x
        frame_tokens = cond.frame_tokens(options, q.shape[1])
        masks = cond.masks_on(q.device)
        # only the first latent frame's keys take part in the map
        amap = speaker_attention_map(_take(q, rows), _take(k[:, :frame_tokens], rows), masks, frame_tokens,
                                     partial(cond.attention, options=options))
        options[LABEL_POSITIONS_KEY] = {
            "block_index": options.get("block_index"),
            "rows": rows,
            "positions": label_positions(amap, cond.centres_on(amap.device)),
        }
        return x


class AudioCrossAttentionPatch:
    """attn2 patch: x + audio_scale * audio residual, per batch chunk (real or null audio)."""

    def __init__(self, cond: AudioConditioning):
        self.cond = cond

    def __call__(self, args: dict) -> torch.Tensor:
        x, options = args["x"], args["transformer_options"]
        cond = self.cond
        index = options.get("block_index")
        if index is None:
            raise RuntimeError(
                "the audio cross-attention patch got no transformer_options['block_index']; "
                "it cannot tell which adapter block to run (the host must set it per DiT block)."
            )
        cond.check_block(index)
        cond.frame_tokens(options, x.shape[1])
        stash = options.pop(LABEL_POSITIONS_KEY, None)
        if cond.audio_scale == 0.0:
            return x  # audio switched off: skip the work, the residual would be multiplied by 0
        real, null = split_batch(options, x.shape[0], null_conds_for(options, cond.null_audio_conds))
        attention = partial(cond.attention, options=options)
        parts = []
        if real:
            q_pos = k_pos = None
            if cond.routes_speakers:
                if stash is None or stash["block_index"] != index or stash["rows"] != real:
                    raise RuntimeError(
                        f"block {index}: no speaker map for this pass; install SpeakerMapPatch as attn1_patch "
                        "together with AudioCrossAttentionPatch."
                    )
                q_pos, k_pos = stash["positions"], cond.key_positions(x.device)
            tokens = cond.audio_tokens(x.device, x.dtype)
            out = cond.adapter.block_forward(index, _take(x, real), tokens, q_pos, k_pos, attention)
            parts.append((real, out))
        if null:
            tokens = cond.null_tokens(x.device, x.dtype)
            parts.append((null, cond.adapter.block_forward(index, _take(x, null), tokens, attention=attention)))
        if len(parts) == 1:  # every row is real, or every row null
            return torch.add(x, parts[0][1], alpha=cond.audio_scale)
        result = torch.empty_like(x)
        for rows, out in parts:
            sl = _row_slice(rows)
            where = sl if sl is not None else torch.tensor(rows, device=x.device)
            result[where] = torch.add(x[where], out, alpha=cond.audio_scale)
        return result
