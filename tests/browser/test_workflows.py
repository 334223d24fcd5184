"""Every shipped workflow in the host's real frontend (headless chromium against the real main.py).

The template browser lists each workflow with its thumbnail; loaded from the template route, each shows no
missing-node or missing-file message, every link joins existing nodes and slots, the frontend builds the same
widgets `workflow_api.widget_layout` predicts, each widget of an input holds the value `workflow_api.restored_values`
predicts for this host (the shipped one, or the default for an input newer than the save), and `graphToPrompt` gives
exactly the prompt `workflow_api.to_api` makes (the prompt the host test runs). A deliberately broken copy
proves the checks see a missing node type and a broken link.

Display-only widgets the frontend adds once a file is shown (the image and video previews) feed no input the
host knows, so they are left out of the widget and prompt comparisons. The server gets empty model files and
small inputs under the names the workflows use (as a user's install would have), so an error message can only
come from the workflow itself.
"""
from __future__ import annotations

import copy
import json

import pytest

from browser_host import APP, open_frontend
from comfy_host import PACK_DIR_NAME, PACK_ROOT
from make_workflows import write_placeholders
from workflow_api import FRONTEND_ONLY, WorkflowError, input_types, restored_values, to_api, widget_layout

WORKFLOW_DIR = PACK_ROOT / "workflows"
NAMES = sorted(p.stem for p in WORKFLOW_DIR.glob("*.json"))

LOAD_JS = """async ([url, data, name]) => {
  const app = window.comfyAPI.app.app;
  const workflow = data ?? await (await fetch(url)).json();
  await app.loadGraphData(workflow, true, true, name);
  await new Promise(r => setTimeout(r, 1500));  // validation and its message come a moment later
  const graph = app.graph;
  const links = graph.links instanceof Map ? [...graph.links.values()] : Object.values(graph.links ?? {});
  const broken = [];
  for (const l of links.filter(Boolean)) {
    const o = graph.getNodeById(l.origin_id), t = graph.getNodeById(l.target_id);
    if (!o || !t) { broken.push(`link ${l.id} joins a missing node`); continue; }
    if (!(o.outputs?.[l.origin_slot]?.links ?? []).includes(l.id))
      broken.push(`link ${l.id}: output ${l.origin_slot} of #${o.id} ${o.type} does not list it`);
    if (t.inputs?.[l.target_slot]?.link !== l.id)
      broken.push(`link ${l.id}: input ${l.target_slot} of #${t.id} ${t.type} does not hold it`);
    if (o.outputs?.[l.origin_slot]?.type !== l.type)
      broken.push(`link ${l.id}: typed ${l.type}, output is ${o.outputs?.[l.origin_slot]?.type}`);
  }
  const ids = new Set(links.filter(Boolean).map(l => l.id));
  for (const n of graph._nodes)
    for (const i of n.inputs ?? []) if (i.link != null && !ids.has(i.link))
      broken.push(`#${n.id} ${n.type} input ${i.name} holds missing link ${i.link}`);
  // what the frontend shows about the load: its error overlay (newer frontends) or missing-nodes dialog (older)
  const shown = [...document.querySelectorAll('[data-testid="error-overlay"], .comfy-missing-nodes')].map(e => e.innerText);
  let prompt = null, promptError = null;
  try { prompt = (await app.graphToPrompt()).output; } catch (e) { promptError = String(e); }
  return {
    message: shown.length ? shown.join('\\n') : null,
    missing: graph._nodes.filter(n => !LiteGraph.registered_node_types[n.type]).map(n => n.type),
    broken, links: links.filter(Boolean).length, nodes: graph._nodes.length,
    widgets: Object.fromEntries(graph._nodes.map(n => [n.id, (n.widgets ?? []).map(w => w.name)])),
    values: Object.fromEntries(graph._nodes.map(n => [n.id, Object.fromEntries((n.widgets ?? [])
      .filter(w => w.serialize !== false).map(w => [w.name, JSON.parse(JSON.stringify(w.value ?? null))]))])),
    prompt, promptError,
  };
}"""


def load(name: str) -> dict:
    return json.loads((WORKFLOW_DIR / f"{name}.json").read_text())


def open_app(page, server):
    open_frontend(page, server)
    # QUIET_SETTINGS turns the missing-node warning off for the other tests; a user has it on
    page.evaluate(f"() => {APP}.extensionManager.setting.set('Comfy.Workflow.ShowMissingNodesWarning', true)")


@pytest.fixture(scope="module")
def installed(comfy_server):
    """The server as a user's install with the workflows' model files and inputs in place."""
    write_placeholders(comfy_server.base, [(n["type"], n.get("widgets_values_named") or {})
                                           for name in NAMES for n in load(name)["nodes"]])
    return comfy_server


