"""Every node the pack ships, in menu order. Ids carry the `MTS_` prefix so they never collide
with kijai's WanVideoWrapper or ComfyUI core, which many users have installed side by side."""
from .adapter_nodes import ADAPTER_NODES
from .audio_nodes import AUDIO_NODES
from .mask_nodes import MASK_NODES

NODES: list = [*AUDIO_NODES, *MASK_NODES, *ADAPTER_NODES]
