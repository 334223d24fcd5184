// MultiTalk Studio - Speaker Masks widget.
//
// A canvas inside the MTS_SpeakerMasks node: the reference image with one region per speaker (1-4, in
// speaker order) and an optional background. Box tool: drag on empty space to draw the next speaker, drag a
// region to move it, drag the handles of the selected box to resize it. Brush / Erase paint the selected
// speaker. The state is the `regions` widget value (JSON, schema below); the image is never embedded, only
// referenced (an upload in ComfyUI's input folder, or the temp copy of a connected image after a run).
//
// Canvas habits are left alone: the mouse wheel, middle-drag, right-click and space-drag are handed to the
// graph canvas, only left-button gestures that start on the drawing surface are taken, and no keyboard
// shortcut is bound anywhere.
//
// Schema (version 1), all coordinates in fractions of the image (0 = left/top, 1 = right/bottom):
//   {version: 1,
//    speakers: [{label, box: [x0, y0, x1, y1] | null,
//                strokes: [{mode: "paint" | "erase", radius /* of min(w, h) */, points: [[x, y], ...]}]}],
//    background: null | {box, strokes},
//    image: null | {width, height, preview?: {filename, subfolder, type}}}   // display hints only
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const NODE_CLASS = "MTS_SpeakerMasks";
const WIDGET_TYPE = "MTS_SPEAKER_REGIONS";
const SCHEMA_VERSION = 1;
const MAX_SPEAKERS = 4;
const NO_FILE = "(none)";
// Same colours as wan_multitalk/masks.py SPEAKER_COLOURS / BACKGROUND_COLOUR, so the widget and the preview agree.
const SPEAKER_RGB = [[0.95, 0.25, 0.25], [0.2, 0.55, 1.0], [0.25, 0.85, 0.3], [1.0, 0.8, 0.1]];
const BACKGROUND_RGB = [0.55, 0.55, 0.55];
const TOKEN_PIXELS = 16;
const HANDLE_PX = 6;
const MIN_BOX_PX = 4;
const DEFAULT_BRUSH = 0.04;
const PRECISION = 1e5;

const css = (rgb, alpha = 1) =>
  `rgba(${rgb.map((c) => Math.round(c * 255)).join(",")},${alpha})`;
const clamp01 = (v) => Math.min(1, Math.max(0, v));
const round = (v) => Math.round(v * PRECISION) / PRECISION;
const isImageFile = (f) => !!f && typeof f.type === "string" && f.type.startsWith("image/");

function emptyState() {
  return { version: SCHEMA_VERSION, speakers: [], background: null, image: null };
}

function cleanBox(box) {
  if (!Array.isArray(box) || box.length !== 4 || !box.every(Number.isFinite)) return null;
  const [a, b, c, d] = box.map(clamp01);
  const out = [Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d)].map(round);
  return out[2] > out[0] && out[3] > out[1] ? out : null;
}

function cleanRegion(raw) {
  if (!raw || typeof raw !== "object") return null;
  const strokes = (Array.isArray(raw.strokes) ? raw.strokes : [])
    .filter((s) => s && Array.isArray(s.points) && s.points.length && Number.isFinite(s.radius))
    .map((s) => ({
      mode: s.mode === "erase" ? "erase" : "paint",
      radius: s.radius,
      points: s.points.filter((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite)),
    }));
  return { label: typeof raw.label === "string" ? raw.label : "", box: cleanBox(raw.box), strokes };
}

function regionDrawn(region) {
  return !!region && (!!region.box || region.strokes.some((s) => s.mode === "paint"));
}

/** Bounding box of a region in fractions: its box and its paint strokes widened by the brush radius. */
function regionExtent(region, iw, ih) {
  let ext = region.box ? [...region.box] : null;
  const short = Math.min(iw, ih);
  for (const s of region.strokes) {
    if (s.mode !== "paint") continue;
    const rx = (s.radius * short) / iw;
    const ry = (s.radius * short) / ih;
    for (const [x, y] of s.points) {
      const b = [x - rx, y - ry, x + rx, y + ry];
      ext = ext ? [Math.min(ext[0], b[0]), Math.min(ext[1], b[1]), Math.max(ext[2], b[2]), Math.max(ext[3], b[3])] : b;
    }
  }
  return ext && ext.map(clamp01);
}

let styleAdded = false;
function addStyle() {
  if (styleAdded) return;
  styleAdded = true;
  const style = document.createElement("style");
  style.textContent = `
.mts-sm{display:flex;flex-direction:column;gap:3px;font:11px/1.3 sans-serif;color:var(--input-text,#ddd);box-sizing:border-box;}
.mts-sm-bar{display:flex;flex-wrap:wrap;gap:3px;align-items:center;}
.mts-sm button{font:inherit;padding:2px 6px;border-radius:4px;border:1px solid var(--border-color,#555);
 background:var(--comfy-input-bg,#222);color:inherit;cursor:pointer;line-height:14px;}
.mts-sm button:hover:not(:disabled){filter:brightness(1.3);}
.mts-sm button[aria-pressed=true]{box-shadow:0 0 0 2px #fff inset;}
.mts-sm button:disabled{opacity:.4;cursor:default;}
.mts-sm .mts-sm-chip{color:#111;font-weight:bold;max-width:110px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;}
.mts-sm input[type=text]{font:inherit;width:84px;padding:2px 4px;border-radius:4px;border:1px solid var(--border-color,#555);
 background:var(--comfy-input-bg,#222);color:inherit;}
.mts-sm input[type=range]{width:70px;}
.mts-sm-stage{position:relative;flex:1 1 auto;min-height:120px;}
.mts-sm-stage canvas{position:absolute;inset:0;width:100%;height:100%;touch-action:none;border-radius:4px;}
.mts-sm-stage.mts-sm-drop canvas{outline:2px dashed #8cf;outline-offset:-2px;}
.mts-sm-status{min-height:14px;opacity:.9;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;}
.mts-sm-status.mts-sm-warn{color:#fb4;}
.mts-sm-sep{width:1px;height:16px;background:var(--border-color,#555);margin:0 2px;}`;
  document.head.appendChild(style);
}

