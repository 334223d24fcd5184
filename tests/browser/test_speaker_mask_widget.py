"""The Speaker Masks widget in the host's real frontend, driven like a user: add the node, drop an image on it,
draw two boxes with the mouse (one at another zoom level), run from the Run button, read the masks back from the
host, save the workflow, reload the page and find the same boxes.

Screenshots go to the artifact folder ($MTS_ARTIFACTS or pytest's temp folder), never into the repository.
"""
from __future__ import annotations

import base64
import io
import json
import urllib.parse
import urllib.request

import numpy as np
import torch
from PIL import Image, ImageDraw

from browser_host import APP, frontend_root, open_frontend
from comfy_host import PACK_DIR_NAME
from wan_multitalk.masks import Box, boxes_to_masks
from wan_multitalk.regions import widget_schema

NODE = "MTS_SpeakerMasks"
IMG_W, IMG_H = 640, 400
WORKFLOW = "mts_speaker_masks_test.json"
# Where the two boxes are dragged, in fractions of the image. Pointer positions are whole CSS pixels, so the
# stored boxes land within a pixel of these.
TARGETS = [(0.12, 0.18, 0.42, 0.72), (0.58, 0.2, 0.9, 0.8)]

EDITOR = f"{APP}.graph._nodes.find(n => n.type === '{NODE}')?.mtsSpeakerEditor"


def reference_png() -> bytes:
    img = Image.new("RGB", (IMG_W, IMG_H), (60, 80, 110))
    draw = ImageDraw.Draw(img)
    draw.ellipse((110, 80, 250, 260), fill=(230, 190, 160))  # "person" 1
    draw.ellipse((410, 90, 550, 270), fill=(200, 150, 120))  # "person" 2
    draw.rectangle((0, 330, IMG_W, IMG_H), fill=(40, 50, 40))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def open_app(page, server):
    open_frontend(page, server, NODE)
    page.wait_for_function(f"() => {APP}.extensions.some(e => e.name === 'MultiTalkStudio.SpeakerMasks')")


def add_node(page, extra_js=""):
    """An empty graph with one Speaker Masks node at zoom 1; `extra_js` may add more (the node is `masks`)."""
    ids = page.evaluate(f"""() => {{
        const app = {APP};
        app.graph.clear();
        const masks = LiteGraph.createNode('{NODE}');
        masks.pos = [100, 140];
        app.graph.add(masks);
        const ids = {{masks: masks.id}};
        {extra_js}
        app.canvas.ds.offset = [0, 0];
        app.canvas.ds.scale = 1;
        app.canvas.setDirty(true, true);
        return ids;
    }}""")
    page.wait_for_function(f"() => {EDITOR}?.canvas.clientWidth > 100")
    wait_until_still(page)
    return ids


def wait_until_still(page):
    """The DOM widget follows the graph canvas a frame or two late: wait until it stops moving."""
    page.evaluate(f"""async () => {{
        const frame = () => new Promise(r => requestAnimationFrame(r));
        let last = '', same = 0;
        for (let i = 0; i < 120 && same < 3; i++) {{
            await frame();
            const r = {EDITOR}.canvas.getBoundingClientRect();
            const now = [r.left, r.top, r.width, r.height].join();
            same = now === last ? same + 1 : 0;
            last = now;
        }}
    }}""")


def file_transfer_js(name: str) -> str:
    """JS that builds `dt`, a DataTransfer holding the reference PNG (passed in as base64 `b64`) named `name`."""
    return (f"const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));"
            f"const dt = new DataTransfer();"
            f"dt.items.add(new File([bytes], '{name}', {{type: 'image/png'}}));")


def drag(page, editor_points, steps=8):
    (x0, y0), (x1, y1) = editor_points
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=steps)
    page.mouse.up()


def client_point(page, x, y):
    p = page.evaluate(f"([x, y]) => {EDITOR}.normToClient(x, y)", [x, y])
    return p["x"], p["y"]


def editor_state(page) -> dict:
    return json.loads(page.evaluate(f"() => {EDITOR}.widget.value"))


def close(a, b, tol):
    return all(abs(u - v) <= tol for u, v in zip(a, b))


