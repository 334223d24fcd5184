// MultiTalk Studio - Speaker Masks widget.
//
// A canvas inside the MTS_SpeakerMasks node: the reference image with one region per speaker (1-4, in
// speaker order) and an optional background. The state is the `regions` widget value (JSON, schema in
// speaker_masks/state.js); the image is never embedded, only referenced (an upload in ComfyUI's input folder,
// or the temp copy of a connected image after a run).
//
// This file only registers the extension; the widget lives in speaker_masks/: state.js (constants, the
// region state), editor.js (SpeakerEditor, one per node), toolbar.js (the panel's DOM), renderer.js and
// drawing.js (painting), pointer.js (gestures), images.js (upload, drop, paste, run output) and frontend.js (the
// one module that reaches into the ComfyUI frontend: canvas, selection, change tracking, server).
import { app } from "../../scripts/app.js";
import { SpeakerEditor } from "./speaker_masks/editor.js";
import { frontendProblems } from "./speaker_masks/frontend.js";
import { installPasteListener } from "./speaker_masks/images.js";
import { NODE_CLASS, WIDGET_TYPE, regionSchema } from "./speaker_masks/state.js";

/** Wrap a node-type hook: the original runs first, then `after` on the node's editor (when it has one). */
function chainHook(nodeType, hook, after) {
  const original = nodeType.prototype[hook];
  nodeType.prototype[hook] = function () {
    const out = original?.apply(this, arguments);
    if (this.mtsSpeakerEditor) after(this.mtsSpeakerEditor, arguments);
    return out;
  };
}

/** The node's picture or graph changed: show the right image, controls and regions again. */
function refreshAll(editor) {
  editor.refreshImage();
  editor.updateControls();
  editor.redraw();
}

app.registerExtension({
  name: "MultiTalkStudio.SpeakerMasks",

  setup() {
    const missing = frontendProblems();
    if (missing.length) {
      console.error(`[MultiTalk Studio] Speaker Masks: this ComfyUI frontend lacks ${missing.join(", ")}; the widget's `
        + "edits may not reach undo or the modified mark. Please report it with your frontend version.");
    }
    installPasteListener();
  },

  getCustomWidgets() {
    return {
      [WIDGET_TYPE](node, inputName, inputData) {
        const editor = new SpeakerEditor(node, inputName, regionSchema(node, inputName, inputData));
        return { widget: editor.widget, minWidth: 380, minHeight: 420 };
      },
    };
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE_CLASS) return;
    chainHook(nodeType, "onExecuted", (editor, [output]) => editor.onExecuted(output));
    chainHook(nodeType, "onConnectionsChange", refreshAll);
    chainHook(nodeType, "onConfigure", (editor) => {
      editor.watchWidgets();
      refreshAll(editor);
    });
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
