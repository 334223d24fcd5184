"""ComfyUI entry point of MultiTalk Studio (V3 schema).

A failure to import is logged with its cause and the fix, and never takes the host down: ComfyUI
then lists the pack as IMPORT FAILED and every other node keeps working. Imported outside ComfyUI
(pytest collects this folder as a package), there is no host to register with and nothing to do.
"""
import importlib.util
import logging

WEB_DIRECTORY = "./js"

if importlib.util.find_spec("comfy_api") is not None:
    try:
        from .nodes import comfy_entrypoint  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import problem must stay contained
        logging.getLogger("multitalk_studio").error(
            "[MultiTalk Studio] could not load (%s: %s). Most often a dependency is missing: run "
            "`pip install -r requirements.txt` with ComfyUI's Python inside this folder, then restart ComfyUI.",
            type(exc).__name__, exc, exc_info=True)
