"""What the shipped workflows hold for a user who has nothing yet: each loader's model metadata (the frontend's
missing-models list shows folder and download link from it), a layout without overlapping nodes, and notes that
promise only what ships (no sample inputs do)."""
from __future__ import annotations

import json

import pytest

from comfy_host import PACK_ROOT
from readme_tables import url_problem
from workflow_api import FRONTEND_ONLY

WORKFLOW_DIR = PACK_ROOT / "workflows"
NAMES = sorted(p.stem for p in WORKFLOW_DIR.glob("*.json"))


def load(name: str) -> dict:
    return json.loads((WORKFLOW_DIR / f"{name}.json").read_text())


def widget(node: dict, name: str):
    return node["widgets_values_named"][name]


MODEL_SUFFIXES = (".safetensors", ".sft", ".ckpt", ".pt", ".pth", ".bin", ".gguf")


def model_widgets(node: dict) -> list[str]:
    """The model file names a node's widgets hold (what the frontend's missing-models scan looks at)."""
    return [v for v in node.get("widgets_values") or [] if isinstance(v, str) and v.endswith(MODEL_SUFFIXES)]


@pytest.mark.parametrize("name", NAMES)
def test_every_loader_carries_its_model_metadata(host, readme_models, name):
    """The frontend's missing-models list shows a file's folder and download link only from the loader's
    `properties.models` (name, url, directory). Every model file a template names has an entry whose folder is one
    the host registers and the loader really lists that file from, and whose URL is the README's source."""
    import folder_paths

    from workflow_api import host_object_info

    problems = []
    for node in load(name)["nodes"]:
        for file in model_widgets(node):
            where = f"#{node['id']} {node['type']} '{file}'"
            entry = next((m for m in node.get("properties", {}).get("models") or [] if m.get("name") == file), None)
            if entry is None:
                problems.append(f"{where}: no properties.models entry")
                continue
            folder, url = entry.get("directory"), entry.get("url", "")
            if folder not in folder_paths.folder_names_and_paths:
                problems.append(f"{where}: directory {folder!r} is not a models folder of the host")
                continue
            path = host.model_path(folder, file)
            if not path.exists():  # what the README models fixture did not place: any file lists for these loaders
                path.write_bytes(b"")
            spec = host_object_info(host.node_mappings, [node["type"]])[node["type"]]["input"]["required"]
            options = [o for v in spec.values() for o in (v[0] if isinstance(v[0], list) else
                                                          v[1].get("options", []) if v[0] == "COMBO" else [])]
            if file not in options:
                problems.append(f"{where}: a file in models/{folder} is not offered by the node")
            problem = url_problem(file, url)
            if problem:
                problems.append(f"{where}: {problem}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", NAMES)
def test_no_two_nodes_overlap(name):
    title = 30  # LiteGraph's title bar sits above `pos`
    boxes = [(n["id"], n["type"], n["pos"][0], n["pos"][1] - title, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for n in load(name)["nodes"]]
    hits = [(a[:2], b[:2]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if a[2] < b[4] and b[2] < a[4] and a[3] < b[5] and b[3] < a[5]]
    assert not hits, f"{name}: overlapping nodes {hits}"


@pytest.mark.parametrize("name", NAMES)
def test_notes_promise_only_what_ships(name):
    """No sample inputs ship: the notes say the input names are placeholders and never that it runs as loaded."""
    nodes = load(name)["nodes"]
    text = "\n".join(widget(n, "text") for n in nodes if n["type"] in FRONTEND_ONLY)
    inputs = [widget(n, k) for n in nodes for k in ("image", "audio", "file")
              if n["type"] in ("LoadImage", "LoadAudio", "LoadVideo") and k in n.get("widgets_values_named", {})]
    assert inputs, name
    shipped = {p.name for p in PACK_ROOT.rglob("*") if p.is_file() and ".git" not in p.parts}
    assert not set(inputs) & shipped, "inputs ship now: say so in the notes instead of calling them placeholders"
    assert "No sample pictures, clips or voices ship" in text and "placeholders" in text, name
    assert "runs as loaded" not in text, name
