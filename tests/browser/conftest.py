"""Browser tests: the real ComfyUI server (a subprocess on a loopback port) and its real frontend in headless
Debian chromium. Skipped loudly without a host, without chromium or without Playwright."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from browser_host import ComfyServer, chromium_page, find_chromium, frontend_root
from comfy_host import find_host


def pytest_report_header(config):
    return [f"frontend for the browser tests: {frontend_root() or 'the one the host bundles'} (MTS_FRONTEND_ROOT)"]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Screenshots and logs of the browser tests: $MTS_ARTIFACTS if set, else pytest's temp folder."""
    path = Path(os.environ["MTS_ARTIFACTS"]) if os.environ.get("MTS_ARTIFACTS") else tmp_path_factory.mktemp("browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    """The system chromium's path; checked before the server starts, so a skip costs nothing."""
    executable = find_chromium()
    if executable is None:
        pytest.skip("BROWSER TEST SKIPPED: no chromium (apt-get install chromium, or set MTS_CHROMIUM)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("BROWSER TEST SKIPPED: Playwright is not installed (pip install playwright; never "
                    "`playwright install`, the system chromium is used)")
    return executable


@pytest.fixture(scope="module")
def comfy_server(chromium, tmp_path_factory, artifacts, request):
    root, reason = find_host()
    if root is None:
        pytest.skip(f"BROWSER TEST SKIPPED: {reason}")
    server = ComfyServer(root, tmp_path_factory.mktemp("comfy_server")).start()
    try:
        yield server
    finally:
        server.stop()
        (artifacts / f"server-{request.module.__name__.rsplit('.', 1)[-1]}.log").write_text(server.log())


@pytest.fixture
def browser_page(chromium, comfy_server, tmp_path, artifacts, request):
    with chromium_page(chromium, tmp_path / "profile") as page:
        yield page
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            page.screenshot(path=str(artifacts / f"{request.node.name}-FAILED.png"))
            (artifacts / f"{request.node.name}-console.txt").write_text("\n".join(page.console_errors))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "browser" in getattr(r, "keywords", {})]
    if skipped:
        reason = str(skipped[0].longrepr[-1]) if isinstance(skipped[0].longrepr, tuple) else "see -rs"
        terminalreporter.write_sep("!", f"BROWSER TESTS SKIPPED ({len(skipped)}): {reason}", red=True, bold=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
