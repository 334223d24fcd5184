"""The node help pages through the real server and the real frontend.

1. For every node of this pack in /object_info, the server serves its page at the URL the frontend's help panel
   builds (`/extensions/<custom node folder>/docs/<node_id>.md`, the folder taken from `python_module` as the
   frontend does), byte for byte the file in js/docs; and the image the pages show.
2. Selecting a node and pressing the selection toolbox's Node Info button shows our page, rendered, with the
   widget screenshot loaded through its relative path.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image

from browser_host import APP, open_frontend
from comfy_host import PACK_ROOT

DOCS = PACK_ROOT / "js" / "docs"
NODE = "MTS_SpeakerMasks"


def help_base_url(python_module: str) -> str:
    """What the frontend's help panel uses for a custom node: /extensions/<folder>/docs/ (folder without '@ver')."""
    parts = python_module.split(".")
    assert len(parts) >= 2 and parts[0] == "custom_nodes", python_module
    return f"/extensions/{parts[1].split('@')[0]}/docs/"


def our_nodes(server) -> dict:
    info = server.get_json("/object_info")
    return {name: d for name, d in info.items() if name.startswith("MTS_")}


def test_server_serves_every_help_page_where_the_frontend_asks(comfy_server):
    nodes = our_nodes(comfy_server)
    assert len(nodes) == len(list(DOCS.glob("*.md"))), (sorted(nodes), sorted(p.stem for p in DOCS.glob("*.md")))
    for name, definition in nodes.items():
        url = help_base_url(definition["python_module"]) + f"{name}.md"
        assert comfy_server.get_bytes(url) == (DOCS / f"{name}.md").read_bytes(), url
    base = help_base_url(nodes[NODE]["python_module"])
    for link in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", (DOCS / f"{NODE}.md").read_text(encoding="utf-8")):
        assert comfy_server.get_bytes(base + link) == (DOCS / link).read_bytes(), link


def test_node_info_panel_shows_our_page(comfy_server, browser_page, artifacts):
    page, server = browser_page, comfy_server
    open_frontend(page, server, NODE)
    page.evaluate(f"""() => {{
        const app = {APP};
        app.graph.clear();
        const node = LiteGraph.createNode('{NODE}');
        node.pos = [200, 200];
        app.graph.add(node);
        app.canvas.selectNode(node);
        app.canvas.setDirty(true, true);
    }}""")
    page.get_by_test_id("info-button").click()

    text = (DOCS / f"{NODE}.md").read_text(encoding="utf-8")
    title = text.splitlines()[0].removeprefix("# ")
    page.wait_for_function("(title) => document.querySelector('.node-help-content h1')?.textContent === title",
                           arg=title, timeout=20_000)
    headings = page.evaluate("() => [...document.querySelectorAll('.node-help-content h2')].map(h => h.textContent)")
    assert headings == re.findall(r"^## (.+)$", text, re.MULTILINE)
    codes = set(page.evaluate("() => [...document.querySelectorAll('.node-help-content li > code:first-child')]"
                              ".map(c => c.textContent)"))
    assert {"regions", "typed_regions", "include_background", "masks", "regions_text"} <= codes

    width = Image.open(io.BytesIO((DOCS / "images" / "speaker_masks_widget.png").read_bytes())).width
    page.wait_for_function("(w) => document.querySelector('.node-help-content img')?.naturalWidth === w",
                           arg=width, timeout=20_000)
    page.screenshot(path=str(Path(artifacts) / "help_panel_speaker_masks.png"))
