"""The Speaker Masks widget in a browser page, for the browser tests: open the frontend, add the node, aim the mouse
at fractions of the picture, read the widget's value. Aiming reads the widget's geometry; everything a test does
to the widget itself goes through the mouse and keyboard."""
from __future__ import annotations

import json

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