function button(text, title, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.title = title;
  b.addEventListener("click", (e) => {
    e.preventDefault();
    onClick(e);
  });
  return b;
}

class SpeakerEditor {
  constructor(node, inputName) {
    addStyle();
    this.node = node;
    this.state = emptyState();
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
    this.drag = null;
    this.forwarding = false;
    this.hover = null;
    this.pixelScale = 1;
    this.notice = "";
    this.buildDom();
    this.widget = node.addDOMWidget(inputName, WIDGET_TYPE, this.root, {
      getValue: () => this.serialize(),
      setValue: (v) => this.load(v),
      getMinHeight: () => 300,
      hideOnZoom: false,
      margin: 6,
      onDraw: () => this.checkResolution(),
    });
    this.widget.options.socketless = true;
    node.mtsSpeakerEditor = this;
    this.resizeObserver = new ResizeObserver(() => this.redraw());
    this.resizeObserver.observe(this.stage);
    this.installNodeHooks();
    this.updateControls();
  }

  // ------------------------------------------------------------------ state

  serialize() {
    if (this.unreadable !== null) return this.unreadable;
    return JSON.stringify(this.state);
  }

  load(value) {
    this.unreadable = null;
    let state = emptyState();
    const text = typeof value === "string" ? value.trim() : "";
    if (text) {
      try {
        const data = JSON.parse(text);
        if (!data || typeof data !== "object" || !Number.isInteger(data.version) || data.version > SCHEMA_VERSION) {
          throw new Error(`unsupported region schema ${data && data.version}`);
        }
        state.speakers = (Array.isArray(data.speakers) ? data.speakers : []).map(cleanRegion).filter(Boolean)
          .slice(0, MAX_SPEAKERS);
        state.background = cleanRegion(data.background);
        state.image = data.image && typeof data.image === "object" ? data.image : null;
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
    try {
      app.extensionManager?.workflow?.activeWorkflow?.changeTracker?.checkState?.();
    } catch (_) {
      /* the change tracker also checks on its own events */
    }
  }

  activeRegion() {
    if (this.active === "bg") return this.state.background;
    return this.state.speakers[this.active] ?? null;
  }

  /** The region a new drawing goes into; creates speaker 1 / the background on first use. */
  ensureTarget() {
    if (this.active === "bg") {
      this.state.background ??= { label: "", box: null, strokes: [] };
      return this.state.background;
    }
    if (!this.state.speakers.length) {
      this.state.speakers.push({ label: "", box: null, strokes: [] });
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

  // ------------------------------------------------------------------ DOM

  buildDom() {
    const root = (this.root = document.createElement("div"));
    root.className = "mts-sm";

    this.speakerBar = document.createElement("div");
    this.speakerBar.className = "mts-sm-bar";

    const tools = document.createElement("div");
    tools.className = "mts-sm-bar";
    this.toolButtons = {
      box: button("Box", "Box tool: drag on empty space to draw the next speaker, drag a region to move it, drag the " +
        "white handles to resize the selected box.", () => this.setTool("box")),
      paint: button("Brush", "Brush: paint the selected speaker's region (adds to its box).", () => this.setTool("paint")),
      erase: button("Erase", "Erase: remove pixels from the selected speaker's region.", () => this.setTool("erase")),
    };
    this.brushSize = document.createElement("input");
    this.brushSize.type = "range";
    this.brushSize.min = "0.5";
    this.brushSize.max = "20";
    this.brushSize.step = "0.5";
    this.brushSize.value = String(DEFAULT_BRUSH * 100);
    this.brushSize.title = "Brush radius, % of the image's shorter side";
    this.brushSize.addEventListener("input", () => {
      this.brush = Number(this.brushSize.value) / 100;
      this.redraw();
    });
    this.upButton = button("\u25B2", "Move the selected speaker earlier (speaker order = audio order)", () => this.reorder(-1));
    this.downButton = button("\u25BC", "Move the selected speaker later", () => this.reorder(1));
    this.deleteButton = button("\u2715", "Delete the selected speaker (or the background)", () => this.deleteActive());
    this.labelInput = document.createElement("input");
    this.labelInput.type = "text";
    this.labelInput.placeholder = "label";
    this.labelInput.maxLength = 40;
    this.labelInput.title = "Name of the selected speaker (shown here and in the preview)";
    this.labelInput.addEventListener("input", () => {
      const region = this.active === "bg" ? null : this.activeRegion();
      if (!region) return;
      region.label = this.labelInput.value;
      this.commit();
    });
    tools.append(this.toolButtons.box, this.toolButtons.paint, this.toolButtons.erase, this.brushSize, sep(),
      this.upButton, this.downButton, this.deleteButton, this.labelInput);

    const actions = document.createElement("div");
    actions.className = "mts-sm-bar";
    this.fileInput = document.createElement("input");
    this.fileInput.type = "file";
    this.fileInput.accept = "image/*";
    this.fileInput.style.display = "none";
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files?.[0];
      this.fileInput.value = "";
      if (file) this.upload(file);
    });
    this.imageButton = button("Image\u2026", "Upload a reference image (you can also paste with the node selected, " +
      "or drop an image file onto the node)", () => this.fileInput.click());
    this.gridButton = button("Grid", "Show the video crop's token grid (one cell = 16x16 video pixels)", () => {
      this.showGrid = !this.showGrid;
      this.updateControls();
      this.redraw();
    });
    this.viewButton = button("Result", "Show the last run's preview: the tokens each speaker owns after the crop",
      () => {
        this.view = this.view === "edit" ? "result" : "edit";
        this.updateControls();
        this.redraw();
      });
    this.adoptButton = button("Edit these", "Turn the regions of the last run (typed or automatic) into drawn boxes",
      () => this.adoptResult());
    actions.append(this.imageButton, this.fileInput, this.gridButton, this.viewButton, this.adoptButton);

    this.stage = document.createElement("div");
    this.stage.className = "mts-sm-stage";
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("data-testid", "mts-speaker-canvas");
    this.stage.appendChild(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    this.scratch = document.createElement("canvas");

    this.status = document.createElement("div");
    this.status.className = "mts-sm-status";

    root.append(this.speakerBar, tools, actions, this.stage, this.status);
    this.installPointerHandlers();
    this.installDropHandlers();

    function sep() {
      const d = document.createElement("div");
      d.className = "mts-sm-sep";
      return d;
    }
  }

  updateControls() {
    const bar = this.speakerBar;
    bar.replaceChildren();
    this.state.speakers.forEach((region, i) => {
      const text = `${i + 1}${region.label ? " " + region.label : ""}`;
      const chip = button(text, `Select speaker ${i + 1}${regionDrawn(region) ? "" : " (nothing drawn yet)"}`,
        () => this.select(i));
      chip.className = "mts-sm-chip";
      chip.style.background = css(SPEAKER_RGB[i], regionDrawn(region) ? 1 : 0.45);
      chip.setAttribute("aria-pressed", String(this.active === i));
      bar.appendChild(chip);
    });
    const add = button("+ speaker", "Add a speaker, then draw its box or brush its region", () => {
      this.state.speakers.push({ label: "", box: null, strokes: [] });
      this.active = this.state.speakers.length - 1;
      this.commit();
    });
    add.disabled = this.state.speakers.length >= MAX_SPEAKERS;
    const bg = button("Background", "Select the optional background region (used when include_background is on)",
      () => this.select("bg"));
    bg.className = "mts-sm-chip";
    bg.style.background = css(BACKGROUND_RGB, regionDrawn(this.state.background) ? 1 : 0.45);
    bg.setAttribute("aria-pressed", String(this.active === "bg"));
    bar.append(add, bg);

    for (const [tool, b] of Object.entries(this.toolButtons)) b.setAttribute("aria-pressed", String(this.tool === tool));
    this.brushSize.disabled = this.tool === "box";
    const isSpeaker = this.active !== "bg" && this.state.speakers[this.active] != null;
    this.upButton.disabled = !isSpeaker || this.active === 0;
    this.downButton.disabled = !isSpeaker || this.active >= this.state.speakers.length - 1;
    this.deleteButton.disabled = this.active === "bg" ? !this.state.background : !isSpeaker;
    this.labelInput.disabled = !isSpeaker;
    if (document.activeElement !== this.labelInput) this.labelInput.value = isSpeaker ? this.state.speakers[this.active].label : "";
    this.gridButton.setAttribute("aria-pressed", String(this.showGrid));
    this.viewButton.textContent = this.view === "edit" ? "Result" : "Edit";
    this.viewButton.disabled = this.view === "edit" && !this.result;
    this.adoptButton.style.display = this.state.speakers.length === 0 ? "" : "none";
    this.adoptButton.disabled = !this.ghostBoxes().length;
    this.updateStatus();
  }

  updateStatus() {
    const parts = [];
    let warn = false;
    const [iw, ih] = this.imageSize();
    const [vw, vh] = this.videoSize();
    const linked = this.imageLinked();
    const ref = this.widgetNamed("reference")?.value;
    if (linked) parts.push(this.image ? `connected image ${iw}\u00D7${ih}` : "connected image: run once to show it");
    else if (ref && ref !== NO_FILE) parts.push(this.imageFailed ? `'${ref}' not found: upload it again` : `${ref} ${iw}\u00D7${ih}`);
    else parts.push("no image: paste, drop or upload one");
    warn ||= linked ? false : this.imageFailed;
    const drawn = this.state.speakers.length;
    const typed = String(this.widgetNamed("typed_regions")?.value ?? "").trim();
    if (drawn) {
      parts.push(`${drawn} speaker${drawn > 1 ? "s" : ""} drawn`);
      if (typed) parts.push("typed_regions ignored");
    } else if (typed) parts.push("using typed_regions");
    else parts.push(`auto: ${this.widgetNamed("num_speakers")?.value ?? 2} vertical strips`);
    if (regionDrawn(this.state.background) && !this.widgetNamed("include_background")?.value) {
      parts.push("background drawn but include_background is off");
      warn = true;
    }
    parts.push(`video ${vw}\u00D7${vh}`);
    if (this.view === "result" && this.resultStale) parts.push("result is outdated: run again");
    if (this.notice) {
      parts.unshift(this.notice);
      warn = true;
    }
    this.status.textContent = parts.join(" \u00B7 ");
    this.status.title = this.status.textContent;
    this.status.classList.toggle("mts-sm-warn", warn);
  }

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
    this.state.speakers = boxes.slice(0, MAX_SPEAKERS).map((b) => ({ label: "", box: cleanBox(b), strokes: [] }));
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
    const n = Math.max(1, Math.min(MAX_SPEAKERS, Number(this.widgetNamed("num_speakers")?.value) || 2));
    return Array.from({ length: n }, (_, i) => [i / n, 0, (i + 1) / n, 1]);
  }

  // ------------------------------------------------------------------ images

  refreshImage() {
    let source = null;
    if (this.imageLinked()) {
      source = this.state.image?.preview ?? null;
    } else {
      const ref = this.widgetNamed("reference")?.value;
      if (ref && ref !== NO_FILE) {
        const cut = ref.lastIndexOf("/");
        source = { filename: ref.slice(cut + 1), subfolder: cut >= 0 ? ref.slice(0, cut) : "", type: "input" };
      }
    }
    const key = source ? `${source.type}/${source.subfolder}/${source.filename}` : null;
    if (key === this.imageKey) return;
    this.imageKey = key;
    this.image = null;
    this.imageFailed = false;
    if (!source) {
      this.updateStatus();
      this.redraw();
      return;
    }
    const img = new Image();
    img.onload = () => {
      if (this.imageKey !== key) return;
      this.image = img;
      if (!this.imageLinked()) this.rememberImageSize(img.naturalWidth, img.naturalHeight);
      this.updateStatus();
      this.redraw();
    };
    img.onerror = () => {
      if (this.imageKey !== key) return;
      this.imageFailed = true;
      this.updateStatus();
      this.redraw();
    };
    img.src = viewUrl(source);
    this.updateStatus();
    this.redraw();
  }

  rememberImageSize(width, height, preview) {
    const old = this.state.image ?? {};
    const next = { width, height };
    if (preview) next.preview = preview;
    else if (old.preview && this.imageLinked()) next.preview = old.preview;
    if (JSON.stringify(old) !== JSON.stringify(next)) this.state.image = next;
  }

  async upload(file) {
    if (!isImageFile(file)) {
      this.notice = `'${file?.name ?? "?"}' is not an image`;
      this.updateStatus();
      return false;
    }
    this.notice = `uploading ${file.name}\u2026`;
    this.updateStatus();
    try {
      const body = new FormData();
      body.append("image", file);
      body.append("type", "input");
      const resp = await api.fetchApi("/upload/image", { method: "POST", body });
      if (resp.status !== 200) throw new Error(`${resp.status} ${resp.statusText}`);
      const data = await resp.json();
      const name = data.subfolder ? `${data.subfolder}/${data.name}` : data.name;
      const combo = this.widgetNamed("reference");
      if (combo) {
        const values = combo.options?.values;
        if (Array.isArray(values) && !values.includes(name)) values.push(name);
        combo.value = name;
        combo.callback?.(name);
      }
      this.notice = this.imageLinked() ? "the connected image is used while the image input is linked" : "";
      this.refreshImage();
      this.commit();
      return true;
    } catch (err) {
      this.notice = `upload failed: ${err.message}`;
      this.updateStatus();
      return false;
    }
  }

  onExecuted(output) {
    const result = output?.mts_result?.[0];
    if (!result) return;
    this.result = result;
    this.resultStale = false;
    const reference = output.mts_reference?.[0];
    const [w, h] = result.image_size ?? [0, 0];
    if (reference) this.rememberImageSize(w, h, reference);
    else if (result.image_origin === "file" && w && h) this.rememberImageSize(w, h);
    const preview = output.mts_preview?.[0];
    if (preview) {
      const img = new Image();
      img.onload = () => {
        this.previewImage = img;
        this.redraw();
      };
      img.src = viewUrl(preview);
    }
    this.refreshImage();
    this.updateControls();
    this.redraw();
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
    const [iw, ih] = this.imageSize();
    const order = [];
    if (this.activeRegion()) order.push(this.active);
    for (let i = this.state.speakers.length - 1; i >= 0; i--) if (i !== this.active) order.push(i);
    if (this.active !== "bg" && this.state.background) order.push("bg");
    for (const target of order) {
      const region = target === "bg" ? this.state.background : this.state.speakers[target];
      const ext = region && regionExtent(region, iw, ih);
      if (ext && p.x >= ext[0] && p.x <= ext[2] && p.y >= ext[1] && p.y <= ext[3]) return target;
    }
    return null;
  }

  // ------------------------------------------------------------------ pointer input

  forwardToGraph(e) {
    const target = app.canvas?.canvas;
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

  installPointerHandlers() {
    const c = this.canvas;
    c.addEventListener("wheel", (e) => this.forwardToGraph(e), { passive: false });
    c.addEventListener("contextmenu", (e) => e.preventDefault());
    c.addEventListener("pointerdown", (e) => {
      // Only a plain left-button gesture on the drawing surface is ours; everything else is the graph's.
      if (e.button !== 0 || app.canvas?.read_only || this.view !== "edit") {
        this.forwarding = true;
        this.forwardToGraph(e);
        return;
      }
      e.preventDefault();
      e.stopPropagation();
      if (document.activeElement === this.labelInput) this.labelInput.blur();
      // Working in the node selects it, as a click on any other part of a node does (paste then targets it).
      if (!this.node.is_selected) app.canvas?.selectNode?.(this.node, e.shiftKey);
      c.setPointerCapture(e.pointerId);
      this.startDrag(this.eventPoint(e));
    });
    c.addEventListener("pointermove", (e) => {
      if (this.forwarding) {
        this.forwardToGraph(e);
        return;
      }
      const p = this.eventPoint(e);
      if (this.drag) {
        e.preventDefault();
        e.stopPropagation();
        this.moveDrag(p);
      } else {
        this.hover = p;
        this.updateCursor(p);
        if (this.tool !== "box") this.redraw();
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
      if (this.tool !== "box") this.redraw();
    });
  }

  updateCursor(p) {
    let cursor = "crosshair";
    if (this.view !== "edit") cursor = "default";
    else if (this.tool === "box") {
      const region = this.activeRegion();
      const h = region && this.handleAt(region.box, p);
      if (h) cursor = { n: "ns", s: "ns", e: "ew", w: "ew", nw: "nwse", se: "nwse", ne: "nesw", sw: "nesw" }[h] + "-resize";
      else if (this.regionAt(p) !== null) cursor = "move";
    } else cursor = "none";
    this.canvas.style.cursor = cursor;
  }

  startDrag(p) {
    if (this.tool === "box") {
      const region = this.activeRegion();
      const handle = region && this.handleAt(region.box, p);
      if (handle) {
        this.drag = { kind: "resize", handle, region, orig: [...region.box], start: p };
        return;
      }
      // A selected speaker (or background) with nothing drawn yet gets its box wherever the drag starts, even
      // over another region: that is how overlapping regions are drawn.
      const hit = region && !regionDrawn(region) ? null : this.regionAt(p);
      if (hit !== null) {
        this.active = hit;
        const target = this.activeRegion();
        this.drag = { kind: "move", region: target, start: p, orig: JSON.parse(JSON.stringify(target)), moved: false };
        this.updateControls();
        this.redraw();
        return;
      }
      this.drag = { kind: "new", start: p, current: p };
      return;
    }
    const region = this.ensureTarget();
    const stroke = { mode: this.tool === "erase" ? "erase" : "paint", radius: round(this.brush), points: [[round(p.x), round(p.y)]] };
    region.strokes.push(stroke);
    this.drag = { kind: "stroke", region, stroke, last: p };
    this.updateControls();
    this.redraw();
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
      const [iw, ih] = this.imageSize();
      const ext = regionExtent(d.orig, iw, ih) ?? [0, 0, 1, 1];
      const dx = Math.min(1 - ext[2], Math.max(-ext[0], p.x - d.start.x));
      const dy = Math.min(1 - ext[3], Math.max(-ext[1], p.y - d.start.y));
      d.moved ||= Math.abs(dx * p.a.w) > 1 || Math.abs(dy * p.a.h) > 1;
      if (d.orig.box) d.region.box = [d.orig.box[0] + dx, d.orig.box[1] + dy, d.orig.box[2] + dx, d.orig.box[3] + dy];
      d.region.strokes = d.orig.strokes.map((s) => ({ ...s, points: s.points.map(([x, y]) => [x + dx, y + dy]) }));
    } else if (d.kind === "stroke") {
      const [iw, ih] = this.imageSize();
      const radiusPx = d.stroke.radius * Math.min(iw, ih) * (p.a.w / iw);
      const step = Math.max(2, radiusPx / 4);
      if (Math.hypot((p.x - d.last.x) * p.a.w, (p.y - d.last.y) * p.a.h) >= step) {
        d.stroke.points.push([round(p.x), round(p.y)]);
        d.last = p;
      }
      this.hover = p;
    }
    this.redraw();
  }

  endDrag(cancelled) {
    const d = this.drag;
    this.drag = null;
    if (!d) return;
    if (cancelled) {
      if (d.kind === "resize") d.region.box = d.orig;
      if (d.kind === "move") Object.assign(d.region, d.orig);
      if (d.kind === "stroke") d.region.strokes.pop();
      this.redraw();
      return;
    }
    if (d.kind === "new") {
      const a = d.start.a;
      const box = cleanBox([d.start.x, d.start.y, d.current.x, d.current.y]);
      if (!box || (box[2] - box[0]) * a.w < MIN_BOX_PX || (box[3] - box[1]) * a.h < MIN_BOX_PX) {
        this.redraw();
        return;
      }
      this.placeNewBox(box);
    } else if (d.kind === "resize") {
      const box = cleanBox(d.region.box);
      const a = d.start.a;
      d.region.box = box && (box[2] - box[0]) * a.w >= MIN_BOX_PX && (box[3] - box[1]) * a.h >= MIN_BOX_PX ? box : d.orig;
    } else if (d.kind === "move") {
      if (!d.moved) {
        Object.assign(d.region, d.orig);
        this.redraw();
        return; // a click: selection only
      }
      if (d.region.box) d.region.box = cleanBox(d.region.box) ?? d.orig.box;
      d.region.strokes = d.region.strokes.map((s) => ({ ...s, points: s.points.map(([x, y]) => [round(x), round(y)]) }));
    }
    this.commit();
  }

  /** A new box: the selected speaker's if nothing is drawn for it yet, else the next speaker's. */
  placeNewBox(box) {
    if (this.active === "bg") {
      this.state.background ??= { label: "", box: null, strokes: [] };
      this.state.background.box = box;
      return;
    }
    const current = this.state.speakers[this.active];
    if (current && !regionDrawn(current)) current.box = box;
    else if (this.state.speakers.length < MAX_SPEAKERS) {
      this.state.speakers.push({ label: "", box, strokes: [] });
      this.active = this.state.speakers.length - 1;
    } else {
      current.box = box;
      this.notice = "4 speakers is the most: the selected speaker's box was replaced";
      setTimeout(() => {
        this.notice = "";
        this.updateStatus();
      }, 4000);
    }
  }

  // ------------------------------------------------------------------ drop / paste

  installDropHandlers() {
    const hasImage = (dt) => !!dt && Array.from(dt.items ?? []).some((i) => i.kind === "file" && i.type.startsWith("image/"));
    this.root.addEventListener("dragover", (e) => {
      if (!hasImage(e.dataTransfer)) return;
      e.preventDefault();
      e.stopPropagation();
      e.dataTransfer.dropEffect = "copy";
      this.stage.classList.add("mts-sm-drop");
    });
    this.root.addEventListener("dragleave", () => this.stage.classList.remove("mts-sm-drop"));
    this.root.addEventListener("drop", (e) => {
      this.stage.classList.remove("mts-sm-drop");
      const file = Array.from(e.dataTransfer?.files ?? []).find(isImageFile);
      if (!file) return;
      e.preventDefault();
      e.stopPropagation();
      this.upload(file);
    });
  }

  installNodeHooks() {
    const node = this.node;
    // Drops on the node's frame and the context menu's "Paste Image" go through the host's own handlers;
    // Ctrl+V with the node selected is caught by `installPasteListener`.
    node.pasteFiles = (files) => {
      const file = Array.from(files ?? []).find(isImageFile);
      if (file) this.upload(file);
      return !!file;
    };
    node.onDragOver = (e) => Array.from(e?.dataTransfer?.items ?? []).some((i) => i.kind === "file" && i.type.startsWith("image/"));
    node.onDragDrop = async (e) => {
      const file = Array.from(e?.dataTransfer?.files ?? []).find(isImageFile);
      if (!file) return false;
      await this.upload(file);
      return true;
    };
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

  // ------------------------------------------------------------------ drawing

  checkResolution() {
    const r = this.canvas.getBoundingClientRect();
    const zoom = r.width / (this.canvas.clientWidth || 1);
    const k = Math.min(4, Math.max(0.25, zoom * (window.devicePixelRatio || 1)));
    if (Math.abs(k - this.pixelScale) / this.pixelScale > 0.15) this.redraw();
  }

  redraw() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.paint();
    });
  }

  paint() {
    const c = this.canvas;
    const cw = c.clientWidth;
    const ch = c.clientHeight;
    if (!cw || !ch) return;
    const r = c.getBoundingClientRect();
    const zoom = r.width / cw || 1;
    const k = Math.min(4, Math.max(0.25, zoom * (window.devicePixelRatio || 1)));
    this.pixelScale = k;
    const bw = Math.max(1, Math.round(cw * k));
    const bh = Math.max(1, Math.round(ch * k));
    if (c.width !== bw || c.height !== bh) {
      c.width = bw;
      c.height = bh;
    }
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, bw, bh);
    ctx.setTransform(k, 0, 0, k, 0, 0);
    ctx.fillStyle = "#15171a";
    ctx.fillRect(0, 0, cw, ch);
    if (this.view === "result") this.paintResult(ctx, cw, ch);
    else this.paintEditor(ctx, k);
  }

