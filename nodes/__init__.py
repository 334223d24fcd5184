"""Thin V3 nodes: inputs, validation, calls into `wan_multitalk`, outputs. Only this package imports comfy."""
from comfy_api.latest import ComfyExtension, io

from .registry import NODES


class MultiTalkStudioExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


async def comfy_entrypoint() -> MultiTalkStudioExtension:
    return MultiTalkStudioExtension()
