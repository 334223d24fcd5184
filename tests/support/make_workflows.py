"""Write the sample workflows in `workflows/` (UI-format JSON plus a JPEG thumbnail each) with the real frontend.

Why the frontend: the files must be exactly what ComfyUI's own "Save" writes, so each graph in
`workflow_specs.py` is built through the LiteGraph API in headless chromium against the real `main.py`, laid out
left to right in columns, and saved from `app.graph.serialize()`; the thumbnail is a screenshot of that canvas.

The graphs are built on the declared floor host (pyproject `requires-comfyui`, e.g. ~/comfy/hosts/v0.12.0/ComfyUI),
so they hold no node input newer than the floor; `tests/host/test_workflows.py` checks they restore with the same
values on every newer host present. Rerun after changing `workflow_specs.py` (or when a node's inputs change), from
the pack's root, with ComfyUI's Python (needs that host, Playwright and the system chromium, like the browser tests;
nothing is downloaded):

    ~/comfy/venv/bin/python tests/support/make_workflows.py [name ...]

then run `tests/host/test_workflows.py` and `tests/browser/test_workflows.py`.
"""
from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import uuid
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from browser_host import APP, ComfyServer, chromium_page, find_chromium, open_frontend  # noqa: E402
from comfy_host import PACK_ROOT, declared_floor, extra_hosts, host_version  # noqa: E402
from workflow_specs import WORKFLOWS  # noqa: E402

OUT = PACK_ROOT / "workflows"
THUMB_WIDTH, THUMB_QUALITY = 640, 80
README_SHOTS = {"2_two_speakers_mask_widget": PACK_ROOT / "js" / "docs" / "images" / "two_speakers_graph.jpg"}
README_SHOT_WIDTH = 1600
UUID_NAMESPACE = uuid.UUID("6f1c2a7e-55d0-4d2b-9a44-6d756c746974")
# Column spacing of the layout (graph units).
COL_GAP, ROW_GAP, GROUP_PAD, TITLE_H = 70, 46, 14, 30
PEOPLE = {"two_people.png": 2, "four_people.png": 4}  # heads on the placeholder pictures
# Which widget of which loader names a model file, and the folder the README puts that file in.
MODEL_FOLDERS = {
    "UNETLoader": {"unet_name": "diffusion_models"}, "LoraLoaderModelOnly": {"lora_name": "loras"},
    "MTS_AdapterLoader": {"model_name": "model_patches"}, "VAELoader": {"vae_name": "vae"},
    "CLIPLoader": {"clip_name": "text_encoders"}, "CLIPVisionLoader": {"clip_name": "clip_vision"},
    "MTS_Wav2VecModelLoader": {"model": "audio_encoders"},
}