def wait_for_run(page, server, click_run):
    page.evaluate(f"""() => {{
        window.mtsRun = null;
        const api = window.comfyAPI.api.api;
        const done = (kind) => (e) => {{ window.mtsRun ??= {{kind, detail: e.detail}}; }};
        api.addEventListener('execution_success', done('success'));
        api.addEventListener('execution_error', done('error'));
    }}""")
    click_run()
    page.wait_for_function("() => window.mtsRun !== null", timeout=60_000)
    run = page.evaluate("() => window.mtsRun")
    assert run["kind"] == "success", f"the run failed: {json.dumps(run['detail'])[:2000]}"
    return server.get_json(f"/history/{run['detail']['prompt_id']}")[run["detail"]["prompt_id"]]


def test_draw_run_save_reload(comfy_server, browser_page, artifacts):
    page, server = browser_page, comfy_server
    open_app(page, server)

    # 1. add the node (and a mask -> image -> save chain to read the masks back) to an empty graph
    ids = add_node(page, """
        const toImage = LiteGraph.createNode('MaskToImage');
        toImage.pos = [640, 140];
        app.graph.add(toImage);
        const save = LiteGraph.createNode('SaveImage');
        save.pos = [640, 260];
        app.graph.add(save);
        masks.connect(0, toImage, 0);
        toImage.connect(0, save, 0);
        ids.save = save.id;""")

    # 2. drop an image file onto the widget: it is uploaded to the input folder and shown
    page.evaluate(f"""(b64) => {{
        {file_transfer_js('two_people.png')}
        const canvas = {EDITOR}.canvas;
        for (const type of ['dragenter', 'dragover', 'drop'])
            canvas.dispatchEvent(new DragEvent(type, {{dataTransfer: dt, bubbles: true, cancelable: true}}));
    }}""", base64.b64encode(reference_png()).decode())
    page.wait_for_function(f"() => {EDITOR}.image?.naturalWidth === {IMG_W}", timeout=20_000)
    reference = page.evaluate(f"() => {APP}.graph.getNodeById({ids['masks']}).widgets.find(w => w.name === 'reference').value")
    assert reference.startswith("two_people") and reference.endswith(".png")
    page.screenshot(path=str(artifacts / "1_image_loaded.png"))

    # 3. draw speaker 1 with the mouse at zoom 1
    drag(page, [client_point(page, *TARGETS[0][:2]), client_point(page, *TARGETS[0][2:])])
    state = editor_state(page)
    assert len(state["speakers"]) == 1

    # ...zoom the graph with the wheel over the widget (the canvas keeps its zoom habit), draw speaker 2 there
    scale_before = page.evaluate(f"() => {APP}.canvas.ds.scale")
    centre = client_point(page, 0.5, 0.5)
    page.mouse.move(*centre)
    page.mouse.wheel(0, 240)
    wait_until_still(page)
    scale_after = page.evaluate(f"() => {APP}.canvas.ds.scale")
    assert scale_after < scale_before * 0.95, "the wheel over the widget must still zoom the graph"
    drag(page, [client_point(page, *TARGETS[1][:2]), client_point(page, *TARGETS[1][2:])])
    state = editor_state(page)
    assert len(state["speakers"]) == 2
    tolerance = 2.5 / (IMG_W * 0.45 * scale_after)  # a couple of screen pixels, in fractions of the image
    for drawn, target in zip(state["speakers"], TARGETS):
        assert close(drawn["box"], target, 0.01), (drawn["box"], target)
        assert drawn["strokes"] == []
    assert tolerance < 0.01
    page.screenshot(path=str(artifacts / "2_two_boxes_drawn.png"))
    page.evaluate(f"() => {{ {APP}.canvas.ds.scale = 1; {APP}.canvas.ds.offset = [0, 0]; {APP}.canvas.setDirty(true, true); }}")
    wait_until_still(page)

    # 4. run with the frontend's Run button; read the masks the host made back from its output folder
    history = wait_for_run(page, server, lambda: page.get_by_role("button", name="Run", exact=True).first.click())
    boxes = [Box(*s["box"]) for s in state["speakers"]]
    expected = boxes_to_masks(boxes, IMG_H, IMG_W)
    saved = history["outputs"][str(ids["save"])]["images"]
    assert len(saved) == 2
    for i, item in enumerate(saved):
        query = urllib.parse.urlencode({k: item[k] for k in ("filename", "subfolder", "type")})
        png = Image.open(io.BytesIO(server.get_bytes(f"/view?{query}"))).convert("L")
        got = torch.from_numpy(np.asarray(png, dtype=np.float32) / 255.0)
        assert tuple(got.shape) == (IMG_H, IMG_W)
        assert torch.equal(got, expected[i]), f"speaker {i + 1}: {int((got != expected[i]).sum())} pixels differ"
    info = history["outputs"][str(ids["masks"])]["mts_result"][0]
    assert info["source"] == "drawn" and info["image_size"] == [IMG_W, IMG_H] and info["speakers"] == 2
    page.wait_for_function(f"() => {EDITOR}.previewImage?.naturalWidth === 832")
    page.screenshot(path=str(artifacts / "3_after_run.png"))
    page.get_by_role("button", name="Result", exact=True).click()
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "4_token_preview.png"))
    page.get_by_role("button", name="Edit", exact=True).click()

    # 5. save the workflow through the host's user-data API (what Save does), reload the page, open it again
    workflow = page.evaluate(f"() => {APP}.graph.serialize()")
    text = json.dumps(workflow)
    assert "data:image" not in text and "base64" not in text and len(text) < 30_000, "the image must not be embedded"
    request = urllib.request.Request(f"{server.url}/api/userdata/{urllib.parse.quote('workflows/' + WORKFLOW, safe='')}"
                                     "?overwrite=true", data=text.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200
    page.reload()
    open_app(page, server)
    page.evaluate(f"""async (name) => {{
        const resp = await window.comfyAPI.api.api.getUserData('workflows/' + name);
        await {APP}.loadGraphData(await resp.json(), true, true, name);
        {APP}.canvas.ds.offset = [0, 0];
        {APP}.canvas.ds.scale = 1;
        {APP}.canvas.setDirty(true, true);
    }}""", WORKFLOW)
    page.wait_for_function(f"() => {EDITOR}?.image?.naturalWidth === {IMG_W}", timeout=20_000)
    reloaded = editor_state(page)
    assert [s["box"] for s in reloaded["speakers"]] == [s["box"] for s in state["speakers"]]
    assert reloaded["version"] == 1
    wait_until_still(page)
    page.screenshot(path=str(artifacts / "5_reloaded.png"))
    errors = [e for e in page.console_errors if "speaker" in e.lower() or "mts" in e.lower()]
    assert not errors, errors


def test_edit_gestures_keep_the_canvas_habits(comfy_server, browser_page, artifacts):
    page, server = browser_page, comfy_server
    open_app(page, server)
    ids = add_node(page)

    # paste (Ctrl+V with the node selected) loads the image into this node; no Load Image node appears
    page.mouse.click(*client_point(page, 0.5, 0.5))
    assert page.evaluate(f"() => Object.keys({APP}.canvas.selected_nodes)") == [str(ids["masks"])]
    page.evaluate(f"""(b64) => {{
        {file_transfer_js('pasted_people.png')}
        document.activeElement.dispatchEvent(new ClipboardEvent('paste', {{clipboardData: dt, bubbles: true, cancelable: true}}));
    }}""", base64.b64encode(reference_png()).decode())
    page.wait_for_function(f"() => {EDITOR}.image?.naturalWidth === {IMG_W}", timeout=20_000)
    assert page.evaluate(f"() => {APP}.graph._nodes.map(n => n.type)") == [NODE]

    # two boxes; move the first by its middle, resize it by its bottom-right handle
    drag(page, [client_point(page, 0.1, 0.2), client_point(page, 0.4, 0.7)])
    drag(page, [client_point(page, 0.6, 0.2), client_point(page, 0.9, 0.8)])
    drag(page, [client_point(page, 0.25, 0.45), client_point(page, 0.3, 0.5)])
    drag(page, [client_point(page, 0.45, 0.75), client_point(page, 0.5, 0.85)])
    first = editor_state(page)["speakers"][0]["box"]
    assert close(first, (0.15, 0.25, 0.5, 0.85), 0.01), first

    # speaker 2: brush a stroke, erase across its box; name it and move it first
    page.get_by_role("button", name="2", exact=True).click()
    page.get_by_role("button", name="Brush", exact=True).click()
    drag(page, [client_point(page, 0.55, 0.9), client_point(page, 0.95, 0.95)])
    page.get_by_role("button", name="Erase", exact=True).click()
    drag(page, [client_point(page, 0.75, 0.1), client_point(page, 0.75, 0.9)])
    label = page.locator("input[placeholder=label]")
    label.click()
    page.keyboard.type("Bob")
    page.keyboard.press("Backspace")  # typed into the field: the host's Delete/Backspace shortcuts stay away
    page.keyboard.type("b")
    page.get_by_role("button", name="\u25B2", exact=True).click()
    speakers = editor_state(page)["speakers"]
    assert [s["label"] for s in speakers] == ["Bob", ""] and page.evaluate(f"() => {APP}.graph._nodes.length") == 1
    assert [s["mode"] for s in speakers[0]["strokes"]] == ["paint", "erase"]
    assert all(0 <= v <= 1 for s in speakers[0]["strokes"] for p in s["points"] for v in p)
    assert close(speakers[1]["box"], first, 1e-9)

    # a background box; then delete speaker 1 ("Bob") and find the other one promoted
    page.get_by_role("button", name="Background", exact=True).click()
    page.get_by_role("button", name="Box", exact=True).click()
    drag(page, [client_point(page, 0.0, 0.86), client_point(page, 1.0, 1.0)])
    state = editor_state(page)
    assert close(state["background"]["box"], (0.0, 0.86, 1.0, 1.0), 0.01)
    page.screenshot(path=str(artifacts / "6_brush_erase_background.png"))
    page.get_by_role("button", name="1 Bob", exact=True).click()
    page.get_by_role("button", name="\u2715", exact=True).click()
    assert [s["box"] for s in editor_state(page)["speakers"]] == [first]

    # the host's undo (Ctrl+Z on the canvas) brings the deleted speaker back
    page.mouse.click(900, 600)  # empty graph canvas: focus leaves the widget
    page.keyboard.press("Control+z")
    page.wait_for_function(f"() => JSON.parse({EDITOR}.widget.value).speakers.length === 2")

    # middle-drag over the widget pans the graph, right-click opens the node's menu, wheel zooms (test 1)
    offset = page.evaluate(f"() => [...{APP}.canvas.ds.offset]")
    x, y = client_point(page, 0.5, 0.5)
    page.mouse.move(x, y)
    page.mouse.down(button="middle")
    page.mouse.move(x + 60, y + 30, steps=5)
    page.mouse.up(button="middle")
    moved = page.evaluate(f"() => [...{APP}.canvas.ds.offset]")
    assert abs(moved[0] - offset[0] - 60) < 2 and abs(moved[1] - offset[1] - 30) < 2
    assert len(editor_state(page)["speakers"]) == 2  # and drew nothing
    wait_until_still(page)
    page.mouse.click(*client_point(page, 0.5, 0.5), button="right")
    page.wait_for_selector(".litecontextmenu", timeout=5_000)
    page.mouse.click(900, 600)
    page.wait_for_selector(".litecontextmenu", state="detached", timeout=5_000)

    # a connected image replaces the upload: after a run the widget shows the host's copy of it
    page.evaluate(f"""async (name) => {{
        const app = {APP};
        await app.refreshComboInNodes();
        const load = LiteGraph.createNode('LoadImage');
        load.pos = [-260, 140];
        app.graph.add(load);
        load.widgets.find(w => w.name === 'image').value = name;
        load.connect(0, app.graph.getNodeById({ids['masks']}), 0);
        app.graph.getNodeById({ids['masks']}).widgets.find(w => w.name === 'include_background').value = true;
    }}""", page.evaluate(f"() => {APP}.graph.getNodeById({ids['masks']}).widgets.find(w => w.name === 'reference').value"))
    page.wait_for_function(f"() => {EDITOR}.image === null")  # linked, not run yet: no picture to show
    history = wait_for_run(page, server, lambda: page.evaluate(f"() => {APP}.queuePrompt(0, 1)"))
    info = history["outputs"][str(ids["masks"])]["mts_result"][0]
    assert info["image_origin"] == "connected" and info["speakers"] == 2 and info["background"] is True
    page.wait_for_function(f"() => {EDITOR}.imageKey?.startsWith('temp/') && {EDITOR}.image?.naturalWidth === {IMG_W}")
    page.screenshot(path=str(artifacts / "7_connected_image_after_run.png"))


def test_the_widget_draws_with_the_schema_python_sends(comfy_server, browser_page):
    """Version, speaker limit, colours, token size and label length come from wan_multitalk/regions.py through
    the input definition: the widget holds Python's values and a user cannot add more speakers than it allows."""
    page = browser_page
    open_app(page, comfy_server)
    add_node(page)
    assert page.evaluate(f"() => {EDITOR}.schema") == json.loads(json.dumps(widget_schema()))
    limit = widget_schema()["max_speakers"]
    for _ in range(limit):
        page.get_by_role("button", name="+ speaker", exact=True).click()
    assert page.get_by_role("button", name="+ speaker", exact=True).is_disabled()
    assert page.evaluate(f"() => {EDITOR}.state.speakers.length") == limit
    assert page.evaluate(f"() => {EDITOR}.root.querySelector('input[placeholder=label]').maxLength") == \
        widget_schema()["label_length"]
    chips = page.evaluate(f"() => [...{EDITOR}.toolbar.speakerBar.children].slice(0, {limit})"
                          ".map(c => getComputedStyle(c).backgroundColor)")
    # nothing drawn yet: each chip is its speaker's colour at 45 % opacity (channels rounded half up, as JS does)
    expected = [f"rgba({', '.join(str(int(c * 255 + 0.5)) for c in rgb)}, 0.45)"
                for rgb in widget_schema()["speaker_rgb"]]
    assert chips == expected[:limit]


FRONTEND_MODULE = f"/extensions/{PACK_DIR_NAME}/speaker_masks/frontend.js"


def test_every_frontend_member_the_widget_relies_on_is_there(comfy_server, browser_page):
    """js/speaker_masks/frontend.js, the widget's one way into the frontend: nothing it relies on is missing from
    this frontend (and its check does notice a member going missing)."""
    page = browser_page
    open_app(page, comfy_server)
    found = page.evaluate("""async (url) => {
        const frontend = await import(url);
        const canvas = window.comfyAPI.app.app.canvas;
        const before = frontend.frontendProblems();
        canvas.emitAfterChange = undefined;  // as if this frontend had dropped it
        const broken = frontend.frontendProblems();
        delete canvas.emitAfterChange;
        return {before, broken, after: frontend.frontendProblems(), relied: Object.keys(frontend.FRONTEND_API),
                version: window.__COMFYUI_FRONTEND_VERSION__};
    }""", FRONTEND_MODULE)
    served = frontend_root()
    assert served is None or found["version"] in str(served), f"asked for {served}, the page runs {found['version']}"
    assert found["before"] == [] == found["after"], f"this frontend lacks {found['before']} of {found['relied']}"
    assert found["broken"] == ["app.canvas.emitAfterChange"]
    assert not [e for e in page.console_errors if "MultiTalk Studio" in e], page.console_errors


def test_a_keyboard_edit_reaches_undo_and_the_modified_mark_at_once(comfy_server, browser_page):
    """Typing a speaker's name (no mouse: the frontend's own listeners ignore keys typed into a text field) is
    recorded by the change tracker as it happens, which then announces the changed graph."""
    page = browser_page
    open_app(page, comfy_server)
    add_node(page)
    drag(page, [client_point(page, 0.1, 0.2), client_point(page, 0.4, 0.7)])
    page.locator("input[placeholder=label]").click()
    page.evaluate("""() => {
        window.mtsGraphChanges = [];
        window.comfyAPI.api.api.addEventListener('graphChanged', (e) => window.mtsGraphChanges.push(JSON.stringify(e.detail)));
    }""")
    page.keyboard.type("Ann")
    page.wait_for_function("() => window.mtsGraphChanges.some(g => g.includes('Ann'))", timeout=5_000)
