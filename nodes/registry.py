"""Every node the pack ships, in menu order. Ids carry the `MTS_` prefix so they never collide
with kijai's WanVideoWrapper or ComfyUI core, which many users have installed side by side."""
NODES: list = []