BUILD_JS = """async ([spec, gaps]) => {
  const app = window.comfyAPI.app.app;
  const [COL_GAP, ROW_GAP, PAD, TITLE] = gaps;
  app.graph.clear();
  const byKey = {};
  const frame = () => new Promise(r => requestAnimationFrame(r));
  const norm = v => { try { return JSON.stringify(JSON.parse(v)); } catch { return JSON.stringify(v); } };
  for (const s of spec.nodes) {
    const node = LiteGraph.createNode(s.type);
    if (!node) throw new Error(`unknown node type ${s.type}`);
    if (s.title) node.title = s.title;
    app.graph.add(node);
    for (const [name, value] of Object.entries(s.widgets)) {
      const w = node.widgets?.find(w => w.name === name);
      if (!w) throw new Error(`${s.type} has no widget ${name}: ${node.widgets?.map(w => w.name)}`);
      w.value = value;
      const input = node.inputs?.find(i => i.name === name);
      if (input?.type === 'COMFY_DYNAMICCOMBO_V3') { w.callback?.(value); await frame(); }
      if (norm(w.value) !== norm(value)) throw new Error(`${s.type}.${name} did not take ${value}`);
    }
    if (s.mode) node.mode = s.mode;
    if (s.color) {
      const c = LGraphCanvas.node_colors[s.color];
      node.color = c.color; node.bgcolor = c.bgcolor;
    }
    if (s.size) node.setSize(s.size);
    byKey[s.key] = node;
  }
  const slot = (list, ref, what) => {
    const i = typeof ref === 'number' ? ref : list.findIndex(x => x.name === ref);
    if (i < 0 || i >= list.length) throw new Error(`no ${what} ${ref}`);
    return i;
  };
  for (const [src, out, dst, input] of spec.links) {
    const a = byKey[src], b = byKey[dst];
    const link = a.connect(slot(a.outputs, out, `output of ${src}`), b, slot(b.inputs, input, `input of ${dst}`));
    if (!link) throw new Error(`could not link ${src}.${out} -> ${dst}.${input}`);
  }
  await frame();
  // columns left to right, nodes stacked top to bottom
  const cols = [...new Set(spec.nodes.map(s => s.col))].sort((a, b) => a - b);
  let x = 0;
  const extent = {};
  for (const c of cols) {
    const members = spec.nodes.filter(s => s.col === c).map(s => byKey[s.key]);
    const width = Math.max(...members.map(n => n.size[0]));
    let y = TITLE + PAD + 40;
    for (const n of members) { n.pos = [x + PAD, y]; y += n.size[1] + TITLE + ROW_GAP; }
    extent[c] = {x, width: width + 2 * PAD, members};
    x += width + 2 * PAD + COL_GAP;
  }
  for (const [c, title] of Object.entries(spec.groups)) {
    const e = extent[c];
    if (!e) continue;
    const group = new LiteGraph.LGraphGroup(title);
    const bottom = Math.max(...e.members.map(n => n.pos[1] + n.size[1]));
    group.pos = [e.x, 0];
    group.size = [e.width, bottom + PAD];
    app.graph.add(group);
  }
  // show the whole graph
  const right = x - COL_GAP, bottom = Math.max(...Object.values(byKey).map(n => n.pos[1] + n.size[1])) + PAD;
  const canvas = app.canvas.canvas;
  const scale = Math.min(canvas.clientWidth / (right + 40), canvas.clientHeight / (bottom + 40));
  app.canvas.ds.scale = scale;
  app.canvas.ds.offset = [20 / scale, 20 / scale];
  app.canvas.setDirty(true, true);
  await frame(); await frame();
  return app.graph.serialize();
}"""


RELOAD_JS = """async ([graph, name]) => {
  const app = window.comfyAPI.app.app;
  await app.loadGraphData(graph, true, true, name);
  await new Promise(r => setTimeout(r, 1500));
  app.canvas.setDirty(true, true);
  return app.graph.serialize();
}"""


def spec_json(workflow) -> dict:
    return {"nodes": [asdict(n) for n in workflow.nodes], "links": [list(link) for link in workflow.links],
            "groups": {str(k): v for k, v in workflow.groups.items()}}


def tidy(graph: dict, name: str) -> dict:
    """Drop the slots' null fields (older saves never had them) and give each workflow its own stable id."""
    for node in graph["nodes"]:
        for key in ("inputs", "outputs"):
            node[key] = [{k: v for k, v in slot.items() if v is not None} for slot in node.get(key) or []]
        if node.get("showAdvanced") is None:
            node.pop("showAdvanced", None)
    graph["id"] = str(uuid.uuid5(UUID_NAMESPACE, name))
    return graph


def thumbnail(page, width: int = None) -> bytes:
    """The canvas as a JPEG `width` pixels wide (default: the template thumbnail's width)."""
    from PIL import Image

    width = width or THUMB_WIDTH
    png = page.locator("#graph-canvas").screenshot(type="png")
    image = Image.open(io.BytesIO(png)).convert("RGB")
    height = round(image.height * width / image.width)
    out = io.BytesIO()
    image.resize((width, height), Image.LANCZOS).save(out, format="JPEG", quality=THUMB_QUALITY, optimize=True)
    return out.getvalue()


def write_placeholders(base: Path, nodes) -> None:
    """Empty model files and small input files under the names the given nodes ((type, widget values by name)
    pairs) use, in a server's base folder: the frontend then finds every file the workflows name, and the
    thumbnails (and the browser test) show no missing-file errors. Never written into a real ComfyUI."""
    import av
    import numpy as np
    import soundfile

    inputs = base / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    for kind, widgets in nodes:
        for name, folder in MODEL_FOLDERS.get(kind, {}).items():
            path = base / "models" / folder / widgets[name]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        if kind == "LoadImage":
            picture(PEOPLE.get(widgets["image"], 1)).save(inputs / widgets["image"])
        elif kind == "LoadAudio":
            soundfile.write(str(inputs / widgets["audio"]), np.zeros(16000, dtype=np.float32), 16000)
        elif kind == "LoadVideo":
            with av.open(str(inputs / widgets["file"]), "w") as container:
                stream = container.add_stream("libx264", rate=25)
                stream.width, stream.height, stream.pix_fmt = 832, 480, "yuv420p"
                frame = av.VideoFrame.from_image(picture(1))
                for _ in range(5):
                    container.mux(stream.encode(frame))
                container.mux(stream.encode())


