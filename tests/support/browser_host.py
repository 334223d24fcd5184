"""The real ComfyUI as a loopback server (this pack symlinked into a temp base directory) and Debian's chromium
driven by Playwright, for tests that use the host's own frontend.

Nothing here downloads anything: the browser is the system `chromium` (never `playwright install`) and the
server only listens on 127.0.0.1.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from comfy_host import PACK_DIR_NAME, PACK_ROOT

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
APP = "window.comfyAPI.app.app"  # the frontend's app object, from page scripts
# A fresh user would get the template browser and tours; a test wants the bare graph.
QUIET_SETTINGS = {
    "Comfy.TutorialCompleted": True,
    "Comfy.InstalledVersion": "99.0.0",
    "Comfy.Validation.Workflows": False,
    "Comfy.UseNewMenu": "Top",
    "Comfy.VueNodes.Enabled": False,
    "Comfy.Workflow.ShowMissingModelsWarning": False,
    "Comfy.Workflow.ShowMissingNodesWarning": False,
    "Comfy.NodeBadge.NodeIdBadgeMode": "None",
}


def frontend_root() -> Path | None:
    """The frontend the browser tests are served: $MTS_FRONTEND_ROOT (a `static` folder of a frontend release,
    e.g. ~/comfy/frontends/1.58.1/static), else None for the one the host bundles."""
    env = os.environ.get("MTS_FRONTEND_ROOT")
    if not env:
        return None
    path = Path(env).expanduser()
    if not (path / "index.html").is_file():
        raise RuntimeError(f"MTS_FRONTEND_ROOT={env} has no index.html: point it at a frontend's static folder")
    return path


def find_chromium() -> str | None:
    env = os.environ.get("MTS_CHROMIUM")
    if env:
        return env if os.path.isfile(env) else None
    return next((p for p in CHROMIUM_CANDIDATES if os.path.isfile(p)), shutil.which("chromium"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ComfyServer:
    """`python main.py --cpu` on a free loopback port with its own base directory; `stop()` ends it."""

    def __init__(self, host_root: Path, base: Path, python: str | None = None, extra_args: tuple = ()):
        self.host_root = Path(host_root)
        self.base = Path(base)
        self.python = python or sys.executable
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.base / "server.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "ComfyServer":
        for sub in ("custom_nodes", "input", "output", "temp", "user/default", "models"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        link = self.base / "custom_nodes" / PACK_DIR_NAME
        if not link.exists():
            link.symlink_to(PACK_ROOT, target_is_directory=True)
        (self.base / "user" / "default" / "comfy.settings.json").write_text(json.dumps(QUIET_SETTINGS))
        cmd = [self.python, str(self.host_root / "main.py"), "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
               "--base-directory", str(self.base), "--disable-auto-launch", "--disable-api-nodes",
               "--database-url", "sqlite:///:memory:", *self.extra_args]
        if frontend_root() is not None:
            cmd += ["--front-end-root", str(frontend_root())]
        env = dict(os.environ, PYTHONUNBUFFERED="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.host_root, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                with urllib.request.urlopen(self.url + "/system_stats", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"ComfyUI did not answer /system_stats within {timeout:.0f} s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def get_json(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def get_bytes(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            return resp.read()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer ends it: nothing of the server runs after this."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()


@contextmanager
def chromium_page(executable: str, profile_dir: Path, viewport=(1400, 900)):
    """A fresh headless chromium (own profile directory) and one page; console errors are collected."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile_dir), executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": viewport[0], "height": viewport[1]})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.console_errors = []
            page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
            page.on("pageerror", lambda e: page.console_errors.append(str(e)))
            yield page
        finally:
            context.close()


def open_frontend(page, server, node_type: str = "MTS_SpeakerMasks", timeout: int = 60_000) -> None:
    """Load the frontend and wait until `node_type` is registered, the start-up workflow is open (loaded after
    the graph exists: a test's own graph made earlier would be replaced by it on a slow machine) and the
    start-up overlay (which swallows clicks) has faded out."""
    page.goto(server.url)
    page.wait_for_function(f"() => window.LiteGraph?.registered_node_types?.{node_type} && {APP}.graph "
                           f"&& {APP}.extensionManager?.workflow?.activeWorkflow", timeout=timeout)
    page.wait_for_selector(".p-blockui-mask", state="detached", timeout=30_000)
