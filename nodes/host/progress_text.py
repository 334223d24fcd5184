"""Text on the running node in the UI: the host's progress-text message (`PromptServer.send_progress_text`, what
ComfyUI's own API nodes use; comfy_api has no public equivalent). Where a host lacks it the text is logged with a
warning, so the loss is visible."""
from __future__ import annotations

import logging

from comfy_execution.utils import get_executing_context
from server import PromptServer

log = logging.getLogger("multitalk_studio")


def show_on_node(text: str) -> None:
    """Show `text` under the node that is running now (the frontend keeps it there after the run ends)."""
    server, context = getattr(PromptServer, "instance", None), get_executing_context()
    if server is None or context is None or not hasattr(server, "send_progress_text"):
        log.warning("[MultiTalk Studio] this ComfyUI cannot show text on a node (no PromptServer.send_progress_text); "
                    "the message was: %s", text)
        return
    server.send_progress_text(text, context.node_id)
