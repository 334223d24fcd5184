"""UI-format workflows (what the frontend saves) to API-format prompts (what /prompt runs), the way the frontend's
`graphToPrompt` does it, with the host's node definitions (object_info) giving each node's widget order.

The frontend gives a node one widget per widget input (INT, FLOAT, STRING, BOOLEAN, COMBO, dynamic combo, and
custom widget types) in definition order, required before optional; a dynamic combo's chosen option adds its own
widgets right after it and its sockets after the node's own (named `parent.child`); `control_after_generate` adds a value-control widget after its
number; upload combos add an upload button (audio also a player). Those extra widgets hold values in
`widgets_values` but feed no input. The frontend restores saved values by position; widgets the save does not
reach (inputs added to a node after the save) keep their defaults. `tests/browser/test_workflows.py` checks this
model against the real frontend.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO", "COMFY_DYNAMICCOMBO_V3"}
DYNAMIC_COMBO = "COMFY_DYNAMICCOMBO_V3"
FRONTEND_ONLY = {"Note", "MarkdownNote"}  # virtual nodes: drawn by the frontend, never sent to the host
CONTROL = "control_after_generate"
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}
UPLOAD_EXTRAS = {"image_upload": ("upload",), "video_upload": ("upload",), "audio_upload": ("audioUI", "upload")}
MUTED, BYPASSED = 2, 4


class WorkflowError(ValueError):
    pass


@dataclass(frozen=True)
class Widget:
    name: str  # the widget's name; nested dynamic-combo inputs are `parent.child`
    input: str | None  # the prompt input it fills, None for the frontend's own extra widgets
    type: str  # COMBO for list combos; CONTROL / UPLOAD for the extras
    options: dict  # the input's options from object_info
    socket: bool  # whether the frontend also gives it an input slot
    named: bool = True  # listed in `widgets_values_named` (the audio player is not serialized by name)


def spec_type(spec) -> tuple[str, dict]:
    """(type, options) of one object_info input spec; a list as type is a combo of those values."""
    kind, options = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if isinstance(kind, list):
        return "COMBO", {**options, "options": kind}
    return kind, options


def ordered_inputs(info: dict) -> list[tuple[str, str, dict, bool]]:
    """(name, type, options, required) of every input, in the definition's order, required first."""
    order = info.get("input_order") or {k: list(v) for k, v in info["input"].items()}
    out = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            kind, options = spec_type(info["input"][section][name])
            out.append((name, kind, options, section == "required"))
    return out


def is_widget(kind: str, options: dict) -> bool:
    return kind in WIDGET_TYPES and not options.get("forceInput")


def _widgets_of(inputs: list, values: list, start: int, prefix: str = "", sockets: list | None = None) -> list[Widget]:
    """The widgets of `inputs` from widget index `start`; the sockets inside chosen dynamic-combo options are
    appended to `sockets` as (name, type, required)."""
    widgets = []
    for name, kind, options, required in inputs:
        if not is_widget(kind, options):
            if prefix and sockets is not None:
                sockets.append((prefix + name, kind, required))
            continue
        full = prefix + name
        widgets.append(Widget(full, full, kind, options, not options.get("socketless")))
        if kind == DYNAMIC_COMBO:
            index = start + len(widgets) - 1
            chosen = values[index] if index < len(values) else options["options"][0]["key"]
            option = next((o for o in options["options"] if o["key"] == chosen), None)
            if option is not None:
                nested = [(n, *spec_type(s), section == "required") for section in ("required", "optional")
                          for n, s in option["inputs"].get(section, {}).items()]
                widgets += _widgets_of(nested, values, start + len(widgets), full + ".", sockets)
        if options.get(CONTROL):
            widgets.append(Widget(CONTROL, None, CONTROL, {}, False))
        for flag, extras in UPLOAD_EXTRAS.items():
            if options.get(flag):
                widgets += [Widget(extra, None, "UPLOAD", {}, True, extra != "audioUI") for extra in extras]
    return widgets


def default_value(widget: Widget):
    """The value a widget holds when the saved node gives it none (a widget newer than the save)."""
    options = widget.options
    if "default" in options:
        return options["default"]
    if widget.type == "COMBO":
        return (options.get("options") or [None])[0]
    if widget.type == DYNAMIC_COMBO:
        return options["options"][0]["key"]
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(widget.type)


