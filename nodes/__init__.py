"""Thin V3 nodes: inputs, validation, calls into `wan_multitalk` and `host`, outputs. Only this package imports
comfy, and within it only `host` touches more of ComfyUI than the node schemas."""
from comfy_api.latest import ComfyExtension, io

from .host.folders import register_model_folders

register_model_folders()  # before the node modules list the models in their schemas

from .registry import NODES  # noqa: E402


class MultiTalkStudioExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)


async def comfy_entrypoint() -> MultiTalkStudioExtension:
    return MultiTalkStudioExtension()
