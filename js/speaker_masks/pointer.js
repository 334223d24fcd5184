// MultiTalk Studio - Speaker Masks widget: pointer gestures on the canvas (draw, move and resize boxes, brush
// and erase strokes) and the hand-off of every other gesture to the graph canvas.
//
// Canvas habits are left alone: the mouse wheel, middle-drag, right-click and space-drag are handed to the
// graph canvas, only left-button gestures that start on the drawing surface are taken, and no keyboard
// shortcut is bound anywhere.
// Only exports: the host imports every .js file of the pack, so nothing here may act at import.
import { canvasReadOnly, graphCanvas, isSelected, selectNode } from "./frontend.js";
import { HANDLE_PX, MIN_BOX_PX, clamp01, cleanBox, regionDrawn, regionExtent, round } from "./state.js";

const RESIZE_CURSORS = { n: "ns", s: "ns", e: "ew", w: "ew", nw: "nwse", se: "nwse", ne: "nesw", sw: "nesw" };

export class PointerTool {
  constructor(editor, canvas) {
    this.editor = editor;
    this.canvas = canvas;
    this.drag = null; // the gesture in progress: {kind: "new" | "resize" | "move" | "stroke", ...}
    this.forwarding = false; // a gesture that belongs to the graph, passed on until the button goes up
    this.hover = null; // the pointer in fractions of the image, for the brush outline
    this.install();
  }

  forwardToGraph(e) {
    const target = graphCanvas();
    if (!target) return;
    e.preventDefault();
    e.stopPropagation();
    if (e instanceof WheelEvent) {
      const { clientX, clientY, deltaX, deltaY, deltaZ, deltaMode, ctrlKey, metaKey, shiftKey, altKey } = e;
      target.dispatchEvent(new WheelEvent("wheel",
        { clientX, clientY, deltaX, deltaY, deltaZ, deltaMode, ctrlKey, metaKey, shiftKey, altKey, bubbles: true, cancelable: true }));
      return;
    }
    target.dispatchEvent(new e.constructor(e.type, e));
  }

  install() {
    const c = this.canvas;
    const editor = this.editor;
    c.addEventListener("wheel", (e) => this.forwardToGraph(e), { passive: false });
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("pointerdown", (e) => {
      // Only a plain left-button gesture on the drawing surface is ours; everything else is the graph's.
      if (e.button !== 0 || canvasReadOnly() || editor.view !== "edit") {
        this.forwarding = true;
        this.forwardToGraph(e);
        return;
      }
      e.preventDefault();
      e.stopPropagation();
      const labelInput = editor.toolbar.labelInput;
      if (document.activeElement === labelInput) labelInput.blur();
      // Working in the node selects it, as a click on any other part of a node does (paste then targets it).
      if (!isSelected(editor.node)) selectNode(editor.node, e.shiftKey);
      c.setPointerCapture(e.pointerId);
      this.startDrag(editor.eventPoint(e));
    });
    c.addEventListener("pointermove", (e) => {
      if (this.forwarding) {
        this.forwardToGraph(e);
        return;
      }
      const p = editor.eventPoint(e);
      if (this.drag) {
        e.preventDefault();
        e.stopPropagation();
        this.moveDrag(p);
      } else {
        this.hover = p;
        this.updateCursor(p);
        if (editor.tool !== "box") editor.redraw();
      }
    });
    const finish = (e) => {
      if (this.forwarding) {
        this.forwarding = false;
        this.forwardToGraph(e);
        return;
      }
      if (!this.drag) return;
      e.preventDefault();
      e.stopPropagation();
      if (c.hasPointerCapture(e.pointerId)) c.releasePointerCapture(e.pointerId);
      this.endDrag(e.type === "pointercancel");
    };
    c.addEventListener("pointerup", finish);
    c.addEventListener("pointercancel", finish);
    c.addEventListener("pointerleave", () => {
      this.hover = null;
      if (editor.tool !== "box") editor.redraw();
    });
  }

  /** Which handle of `box` (n, s, e, w, ne, ...) is under point `p`, or null. */
  handleAt(box, p) {
    if (!box) return null;
    const tx = HANDLE_PX / p.a.w;
    const ty = HANDLE_PX / p.a.h;
    const [x0, y0, x1, y1] = box;
    const near = (v, t, tol) => Math.abs(v - t) <= tol;
    const within = p.x >= x0 - tx && p.x <= x1 + tx && p.y >= y0 - ty && p.y <= y1 + ty;
    if (!within) return null;
    let h = "";
    if (near(p.y, y0, ty)) h += "n";
    else if (near(p.y, y1, ty)) h += "s";
    if (near(p.x, x0, tx)) h += "w";
    else if (near(p.x, x1, tx)) h += "e";
    return h || null;
  }

  /** The region under a point: the selected one first, then the speakers drawn last (on top) first. */
  regionAt(p) {
    const editor = this.editor;
    const { speakers, background } = editor.state;
    const [iw, ih] = editor.imageSize();
    const order = [];
    if (editor.activeRegion()) order.push(editor.active);
    for (let i = speakers.length - 1; i >= 0; i--) if (i !== editor.active) order.push(i);
    if (editor.active !== "bg" && background) order.push("bg");
    for (const target of order) {
      const region = target === "bg" ? background : speakers[target];
      const ext = region && regionExtent(region, iw, ih);
      if (ext && p.x >= ext[0] && p.x <= ext[2] && p.y >= ext[1] && p.y <= ext[3]) return target;
    }
    return null;
  }

