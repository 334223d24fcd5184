// MultiTalk Studio - Speaker Masks widget: paints the editor's canvas (the picture, the crop, the regions, the
// gesture in progress, or the last run's token preview). Reads the editor's state, never changes it.
// Only exports: the host imports every .js file of the pack, so nothing here may act at import.
import { css } from "./state.js";
import {
  centredText, paintBrushCursor, paintCrop, paintGhost, paintRegion, paintRubberBand,
} from "./drawing.js";

/** How much the graph's zoom scales the canvas on screen. */
function screenZoom(canvas) {
  return canvas.getBoundingClientRect().width / (canvas.clientWidth || 1);
}

/** Backing-store pixels per CSS pixel: graph zoom times device pixels, kept within reason. */
function backingScale(zoom) {
  return Math.min(4, Math.max(0.25, zoom * (window.devicePixelRatio || 1)));
}

export class SpeakerRenderer {
  constructor(editor, canvas) {
    this.editor = editor;
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.scratch = document.createElement("canvas");
    this.pixelScale = 1;
    this.frame = null;
  }

  /** Called as the graph draws: repaint sharp when the graph's zoom changed the canvas's scale on screen. */
  checkResolution() {
    const k = backingScale(screenZoom(this.canvas));
    if (Math.abs(k - this.pixelScale) / this.pixelScale > 0.15) this.redraw();
  }

  /** Ask for a repaint; any number of calls before the next animation frame paint once. */
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
    const k = backingScale(screenZoom(c) || 1);
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
    if (this.editor.view === "result") this.paintResult(ctx, cw, ch);
    else this.paintEditor(ctx, k);
  }

  paintResult(ctx, cw, ch) {
    const editor = this.editor;
    const img = editor.previewImage;
    if (!img) {
      centredText(ctx, cw, ch, "Run the graph to see the token preview");
      return;
    }
    const a = editor.layout([img.naturalWidth, img.naturalHeight]);
    ctx.drawImage(img, a.x, a.y, a.w, a.h);
    if (editor.resultStale) {
      ctx.fillStyle = "rgba(0,0,0,0.55)";
      ctx.fillRect(a.x, a.y + a.h - 18, a.w, 18);
      ctx.fillStyle = "#fb4";
      ctx.font = "11px sans-serif";
      ctx.fillText("outdated: the regions changed since this run", a.x + 6, a.y + a.h - 5);
    }
  }

  paintEditor(ctx, k) {
    const editor = this.editor;
    const imageSize = editor.imageSize();
    const [iw, ih] = imageSize;
    const a = editor.layout(imageSize);
    if (editor.image) ctx.drawImage(editor.image, a.x, a.y, a.w, a.h);
    else {
      ctx.fillStyle = "#2a2d31";
      ctx.fillRect(a.x, a.y, a.w, a.h);
      const msg = editor.imageLinked() ? "Run once to show the connected image"
        : editor.imageFailed ? "Image not found: upload it again" : "Paste, drop or upload an image (Image\u2026)";
      centredText(ctx, a.w, a.h, msg, a.x, a.y);
    }
    paintCrop(ctx, a, imageSize, editor.videoSize(), editor.showGrid && editor.schema.token_pixels);

    // Regions: the background first, then the speakers in order (speaker N drawn over speaker N-1).
    const handles = editor.tool === "box";
    const { background, speakers } = editor.state;
    if (background) {
      paintRegion(ctx, a, k, this.scratch, background,
        { rgb: editor.schema.background_rgb, selected: editor.active === "bg", label: "BG", background: true, handles, imageSize });
    }
    speakers.forEach((region, i) => paintRegion(ctx, a, k, this.scratch, region, {
      rgb: editor.speakerRgb(i), selected: editor.active === i, label: `${i + 1}${region.label ? " " + region.label : ""}`,
      background: false, handles, imageSize,
    }));
    editor.ghostBoxes().forEach((box, i) => paintGhost(ctx, a, box, i, editor.speakerRgb(i)));

    const { drag, hover } = editor.pointer;
    if (drag?.kind === "new") paintRubberBand(ctx, a, drag.start, drag.current);
    if (editor.tool !== "box" && hover) {
      const radiusPx = editor.brush * Math.min(iw, ih) * (a.w / iw);
      paintBrushCursor(ctx, a, hover, radiusPx, editor.tool === "erase", css(this.activeColour()));
    }
  }

  activeColour() {
    const editor = this.editor;
    return editor.active === "bg" ? editor.schema.background_rgb : editor.speakerRgb(editor.active);
  }
}
