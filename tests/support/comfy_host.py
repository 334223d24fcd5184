"""Boot the real ComfyUI in-process (CPU) with this pack loaded as a custom node, and run prompts.

Why in-process: the tests get the node outputs as tensors (through a test-only capture node) and
the host's own executor, validation, caching and model management all run for real.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[2]
PACK_DIR_NAME = "comfyui-multitalk-studio"


def find_host() -> tuple[Path | None, str]:
    """Where the ComfyUI host is, and how it was found (or why none was)."""
    env = os.environ.get("COMFYUI_PATH")
    if env:
        path = Path(env).expanduser()
        if (path / "main.py").is_file():
            return path, f"COMFYUI_PATH={path}"
        return None, f"COMFYUI_PATH={env} has no main.py"
    parent = PACK_ROOT.parent
    if parent.name == "custom_nodes" and (parent.parent / "main.py").is_file():
        return parent.parent, f"enclosing ComfyUI {parent.parent}"
    default = Path("~/comfy/ComfyUI").expanduser()
    if (default / "main.py").is_file():
        return default, f"comfy-cli default workspace {default}"
    return None, ("no ComfyUI host found: set COMFYUI_PATH, install the pack inside ComfyUI/custom_nodes, "
                  "or build ~/comfy/ComfyUI")


def declared_floor() -> tuple[int, ...]:
    """The oldest ComfyUI release the pack supports: pyproject's `requires-comfyui = ">=X.Y.Z"`."""
    match = re.search(r'^requires-comfyui\s*=\s*">=\s*([0-9.]+)"', (PACK_ROOT / "pyproject.toml").read_text(), re.M)
    return version_tuple(match.group(1))


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def host_version(root: Path) -> tuple[int, ...] | None:
    """A host's release from its comfyui_version.py (None when it has none)."""
    path = Path(root) / "comfyui_version.py"
    match = re.search(r'__version__\s*=\s*"([^"]+)"', path.read_text()) if path.is_file() else None
    return version_tuple(match.group(1)) if match else None


def extra_hosts() -> list[Path]:
    """Release hosts built next to the main one (`~/comfy/hosts/<release>/ComfyUI`), oldest first."""
    found = [p for p in Path("~/comfy/hosts").expanduser().glob("*/ComfyUI") if (p / "main.py").is_file()]
    return sorted(found, key=lambda p: host_version(p) or ())