  updateCursor(p) {
    const editor = this.editor;
    let cursor = "crosshair";
    if (editor.view !== "edit") cursor = "default";
    else if (editor.tool === "box") {
      const region = editor.activeRegion();
      const h = region && this.handleAt(region.box, p);
      if (h) cursor = RESIZE_CURSORS[h] + "-resize";
      else if (this.regionAt(p) !== null) cursor = "move";
    } else cursor = "none";
    this.canvas.style.cursor = cursor;
  }

  startDrag(p) {
    const editor = this.editor;
    if (editor.tool === "box") {
      const region = editor.activeRegion();
      const handle = region && this.handleAt(region.box, p);
      if (handle) {
        this.drag = { kind: "resize", handle, region, orig: [...region.box], start: p };
        return;
      }
      // A selected speaker (or background) with nothing drawn yet gets its box wherever the drag starts, even
      // over another region: that is how overlapping regions are drawn.
      const hit = region && !regionDrawn(region) ? null : this.regionAt(p);
      if (hit !== null) {
        editor.active = hit;
        const target = editor.activeRegion();
        this.drag = { kind: "move", region: target, start: p, orig: JSON.parse(JSON.stringify(target)), moved: false };
        editor.updateControls();
        editor.redraw();
        return;
      }
      this.drag = { kind: "new", start: p, current: p };
      return;
    }
    const region = editor.ensureTarget();
    const stroke = { mode: editor.tool === "erase" ? "erase" : "paint", radius: round(editor.brush), points: [[round(p.x), round(p.y)]] };
    region.strokes.push(stroke);
    this.drag = { kind: "stroke", region, stroke, last: p };
    editor.updateControls();
    editor.redraw();
  }

  moveDrag(p) {
    const d = this.drag;
    if (d.kind === "new") {
      d.current = p;
    } else if (d.kind === "resize") {
      const box = [...d.orig];
      if (d.handle.includes("w")) box[0] = clamp01(p.x);
      if (d.handle.includes("e")) box[2] = clamp01(p.x);
      if (d.handle.includes("n")) box[1] = clamp01(p.y);
      if (d.handle.includes("s")) box[3] = clamp01(p.y);
      d.region.box = box;
    } else if (d.kind === "move") {
      const [iw, ih] = this.editor.imageSize();
      const ext = regionExtent(d.orig, iw, ih) ?? [0, 0, 1, 1];
      const dx = Math.min(1 - ext[2], Math.max(-ext[0], p.x - d.start.x));
      const dy = Math.min(1 - ext[3], Math.max(-ext[1], p.y - d.start.y));
      d.moved ||= Math.abs(dx * p.a.w) > 1 || Math.abs(dy * p.a.h) > 1;
      if (d.orig.box) d.region.box = [d.orig.box[0] + dx, d.orig.box[1] + dy, d.orig.box[2] + dx, d.orig.box[3] + dy];
      d.region.strokes = d.orig.strokes.map((s) => ({ ...s, points: s.points.map(([x, y]) => [x + dx, y + dy]) }));
    } else if (d.kind === "stroke") {
      const [iw, ih] = this.editor.imageSize();
      const radiusPx = d.stroke.radius * Math.min(iw, ih) * (p.a.w / iw);
      const step = Math.max(2, radiusPx / 4);
      if (Math.hypot((p.x - d.last.x) * p.a.w, (p.y - d.last.y) * p.a.h) >= step) {
        d.stroke.points.push([round(p.x), round(p.y)]);
        d.last = p;
      }
      this.hover = p;
    }
    this.editor.redraw();
  }

  endDrag(cancelled) {
    const editor = this.editor;
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    if (cancelled) {
      if (d.kind === "resize") d.region.box = d.orig;
      if (d.kind === "move") Object.assign(d.region, d.orig);
      if (d.kind === "stroke") d.region.strokes.pop();
      editor.redraw();
      return;
    }
    if (d.kind === "new") {
      const a = d.start.a;
      const box = cleanBox([d.start.x, d.start.y, d.current.x, d.current.y]);
      if (!box || (box[2] - box[0]) * a.w < MIN_BOX_PX || (box[3] - box[1]) * a.h < MIN_BOX_PX) {
        editor.redraw();
        return;
      }
      editor.placeNewBox(box);
    } else if (d.kind === "resize") {
      const box = cleanBox(d.region.box);
      const a = d.start.a;
      d.region.box = box && (box[2] - box[0]) * a.w >= MIN_BOX_PX && (box[3] - box[1]) * a.h >= MIN_BOX_PX ? box : d.orig;
    } else if (d.kind === "move") {
      if (!d.moved) {
        Object.assign(d.region, d.orig);
        editor.redraw();
        return; // a click: selection only
      }
      if (d.region.box) d.region.box = cleanBox(d.region.box) ?? d.orig.box;
      d.region.strokes = d.region.strokes.map((s) => ({ ...s, points: s.points.map(([x, y]) => [round(x), round(y)]) }));
    }
    editor.commit();
  }
}
