"""Typed regions in the Speaker Masks widget: the widget's reader (js/speaker_masks/typed.js) and the node's
(wan_multitalk/masks.py `parse_regions`) give the same boxes and the same problem sentence on one table of texts;
and a user typing into `typed_regions` sees the regions drawn, or the node's objection, before any run."""
from __future__ import annotations

import pytest

from browser_host import APP
from comfy_host import PACK_DIR_NAME
from widget_page import EDITOR, add_node, open_app, widget_point
from wan_multitalk.errors import InputError
from wan_multitalk.masks import parse_regions
from wan_multitalk.regions import widget_schema

TYPED_MODULE = f"/extensions/{PACK_DIR_NAME}/speaker_masks/typed.js"
SIZE = (640, 480)
CASES = [
    "", "   ", "0:45 55:100", "10:5:45:95  50:20:90:70", "0:25 25:50 50:75 75:100", "0:25;25:50\n50:75",
    "30,15,150,135; 150,0,300,150", "0.1,0.2,0.5,0.9", "32.5, 0, 320.0, 180", "0,0,1,1", "0,0,1,1; 10,10,50,40",
    "[0.1, 0.2, 0.5, 0.9]\n[0.5, 0.2, 0.9, 0.9]", "(0.1,0.2,0.5,0.9) (0.5,0.2,0.9,0.9)", "-20,-10,60,50",
    "1e1:2E1", "+5:.5e1", "1_0:2_0", "5.:95", "1e500:2", "inf:3", "nan:3", "10:5:45 hello", "10:5:45", "0:45 55:abc",
    "0:45 55:120", "10,20,30", "10,20,30,x", "left right", "0:45 60:60", "10:50:40:50", "0,0,10,10; 30,5,20,40",
    "0,0,10,10; 0,0,10,10; 700,10,800,50", "10::20:45", "1__0:20", "_1:20", "0x10:20", "10:20,", "a,b", "0:50 50:100 0:1 2:3 4:5",
]


def python_reading(text: str):
    try:
        return {"boxes": [list(b) for b in parse_regions(text, *SIZE)]}
    except InputError as exc:
        return {"problem": exc.problem}


@pytest.mark.frontend_independent  # our parser module against the node's, in the browser's JS engine
def test_widget_and_node_read_typed_regions_alike(comfy_server, browser_page):
    page = browser_page
    open_app(page, comfy_server)
    got = page.evaluate("""async ([url, cases, [w, h]]) => {
        const typed = await import(url);
        return cases.map((text) => {
            try { return {boxes: typed.parseTypedRegions(text, w, h)}; }
            catch (err) { return {problem: err.problem ?? String(err)}; }
        });
    }""", [TYPED_MODULE, CASES, list(SIZE)])
    expected = [python_reading(text) for text in CASES]
    assert sum("problem" in e for e in expected) >= 15 and sum(len(e.get("boxes", [])) > 0 for e in expected) >= 12
    mismatches = [(text, e, g) for text, e, g in zip(CASES, expected, got) if e != g]
    assert not mismatches, mismatches


def set_text_widget(page, node_js: str, name: str, text: str):
    """Click the node's text widget on the graph canvas, type `text` in the box that opens, press Enter."""
    page.mouse.click(*widget_point(page, node_js, name))
    box = page.locator(".graphdialog input, .graphdialog textarea").first
    box.wait_for(timeout=5_000)
    box.fill(text)
    box.press("Enter")


def status(page) -> str:
    return page.evaluate(f"() => {EDITOR}.root.querySelector('.mts-sm-status').textContent")


def speaker_pixels(page, x: float, rgb) -> int:
    """Pixels of the widget's canvas near column `x` (fraction of the image), rows 0.3-0.7, in speaker colour `rgb`."""
    return page.evaluate(f"""([fx, rgb]) => {{
        const editor = {EDITOR};
        const c = editor.canvas, a = editor.layout(), k = c.width / c.clientWidth;
        const x0 = Math.round((a.x + fx * a.w - 4) * k), y0 = Math.round((a.y + 0.3 * a.h) * k);
        const d = c.getContext('2d').getImageData(x0, y0, Math.round(8 * k), Math.round(0.4 * a.h * k)).data;
        // a pixel of the outline: the picture's grey (#2a2d31) moved towards the speaker's colour, even when
        // antialiasing covers it only partly
        const bg = [42, 45, 49], t = rgb.map((v, j) => v * 255 - bg[j]);
        const tt = t.reduce((s, v) => s + v * v, 0);
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {{
            const diff = [0, 1, 2].map(j => d[i + j] - bg[j]);
            const cover = diff.reduce((s, v, j) => s + v * t[j], 0) / tt;
            const off = Math.hypot(...diff.map((v, j) => v - cover * t[j]));
            if (cover > 0.3 && off < 30) n++;
        }}
        return n;
    }}""", [x, rgb])


def test_typed_regions_are_drawn_or_flagged_as_typed(comfy_server, browser_page, artifacts):
    page = browser_page
    open_app(page, comfy_server)
    add_node(page)
    node_js = f"{APP}.graph._nodes.find(n => n.type === 'MTS_SpeakerMasks')"
    colours = widget_schema()["speaker_rgb"]
    assert speaker_pixels(page, 0.5, colours[2]) == 0 and speaker_pixels(page, 0.75, colours[3]) == 0

    set_text_widget(page, node_js, "typed_regions", "0:25 25:50 50:75 75:100")
    page.wait_for_function(f"() => {EDITOR}.root.querySelector('.mts-sm-status').textContent.includes('4 speakers')")
    page.wait_for_timeout(200)
    page.screenshot(path=str(artifacts / "typed_4_columns.png"))
    for i, x in enumerate((0.25, 0.5, 0.75)):
        assert speaker_pixels(page, x, colours[i + 1]) > 10, f"speaker {i + 2}'s outline is not drawn at x={x}"
    assert "mts-sm-warn" not in page.evaluate(f"() => {EDITOR}.root.querySelector('.mts-sm-status').className")

    set_text_widget(page, node_js, "typed_regions", "10:5:45 hello")
    page.wait_for_function(f"() => {EDITOR}.root.querySelector('.mts-sm-status').textContent.includes('10:5:45')")
    page.wait_for_timeout(200)
    page.screenshot(path=str(artifacts / "typed_bad.png"))
    text = status(page)
    assert python_reading("10:5:45 hello")["problem"] in text, text
    assert "mts-sm-warn" in page.evaluate(f"() => {EDITOR}.root.querySelector('.mts-sm-status').className")
    assert speaker_pixels(page, 0.75, colours[3]) == 0  # nothing drawn for a text the node refuses


def test_more_typed_regions_than_speakers_is_flagged(comfy_server, browser_page):
    page, count = browser_page, widget_schema()["max_speakers"] + 1
    open_app(page, comfy_server)
    add_node(page)
    node_js = f"{APP}.graph._nodes.find(n => n.type === 'MTS_SpeakerMasks')"
    text = " ".join(f"{20 * i}:{20 * i + 10}" for i in range(count))
    set_text_widget(page, node_js, "typed_regions", text)
    page.wait_for_function(f"() => {EDITOR}.root.querySelector('.mts-sm-status').textContent.includes('at most')")
    assert f"describes {count} speakers; at most {widget_schema()['max_speakers']}" in status(page)
