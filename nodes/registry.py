"""Every node the pack ships, in menu order. Ids carry the `MTS_` prefix so they never collide
with kijai's WanVideoWrapper or ComfyUI core, which many users have installed side by side."""
from .adapter_nodes import ADAPTER_NODES
from .audio_nodes import AUDIO_NODES
from .long_video_nodes import LONG_VIDEO_NODES
from .mask_nodes import MASK_NODES
from .speaker_split_nodes import SPEAKER_SPLIT_NODES

NODES: list = [*AUDIO_NODES, *SPEAKER_SPLIT_NODES, *MASK_NODES, *ADAPTER_NODES, *LONG_VIDEO_NODES]
