// MultiTalk Studio - Speaker Masks widget: the one module that reaches into the ComfyUI frontend. The rest of
// speaker_masks/ works on its node, the node's widgets and its own DOM, and comes here for the graph canvas, the
// selection, change tracking and the server.
//
// Only APIs the frontend offers extensions are used, all present from the frontend of the oldest supported
// ComfyUI (1.37) to the newest (1.58): the api's fetchApi/apiURL, and LGraphCanvas' canvas element, read_only,
// selectedItems, selectItems and emitBeforeChange/emitAfterChange. The last pair is how the frontend's own
// edits reach its change tracker (undo history, the modified mark); it replaces the tracker's checkState(),
// which is private and deprecated (renamed captureCanvasState() by newer frontends, absent from older ones).
// FRONTEND_API lists every member relied on; frontendProblems() names those this frontend lacks. The widget
// logs them as an error when the extension starts, and a browser test fails on every frontend where the list
// is not empty.
// Only exports: the host imports every .js file of the pack, so nothing here may act at import.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";

export const FRONTEND_API = {
  "api.fetchApi": () => api.fetchApi,
  "api.apiURL": () => api.apiURL,
  "app.canvas.canvas": () => app.canvas?.canvas,
  "app.canvas.read_only": () => app.canvas && "read_only" in app.canvas,
  "app.canvas.selectedItems": () => app.canvas?.selectedItems,
  "app.canvas.selectItems": () => app.canvas?.selectItems,
  "app.canvas.emitBeforeChange": () => app.canvas?.emitBeforeChange,
  "app.canvas.emitAfterChange": () => app.canvas?.emitAfterChange,
};

/** The members of FRONTEND_API this frontend lacks (empty when the widget can work fully). */
export function frontendProblems() {
  return Object.entries(FRONTEND_API).filter(([, get]) => !get()).map(([name]) => name);
}

/** The graph's own <canvas>, where gestures that are not the widget's are handed on. */
export function graphCanvas() {
  return app.canvas?.canvas ?? null;
}

export function canvasReadOnly() {
  return !!app.canvas?.read_only;
}

export function isSelected(node) {
  return !!app.canvas?.selectedItems?.has(node);
}

/** Select `node` as a click on the node would: alone, or added to the selection with Shift. */
export function selectNode(node, addToSelection) {
  app.canvas?.selectItems?.([node], addToSelection);
}

/** The node when exactly one node is selected (a paste goes to it), else null. */
export function soleSelectedNode() {
  const items = [...(app.canvas?.selectedItems ?? [])];
  return items.length === 1 ? items[0] : null;
}

/** The user changed the graph: the change tracker records it (one undo step; the workflow shows as modified). */
export function markGraphChanged() {
  app.canvas?.emitBeforeChange?.();
  app.canvas?.emitAfterChange?.();
}

export function viewUrl({ filename, subfolder, type }) {
  const params = new URLSearchParams({ filename, subfolder: subfolder ?? "", type: type ?? "input" });
  return api.apiURL(`/view?${params}`);
}

/** Upload an image file to ComfyUI's input folder; the server's answer ({name, subfolder, type}). */
export async function uploadImage(file) {
  const body = new FormData();
  body.append("image", file);
  body.append("type", "input");
  const resp = await api.fetchApi("/upload/image", { method: "POST", body });
  if (resp.status !== 200) throw new Error(`${resp.status} ${resp.statusText}`);
  return resp.json();
}