def test_template_browser_lists_every_workflow_with_its_thumbnail(installed):
    assert len(NAMES) == 5, NAMES
    listed = installed.get_json("/workflow_templates")
    assert sorted(listed.get(PACK_DIR_NAME, [])) == NAMES, listed
    for name in NAMES:
        served = installed.get_json(f"/api/workflow_templates/{PACK_DIR_NAME}/{name}.json")
        assert served == load(name)
        jpg = installed.get_bytes(f"/api/workflow_templates/{PACK_DIR_NAME}/{name}.jpg")
        assert jpg[:3] == b"\xff\xd8\xff", f"{name}.jpg is not served as a JPEG"


def check(result: dict, workflow: dict, object_info: dict) -> list[str]:
    """What is wrong with one loaded workflow, in words (empty: loads cleanly and converts like the frontend)."""
    problems = []
    if result["message"]:
        problems.append(f"the frontend shows: {result['message']!r}")
    if result["missing"]:
        problems.append(f"missing node types: {result['missing']}")
    problems += result["broken"]
    if (result["nodes"], result["links"]) != (len(workflow["nodes"]), len(workflow["links"])):
        problems.append(f"{result['nodes']} nodes / {result['links']} links loaded, "
                        f"saved {len(workflow['nodes'])} / {len(workflow['links'])}")
    for node in workflow["nodes"]:
        key = str(node["id"])
        if node["type"] in FRONTEND_ONLY or node["type"] not in object_info:
            continue
        shipped = node.get("widgets_values", [])
        info = object_info[node["type"]]
        predicted = [w.name for w in widget_layout(info, shipped)]
        shown = [w for w in result["widgets"].get(key, []) if w in predicted or w in input_types(info, shipped)]
        if shown != predicted:
            problems.append(f"#{key} {node['type']}: frontend widgets {result['widgets'].get(key)}, "
                            f"predicted {predicted}")
        held = result["values"].get(key, {})
        for widget, value in restored_values(info, shipped):
            if widget.input is not None and held.get(widget.name) != value:
                problems.append(f"#{key} {node['type']}: widget {widget.name} holds {held.get(widget.name)!r}, "
                                f"the save restores {value!r} on this host (shipped {shipped})")
    return problems + prompt_problems(result, workflow, object_info)


def prompt_problems(result: dict, workflow: dict, object_info: dict) -> list[str]:
    """Where the frontend's prompt and `workflow_api.to_api`'s differ. The frontend also sends its preview
    widgets (e.g. LoadVideo's `video-preview`); the host ignores inputs its definition lacks, so those are not
    compared."""
    if result["promptError"]:
        return [f"graphToPrompt failed: {result['promptError']}"]
    saved = {str(n["id"]): n for n in workflow["nodes"]}
    frontend = {}
    for key, node in result["prompt"].items():
        info = object_info.get(node["class_type"])
        known = input_types(info, saved[key].get("widgets_values")) if info and key in saved else node["inputs"]
        frontend[key] = {"inputs": {k: v for k, v in node["inputs"].items() if k in known},
                         "class_type": node["class_type"]}
    try:
        ours = to_api(workflow, object_info)
    except WorkflowError as exc:
        return [f"workflow_api: {exc}"]
    problems = []
    for key in sorted(set(frontend) | set(ours), key=int):
        if frontend.get(key) != ours.get(key):
            problems.append(f"prompt node {key}: frontend {frontend.get(key)}, workflow_api {ours.get(key)}")
    return problems


def test_every_workflow_loads_cleanly_and_converts_like_the_frontend(installed, browser_page, artifacts):
    page, server = browser_page, installed
    open_app(page, server)
    object_info = server.get_json("/object_info")
    problems = {}
    for name in NAMES:
        url = f"/api/workflow_templates/{PACK_DIR_NAME}/{name}.json"
        result = page.evaluate(LOAD_JS, [url, None, name])
        page.screenshot(path=str(artifacts / f"workflow_{name}.png"))
        problems[name] = check(result, load(name), object_info)
    assert not any(problems.values()), "\n".join(f"{n}: {p}" for n, ps in problems.items() for p in ps)
    errors = [e for e in page.console_errors if "speaker" in e.lower() or "mts" in e.lower()]
    assert not errors, errors

    # the same checks on a broken copy: a node type nobody installed and a link the nodes hold but the graph lacks
    broken = copy.deepcopy(load(NAMES[0]))
    victim = next(n for n in broken["nodes"] if n["type"] == "CreateVideo")
    victim["type"] = "MTS_NoSuchNode"
    del broken["links"][0]
    result = page.evaluate(LOAD_JS, [None, broken, "broken"])
    found = check(result, broken, object_info)
    assert result["missing"] == ["MTS_NoSuchNode"] and "MTS_NoSuchNode" in (result["message"] or ""), result["message"]
    # the broken link: older frontends keep it (and their prompt fails), newer ones drop it on load; either way the
    # check reports it, from the frontend's graph or from the saved file
    for symptoms in (["missing node types: ['MTS_NoSuchNode']"], ["holds missing link", "not in the links list"]):
        assert any(symptom in p for p in found for symptom in symptoms), (symptoms, found)