  paintResult(ctx, cw, ch) {
    const img = this.previewImage;
    if (!img) {
      centredText(ctx, cw, ch, "Run the graph to see the token preview");
      return;
    }
    const a = this.layout([img.naturalWidth, img.naturalHeight]);
    ctx.drawImage(img, a.x, a.y, a.w, a.h);
    if (this.resultStale) {
      ctx.fillStyle = "rgba(0,0,0,0.55)";
      ctx.fillRect(a.x, a.y + a.h - 18, a.w, 18);
      ctx.fillStyle = "#fb4";
      ctx.font = "11px sans-serif";
      ctx.fillText("outdated: the regions changed since this run", a.x + 6, a.y + a.h - 5);
    }
  }

  paintEditor(ctx, k) {
    const [iw, ih] = this.imageSize();
    const a = this.layout([iw, ih]);
    if (this.image) ctx.drawImage(this.image, a.x, a.y, a.w, a.h);
    else {
      ctx.fillStyle = "#2a2d31";
      ctx.fillRect(a.x, a.y, a.w, a.h);
      const msg = this.imageLinked() ? "Run once to show the connected image"
        : this.imageFailed ? "Image not found: upload it again" : "Paste, drop or upload an image (Image\u2026)";
      centredText(ctx, a.w, a.h, msg, a.x, a.y);
    }
    this.paintCrop(ctx, a, iw, ih);

    // Regions: the background first, then the speakers in order (speaker N drawn over speaker N-1).
    if (this.state.background) this.paintRegion(ctx, a, k, this.state.background, BACKGROUND_RGB, this.active === "bg", "BG");
    this.state.speakers.forEach((region, i) =>
      this.paintRegion(ctx, a, k, region, SPEAKER_RGB[i], this.active === i, `${i + 1}${region.label ? " " + region.label : ""}`));
    const ghosts = this.ghostBoxes();
    ghosts.forEach((box, i) => {
      ctx.setLineDash([5, 4]);
      ctx.strokeStyle = css(SPEAKER_RGB[i % 4], 0.9);
      ctx.lineWidth = 1.5;
      ctx.strokeRect(a.x + box[0] * a.w + 1, a.y + box[1] * a.h + 1, (box[2] - box[0]) * a.w - 2, (box[3] - box[1]) * a.h - 2);
      ctx.setLineDash([]);
      tag(ctx, a.x + box[0] * a.w + 3, a.y + box[1] * a.h + 3, `${i + 1}`, css(SPEAKER_RGB[i % 4], 0.7));
    });

    const d = this.drag;
    if (d?.kind === "new") {
      const box = [d.start.x, d.start.y, d.current.x, d.current.y].map(clamp01);
      const x0 = Math.min(box[0], box[2]);
      const y0 = Math.min(box[1], box[3]);
      ctx.setLineDash([6, 4]);
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1.5;
      ctx.strokeRect(a.x + x0 * a.w, a.y + y0 * a.h, Math.abs(box[2] - box[0]) * a.w, Math.abs(box[3] - box[1]) * a.h);
      ctx.setLineDash([]);
    }
    if (this.tool !== "box" && this.hover) {
      const rpx = this.brush * Math.min(iw, ih) * (a.w / iw);
      ctx.beginPath();
      ctx.arc(a.x + this.hover.x * a.w, a.y + this.hover.y * a.h, rpx, 0, Math.PI * 2);
      ctx.strokeStyle = this.tool === "erase" ? "#fff" : css(this.activeColour());
      ctx.lineWidth = 1.5;
      ctx.setLineDash(this.tool === "erase" ? [3, 3] : []);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  activeColour() {
    return this.active === "bg" ? BACKGROUND_RGB : SPEAKER_RGB[Math.min(this.active, 3)];
  }

  /** Dim what the centre crop to the video size cuts away; optionally draw the token grid inside. */
  paintCrop(ctx, a, iw, ih) {
    const [vw, vh] = this.videoSize();
    const scale = Math.max(vw / iw, vh / ih);
    const fx = Math.min(1, vw / scale / iw);
    const fy = Math.min(1, vh / scale / ih);
    const x0 = a.x + ((1 - fx) / 2) * a.w;
    const y0 = a.y + ((1 - fy) / 2) * a.h;
    const w = fx * a.w;
    const h = fy * a.h;
    ctx.fillStyle = "rgba(0,0,0,0.55)";
    ctx.fillRect(a.x, a.y, a.w, y0 - a.y);
    ctx.fillRect(a.x, y0 + h, a.w, a.y + a.h - y0 - h);
    ctx.fillRect(a.x, y0, x0 - a.x, h);
    ctx.fillRect(x0 + w, y0, a.x + a.w - x0 - w, h);
    if (!this.showGrid) return;
    const cols = Math.max(1, Math.round(vw / TOKEN_PIXELS));
    const rows = Math.max(1, Math.round(vh / TOKEN_PIXELS));
    ctx.strokeStyle = "rgba(255,255,255,0.28)";
    ctx.lineWidth = 0.75;
    ctx.beginPath();
    for (let i = 1; i < cols; i++) {
      const x = x0 + (i * w) / cols;
      ctx.moveTo(x, y0);
      ctx.lineTo(x, y0 + h);
    }
    for (let j = 1; j < rows; j++) {
      const y = y0 + (j * h) / rows;
      ctx.moveTo(x0, y);
      ctx.lineTo(x0 + w, y);
    }
    ctx.stroke();
  }

  paintRegion(ctx, a, k, region, rgb, selected, label) {
    const [iw, ih] = this.imageSize();
    // The fill goes through a scratch canvas so erase strokes cut holes in this region only.
    const s = this.scratch;
    const sw = Math.max(1, Math.round(a.w * k));
    const sh = Math.max(1, Math.round(a.h * k));
    if (s.width !== sw || s.height !== sh) {
      s.width = sw;
      s.height = sh;
    }
    const g = s.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.globalCompositeOperation = "source-over";
    g.clearRect(0, 0, sw, sh);
    g.fillStyle = css(rgb);
    g.strokeStyle = css(rgb);
    if (region.box) {
      const [x0, y0, x1, y1] = region.box;
      g.fillRect(x0 * sw, y0 * sh, (x1 - x0) * sw, (y1 - y0) * sh);
    }
    const short = Math.min(iw, ih);
    for (const stroke of region.strokes) {
      g.globalCompositeOperation = stroke.mode === "erase" ? "destination-out" : "source-over";
      const rpx = stroke.radius * short * (sw / iw);
      g.lineCap = "round";
      g.lineJoin = "round";
      g.lineWidth = 2 * rpx;
      g.beginPath();
      if (stroke.points.length === 1) {
        const [x, y] = stroke.points[0];
        g.arc(x * sw, y * sh, rpx, 0, Math.PI * 2);
        g.fill();
      } else {
        stroke.points.forEach(([x, y], i) => (i ? g.lineTo(x * sw, y * sh) : g.moveTo(x * sw, y * sh)));
        g.stroke();
      }
    }
    g.globalCompositeOperation = "source-over";
    ctx.globalAlpha = selected ? 0.42 : 0.32;
    ctx.drawImage(s, a.x, a.y, a.w, a.h);
    ctx.globalAlpha = 1;

    if (region.box) {
      const [x0, y0, x1, y1] = region.box;
      const rx = a.x + x0 * a.w;
      const ry = a.y + y0 * a.h;
      const rw = (x1 - x0) * a.w;
      const rh = (y1 - y0) * a.h;
      ctx.lineWidth = selected ? 2.5 : 1.5;
      ctx.strokeStyle = css(rgb);
      ctx.setLineDash(label === "BG" ? [6, 4] : []);
      ctx.strokeRect(rx, ry, rw, rh);
      ctx.setLineDash([]);
      if (selected && this.tool === "box") {
        ctx.fillStyle = "#fff";
        ctx.strokeStyle = "#000";
        ctx.lineWidth = 1;
        for (const [hx, hy] of [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1], [0.5, 1], [0, 1], [0, 0.5]]) {
          ctx.fillRect(rx + hx * rw - 3.5, ry + hy * rh - 3.5, 7, 7);
          ctx.strokeRect(rx + hx * rw - 3.5, ry + hy * rh - 3.5, 7, 7);
        }
      }
    }
    const ext = regionExtent(region, iw, ih);
    if (ext) tag(ctx, a.x + ext[0] * a.w + 3, a.y + ext[1] * a.h + 3, label, css(rgb), selected);
  }
}

function tag(ctx, x, y, text, fill, selected = false) {
  ctx.font = "bold 11px sans-serif";
  const w = ctx.measureText(text).width + 8;
  ctx.fillStyle = fill;
  ctx.fillRect(x, y, w, 16);
  if (selected) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 1.5;
    ctx.strokeRect(x, y, w, 16);
  }
  ctx.fillStyle = "#111";
  ctx.fillText(text, x + 4, y + 12);
}

