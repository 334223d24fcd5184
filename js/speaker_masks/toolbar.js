// MultiTalk Studio - Speaker Masks widget: the panel's DOM (speaker chips, tools, actions, the canvas stage, the
// status line), its stylesheet, and keeping the controls in step with the editor's state.
// Only exports: the host imports every .js file of the pack, so nothing here may act at import (the stylesheet
// is added when the first editor is built).
import { DEFAULT_BRUSH, NO_FILE, blankRegion, css, regionDrawn } from "./state.js";

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

function element(tag, className) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  return el;
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

export class SpeakerToolbar {
  /** Builds the whole panel; `root` goes into the DOM widget, `canvas` is the drawing surface. */
  constructor(editor) {
    addStyle();
    this.editor = editor;
    this.root = element("div", "mts-sm");
    this.speakerBar = element("div", "mts-sm-bar");
    const tools = this.buildTools();
    const actions = this.buildActions();
    this.stage = element("div", "mts-sm-stage");
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("data-testid", "mts-speaker-canvas");
    this.stage.appendChild(this.canvas);
    this.status = element("div", "mts-sm-status");
    this.root.append(this.speakerBar, tools, actions, this.stage, this.status);
  }

  buildTools() {
    const editor = this.editor;
    const tools = element("div", "mts-sm-bar");
    this.toolButtons = {
      box: button("Box", "Box tool: drag on empty space to draw the next speaker, drag a region to move it, drag the " +
        "white handles to resize the selected box.", () => editor.setTool("box")),
      paint: button("Brush", "Brush: paint the selected speaker's region (adds to its box).", () => editor.setTool("paint")),
      erase: button("Erase", "Erase: remove pixels from the selected speaker's region.", () => editor.setTool("erase")),
    };
    const brushSize = (this.brushSize = document.createElement("input"));
    brushSize.type = "range";
    brushSize.min = "0.5";
    brushSize.max = "20";
    brushSize.step = "0.5";
    brushSize.value = String(DEFAULT_BRUSH * 100);
    brushSize.title = "Brush radius, % of the image's shorter side";
    brushSize.addEventListener("input", () => {
      editor.brush = Number(brushSize.value) / 100;
      editor.redraw();
    });
    this.upButton = button("\u25B2", "Move the selected speaker earlier (speaker order = audio order)", () => editor.reorder(-1));
    this.downButton = button("\u25BC", "Move the selected speaker later", () => editor.reorder(1));
    this.deleteButton = button("\u2715", "Delete the selected speaker (or the background)", () => editor.deleteActive());
    const labelInput = (this.labelInput = document.createElement("input"));
    labelInput.type = "text";
    labelInput.placeholder = "label";
    labelInput.maxLength = editor.schema.label_length;
    labelInput.title = "Name of the selected speaker (shown here and in the preview)";
    labelInput.addEventListener("input", () => {
      const region = editor.active === "bg" ? null : editor.activeRegion();
      if (!region) return;
      region.label = labelInput.value;
      editor.commit();
    });
    tools.append(this.toolButtons.box, this.toolButtons.paint, this.toolButtons.erase, brushSize,
      element("div", "mts-sm-sep"), this.upButton, this.downButton, this.deleteButton, labelInput);
    return tools;
  }

  buildActions() {
    const editor = this.editor;
    const actions = element("div", "mts-sm-bar");
    const fileInput = (this.fileInput = document.createElement("input"));
    fileInput.type = "file";
    fileInput.accept = "image/*";
    fileInput.style.display = "none";
    fileInput.addEventListener("change", () => {
      const file = fileInput.files?.[0];
      fileInput.value = "";
      if (file) editor.upload(file);
    });
    this.imageButton = button("Image\u2026", "Upload a reference image (you can also paste with the node selected, " +
      "or drop an image file onto the node)", () => fileInput.click());
    this.gridButton = button("Grid", "Show the video crop's token grid (one cell = 16x16 video pixels)", () => {
      editor.showGrid = !editor.showGrid;
      editor.updateControls();
      editor.redraw();
    });
    this.viewButton = button("Result", "Show the last run's preview: the tokens each speaker owns after the crop",
      () => {
        editor.view = editor.view === "edit" ? "result" : "edit";
        editor.updateControls();
        editor.redraw();
      });
    this.adoptButton = button("Edit these", "Turn the regions of the last run (typed or automatic) into drawn boxes",
      () => editor.adoptResult());
    actions.append(this.imageButton, fileInput, this.gridButton, this.viewButton, this.adoptButton);
    return actions;
  }

