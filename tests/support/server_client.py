"""A client of a ComfyUI server in a subprocess (browser_host.ComfyServer): queue an API prompt over HTTP and watch
what the server sends on its websocket while it runs, the way the frontend receives it.

`queue(server, prompt, react)` calls react(message) for every message (JSON ones as dicts, binary ones as
`Binary`); react may interrupt (POST /interrupt) or kill the server. It returns every message, until the prompt
ends (success, error, interrupt) or the connection closes (the server died).
"""
from __future__ import annotations

import asyncio
import json
import struct
import uuid
from dataclasses import dataclass
from typing import Callable

PREVIEW_TYPES = (1, 4)  # protocol.BinaryEventTypes: PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA
TEXT_TYPE = 3  # protocol.BinaryEventTypes.TEXT: progress text for a node
ENDS = ("execution_success", "execution_error", "execution_interrupted")


@dataclass
class Binary:
    kind: int
    payload: bytes

    def text(self) -> tuple[str, str] | None:
        """(node id, text) of a progress-text message."""
        if self.kind != TEXT_TYPE:
            return None
        size = struct.unpack(">I", self.payload[:4])[0]
        return self.payload[4:4 + size].decode(), self.payload[4 + size:].decode()

    def image(self) -> bytes | None:
        """The encoded picture of a preview message."""
        if self.kind == 1:
            return self.payload[4:]  # image format (4 bytes), then the picture
        if self.kind == 4:
            size = struct.unpack(">I", self.payload[:4])[0]
            return self.payload[4 + size:]  # metadata length, metadata json, then the picture
        return None


def queue(server, prompt: dict, react: Callable[[object], None] = lambda message: None,
          timeout: float = 300.0) -> list:
    return asyncio.run(_queue(server, prompt, react, timeout))


def interrupt(server) -> None:
    import urllib.request

    request = urllib.request.Request(server.url + "/interrupt", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


async def _queue(server, prompt: dict, react, timeout: float) -> list:
    import aiohttp

    client = uuid.uuid4().hex
    messages: list = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{server.url}/ws?clientId={client}", max_msg_size=0) as ws:
            async with session.post(f"{server.url}/prompt", json={"prompt": prompt, "client_id": client}) as resp:
                answer = await resp.json()
                if resp.status != 200:
                    raise AssertionError(f"the server refused the prompt: {json.dumps(answer)[:2000]}")
            prompt_id = answer["prompt_id"]
            while True:
                try:
                    raw = await ws.receive(timeout=timeout)
                except asyncio.TimeoutError:
                    raise AssertionError(f"no message for {timeout} s:\n{server.log()[-3000:]}") from None
                if raw.type == aiohttp.WSMsgType.TEXT:
                    message = json.loads(raw.data)
                elif raw.type == aiohttp.WSMsgType.BINARY:
                    message = Binary(struct.unpack(">I", raw.data[:4])[0], raw.data[4:])
                else:  # closed: the server is gone
                    return messages
                messages.append(message)
                await asyncio.get_running_loop().run_in_executor(None, react, message)
                if isinstance(message, dict) and message.get("type") in ENDS and \
                        message.get("data", {}).get("prompt_id") == prompt_id:
                    return messages


def events(messages: list, kind: str) -> list[dict]:
    """The data of every JSON message of type `kind`."""
    return [m["data"] for m in messages if isinstance(m, dict) and m.get("type") == kind]


def texts(messages: list) -> list[str]:
    """Every progress text the server sent (any node)."""
    return [m.text()[1] for m in messages if isinstance(m, Binary) and m.kind == TEXT_TYPE]


def previews(messages: list) -> list[bytes]:
    return [m.image() for m in messages if isinstance(m, Binary) and m.kind in PREVIEW_TYPES]
