"""The Speaker Masks widget in a browser page, for the browser tests: open the frontend, add the node, aim the mouse
at fractions of the picture, read the widget's value. Aiming reads the widget's geometry; everything a test does
to the widget itself goes through the mouse and keyboard."""
from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request

from PIL import Image

from browser_host import APP, open_frontend

NODE = "MTS_SpeakerMasks"
EDITOR = f"{APP}.graph._nodes.find(n => n.type === '{NODE}')?.mtsSpeakerEditor"


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




def widget_point(page, node_js: str, name: str):
    """Client coordinates of the middle of a node's canvas-drawn widget `name` (`node_js` finds the node)."""
    return page.evaluate(f"""() => {{
        const app = {APP};
        const node = {node_js};
        const w = node.widgets.find(w => w.name === '{name}');
        const y = node.pos[1] + (w.last_y ?? w.y) + 10;
        const [cx, cy] = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + node.size[0] / 2, y]);
        const r = app.canvas.canvas.getBoundingClientRect();
        return [r.left + cx, r.top + cy];
    }}""")


def image_pixel(page, x: float, y: float) -> list[int]:
    """The RGB the widget's canvas shows at fractions (x, y) of the picture."""
    return page.evaluate(f"""([fx, fy]) => {{
        const editor = {EDITOR};
        const c = editor.canvas, a = editor.layout(), k = c.width / c.clientWidth;
        const d = c.getContext('2d').getImageData(Math.round((a.x + fx * a.w) * k), Math.round((a.y + fy * a.h) * k), 1, 1).data;
        return [d[0], d[1], d[2]];
    }}""", [x, y])


def upload_input(server, name: str, png: bytes) -> None:
    """Put a picture in the server's input folder through its public upload route (what Load Image's upload does)."""
    boundary = "mtsboundary7f3a"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png + (
            f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\ntrue"
            f"\r\n--{boundary}--\r\n").encode()
    request = urllib.request.Request(f"{server.url}/upload/image", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200, resp.status


def solid_png(rgb, size=(416, 240)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, tuple(rgb)).save(buf, format="PNG")
    return buf.getvalue()


def save_workflow(server, text: str, name: str) -> None:
    """Store a workflow's JSON under the user's workflows, through the host's user-data API (what Save does)."""
    request = urllib.request.Request(f"{server.url}/api/userdata/{urllib.parse.quote('workflows/' + name, safe='')}"
                                     "?overwrite=true", data=text.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def reopen_workflow(page, name: str) -> None:
    """Open a saved workflow again, at zoom 1 with the graph's origin in the corner."""
    page.evaluate(f"""async (name) => {{
        const resp = await window.comfyAPI.api.api.getUserData('workflows/' + name);
        await {APP}.loadGraphData(await resp.json(), true, true, name);
        {APP}.canvas.ds.offset = [0, 0];
        {APP}.canvas.ds.scale = 1;
        {APP}.canvas.setDirty(true, true);
    }}""", name)
