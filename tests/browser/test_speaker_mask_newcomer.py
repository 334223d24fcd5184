"""The Speaker Masks widget the way a newcomer meets it, with the mouse and keyboard only: the picture picked in Load
Image shows at once (no run); a template's default strips do not get in the way of drawing two boxes; the picture
chosen with the widget's Image... button is still there after the server restarts; Ctrl+Z / Ctrl+Y undo and redo a
brush stroke inside the widget, keeping the tool and leaving the rest of the graph alone.

The graph itself is set up by script (a template loaded, nodes added); what the test then checks is what a user
sees: the widget canvas's pixels, its status line, its buttons, and the regions value it saves.
"""
from __future__ import annotations

import json
from pathlib import Path

from browser_host import APP, ComfyServer
from comfy_host import PACK_ROOT, find_host
from widget_page import (EDITOR, NODE, add_node, client_point, drag, editor_state, image_pixel, open_app,
                         reopen_workflow, save_workflow, solid_png, upload_input, wait_until_still, widget_point)

RED, GREEN, BLUE = (200, 40, 40), (40, 190, 70), (40, 60, 210)
TEMPLATE = PACK_ROOT / "workflows" / "2_two_speakers_mask_widget.json"


def near(got, want, tol=6):
    return all(abs(g - w) <= tol for g, w in zip(got, want))


def pick_in_combo(page, node_js: str, name: str, value: str):
    """Click a node's file list on the canvas and click `value` in the menu that opens."""
    page.mouse.click(*widget_point(page, node_js, name))
    entry = page.locator(".litecontextmenu .litemenu-entry", has_text=value).first
    entry.wait_for(timeout=5_000)
    entry.click()


def test_the_picture_picked_in_load_image_shows_at_once(comfy_server, browser_page, artifacts):
    page, server = browser_page, comfy_server
    upload_input(server, "mts_first_red.png", solid_png(RED))
    upload_input(server, "mts_second_green.png", solid_png(GREEN))
    open_app(page, server)
    add_node(page, """
        const load = LiteGraph.createNode('LoadImage');
        load.pos = [-230, 140];
        app.graph.add(load);
        load.connect(0, masks, 0);""")
    page.evaluate(f"() => {{ {APP}.canvas.ds.offset = [300, 0]; {APP}.canvas.setDirty(true, true); }}")
    wait_until_still(page)
    load_js = f"{APP}.graph._nodes.find(n => n.type === 'LoadImage')"
    pick_in_combo(page, load_js, "image", "mts_second_green.png")
    page.wait_for_function(f"() => {EDITOR}.image?.src.includes('mts_second_green.png')", timeout=10_000)
    wait_until_still(page)
    page.wait_for_timeout(100)
    assert near(image_pixel(page, 0.3, 0.6), GREEN), image_pixel(page, 0.3, 0.6)
    assert "run once" not in page.evaluate(f"() => {EDITOR}.root.querySelector('.mts-sm-status').textContent")
    page.screenshot(path=str(artifacts / "newcomer_load_image_green.png"))

    pick_in_combo(page, load_js, "image", "mts_first_red.png")
    page.wait_for_function(f"() => {EDITOR}.image?.src.includes('mts_first_red.png')", timeout=10_000)
    page.wait_for_timeout(100)
    assert near(image_pixel(page, 0.3, 0.6), RED), image_pixel(page, 0.3, 0.6)


def open_template(page, server, path: Path):
    page.evaluate(f"""async (workflow) => {{
        const app = {APP};
        await app.loadGraphData(workflow, true, true, 'template');
        const node = app.graph._nodes.find(n => n.type === '{NODE}');
        app.canvas.ds.scale = 1;
        app.canvas.ds.offset = [80 - node.pos[0], 80 - node.pos[1]];
        app.canvas.setDirty(true, true);
    }}""", json.loads(path.read_text()))
    page.wait_for_function(f"() => {EDITOR}?.canvas.clientWidth > 100")
    wait_until_still(page)


def test_two_boxes_on_a_fresh_template_replace_its_default_strips(comfy_server, browser_page, artifacts):
    page, server = browser_page, comfy_server
    upload_input(server, "two_people.png", solid_png(BLUE, (832, 480)))
    open_app(page, server)
    open_template(page, server, TEMPLATE)
    shipped = editor_state(page)["speakers"]
    assert [s["box"] for s in shipped] == [[0, 0, 0.5, 1], [0.5, 0, 1, 1]], "the template's default strips changed"

    targets = [(0.1, 0.2, 0.4, 0.8), (0.6, 0.15, 0.9, 0.85)]
    for t in targets:
        drag(page, [client_point(page, *t[:2]), client_point(page, *t[2:])])
    speakers = editor_state(page)["speakers"]
    page.screenshot(path=str(artifacts / "newcomer_template_two_boxes.png"))
    assert len(speakers) == 2, [s["box"] for s in speakers]
    for got, want in zip(speakers, targets):
        assert all(abs(g - w) <= 0.01 for g, w in zip(got["box"], want)), (got["box"], want)
    # and the template's Load Image picture is in the widget without a run
    assert near(image_pixel(page, 0.5, 0.95), BLUE), image_pixel(page, 0.5, 0.95)

    # the drawn boxes are not defaults: a drag inside the selected one moves it, a drag on the other draws a third
    drag(page, [client_point(page, 0.7, 0.5), client_point(page, 0.75, 0.5)])
    moved = editor_state(page)["speakers"]
    assert len(moved) == 2 and abs(moved[1]["box"][0] - 0.65) <= 0.01, moved[1]["box"]
    drag(page, [client_point(page, 0.15, 0.3), client_point(page, 0.3, 0.6)])
    assert len(editor_state(page)["speakers"]) == 3


