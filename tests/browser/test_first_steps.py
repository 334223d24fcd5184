"""What a newcomer meets first, in the real frontend on a fresh install with no models (one server for the module).

1. Node search: double-click the canvas, type "multitalk", "infinitetalk" or one of kijai's node ids (the names
   a user of his WanVideoWrapper knows) and the pack's nodes are in the list. Frontends before search aliases
   (0.12.0's 1.37) search display names only: there only the names that say MultiTalk are expected.
2. Missing models: a template opened with no models lists every model file it needs with its folder and a
   download link (the loaders' model metadata): the dialog of older frontends, the Errors panel of newer ones,
   opened with the mouse; the URL is read back with the row's own Copy URL button.
3. The install itself: the template list comes in the numbered order, and the pack's model folders exist.
"""
from __future__ import annotations

import json
import re
import time

import pytest

from browser_host import APP, open_frontend
from comfy_host import PACK_DIR_NAME, PACK_ROOT
from kijai_nodes import KIJAI
from readme_tables import readme_folders, url_problem

WORKFLOW_DIR = PACK_ROOT / "workflows"
NAMES = sorted((p.stem for p in WORKFLOW_DIR.glob("*.json")), key=lambda n: int(n.split("_")[0]))
ALIASES_SINCE = (1, 48)  # the oldest frontend tested whose node search reads search_aliases (1.37 does not)
OPTIONS = "[role=option]"


@pytest.fixture(scope="module")
def ours(comfy_server) -> dict[str, str]:
    """display name -> node id of every node of the pack, as the server describes them."""
    info = comfy_server.get_json("/object_info")
    return {v["display_name"]: k for k, v in info.items() if k.startswith("MTS_")}


def frontend_version(page) -> tuple[int, ...]:
    text = page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__ || '0'")
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def search(page, queries: list[str], ours: dict[str, str]) -> dict[str, set[str]]:
    """Double-click empty canvas, type each query into the search box (replacing the last one) and return the
    pack's node ids among the results shown for it."""
    page.mouse.dblclick(700, 450)
    page.wait_for_selector(OPTIONS, timeout=10_000)
    results = {}
    for query in queries:
        before = page.locator(OPTIONS).all_inner_texts()
        page.keyboard.press("Control+a")
        page.keyboard.type(query, delay=15)
        shown, deadline = None, time.monotonic() + 4
        while time.monotonic() < deadline:  # until the list has followed the typing and settled
            time.sleep(0.3)
            now = page.locator(OPTIONS).all_inner_texts()
            if now == shown and (now != before or time.monotonic() > deadline - 2):
                break
            shown = now
        found = set()
        for text in shown:
            names = [d for d in ours if text.strip().startswith(d)]
            if names:
                found.add(ours[max(names, key=len)])
        results[query] = found
    page.keyboard.press("Escape")
    return results


def test_node_search_finds_the_pack(comfy_server, browser_page, ours):
    page = browser_page
    open_frontend(page, comfy_server)
    page.evaluate(f"() => {APP}.graph.clear()")
    assert len(ours) == 10, ours
    aliases = frontend_version(page) >= ALIASES_SINCE
    found = search(page, ["multitalk", "infinitetalk", *(KIJAI if aliases else [])], ours)
    problems = []
    for query in ("multitalk", "infinitetalk"):
        want = set(ours.values()) if aliases else {i for d, i in ours.items() if query in d.lower().replace("/", "")}
        if want - found[query]:
            problems.append(f"{query!r} does not show {sorted(want - found[query])}")
    for kijai, (_, mine) in KIJAI.items():
        if aliases and mine not in found[kijai]:
            problems.append(f"{kijai!r} (kijai's node) does not show {mine}")
    assert not problems, "\n".join(problems)


