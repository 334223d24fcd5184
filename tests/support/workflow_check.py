"""Does a saved workflow still fit the host's current node definitions? Every problem is reported as
`<workflow>: node #<id> <type> '<title>': input '<name>': <what is wrong>`, so a changed node input names the
workflow and the node it breaks.

Checked: node types exist; the saved widget values restore onto this host's widgets (control and upload extras
included) with the same values by position and by name, widgets added since the save taking their defaults, and
no saved widget gone; each value has the input's type and range, combo values are among the options (model and file
names excepted: they depend on the user's disk); saved input slots exist with their type and sockets keep their
order; required sockets are connected; every link joins an existing output to an input that accepts its type,
and both ends point back at it.
"""
from __future__ import annotations

from workflow_api import (BYPASSED, CONTROL, CONTROL_VALUES, DYNAMIC_COMBO, FRONTEND_ONLY, MUTED, default_value,
                          input_types, restored_values, socket_inputs, widget_layout)


def is_file_combo(widget) -> bool:
    """Combos listing files on the user's disk (models, uploads): their values are names, not choices."""
    return widget.input is not None and (widget.name.endswith("_name") or widget.name == "model"
                                         or any(k.endswith("_upload") for k in widget.options))


def accepts(input_type: str, output_type: str) -> bool:
    """The host's rule: equal types, a wildcard, or overlapping comma-separated unions."""
    if "*" in (input_type, output_type) or input_type == output_type:
        return True
    return bool(set(input_type.split(",")) & set(output_type.split(",")))


def value_problem(widget, value) -> str | None:
    kind, options = widget.type, widget.options
    if kind == CONTROL:
        return None if value in CONTROL_VALUES else f"is {value!r}, not one of {sorted(CONTROL_VALUES)}"
    if kind == "UPLOAD":
        return None
    if kind in ("INT", "FLOAT"):
        number_ok = isinstance(value, int) if kind == "INT" else isinstance(value, (int, float))
        if isinstance(value, bool) or not number_ok:
            return f"is {value!r}, not {kind}"
        if "min" in options and value < options["min"] or "max" in options and value > options["max"]:
            return f"is {value}, outside {options.get('min')}..{options.get('max')}"
        return None
    if kind == "STRING":
        return None if isinstance(value, str) else f"is {value!r}, not a string"
    if kind == "BOOLEAN":
        return None if isinstance(value, bool) else f"is {value!r}, not a boolean"
    if kind == "COMBO":
        if is_file_combo(widget):
            return None if isinstance(value, str) and value else f"is {value!r}, not a file name"
        return None if value in options.get("options", []) else f"is {value!r}, not one of {options.get('options')}"
    if kind == DYNAMIC_COMBO:
        keys = [o["key"] for o in options.get("options", [])]
        return None if value in keys else f"is {value!r}, not one of {keys}"
    return None  # custom widget types: the node validates them itself


class Report:
    def __init__(self, workflow_name: str):
        self.name, self.problems = workflow_name, []

    def add(self, node: dict | None, what: str, problem: str) -> None:
        where = "" if node is None else f"node #{node['id']} {node['type']} '{node.get('title') or node['type']}': "
        self.problems.append(f"{self.name}: {where}{what}: {problem}")


def _restored_by_name(layout, named: dict) -> dict:
    """What the frontend's by-name restore (`widgets_values_named`, newer frontends) gives each widget."""
    return {w.name: named[w.name] if w.name in named else default_value(w) for w in layout if w.named}


def check_widgets(report: Report, node: dict, info: dict) -> None:
    """The saved values restore onto the node's widgets of this host with valid values, the same ones whichever
    way the frontend restores them (by position, or by name where the save has names)."""
    values = node.get("widgets_values") or []
    restored = restored_values(info, values)
    layout = [w for w, _v in restored]
    if len(values) > len(layout):
        report.add(node, "widgets", f"{len(values)} saved values for {len(layout)} widgets {[w.name for w in layout]}")
        return
    named = node.get("widgets_values_named")
    if isinstance(named, dict):
        current = {w.name for w in layout if w.named}
        gone = [name for name in named if name not in current]
        for name in gone:
            report.add(node, f"input '{name}'", f"was saved, but the node has no such widget now (now: "
                                                f"{[w.name for w in layout if w.named]})")
        if gone:
            return
        by_name = _restored_by_name(layout, named)
        for widget, value in restored:
            if widget.named and by_name[widget.name] != value:
                report.add(node, f"input '{widget.name}'", f"restores as {value!r} by position but "
                                                           f"{by_name[widget.name]!r} by name")
    for widget, value in restored:
        problem = value_problem(widget, value)
        if problem:
            report.add(node, f"input '{widget.name}'", problem)


