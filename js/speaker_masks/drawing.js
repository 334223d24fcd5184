// MultiTalk Studio - Speaker Masks widget: canvas drawing helpers. Plain functions of a 2D context and a
// layout `a` ({x, y, w, h}: where the image sits in the canvas, in CSS pixels); no editor state.
// Only exports: the host imports every .js file of the pack, so nothing here may act at import.
import { clamp01, css, regionExtent } from "./state.js";

const HANDLES = [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1], [0.5, 1], [0, 1], [0, 0.5]];

export function tag(ctx, x, y, text, fill, selected = false) {
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

export function centredText(ctx, w, h, text, x = 0, y = 0) {
  ctx.fillStyle = "#9aa0a6";
  ctx.font = "12px sans-serif";
  const tw = ctx.measureText(text).width;
  ctx.fillText(text, x + (w - tw) / 2, y + h / 2);
}

/** Dim what the centre crop to the video size cuts away; with `tokenPixels`, draw the token grid inside. */
export function paintCrop(ctx, a, [iw, ih], [vw, vh], tokenPixels) {
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
  if (!tokenPixels) return;
  const cols = Math.max(1, Math.round(vw / tokenPixels));
  const rows = Math.max(1, Math.round(vh / tokenPixels));
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

/**
 * One region: its fill (box plus strokes), its box outline, the resize handles when asked, and its tag.
 * `k` is the backing-store scale of the canvas; `scratch` a spare canvas for the fill.
 */
export function paintRegion(ctx, a, k, scratch, region, { rgb, selected, label, background, handles, imageSize }) {
  const [iw, ih] = imageSize;
  // The fill goes through a scratch canvas so erase strokes cut holes in this region only.
  const s = scratch;
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
    ctx.setLineDash(background ? [6, 4] : []);
    ctx.strokeRect(rx, ry, rw, rh);
    ctx.setLineDash([]);
    if (selected && handles) {
      ctx.fillStyle = "#fff";
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 1;
      for (const [hx, hy] of HANDLES) {
        ctx.fillRect(rx + hx * rw - 3.5, ry + hy * rh - 3.5, 7, 7);
        ctx.strokeRect(rx + hx * rw - 3.5, ry + hy * rh - 3.5, 7, 7);
      }
    }
  }
  const ext = regionExtent(region, iw, ih);
  if (ext) tag(ctx, a.x + ext[0] * a.w + 3, a.y + ext[1] * a.h + 3, label, css(rgb), selected);
}

/** The dashed outline of speaker i's region when nothing is drawn (last run's regions or the auto strips). */
export function paintGhost(ctx, a, box, i, rgb) {
  ctx.setLineDash([5, 4]);
  ctx.strokeStyle = css(rgb, 0.9);
  ctx.lineWidth = 1.5;
  ctx.strokeRect(a.x + box[0] * a.w + 1, a.y + box[1] * a.h + 1, (box[2] - box[0]) * a.w - 2, (box[3] - box[1]) * a.h - 2);
  ctx.setLineDash([]);
  tag(ctx, a.x + box[0] * a.w + 3, a.y + box[1] * a.h + 3, `${i + 1}`, css(rgb, 0.7));
}

/** The box being dragged out, between two points in fractions of the image. */
export function paintRubberBand(ctx, a, start, current) {
  const box = [start.x, start.y, current.x, current.y].map(clamp01);
  const x0 = Math.min(box[0], box[2]);
  const y0 = Math.min(box[1], box[3]);
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = "#fff";
  ctx.lineWidth = 1.5;
  ctx.strokeRect(a.x + x0 * a.w, a.y + y0 * a.h, Math.abs(box[2] - box[0]) * a.w, Math.abs(box[3] - box[1]) * a.h);
  ctx.setLineDash([]);
}

/** The brush outline under the pointer: solid in the speaker's colour to paint, dashed white to erase. */
export function paintBrushCursor(ctx, a, point, radiusPx, erase, colour) {
  ctx.beginPath();
  ctx.arc(a.x + point.x * a.w, a.y + point.y * a.h, radiusPx, 0, Math.PI * 2);
  ctx.strokeStyle = erase ? "#fff" : colour;
  ctx.lineWidth = 1.5;
  ctx.setLineDash(erase ? [3, 3] : []);
  ctx.stroke();
  ctx.setLineDash([]);
}
