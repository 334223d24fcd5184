// MultiTalk Studio - Speaker Masks widget: the editor behind one MTS_SpeakerMasks node. It holds the regions
// (the `regions` widget value, schema in state.js) and the view settings, and delegates the panel's DOM to
// SpeakerToolbar, painting to SpeakerRenderer, pointer gestures to PointerTool and images to images.js.
//
// Box tool: drag on empty space to draw the next speaker, drag a region to move it, drag the handles of the
// selected box to resize it. Brush / Erase paint the selected speaker.
// Only exports: the host imports every .js file of the pack, so nothing here may act at import.
import { markGraphChanged } from "./frontend.js";
import * as images from "./images.js";
import { PointerTool } from "./pointer.js";
import { SpeakerRenderer } from "./renderer.js";
import {
  DEFAULT_BRUSH, WIDGET_TYPE, blankRegion, cleanBox, emptyState, parseState, regionDrawn, stripBoxes,
} from "./state.js";
import { SpeakerToolbar } from "./toolbar.js";

export class SpeakerEditor {
  /** `schema`: the region schema from the node definition (state.js `regionSchema`). */
  constructor(node, inputName, schema) {
    this.node = node;
    this.schema = schema;
    this.state = emptyState(schema);
    this.unreadable = null; // JSON we could not read (e.g. a newer schema): kept verbatim until the user edits
    this.active = 0; // speaker index, or "bg"
    this.tool = "box";
    this.brush = DEFAULT_BRUSH;
    this.view = "edit";
    this.showGrid = false;
    this.image = null;
    this.imageKey = null;
    this.imageFailed = false;
    this.result = null;
    this.resultStale = false;
    this.previewImage = null;
    this.notice = "";
    this.toolbar = new SpeakerToolbar(this);
    this.root = this.toolbar.root;
    this.stage = this.toolbar.stage;
    this.canvas = this.toolbar.canvas;
    this.renderer = new SpeakerRenderer(this, this.canvas);
    this.pointer = new PointerTool(this, this.canvas);
    images.installDropHandlers(this);
    this.widget = node.addDOMWidget(inputName, WIDGET_TYPE, this.root, {
      getValue: () => this.serialize(),
      setValue: (v) => this.load(v),
      getMinHeight: () => 300,
      hideOnZoom: false,
      margin: 6,
      onDraw: () => this.renderer.checkResolution(),
      socketless: true, // the regions are drawn here, never linked from another node
    });
    node.mtsSpeakerEditor = this;
    this.resizeObserver = new ResizeObserver(() => this.redraw());
    this.resizeObserver.observe(this.stage);
    images.installNodeHooks(this);
    this.updateControls();
  }

  // ------------------------------------------------------------------ state

  serialize() {
    if (this.unreadable !== null) return this.unreadable;
    return JSON.stringify(this.state);
  }

  load(value) {
    this.unreadable = null;
    let state = emptyState(this.schema);
    const text = typeof value === "string" ? value.trim() : "";
    if (text) {
      try {
        state = parseState(text, this.schema);
        this.notice = "";
      } catch (err) {
        this.unreadable = value;
        this.notice = `Saved regions could not be read (${err.message}); drawing will replace them.`;
      }
    }
    this.state = state;
    this.active = Math.min(typeof this.active === "number" ? this.active : 0, Math.max(0, state.speakers.length - 1));
    this.refreshImage();
    this.updateControls();
    this.redraw();
  }

  /** Something the user did changed the regions: repaint, and tell the graph (dirty flag, undo history). */
  commit() {
    if (this.unreadable !== null) {
      this.unreadable = null;
      this.notice = "";
    }
    this.resultStale = !!this.result;
    this.updateControls();
    this.redraw();
    this.widget.callback?.(this.widget.value);
    this.node.setDirtyCanvas?.(true, true);
    markGraphChanged();
  }

  speakerRgb(i) {
    const colours = this.schema.speaker_rgb;
    return colours[i % colours.length];
  }

  activeRegion() {
    if (this.active === "bg") return this.state.background;
    return this.state.speakers[this.active] ?? null;
  }

  /** The region a new drawing goes into; creates speaker 1 / the background on first use. */
  ensureTarget() {
    if (this.active === "bg") {
      this.state.background ??= blankRegion();
      return this.state.background;
    }
    if (!this.state.speakers.length) {
      this.state.speakers.push(blankRegion());
      this.active = 0;
    }
    return this.state.speakers[Math.min(this.active, this.state.speakers.length - 1)];
  }

  widgetNamed(name) {
    return this.node.widgets?.find((w) => w.name === name);
  }

  videoSize() {
    const w = Number(this.widgetNamed("width")?.value) || 832;
    const h = Number(this.widgetNamed("height")?.value) || 480;
    return [w, h];
  }

  imageSize() {
    if (this.image) return [this.image.naturalWidth, this.image.naturalHeight];
    const info = this.state.image;
    if (info && info.width > 0 && info.height > 0) return [info.width, info.height];
    return this.videoSize();
  }