def same_kind(saved: str, now: str) -> bool:
    """A saved slot still fits: the same type, or a combo that became a dynamic combo (or back), whose saved
    value is an option key either way (`value_problem` checks it is one)."""
    return saved == now or {saved, now} <= {"COMBO", DYNAMIC_COMBO}


def check_slots(report: Report, node: dict, info: dict) -> None:
    types = input_types(info, node.get("widgets_values"))
    extras = {w.name for w in widget_layout(info, node.get("widgets_values")) if w.input is None}
    saved = node.get("inputs") or []
    for slot in saved:
        name = slot.get("name")
        if name in extras:
            continue
        if name not in types:
            report.add(node, f"input '{name}'", f"no longer exists (the node's inputs: {sorted(types)})")
        elif not same_kind(slot.get("type"), types[name]):
            report.add(node, f"input '{name}'", f"saved as {slot.get('type')}, the node now takes {types[name]}")
    sockets = socket_inputs(info, node.get("widgets_values"))
    saved_sockets = [s["name"] for s in saved if "widget" not in s and s.get("name") not in extras]
    now_sockets = [n for n, _k, _r in sockets]
    if saved_sockets != [n for n in now_sockets if n in saved_sockets]:
        report.add(node, "inputs", f"socket order changed: saved {saved_sockets}, now {now_sockets}")
    present = {s.get("name"): s for s in saved}
    for name, _kind, required in sockets:
        if required and (name not in present or present[name].get("link") is None):
            report.add(node, f"input '{name}'", "is required but not connected")
    saved_out = [o.get("type") for o in node.get("outputs") or []]
    if saved_out != list(info["output"])[:len(saved_out)]:  # outputs added at the end since the save are fine
        report.add(node, "outputs", f"saved types {saved_out}, now {list(info['output'])}")


def check_links(report: Report, workflow: dict, object_info: dict) -> None:
    nodes = {n["id"]: n for n in workflow["nodes"]}
    links = workflow.get("links") or []
    ids = [link[0] for link in links]
    if len(ids) != len(set(ids)):
        report.add(None, "links", "duplicate link ids")
    if ids and workflow.get("last_link_id", 0) < max(ids):
        report.add(None, "links", "last_link_id is below the largest link id")
    if workflow.get("last_node_id", 0) < max(nodes):
        report.add(None, "nodes", "last_node_id is below the largest node id")
    for link in links:
        link_id, origin, oslot, target, tslot, kind = link[:6]
        src, dst = nodes.get(origin), nodes.get(target)
        if src is None or dst is None:
            report.add(None, f"link {link_id}", f"joins missing node {origin if src is None else target}")
            continue
        outputs, inputs = src.get("outputs") or [], dst.get("inputs") or []
        if oslot >= len(outputs) or link_id not in (outputs[oslot].get("links") or []):
            report.add(src, f"output {oslot}", f"does not list link {link_id}")
            continue
        if tslot >= len(inputs) or inputs[tslot].get("link") != link_id:
            report.add(dst, f"input slot {tslot}", f"does not hold link {link_id}")
            continue
        name = inputs[tslot]["name"]
        if src["type"] not in object_info or dst["type"] not in object_info:
            continue  # reported as a missing node type
        out_types = object_info[src["type"]]["output"]
        out_type = out_types[oslot] if oslot < len(out_types) else None
        in_type = input_types(object_info[dst["type"]], dst.get("widgets_values")).get(name)
        if out_type is None:
            report.add(src, f"output {oslot}", f"no longer exists (link {link_id} to #{target} '{name}')")
        elif kind != out_type:
            report.add(src, f"output {oslot}", f"link {link_id} is typed {kind}, the output is now {out_type}")
        elif in_type is not None and not accepts(in_type, out_type):
            report.add(dst, f"input '{name}'", f"takes {in_type}, linked from #{origin} {src['type']} {out_type}")
    for node in nodes.values():
        for slot in node.get("inputs") or []:
            if slot.get("link") is not None and slot["link"] not in ids:
                report.add(node, f"input '{slot.get('name')}'", f"holds link {slot['link']}, which does not exist")
        for i, slot in enumerate(node.get("outputs") or []):
            for link_id in slot.get("links") or []:
                if link_id not in ids:
                    report.add(node, f"output {i}", f"lists link {link_id}, which does not exist")


def check_workflow(name: str, workflow: dict, object_info: dict) -> list[str]:
    """Every way the saved workflow no longer fits the definitions (empty when it loads and converts cleanly)."""
    report = Report(name)
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_ONLY:
            continue
        info = object_info.get(node["type"])
        if info is None:
            report.add(node, "type", "is not a node type of this host (missing custom node?)")
            continue
        if node.get("mode") not in (0, MUTED, BYPASSED, None):
            report.add(node, "mode", f"unknown mode {node.get('mode')}")
        check_widgets(report, node, info)
        check_slots(report, node, info)
    check_links(report, workflow, object_info)
    return report.problems
