"""The MultiTalk / InfiniteTalk audio adapter: weights, projection, audio cross-attention, label RoPE.

Host-free: layer classes (`operations`) and the attention op are passed in by the node layer.
"""
from .cross_attention import AudioCrossAttention
from .label_rope import apply_label_rope, band_centres, key_positions, label_positions
from .model import AudioAdapter, AudioBlock
from .ops import sdpa_attention
from .patches import AudioConditioning, AudioCrossAttentionPatch, SpeakerMapPatch
from .projection import AudioProjection, group_latent_rows, latent_frame_count
from .speaker_map import speaker_attention_map, with_background
from .weights import (
    AdapterSpec,
    check_fits,
    detect_variant,
    inspect_adapter,
    prepare_state_dict,
    read_adapter_file,
)

__all__ = [
    "AdapterSpec", "AudioAdapter", "AudioBlock", "AudioConditioning", "AudioCrossAttention",
    "AudioCrossAttentionPatch", "AudioProjection", "SpeakerMapPatch", "apply_label_rope", "band_centres",
    "check_fits", "detect_variant", "group_latent_rows", "inspect_adapter", "key_positions",
    "label_positions", "latent_frame_count", "prepare_state_dict", "read_adapter_file",
    "sdpa_attention", "speaker_attention_map", "with_background",
]
