"""Take the README's screenshot of the Speaker Masks widget: js/docs/images/speaker_masks_widget.png.

It starts the real ComfyUI (the host `find_host()` finds) on a loopback port with this pack, opens its
frontend in headless Debian chromium, adds a Speaker Masks node, drops a drawn two-person picture onto
it, drags two boxes with the mouse, names the speakers and saves a picture of the node. Nothing is
downloaded. Rerun it after changing the widget, from the pack's folder with ComfyUI's Python:

    python tests/support/widget_screenshot.py [--out js/docs/images/speaker_masks_widget.png]

The file is kept under 200 KB (palette PNG) so the repository stays light.
"""
from __future__ import annotations

import argparse
import base64
import io
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_host import APP, ComfyServer, chromium_page, find_chromium, open_frontend  # noqa: E402
from comfy_host import PACK_ROOT, find_host  # noqa: E402

NODE = "MTS_SpeakerMasks"
EDITOR = f"{APP}.graph._nodes.find(n => n.type === '{NODE}').mtsSpeakerEditor"
PICTURE_SIZE = (832, 480)
# Where the boxes are dragged (fractions of the picture) and what the speakers are called.
SPEAKERS = [((0.08, 0.12, 0.46, 0.98), "Anna"), ((0.55, 0.1, 0.93, 0.98), "Ben")]
MAX_BYTES = 200_000
DEFAULT_OUT = PACK_ROOT / "js" / "docs" / "images" / "speaker_masks_widget.png"


def two_people_png() -> bytes:
    """A flat drawing of two people side by side: the widget needs a picture, and a drawn one is ours."""
    w, h = PICTURE_SIZE
    img = Image.new("RGB", PICTURE_SIZE)
    draw = ImageDraw.Draw(img)
    for y in range(h):  # a wall with a soft vertical gradient
        shade = int(70 + 50 * y / h)
        draw.line([(0, y), (w, y)], fill=(shade, shade + 12, shade + 30))
    draw.rectangle((0, int(h * 0.78), w, h), fill=(78, 62, 52))  # a table edge
    for cx, skin, shirt in ((0.27, (236, 196, 168), (190, 70, 70)), (0.74, (198, 150, 118), (60, 110, 170))):
        x = int(cx * w)
        draw.ellipse((x - 150, int(h * 0.52), x + 150, int(h * 1.25)), fill=shirt)  # shoulders
        draw.rectangle((x - 28, int(h * 0.43), x + 28, int(h * 0.58)), fill=skin)  # neck
        draw.ellipse((x - 72, int(h * 0.14), x + 72, int(h * 0.5)), fill=skin)  # head
        draw.chord((x - 76, int(h * 0.1), x + 76, int(h * 0.36)), 180, 360, fill=(60, 42, 32))  # hair
        for eye in (-26, 26):
            draw.ellipse((x + eye - 7, int(h * 0.29) - 5, x + eye + 7, int(h * 0.29) + 5), fill=(40, 30, 30))
        draw.ellipse((x - 20, int(h * 0.39), x + 20, int(h * 0.42)), fill=(150, 70, 70))  # mouth
    img = img.filter(ImageFilter.SMOOTH)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def capture(page, server) -> bytes:
    open_frontend(page, server, NODE)
    page.evaluate(f"""() => {{
        const app = {APP};
        app.graph.clear();
        const node = LiteGraph.createNode('{NODE}');
        node.pos = [120, 170];
        app.graph.add(node);
        node.setSize([640, Math.max(node.size[1], 720)]);
        app.canvas.ds.offset = [0, 0];
        app.canvas.ds.scale = 1;
        app.canvas.setDirty(true, true);
    }}""")
    page.wait_for_function(f"() => {EDITOR}?.canvas.clientWidth > 100")
    page.evaluate(f"""(b64) => {{
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'two_people.png', {{type: 'image/png'}}));
        for (const type of ['dragenter', 'dragover', 'drop'])
            {EDITOR}.canvas.dispatchEvent(new DragEvent(type, {{dataTransfer: dt, bubbles: true, cancelable: true}}));
    }}""", base64.b64encode(two_people_png()).decode())
    page.wait_for_function(f"() => {EDITOR}.image?.naturalWidth === {PICTURE_SIZE[0]}", timeout=20_000)
    page.wait_for_timeout(300)
    for index, ((x0, y0, x1, y1), label) in enumerate(SPEAKERS):
        start = page.evaluate(f"([x, y]) => {EDITOR}.normToClient(x, y)", [x0, y0])
        end = page.evaluate(f"([x, y]) => {EDITOR}.normToClient(x, y)", [x1, y1])
        page.mouse.move(start["x"], start["y"])
        page.mouse.down()
        page.mouse.move(end["x"], end["y"], steps=8)
        page.mouse.up()
        page.get_by_role("button", name=str(index + 1), exact=True).click()
        page.locator("input[placeholder=label]").fill(label)
    page.mouse.click(5, 5)  # nothing selected on the graph: no selection outline or toolbox
    page.wait_for_timeout(500)
    box = page.evaluate(f"""() => {{
        const app = {APP};
        const node = app.graph._nodes.find(n => n.type === '{NODE}');
        const [x, y, w, h] = node.getBounding();
        const [cx, cy] = app.canvas.ds.convertOffsetToCanvas([x, y]);
        const rect = app.canvas.canvas.getBoundingClientRect();
        const scale = app.canvas.ds.scale;
        return {{x: rect.left + cx - 6, y: rect.top + cy - 6, width: w * scale + 12, height: h * scale + 12}};
    }}""")
    return page.screenshot(clip=box)


def small_png(png: bytes) -> bytes:
    """Palette PNG: screenshots of flat UI keep their look at a fraction of the size."""
    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    host, reason = find_host()
    chromium = find_chromium()
    if host is None or chromium is None:
        print(f"cannot take the screenshot: host: {reason}; chromium: {chromium}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        server = ComfyServer(host, Path(tmp) / "base").start()
        try:
            with chromium_page(chromium, Path(tmp) / "profile", viewport=(1100, 1000)) as page:
                png = small_png(capture(page, server))
        finally:
            server.stop()
    if len(png) > MAX_BYTES:
        print(f"the screenshot is {len(png)} bytes, over {MAX_BYTES}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(f"wrote {args.out} ({len(png)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