  /** Chips, pressed/disabled states and the status line, from the editor's current state. */
  update() {
    const editor = this.editor;
    const { speakers, background } = editor.state;
    const bar = this.speakerBar;
    bar.replaceChildren();
    speakers.forEach((region, i) => {
      const text = `${i + 1}${region.label ? " " + region.label : ""}`;
      const chip = button(text, `Select speaker ${i + 1}${regionDrawn(region) ? "" : " (nothing drawn yet)"}`,
        () => editor.select(i));
      chip.className = "mts-sm-chip";
      chip.style.background = css(editor.speakerRgb(i), regionDrawn(region) ? 1 : 0.45);
      chip.setAttribute("aria-pressed", String(editor.active === i));
      bar.appendChild(chip);
    });
    const add = button("+ speaker", "Add a speaker, then draw its box or brush its region", () => {
      editor.state.speakers.push(blankRegion());
      editor.active = editor.state.speakers.length - 1;
      editor.commit();
    });
    add.disabled = speakers.length >= editor.schema.max_speakers;
    const bg = button("Background", "Select the optional background region (used when include_background is on)",
      () => editor.select("bg"));
    bg.className = "mts-sm-chip";
    bg.style.background = css(editor.schema.background_rgb, regionDrawn(background) ? 1 : 0.45);
    bg.setAttribute("aria-pressed", String(editor.active === "bg"));
    bar.append(add, bg);

    for (const [tool, b] of Object.entries(this.toolButtons)) b.setAttribute("aria-pressed", String(editor.tool === tool));
    this.brushSize.disabled = editor.tool === "box";
    const isSpeaker = editor.active !== "bg" && speakers[editor.active] != null;
    this.upButton.disabled = !isSpeaker || editor.active === 0;
    this.downButton.disabled = !isSpeaker || editor.active >= speakers.length - 1;
    this.deleteButton.disabled = editor.active === "bg" ? !background : !isSpeaker;
    this.labelInput.disabled = !isSpeaker;
    if (document.activeElement !== this.labelInput) this.labelInput.value = isSpeaker ? speakers[editor.active].label : "";
    this.gridButton.setAttribute("aria-pressed", String(editor.showGrid));
    this.viewButton.textContent = editor.view === "edit" ? "Result" : "Edit";
    this.viewButton.disabled = editor.view === "edit" && !editor.result;
    this.adoptButton.style.display = speakers.length === 0 ? "" : "none";
    this.adoptButton.disabled = !editor.ghostBoxes().length;
    this.updateStatus();
  }

  /** One line under the canvas: the image, what the node will use (drawn, typed or automatic), the video size. */
  updateStatus() {
    const editor = this.editor;
    const parts = [];
    let warn = false;
    const [iw, ih] = editor.imageSize();
    const [vw, vh] = editor.videoSize();
    const linked = editor.imageLinked();
    const ref = editor.widgetNamed("reference")?.value;
    if (linked) parts.push(editor.image ? `connected image ${iw}\u00D7${ih}` : "connected image: run once to show it");
    else if (ref && ref !== NO_FILE) parts.push(editor.imageFailed ? `'${ref}' not found: upload it again` : `${ref} ${iw}\u00D7${ih}`);
    else parts.push("no image: paste, drop or upload one");
    warn ||= linked ? false : editor.imageFailed;
    const drawn = editor.state.speakers.length;
    const typed = String(editor.widgetNamed("typed_regions")?.value ?? "").trim();
    if (drawn) {
      parts.push(`${drawn} speaker${drawn > 1 ? "s" : ""} drawn`);
      if (typed) parts.push("typed_regions ignored");
    } else if (typed) parts.push("using typed_regions");
    else parts.push(`auto: ${editor.widgetNamed("num_speakers")?.value ?? 2} vertical strips`);
    if (regionDrawn(editor.state.background) && !editor.widgetNamed("include_background")?.value) {
      parts.push("background drawn but include_background is off");
      warn = true;
    }
    parts.push(`video ${vw}\u00D7${vh}`);
    if (editor.view === "result" && editor.resultStale) parts.push("result is outdated: run again");
    if (editor.notice) {
      parts.unshift(editor.notice);
      warn = true;
    }
    this.status.textContent = parts.join(" \u00B7 ");
    this.status.title = this.status.textContent;
    this.status.classList.toggle("mts-sm-warn", warn);
  }
}