  imageLinked() {
    const input = this.node.inputs?.find((i) => i.name === "image");
    return input?.link != null;
  }

  // ------------------------------------------------------------------ edits

  setTool(tool) {
    this.tool = tool;
    this.updateControls();
    this.redraw();
  }

  select(target) {
    this.active = target;
    this.updateControls();
    this.redraw();
  }

  reorder(step) {
    const i = this.active;
    const j = i + step;
    const list = this.state.speakers;
    if (i === "bg" || j < 0 || j >= list.length) return;
    [list[i], list[j]] = [list[j], list[i]];
    this.active = j;
    this.commit();
  }

  deleteActive() {
    if (this.active === "bg") {
      this.state.background = null;
    } else {
      this.state.speakers.splice(this.active, 1);
      this.active = Math.max(0, Math.min(this.active, this.state.speakers.length - 1));
    }
    this.commit();
  }

  adoptResult() {
    const boxes = this.ghostBoxes();
    if (!boxes.length) return;
    this.state.speakers = boxes.slice(0, this.schema.max_speakers).map((b) => blankRegion(cleanBox(b)));
    this.active = 0;
    this.view = "edit";
    this.commit();
  }

  /** Outlines shown when nothing is drawn: the regions of the last run, or the automatic strips. */
  ghostBoxes() {
    if (this.state.speakers.length) return [];
    if (this.result && this.result.source !== "drawn" && !this.resultStale) return this.result.boxes ?? [];
    const typed = String(this.widgetNamed("typed_regions")?.value ?? "").trim();
    if (typed) return [];
    const count = Number(this.widgetNamed("num_speakers")?.value) || 2;
    return stripBoxes(Math.max(1, Math.min(this.schema.max_speakers, count)));
  }

  /** A new box: the selected speaker's if nothing is drawn for it yet, else the next speaker's. */
  placeNewBox(box) {
    if (this.active === "bg") {
      this.state.background ??= blankRegion();
      this.state.background.box = box;
      return;
    }
    const current = this.state.speakers[this.active];
    if (current && !regionDrawn(current)) current.box = box;
    else if (this.state.speakers.length < this.schema.max_speakers) {
      this.state.speakers.push(blankRegion(box));
      this.active = this.state.speakers.length - 1;
    } else {
      current.box = box;
      this.notice = `${this.schema.max_speakers} speakers is the most: the selected speaker's box was replaced`;
      setTimeout(() => {
        this.notice = "";
        this.updateStatus();
      }, 4000);
    }
  }

  /** Called once the node's other widgets exist: follow the ones the picture depends on. */
  watchWidgets() {
    for (const name of ["width", "height", "num_speakers", "typed_regions", "include_background", "reference"]) {
      const w = this.widgetNamed(name);
      if (!w || w.mtsWatched) continue;
      w.mtsWatched = true;
      const original = w.callback;
      w.callback = (...args) => {
        const out = original?.apply(w, args);
        if (name === "reference") this.refreshImage();
        this.updateControls();
        this.redraw();
        return out;
      };
    }
  }

  // ------------------------------------------------------------------ delegated

  updateControls() {
    this.toolbar.update();
  }

  updateStatus() {
    this.toolbar.updateStatus();
  }

  redraw() {
    this.renderer.redraw();
  }

  refreshImage() {
    images.refresh(this);
  }

  upload(file) {
    return images.upload(this, file);
  }

  onExecuted(output) {
    images.takeRunOutput(this, output);
  }

  // ------------------------------------------------------------------ geometry

  /** Where the image sits in the canvas, in CSS pixels of the (unzoomed) canvas. */
  layout(size = this.imageSize()) {
    const cw = this.canvas.clientWidth;
    const ch = this.canvas.clientHeight;
    const pad = 4;
    const [iw, ih] = size;
    const s = Math.max(1e-6, Math.min((cw - 2 * pad) / iw, (ch - 2 * pad) / ih));
    const w = iw * s;
    const h = ih * s;
    return { x: (cw - w) / 2, y: (ch - h) / 2, w, h };
  }

  /** A pointer event -> fractions of the image (may lie outside 0..1), at any zoom of the graph canvas. */
  eventPoint(e) {
    const r = this.canvas.getBoundingClientRect();
    const sx = this.canvas.clientWidth / (r.width || 1);
    const sy = this.canvas.clientHeight / (r.height || 1);
    const a = this.layout();
    return { x: ((e.clientX - r.left) * sx - a.x) / a.w, y: ((e.clientY - r.top) * sy - a.y) / a.h, a };
  }

  /** Fractions of the image -> client (page) pixels; used by the browser test to aim the mouse. */
  normToClient(x, y) {
    const r = this.canvas.getBoundingClientRect();
    const a = this.layout();
    const zx = r.width / (this.canvas.clientWidth || 1);
    const zy = r.height / (this.canvas.clientHeight || 1);
    return { x: r.left + (a.x + x * a.w) * zx, y: r.top + (a.y + y * a.h) * zy };
  }
}
