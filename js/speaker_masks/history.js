// MultiTalk Studio - Speaker Masks widget: undo and redo inside the widget.
//
// Every edit already reaches the frontend's change tracker (frontend.js markGraphChanged), but the tracker undoes
// by reloading the whole graph: the widget would be rebuilt (tool, selection and brush reset) and every other node
// loaded again. So while the user works in the widget its keys are its own: a press on the drawing surface gives
// the keyboard to the widget's key field (an <input>, which the frontend leaves alone, as it leaves any text field),
// and there Ctrl+Z undoes the last edit of this widget, Ctrl+Y or Ctrl+Shift+Z redoes it (Cmd on macOS). The undo
// or redo is itself reported to the tracker as a change, so the modified mark, saving and the graph's own history
// stay true. A press anywhere outside the widget, or any other key, hands the keyboard back to the graph.
// Only exports: the host imports every .js file of the pack, so nothing here may act at import.

import { graphCanvas } from "./frontend.js";

const LIMIT = 100;
export const KEYS_ATTRIBUTE = "data-mts-keys";

/** The widget's own history: the serialized regions before each edit. */
export class EditHistory {
  constructor() {
    this.undoStack = [];
    this.redoStack = [];
  }

  /** An edit changed the regions from `before`: it can be undone, and what was undone can no longer be redone. */
  record(before) {
    this.undoStack.push(before);
    if (this.undoStack.length > LIMIT) this.undoStack.shift();
    this.redoStack.length = 0;
  }

  clear() {
    this.undoStack.length = 0;
    this.redoStack.length = 0;
  }

  /** The state to go back to (`current` becomes redoable), or null when there is nothing to undo. */
  undo(current) {
    return this.step(this.undoStack, this.redoStack, current);
  }

  redo(current) {
    return this.step(this.redoStack, this.undoStack, current);
  }

  step(from, to, current) {
    if (!from.length) return null;
    to.push(current);
    return from.pop();
  }
}

/** Ctrl+Z -> "undo", Ctrl+Y / Ctrl+Shift+Z -> "redo" (Cmd for Ctrl), else null. */
export function historyKey(e) {
  if (!(e.ctrlKey || e.metaKey) || e.altKey) return null;
  const key = e.key.toLowerCase();
  if (key === "z") return e.shiftKey ? "redo" : "undo";
  if (key === "y" && !e.shiftKey) return "redo";
  return null;
}

/** The widget's key field: invisible, read-only, focused by a press on the drawing surface. */
export function createKeyField(editor) {
  const field = document.createElement("input");
  field.type = "text";
  field.readOnly = true;
  field.tabIndex = -1;
  field.setAttribute(KEYS_ATTRIBUTE, "");
  field.setAttribute("aria-label", "Speaker regions: Ctrl+Z undo, Ctrl+Y or Ctrl+Shift+Z redo");
  field.style.cssText = "position:absolute;left:0;top:0;width:1px;height:1px;opacity:0;pointer-events:none;border:0;padding:0;";
  field.addEventListener("keydown", (e) => {
    const action = historyKey(e);
    if (action) {
      e.preventDefault();
      e.stopPropagation();
      editor.stepHistory(action);
      return;
    }
    if (["Control", "Shift", "Alt", "Meta"].includes(e.key)) return;
    // Any other key is the graph's: it gets the keyboard back (a copy or paste this key starts then goes to the
    // graph), and a plain key (space to pan, Delete, Escape...) is handed on at once.
    const graph = graphCanvas();
    if (!graph) return;
    graph.focus({ preventScroll: true });
    if (!e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      graph.dispatchEvent(new KeyboardEvent("keydown", e));
    }
  });
  return field;
}

/** A press outside a widget whose key field has the keyboard gives the keyboard back to the graph. */
let releaseInstalled = false;
export function installKeyboardRelease() {
  if (releaseInstalled) return;
  releaseInstalled = true;
  window.addEventListener("pointerdown", (e) => {
    const field = document.activeElement;
    if (!field?.hasAttribute?.(KEYS_ATTRIBUTE)) return;
    if (!field.parentElement?.closest(".mts-sm")?.contains(e.target)) field.blur();
  }, true);
}