def test_the_picture_chosen_with_image_button_survives_a_restart(chromium, browser_page, tmp_path, artifacts):
    root, reason = find_host()
    assert root is not None, reason
    page = browser_page
    picture = tmp_path / "my_people.png"
    picture.write_bytes(solid_png(GREEN))
    base = tmp_path / "comfy_base"
    server = ComfyServer(root, base).start()
    try:
        open_app(page, server)
        add_node(page)
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Image\u2026", exact=True).click()
        chooser.value.set_files(str(picture))
        page.wait_for_function(f"() => {EDITOR}.image?.naturalWidth === 416", timeout=20_000)
        drag(page, [client_point(page, 0.1, 0.2), client_point(page, 0.4, 0.8)])
        save_workflow(server, json.dumps(page.evaluate(f"() => {APP}.graph.serialize()")), "restart.json")
    finally:
        server.stop()
        (artifacts / "server-restart-1.log").write_text(server.log())
    server = ComfyServer(root, base).start()  # a new ComfyUI on the same folders: its temp folder starts empty
    try:
        page.goto("about:blank")
        open_app(page, server)
        reopen_workflow(page, "restart.json")
        page.wait_for_function(f"() => {EDITOR}?.image?.naturalWidth === 416 || {EDITOR}?.imageFailed", timeout=20_000)
        wait_until_still(page)
        page.wait_for_timeout(100)
        page.screenshot(path=str(artifacts / "newcomer_after_restart.png"))
        assert not page.evaluate(f"() => {EDITOR}.imageFailed"), "the picture is gone after the restart"
        assert near(image_pixel(page, 0.7, 0.5), GREEN), image_pixel(page, 0.7, 0.5)
        assert len(editor_state(page)["speakers"]) == 1
    finally:
        server.stop()
        (artifacts / "server-restart-2.log").write_text(server.log())


def strokes(page) -> int:
    return len(editor_state(page)["speakers"][0]["strokes"])


def test_undo_and_redo_a_stroke_inside_the_widget(comfy_server, browser_page):
    page = browser_page
    open_app(page, comfy_server)
    add_node(page, """
        const other = LiteGraph.createNode('LoadImage');
        other.pos = [640, 140];
        app.graph.add(other);
        other.mtsSameObject = true;  // gone if the graph is loaded again""")
    page.evaluate("""() => {
        window.mtsGraphChanges = [];
        window.comfyAPI.api.api.addEventListener('graphChanged', (e) => window.mtsGraphChanges.push(e.detail));
    }""")
    page.get_by_role("button", name="Brush", exact=True).click()
    drag(page, [client_point(page, 0.2, 0.3), client_point(page, 0.4, 0.3)])
    page.mouse.click(900, 700)  # the empty graph: the keyboard goes back to the graph...
    drag(page, [client_point(page, 0.2, 0.6), client_point(page, 0.4, 0.6)])  # ...and drawing takes it again
    assert strokes(page) == 2

    page.keyboard.press("Control+z")
    page.wait_for_function(f"() => JSON.parse({EDITOR}.widget.value).speakers[0].strokes.length === 1")
    assert page.get_by_role("button", name="Brush", exact=True).get_attribute("aria-pressed") == "true"
    assert page.evaluate(f"() => {APP}.graph._nodes.find(n => n.type === 'LoadImage').mtsSameObject") is True
    # the undo reached the frontend's change tracking: the graph it announces has one stroke
    page.wait_for_function(f"""() => {{
        const last = window.mtsGraphChanges.at(-1);
        const masks = last?.nodes.find(n => n.type === '{NODE}');
        return masks && JSON.parse(masks.widgets_values[0]).speakers[0].strokes.length === 1;
    }}""", timeout=5_000)

    page.keyboard.press("Control+y")
    page.wait_for_function(f"() => JSON.parse({EDITOR}.widget.value).speakers[0].strokes.length === 2")
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function(f"() => JSON.parse({EDITOR}.widget.value).speakers[0].strokes.length === 2")
    for _ in range(3):
        page.keyboard.press("Control+z")
    page.wait_for_function(f"() => JSON.parse({EDITOR}.widget.value).speakers.length === 0")
    assert page.evaluate(f"() => {APP}.graph._nodes.find(n => n.type === 'LoadImage').mtsSameObject") is True
    assert page.evaluate(f"() => {APP}.graph._nodes.length") == 2
