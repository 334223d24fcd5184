"""The pack's sample workflows in the template browser in their numbered order (1 to 5).

The host lists a pack's templates (`GET /workflow_templates`) in the order its folder's directory entries come
(`glob`, unsorted: on ext4 the order of a hash), and the frontend shows them in that order. ComfyUI has no
public hook for this, so the pack adds an aiohttp middleware to the server's application before it starts,
which sorts this pack's list by its numbers and touches nothing else. Should the server's internals change so
that it cannot be added, the pack still loads and says so in the log.
"""
from __future__ import annotations

import json
import logging
import os
import re

log = logging.getLogger("multitalk_studio")
PACK_DIR = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROUTES = ("/workflow_templates", "/api/workflow_templates")


def numbered(name: str) -> list:
    """Sort key that puts '2_x' before '10_x' (numbers compare as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def sorted_listing(body: bytes, pack: str = PACK_DIR) -> bytes | None:
    """The listing with this pack's templates in numbered order, or None to leave the response as it is."""
    try:
        listing = json.loads(body)
    except ValueError:
        return None
    if not isinstance(listing, dict) or not isinstance(listing.get(pack), list):
        return None
    listing[pack] = sorted(listing[pack], key=numbered)
    return json.dumps(listing).encode()


def order_templates() -> None:
    """Install the sorting middleware on the running server, if there is one (not when only the executor is
    booted, as in the host tests)."""
    try:
        from aiohttp import web
        from server import PromptServer

        app = PromptServer.instance.app
    except (ImportError, AttributeError):
        return

    @web.middleware
    async def numbered_templates(request, handler):
        response = await handler(request)
        if request.method == "GET" and request.path in ROUTES and getattr(response, "body", None):
            body = sorted_listing(response.body)
            if body is not None:
                response.body = body
        return response

    try:
        app.middlewares.append(numbered_templates)
    except (AttributeError, RuntimeError, TypeError) as exc:
        log.warning("[MultiTalk Studio] could not order the sample workflows in the template browser (%s: %s); "
                    "they still load, in the host's order", type(exc).__name__, exc)
