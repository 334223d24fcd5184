// MultiTalk Studio - graphs saved before the plan node and Audio to Speakers grouped their mode-dependent inputs
// into dynamic combos (`reference`, `mode`). A saved node's widget values are positional, so such a node is rewritten
// into today's layout by the old input names before the graph is configured; renamed sockets keep their links.
import { app } from "../../scripts/app.js";

const PLAN = ["width", "height", "frame_window_size", "motion_frame", "mode", "colour_match", "colour_match_strength",
  "source_fps", "denoise", "output_folder"];
const SPLIT = ["mode", "num_speakers", "timeline", "order", "min_gap_seconds", "fade_ms", "voice_encoder",
  "detect_overlap"];

const named = (names, values) => Object.fromEntries(names.map((name, i) => [name, values[i]]));
const linked = (node, name) => (node.inputs ?? []).some((input) => input.name === name && input.link != null);

/** Move the node's sockets into the combo `group` (`moved` names), drop the stale widget sockets (`dropped`). */
function regroup(node, group, moved, dropped) {
  node.inputs = (node.inputs ?? []).filter((input) => input.link != null || !dropped.includes(input.name));
  for (const input of node.inputs) {
    if (!moved.includes(input.name)) continue;
    input.name = `${group}.${input.name}`;
    if (input.widget) input.widget.name = input.name;
  }
}

const LEGACY = {
  MTS_LongI2VPlan: {
    isLegacy: (values) => values.length === PLAN.length && typeof values[7] === "number",
    migrate(node) {
      const v = named(PLAN, node.widgets_values);
      const dubbing = linked(node, "source_video");
      const dubbingInputs = ["source_video", "source_fps", "face_mask", "denoise"];
      regroup(node, "reference", dubbing ? dubbingInputs : [], dubbing ? [] : dubbingInputs);
      node.widgets_values = [...PLAN.slice(0, 7).map((name) => v[name]), dubbing ? "video to dub" : "start image",
        ...(dubbing ? [v.source_fps, v.denoise] : []), v.output_folder];
    },
  },
  MTS_AudioToSpeakers: {
    isLegacy: (values) => values.length === SPLIT.length,
    migrate(node) {
      const v = named(SPLIT, node.widgets_values);
      const auto = ["num_speakers", "min_gap_seconds", "voice_encoder", "detect_overlap"];
      const timeline = v.mode === "timeline";
      regroup(node, "mode", timeline ? ["timeline"] : auto, timeline ? auto : ["timeline"]);
      node.widgets_values = timeline ? [v.mode, v.timeline, v.order, v.fade_ms]
        : [v.mode, v.num_speakers, v.min_gap_seconds, v.voice_encoder, v.detect_overlap, v.order, v.fade_ms];
    },
  },
};

/** Rewrite every legacy node of a saved graph (and of its subgraphs) in place; returns how many were rewritten. */
export function migrateGraph(graph) {
  let count = 0;
  const graphs = [graph, ...(graph?.definitions?.subgraphs ?? [])];
  for (const g of graphs) {
    for (const node of g?.nodes ?? []) {
      const rule = LEGACY[node.type];
      if (!rule || !Array.isArray(node.widgets_values) || !rule.isLegacy(node.widgets_values)) continue;
      rule.migrate(node);
      count++;
    }
  }
  return count;
}

app.registerExtension({
  name: "MultiTalkStudio.LegacyGraphs",
  beforeConfigureGraph(graph) {
    const count = migrateGraph(graph);
    if (count) console.info(`[MultiTalk Studio] ${count} node(s) of an older saved graph brought to today's inputs`);
  },
});