function centredText(ctx, w, h, text, x = 0, y = 0) {
  ctx.fillStyle = "#9aa0a6";
  ctx.font = "12px sans-serif";
  const tw = ctx.measureText(text).width;
  ctx.fillText(text, x + (w - tw) / 2, y + h / 2);
}

/**
 * Ctrl+V of an image while a Speaker Masks node is the selected node: the image becomes its reference. The
 * host would otherwise make a new Load Image node; everything else (text, nodes, other selections, typing in
 * a text field) is left to the host untouched. One listener for all nodes, on the paste event only.
 */
let pasteListenerAdded = false;
function installPasteListener() {
  if (pasteListenerAdded) return;
  pasteListenerAdded = true;
  window.addEventListener("paste", (e) => {
    const node = app.canvas?.current_node;
    if (!node?.mtsSpeakerEditor || !node.is_selected) return;
    const target = e.target;
    if (target instanceof HTMLTextAreaElement || (target instanceof HTMLInputElement && target.type === "text")) return;
    const file = Array.from(e.clipboardData?.items ?? [])
      .filter((i) => i.kind === "file")
      .map((i) => i.getAsFile())
      .find(isImageFile);
    if (!file) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    node.mtsSpeakerEditor.upload(file);
  }, true);
}

function viewUrl({ filename, subfolder, type }) {
  const params = new URLSearchParams({ filename, subfolder: subfolder ?? "", type: type ?? "input" });
  return api.apiURL(`/view?${params}`);
}