class LogCollector(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


@dataclass
class RunResult:
    prompt_id: str
    success: bool
    captured: dict
    messages: list = field(default_factory=list)
    ui_outputs: dict = field(default_factory=dict)
    log: str = ""  # what the host logged during this run only

    def error(self) -> dict | None:
        for event, data in self.messages:
            if event in ("execution_error", "execution_interrupted", "validation_error"):
                return data
        return None

    def message(self) -> str:
        """The text a user sees for the failure: the node's exception, or the validation error."""
        err = self.error() or {}
        if "exception_message" in err:
            return err["exception_message"]
        if "error" in err:  # validation: the prompt-level error plus each node's errors
            return f"{err['error']} {err.get('nodes', '')}"
        return ""


def graph():
    """A GraphBuilder for an API prompt (importable once the host is booted)."""
    from comfy_execution.graph_utils import GraphBuilder

    return GraphBuilder()


class ComfyHost:
    """One booted ComfyUI per test session (the host keeps global state)."""

    def __init__(self, root: Path, workdir: Path):
        self.root = root
        self.workdir = workdir
        self.models_dir = workdir / "models"
        self.logs = LogCollector()
        self.node_mappings: dict = {}
        self.pack = None  # this pack's module as the host loaded it
        self._executor = None

    def boot(self, cpu: bool = True) -> "ComfyHost":
        # The host's `nodes.py` must win over this pack's `nodes/` package on sys.path.
        sys.path.insert(0, str(self.root))
        logging.getLogger().addHandler(self.logs)
        logging.getLogger().setLevel(logging.INFO)

        import comfy.options  # noqa: F401  (argument parsing stays off: defaults + our flags)
        # Hosts before 0.26 put ComfyUI/comfy first on sys.path when `nodes` is imported, where comfy/utils.py
        # then hides the host's `utils/` package from later imports (`utils.install_util`). main.py imports that
        # package before `nodes`; so do we.
        import utils  # noqa: F401
        from comfy.cli_args import args
        args.cpu = cpu
        args.disable_api_nodes = True

        import folder_paths
        for sub in ("output", "input", "temp", "user"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        folder_paths.set_output_directory(str(self.workdir / "output"))
        folder_paths.set_input_directory(str(self.workdir / "input"))
        folder_paths.set_temp_directory(str(self.workdir / "temp"))
        folder_paths.set_user_directory(str(self.workdir / "user"))
        for kind in ("diffusion_models", "vae", "model_patches", "audio_encoders", "wav2vec2",
                     "text_encoders", "clip_vision", "loras"):
            (self.models_dir / kind).mkdir(parents=True, exist_ok=True)
            folder_paths.add_model_folder_path(kind, str(self.models_dir / kind), is_default=True)

        custom_nodes = self.workdir / "custom_nodes"
        custom_nodes.mkdir(exist_ok=True)
        link = custom_nodes / PACK_DIR_NAME
        if not link.exists():
            link.symlink_to(PACK_ROOT, target_is_directory=True)
        folder_paths.folder_names_and_paths["custom_nodes"] = ([str(custom_nodes)], set())

        import execution
        import nodes
        import server

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.server = server.PromptServer(loop)
        loop.run_until_complete(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
        asyncio.set_event_loop(None)

        import host_test_nodes
        host_test_nodes.register(nodes)
        self.node_mappings = nodes.NODE_CLASS_MAPPINGS
        self.pack = sys.modules[str(link).replace(".", "_x_")]  # the module name nodes.load_custom_node gives it
        self._executor = execution.PromptExecutor(
            self.server, cache_type=execution.CacheType.CLASSIC,
            cache_args={"lru": 0, "ram": 0, "ram_inactive": 0})
        return self

    def pack_module(self, suffix: str = ""):
        """A module of the loaded pack, e.g. pack_module("nodes.host.long_video")."""
        return sys.modules[self.pack.__name__ + ("." + suffix if suffix else "")]

    def failure(self, prompt: dict) -> str:
        """Run a prompt that must fail; the message the user would see."""
        result = self.run(prompt, expect_success=False)
        assert not result.success, "the prompt was expected to fail"
        return result.message()

    def model_path(self, kind: str, name: str) -> Path:
        return self.models_dir / kind / name

    def run(self, prompt: dict, expect_success: bool = True) -> RunResult:
        """Validate and execute an API-format prompt; return what the capture nodes saw."""
        import execution
        import host_test_nodes

        prompt_id = str(uuid.uuid4())
        first_record = len(self.logs.records)
        valid = asyncio.run(execution.validate_prompt(prompt_id, prompt, None))
        if not valid[0]:
            if expect_success:
                raise AssertionError(f"prompt failed validation: {valid[1]} {valid[3]}")
            return RunResult(prompt_id, False, {}, [("validation_error", {"error": valid[1], "nodes": valid[3]})])
        host_test_nodes.CAPTURED.clear()
        self._executor.execute(prompt, prompt_id, {}, valid[2])
        result = RunResult(prompt_id, self._executor.success, dict(host_test_nodes.CAPTURED),
                           list(self._executor.status_messages),
                           dict(self._executor.history_result.get("outputs", {})),
                           "\n".join(r.getMessage() for r in self.logs.records[first_record:]))
        if expect_success and not result.success:
            err = result.error() or {}
            raise AssertionError(
                f"prompt failed in node {err.get('node_type')}: {err.get('exception_type')}: "
                f"{err.get('exception_message')}\n{''.join(err.get('traceback', []))}")
        return result