def restored_values(info: dict, values: list | None) -> list[tuple[Widget, object]]:
    """(widget, value) as the frontend restores a saved node: saved values by position, and widgets the save
    does not reach (added to the node after it was saved) keep their defaults."""
    values = list(values or [])
    layout = widget_layout(info, values)
    return [(w, values[i] if i < len(values) else default_value(w)) for i, w in enumerate(layout)]


def widget_layout(info: dict, values: list | None = None) -> list[Widget]:
    """The widgets the frontend makes for a node definition, in `widgets_values` order. The values (a saved
    node's `widgets_values`) pick each dynamic combo's option; without them its first option is used."""
    return _widgets_of(ordered_inputs(info), list(values or []), 0)


def socket_inputs(info: dict, values: list | None = None) -> list[tuple[str, str, bool]]:
    """(name, type, required) of the inputs that are only sockets (no widget): the node's own in definition order,
    then those of the dynamic-combo options `values` choose (named `parent.child`), as the frontend adds them."""
    nested: list = []
    _widgets_of(ordered_inputs(info), list(values or []), 0, "", nested)
    return [(n, k, r) for n, k, o, r in ordered_inputs(info) if not is_widget(k, o)] + nested


def input_types(info: dict, values: list | None = None) -> dict[str, str]:
    """Every input name a saved node may link to (sockets and widget inputs) -> its type."""
    types = {n: k for n, k, _r in socket_inputs(info, values)}
    types.update({w.name: w.type for w in widget_layout(info, values) if w.input is not None})
    return types


def host_object_info(node_mappings: dict, names=None) -> dict:
    """object_info as the booted host's /object_info serves it (the fields the frontend and this module use)."""
    out = {}
    for name in names if names is not None else node_mappings:
        cls = node_mappings[name]
        if hasattr(cls, "GET_NODE_INFO_V1"):
            info = cls.GET_NODE_INFO_V1()
        else:
            types = cls.INPUT_TYPES()
            info = {"input": types, "input_order": {k: list(v) for k, v in types.items()},
                    "output": list(cls.RETURN_TYPES),
                    "output_name": list(getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES)}
        out[name] = json.loads(json.dumps(info, default=str))
    return out


def _index(workflow: dict):
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = {link[0]: link for link in workflow.get("links") or []}
    return nodes, links


def _source(link_id, nodes: dict, links: dict, seen=()) -> tuple | None:
    """(node id, output slot) that really feeds a link: through bypassed nodes, nothing from muted ones."""
    link = links.get(link_id)
    if link is None:
        raise WorkflowError(f"link {link_id} is referenced but not in the links list")
    _id, origin, slot, _target, _tslot, kind = link[:6]
    node = nodes.get(origin)
    if node is None:
        raise WorkflowError(f"link {link_id} starts at node {origin}, which does not exist")
    if node.get("mode") == MUTED or origin in seen:
        return None
    if node.get("mode") != BYPASSED:
        return origin, slot
    # a bypassed node hands on the input of the output's type (the same slot number first)
    inputs = node.get("inputs") or []
    order = ([inputs[slot]] if slot < len(inputs) else []) + inputs
    for candidate in order:
        if candidate.get("type") == kind and candidate.get("link") is not None:
            return _source(candidate["link"], nodes, links, (*seen, origin))
    return None


def to_api(workflow: dict, object_info: dict) -> dict:
    """The API prompt the frontend's `graphToPrompt` makes from a saved workflow (without `_meta`)."""
    nodes, links = _index(workflow)
    prompt = {}
    for node_id, node in nodes.items():
        kind = node["type"]
        if kind in FRONTEND_ONLY or node.get("mode") in (MUTED, BYPASSED):
            continue
        if kind not in object_info:
            raise WorkflowError(f"node {node_id}: type {kind} is not installed")
        values = node.get("widgets_values") or []
        if isinstance(values, dict):
            raise WorkflowError(f"node {node_id}: widgets_values as a dict is not supported")
        inputs = {w.input: v for w, v in restored_values(object_info[kind], values) if w.input is not None}
        for slot in node.get("inputs") or []:
            if slot.get("link") is None:
                continue
            source = _source(slot["link"], nodes, links)
            if source is None:
                inputs.pop(slot["name"], None)
            else:
                inputs[slot["name"]] = [str(source[0]), source[1]]
        prompt[str(node_id)] = {"inputs": inputs, "class_type": kind}
    return prompt