def missing_rows(page, names: list[str]) -> dict[str, object]:
    """Open the missing-models list the way a user does and return each file's row: the dialog older frontends
    show on load, or the Errors panel newer ones open from the error overlay's button."""
    overlay = page.locator('[data-testid="error-overlay-see-errors"]')
    dialog = page.locator(".comfy-missing-models")
    deadline = time.monotonic() + 20
    while not overlay.count() and not dialog.count() and time.monotonic() < deadline:
        time.sleep(0.25)
    if overlay.count():
        overlay.click()
        container = page.locator('[data-testid="missing-model-importable-rows"]')
        container.wait_for(timeout=10_000)
        rows = container.locator(":scope > div")
    else:
        dialog.wait_for(timeout=10_000)
        rows = dialog.locator(OPTIONS)
    return {name: rows.filter(has_text=name) for name in names}


def close_missing(page) -> None:
    """Escape closes the dialog (older frontends); the Errors panel of newer ones stays and refills on the next
    load."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.keyboard.press("Escape")
    try:
        page.locator(".comfy-missing-models").wait_for(state="detached", timeout=5_000)
    except PlaywrightTimeout:
        page.locator(".p-dialog-close-button").first.click()


def expected_models(workflow: dict) -> dict[str, list[str]]:
    """file -> the folders the README puts it in, for every model file an active node of the workflow names."""
    files = {}
    for node in workflow["nodes"]:
        if node.get("mode") in (2, 4):  # muted or bypassed: the frontend does not ask for its models
            continue
        for value in node.get("widgets_values") or []:
            if isinstance(value, str) and value.endswith(".safetensors"):
                files[value] = readme_folders(value)
    return files


def test_missing_models_show_folder_and_download_for_every_file(comfy_server, browser_page, artifacts):
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=comfy_server.url)
    page.context.route("https://huggingface.co/**", lambda route: route.abort())  # no network: sizes stay unknown
    open_frontend(page, comfy_server)
    page.evaluate(f"() => {APP}.extensionManager.setting.set('Comfy.Workflow.ShowMissingModelsWarning', true)")
    problems = []
    for name in NAMES:
        workflow = json.loads((WORKFLOW_DIR / f"{name}.json").read_text())
        expected = expected_models(workflow)
        assert len(expected) >= 6 and all(expected.values()), (name, expected)
        page.evaluate("async ([w, n]) => { await window.comfyAPI.app.app.loadGraphData(w, true, true, n); }",
                      [workflow, name])
        rows = missing_rows(page, list(expected))
        page.screenshot(path=str(artifacts / f"missing_models_{name}.png"))
        for file, folders in expected.items():
            row = rows[file]
            if row.count() != 1:
                problems.append(f"{name}: {file} is listed {row.count()} times")
                continue
            text = " ".join(row.inner_text().replace("/", " ").split())
            if not any(f" {folder} " in f" {text} " for folder in folders):
                problems.append(f"{name}: {file} shows no folder of {folders}: {text!r}")
            download = row.get_by_role("button", name=re.compile("Download"))
            if not download.count() or not download.first.is_enabled():
                problems.append(f"{name}: {file} has no download button")
            copy = row.get_by_role("button", name="Copy URL")
            if not copy.count():
                problems.append(f"{name}: {file} has no URL to copy")
                continue
            page.evaluate("() => navigator.clipboard.writeText('')")
            copy.first.click()
            url = page.evaluate("() => navigator.clipboard.readText()")
            problem = url_problem(file, url)
            if problem:
                problems.append(f"{name}: {problem}")
        close_missing(page)
    assert not problems, "\n".join(problems)


def test_fresh_install_lists_templates_in_order_and_has_the_model_folders(comfy_server):
    listed = comfy_server.get_json("/workflow_templates")[PACK_DIR_NAME]
    assert listed == NAMES, f"the template browser shows {listed}"
    for folder in ("wav2vec2", "diarization"):
        assert (comfy_server.base / "models" / folder).is_dir(), f"models/{folder} was not created"
