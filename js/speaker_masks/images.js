// MultiTalk Studio - Speaker Masks widget: where the pictures come from. The reference image is never embedded
// in the workflow, only referenced: an upload in ComfyUI's input folder (file button, drop, paste), or the temp
// copy of a connected image after a run. Also the run's token preview. Functions of the editor.
// Only exports: the host imports every .js file of the pack, so nothing here may act at import.
import { soleSelectedNode, uploadImage, viewUrl } from "./frontend.js";
import { NO_FILE, isImageFile } from "./state.js";

const carriesImage = (dataTransfer) =>
  Array.from(dataTransfer?.items ?? []).some((i) => i.kind === "file" && i.type.startsWith("image/"));

/** Show the picture the node will use: the connected image's last copy, else the `reference` upload. */
export function refresh(editor) {
  let source = null;
  if (editor.imageLinked()) {
    source = editor.state.image?.preview ?? null;
  } else {
    const ref = editor.widgetNamed("reference")?.value;
    if (ref && ref !== NO_FILE) {
      const cut = ref.lastIndexOf("/");
      source = { filename: ref.slice(cut + 1), subfolder: cut >= 0 ? ref.slice(0, cut) : "", type: "input" };
    }
  }
  const key = source ? `${source.type}/${source.subfolder}/${source.filename}` : null;
  if (key === editor.imageKey) return;
  editor.imageKey = key;
  editor.image = null;
  editor.imageFailed = false;
  if (!source) {
    editor.updateStatus();
    editor.redraw();
    return;
  }
  const img = new Image();
  img.onload = () => {
    if (editor.imageKey !== key) return;
    editor.image = img;
    if (!editor.imageLinked()) rememberSize(editor, img.naturalWidth, img.naturalHeight);
    editor.updateStatus();
    editor.redraw();
  };
  img.onerror = () => {
    if (editor.imageKey !== key) return;
    editor.imageFailed = true;
    editor.updateStatus();
    editor.redraw();
  };
  img.src = viewUrl(source);
  editor.updateStatus();
  editor.redraw();
}

/** Keep the image's size (and a connected image's copy) in the state, so a reloaded graph draws the right frame. */
function rememberSize(editor, width, height, preview) {
  const old = editor.state.image ?? {};
  const next = { width, height };
  if (preview) next.preview = preview;
  else if (old.preview && editor.imageLinked()) next.preview = old.preview;
  if (JSON.stringify(old) !== JSON.stringify(next)) editor.state.image = next;
}

/** Upload a file to the input folder and make it the node's `reference`. */
export async function upload(editor, file) {
  if (!isImageFile(file)) {
    editor.notice = `'${file?.name ?? "?"}' is not an image`;
    editor.updateStatus();
    return false;
  }
  editor.notice = `uploading ${file.name}\u2026`;
  editor.updateStatus();
  try {
    const data = await uploadImage(file);
    const name = data.subfolder ? `${data.subfolder}/${data.name}` : data.name;
    const combo = editor.widgetNamed("reference");
    if (combo) {
      const values = combo.options?.values;
      if (Array.isArray(values) && !values.includes(name)) values.push(name);
      combo.value = name;
      combo.callback?.(name);
    }
    editor.notice = editor.imageLinked() ? "the connected image is used while the image input is linked" : "";
    refresh(editor);
    editor.commit();
    return true;
  } catch (err) {
    editor.notice = `upload failed: ${err.message}`;
    editor.updateStatus();
    return false;
  }
}

/** A finished run: keep its result (regions, sizes), the connected image's copy and the token preview. */
export function takeRunOutput(editor, output) {
  const result = output?.mts_result?.[0];
  if (!result) return;
  editor.result = result;
  editor.resultStale = false;
  const reference = output.mts_reference?.[0];
  const [w, h] = result.image_size ?? [0, 0];
  if (reference) rememberSize(editor, w, h, reference);
  else if (result.image_origin === "file" && w && h) rememberSize(editor, w, h);
  const preview = output.mts_preview?.[0];
  if (preview) {
    const img = new Image();
    img.onload = () => {
      editor.previewImage = img;
      editor.redraw();
    };
    img.src = viewUrl(preview);
  }
  refresh(editor);
  editor.updateControls();
  editor.redraw();
}

/** Image files dropped on the widget itself are uploaded; other drags pass through to the host. */
export function installDropHandlers(editor) {
  const { root, stage } = editor;
  root.addEventListener("dragover", (e) => {
    if (!carriesImage(e.dataTransfer)) return;
    e.preventDefault();
    e.stopPropagation();
    e.dataTransfer.dropEffect = "copy";
    stage.classList.add("mts-sm-drop");
  });
  root.addEventListener("dragleave", () => stage.classList.remove("mts-sm-drop"));
  root.addEventListener("drop", (e) => {
    stage.classList.remove("mts-sm-drop");
    const file = Array.from(e.dataTransfer?.files ?? []).find(isImageFile);
    if (!file) return;
    e.preventDefault();
    e.stopPropagation();
    editor.upload(file);
  });
}

export function installNodeHooks(editor) {
  const node = editor.node;
  // Drops on the node's frame and the context menu's "Paste Image" go through the host's own handlers;
  // Ctrl+V with the node selected is caught by `installPasteListener`.
  node.pasteFiles = (files) => {
    const file = Array.from(files ?? []).find(isImageFile);
    if (file) editor.upload(file);
    return !!file;
  };
  node.onDragOver = (e) => carriesImage(e?.dataTransfer);
  node.onDragDrop = async (e) => {
    const file = Array.from(e?.dataTransfer?.files ?? []).find(isImageFile);
    if (!file) return false;
    await editor.upload(file);
    return true;
  };
}

/**
 * Ctrl+V of an image while a Speaker Masks node is the selected node: the image becomes its reference. The
 * host would otherwise make a new Load Image node; everything else (text, nodes, other selections, typing in
 * a text field) is left to the host untouched. One listener for all nodes, on the paste event only.
 */
let pasteListenerAdded = false;
export function installPasteListener() {
  if (pasteListenerAdded) return;
  pasteListenerAdded = true;
  window.addEventListener("paste", (e) => {
    const node = soleSelectedNode();
    if (!node?.mtsSpeakerEditor) return;
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
