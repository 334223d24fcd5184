// MultiTalk Studio - Speaker Masks widget: the `typed_regions` text read the way the node reads it, so the widget
// can draw typed regions and flag a bad text while it is typed, before any run.
//
// The rule's home is Python (wan_multitalk/masks.py `parse_regions`); this is its line-by-line port, and a browser
// test runs both on one table of texts and requires the same boxes and the same problem sentence. Change both
// together.
// Only exports: the host imports every .js file of the pack, so nothing here may act at import.

/** A typed text the node would refuse: `problem` is the sentence the node's error starts with. */
export class TypedRegionsError extends Error {
  constructor(problem) {
    super(problem);
    this.problem = problem;
  }
}

// Python's float() grammar for plain decimal numbers (digits may be grouped with single underscores); inf and nan
// are refused by both, so they are not matched here.
const DIGITS = String.raw`\d(?:_?\d)*`;
const NUMBER = new RegExp(String.raw`^[+-]?(?:${DIGITS}(?:\.(?:${DIGITS})?)?|\.${DIGITS})(?:[eE][+-]?${DIGITS})?$`);

function number(token, text) {
  const value = NUMBER.test(text.trim()) ? Number(text.trim().replaceAll("_", "")) : NaN;
  if (!Number.isFinite(value)) {
    throw new TypedRegionsError(`'${token}' is not a speaker region ('${text}' is not a number).`);
  }
  return value;
}

function checkArea(box, speaker, token, where = "") {
  if (box[2] <= box[0] || box[3] <= box[1]) {
    throw new TypedRegionsError(`speaker ${speaker}'s region '${token}' has no area${where}.`);
  }
  return box;
}

function percentTokens(tokens) {
  return tokens.map((token, i) => {
    const parts = token.split(":");
    if (parts.length !== 2 && parts.length !== 4) {
      throw new TypedRegionsError(`'${token}' is not a speaker location (expected L:R or L:T:R:B).`);
    }
    let values = parts.map((p) => number(token, p));
    if (values.some((v) => v < 0 || v > 100)) throw new TypedRegionsError(`'${token}' has a percentage outside 0-100.`);
    if (values.length === 2) values = [values[0], 0, values[1], 100]; // L:R is a full-height column
    return checkArea(values.map((v) => v / 100), i + 1, token);
  });
}

const unit = (v) => Math.min(Math.max(v, 0), 1);

function commaBoxes(tokens, imageW, imageH) {
  const rows = tokens.map((token) => {
    const parts = token.replace(/^[[\]()]+|[[\]()]+$/g, "").split(",");
    if (parts.length !== 4) throw new TypedRegionsError(`'${token}' is not a box (expected 4 numbers x1,y1,x2,y2).`);
    return parts.map((p) => number(token, p));
  });
  // one rule for the whole text: no number above 1 means fractions, else source-image pixels
  const fractions = rows.every((row) => row.every((v) => v <= 1));
  const [sx, sy] = fractions ? [1, 1] : [imageW, imageH];
  return rows.map(([x1, y1, x2, y2], i) => {
    if (x2 <= x1 || y2 <= y1) checkArea([x1, y1, x2, y2], i + 1, tokens[i]);
    return checkArea([unit(x1 / sx), unit(y1 / sy), unit(x2 / sx), unit(y2 / sy)], i + 1, tokens[i], " inside the image");
  });
}

/**
 * The typed text -> boxes [x0, y0, x1, y1] in fractions of an `imageW` x `imageH` image, speaker order; [] for a
 * blank text. Throws TypedRegionsError with the node's problem sentence for a text the node would refuse.
 */
export function parseTypedRegions(text, imageW, imageH) {
  const trimmed = String(text ?? "").trim();
  if (!trimmed) return [];
  // a box has no colon, so colons mean percentage tokens; commas then only separate them
  if (trimmed.includes(":")) return percentTokens(trimmed.split(/[;,\s]+/).filter(Boolean));
  if (trimmed.includes(",")) {
    const tokens = trimmed.replace(/\s*,\s*/g, ",").split(/[;\s]+/).filter(Boolean);
    return commaBoxes(tokens, Math.trunc(imageW), Math.trunc(imageH));
  }
  throw new TypedRegionsError(`'${trimmed}' is not a list of speaker regions.`);
}
