// MultiTalk Studio - Speaker Masks widget: the region state (the widget value) and the widget's own constants.
//
// The region schema is Python's (wan_multitalk/regions.py): its version, the speaker limit, the colours and the
// token size come with the `regions` input's definition (`regionSchema`, see `regionSchema` below), never copied.
// The state, all coordinates in fractions of the image (0 = left/top, 1 = right/bottom):
//   {version,
//    speakers: [{label, box: [x0, y0, x1, y1] | null,
//                strokes: [{mode: "paint" | "erase", radius /* of min(w, h) */, points: [[x, y], ...]}]}],
//    background: null | {box, strokes},
//    image: null | {width, height, preview?: {filename, subfolder, type}}}   // display hints only
//
// Only exports: the host imports every .js file of the pack, so nothing here may act at import.

export const NODE_CLASS = "MTS_SpeakerMasks";
export const WIDGET_TYPE = "MTS_SPEAKER_REGIONS";
export const NO_FILE = "(none)";
export const HANDLE_PX = 6;
export const MIN_BOX_PX = 4;
export const DEFAULT_BRUSH = 0.04;
const PRECISION = 1e5;

export const css = (rgb, alpha = 1) =>
  `rgba(${rgb.map((c) => Math.round(c * 255)).join(",")},${alpha})`;
export const clamp01 = (v) => Math.min(1, Math.max(0, v));
export const round = (v) => Math.round(v * PRECISION) / PRECISION;
export const isImageFile = (f) => !!f && typeof f.type === "string" && f.type.startsWith("image/");

/**
 * The region schema of the node definition's `regions` input: {version, max_speakers, token_pixels, speaker_rgb,
 * background_rgb, label_length}. Throws when the definition lacks it (a pack whose Python and JS disagree).
 */
export function regionSchema(node, inputName, inputData) {
  const defined = node?.constructor?.nodeData;
  const schema = inputData?.[1]?.regionSchema
    ?? defined?.inputs?.[inputName]?.regionSchema
    ?? defined?.input?.required?.[inputName]?.[1]?.regionSchema;
  if (!schema || !Number.isInteger(schema.version) || !Array.isArray(schema.speaker_rgb)) {
    throw new Error(`${NODE_CLASS}.${inputName}: the node definition carries no region schema`);
  }
  return schema;
}

export function emptyState(schema) {
  return { version: schema.version, speakers: [], background: null, image: null };
}

export function blankRegion(box = null) {
  return { label: "", box, strokes: [] };
}

export function cleanBox(box) {
  if (!Array.isArray(box) || box.length !== 4 || !box.every(Number.isFinite)) return null;
  const [a, b, c, d] = box.map(clamp01);
  const out = [Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d)].map(round);
  return out[2] > out[0] && out[3] > out[1] ? out : null;
}

export function cleanRegion(raw) {
  if (!raw || typeof raw !== "object") return null;
  // the same strokes the mask node rasterises: points left after cleaning and a positive radius
  const strokes = (Array.isArray(raw.strokes) ? raw.strokes : [])
    .filter((s) => s && Array.isArray(s.points) && Number.isFinite(s.radius) && s.radius > 0)
    .map((s) => ({
      mode: s.mode === "erase" ? "erase" : "paint",
      radius: s.radius,
      points: s.points.filter((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite)),
    }))
    .filter((s) => s.points.length);
  return { label: typeof raw.label === "string" ? raw.label : "", box: cleanBox(raw.box), strokes };
}

/**
 * The saved widget text -> a clean state. Throws on JSON it cannot read (e.g. a newer schema), so the caller
 * can keep that text verbatim instead of overwriting it with an empty drawing.
 */
export function parseState(text, schema) {
  const state = emptyState(schema);
  if (!text) return state;
  const data = JSON.parse(text);
  if (!data || typeof data !== "object" || !Number.isInteger(data.version) || data.version > schema.version) {
    throw new Error(`unsupported region schema ${data && data.version}`);
  }
  state.speakers = (Array.isArray(data.speakers) ? data.speakers : []).map(cleanRegion).filter(Boolean)
    .slice(0, schema.max_speakers);
  state.background = cleanRegion(data.background);
  state.image = data.image && typeof data.image === "object" ? data.image : null;
  return state;
}

export function regionDrawn(region) {
  return !!region && (!!region.box || region.strokes.some((s) => s.mode === "paint"));
}

/** Bounding box of a region in fractions: its box and its paint strokes widened by the brush radius. */
export function regionExtent(region, iw, ih) {
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

/** The automatic layout the node uses when nothing is drawn or typed: n equal vertical strips. */
export function stripBoxes(n) {
  return Array.from({ length: n }, (_, i) => [i / n, 0, (i + 1) / n, 1]);
}