def picture(people: int):
    """A flat illustration of `people` heads in a row (the placeholder picture of the thumbnails)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (832, 480), (70, 96, 128))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 380, 832, 480), fill=(52, 60, 52))
    width = 832 / people
    for k in range(people):
        cx = width * (k + 0.5)
        r = min(70, width * 0.3)
        draw.ellipse((cx - 1.6 * r, 250, cx + 1.6 * r, 480 + r), fill=(90, 70, 110))
        draw.ellipse((cx - r, 240 - 2.3 * r, cx + r, 240 - 0.1 * r), fill=(232, 196, 166))
        draw.ellipse((cx - 0.35 * r, 240 - 0.8 * r, cx + 0.35 * r, 240 - 0.55 * r), fill=(150, 60, 60))
    return image


def open_app(page, server) -> None:
    open_frontend(page, server, timeout=90_000)
    # the thumbnail shows the graph alone: no menus, side bars or minimap
    page.evaluate(f"""async () => {{
        const settings = {APP}.extensionManager.setting;
        for (const [key, value] of [['Comfy.Minimap.Visible', false], ['Comfy.Graph.CanvasMenu', false],
                                    ['Comfy.Graph.CanvasInfo', false],
                                    ['LiteGraph.Canvas.LowQualityRenderingZoomThreshold', 0.3]])
            await settings.set(key, value);
        await {APP}.extensionManager.command.execute('Workspace.ToggleFocusMode');
    }}""")


def floor_host() -> Path:
    """The host the workflows are saved against: the declared floor release (pyproject `requires-comfyui`), so no
    node input newer than the floor gets into them (newer hosts restore such saves with the same values)."""
    floor = declared_floor()
    root = Path(os.environ["COMFYUI_PATH"]) if os.environ.get("COMFYUI_PATH") else next(
        (h for h in extra_hosts() if host_version(h) == floor), None)
    wanted = ".".join(map(str, floor))
    if root is None or host_version(root) != floor:
        raise SystemExit(f"the workflows are saved against ComfyUI {wanted}, the declared floor; build it with "
                         f"`bash setup-host.sh <mirror> v{wanted}` (or set COMFYUI_PATH to such a host); "
                         f"found {root} ({host_version(root) if root else 'none'})")
    return root


def main(names: list[str]) -> None:
    root = floor_host()
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("need chromium (apt-get install chromium)")
    selected = [w() for w in WORKFLOWS if not names or w().name in names]
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_placeholders(Path(tmp) / "server", [(n.type, n.widgets) for w in WORKFLOWS for n in w().nodes])
        server = ComfyServer(root, Path(tmp) / "server").start(timeout=120)
        try:
            with chromium_page(chromium, Path(tmp) / "profile", viewport=(2200, 1400)) as page:
                open_app(page, server)
                for workflow in selected:
                    built = page.evaluate(BUILD_JS, [spec_json(workflow), [COL_GAP, ROW_GAP, GROUP_PAD, TITLE_H]])
                    # open what was built and save again: the file is what "open, then Save" writes
                    graph = tidy(page.evaluate(RELOAD_JS, [built, workflow.name]), workflow.name)
                    (OUT / f"{workflow.name}.json").write_text(json.dumps(graph, indent=2, ensure_ascii=False) + "\n")
                    jpg = thumbnail(page)
                    (OUT / f"{workflow.name}.jpg").write_bytes(jpg)
                    if workflow.name in README_SHOTS:  # the README's picture of the graph, readable size
                        README_SHOTS[workflow.name].write_bytes(thumbnail(page, README_SHOT_WIDTH))
                    print(f"{workflow.name}: {len(graph['nodes'])} nodes, {len(graph['links'])} links, "
                          f"thumbnail {len(jpg) // 1024} KB")
                errors = [e for e in page.console_errors if "mts" in e.lower() or "speaker" in e.lower()]
                if errors:
                    print("console errors:", *errors, sep="\n  ")
        finally:
            server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