app.registerExtension({
  name: "MultiTalkStudio.SpeakerMasks",

  setup() {
    installPasteListener();
  },

  getCustomWidgets() {
    return {
      [WIDGET_TYPE](node, inputName) {
        const editor = new SpeakerEditor(node, inputName);
        return { widget: editor.widget, minWidth: 380, minHeight: 420 };
      },
    };
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE_CLASS) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      const out = onExecuted?.apply(this, arguments);
      this.mtsSpeakerEditor?.onExecuted(output);
      return out;
    };
    const onConnectionsChange = nodeType.prototype.onConnectionsChange;
    nodeType.prototype.onConnectionsChange = function () {
      const out = onConnectionsChange?.apply(this, arguments);
      const editor = this.mtsSpeakerEditor;
      if (editor) {
        editor.refreshImage();
        editor.updateControls();
        editor.redraw();
      }
      return out;
    };
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const out = onConfigure?.apply(this, arguments);
      const editor = this.mtsSpeakerEditor;
      if (editor) {
        editor.watchWidgets();
        editor.refreshImage();
        editor.updateControls();
        editor.redraw();
      }
      return out;
    };
    const onRemoved = nodeType.prototype.onRemoved;
    nodeType.prototype.onRemoved = function () {
      this.mtsSpeakerEditor?.resizeObserver.disconnect();
      return onRemoved?.apply(this, arguments);
    };
  },

  nodeCreated(node) {
    const editor = node.mtsSpeakerEditor;
    if (!editor) return;
    editor.watchWidgets();
    node.setSize([Math.max(node.size[0], 460), Math.max(node.size[1], 660)]);
    editor.updateControls();
    editor.redraw();
  },
});
