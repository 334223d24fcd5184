"""Does a saved workflow still fit the host's current node definitions? Every problem is reported as
`<workflow>: node #<id> <type> '<title>': input '<name>': <what is wrong>`, so a changed node input names the
workflow and the node it breaks.

Checked: node types exist; widget names, order and count (control and upload extras included) match the
definition; each value has the input's type and range, combo values are among the options (model and file
names excepted: they depend on the user's disk); saved input slots exist with their type and sockets keep their
order; required sockets are connected; every link joins an existing output to an input that accepts its type,
and both ends point back at it.
"""
from __future__ import annotations

from workflow_api import (BYPASSED, CONTROL, CONTROL_VALUES, DYNAMIC_COMBO, FRONTEND_ONLY, MUTED, input_types,
                          socket_inputs, widget_layout)


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


def check_widgets(report: Report, node: dict, info: dict) -> None:
    values = node.get("widgets_values") or []
    layout = widget_layout(info, values)
    named = node.get("widgets_values_named")
    saved_names = list(named) if isinstance(named, dict) else None
    if saved_names is not None:
        current = [w.name for w in layout if w.named]
        for i in range(max(len(saved_names), len(current))):
            saved = saved_names[i] if i < len(saved_names) else None
            now = current[i] if i < len(current) else None
            if saved != now:
                problem = (f"saved widget #{i + 1} is '{saved}' but the node now has "
                           + (f"'{now}' there" if now else "no widget there"))
                report.add(node, f"input '{saved or now}'", problem + f" (now: {current})")
                return
        by_position = [v for w, v in zip(layout, values) if w.named]
        if len(values) == len(layout) and by_position != list(named.values()):
            report.add(node, "widgets", "widgets_values and widgets_values_named disagree")
    if len(values) != len(layout):
        report.add(node, "widgets", f"{len(values)} saved values for {len(layout)} widgets {[w.name for w in layout]}")
        return
    for widget, value in zip(layout, values):
        problem = value_problem(widget, value)
        if problem:
            report.add(node, f"input '{widget.name}'", problem)


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
        elif slot.get("type") != types[name]:
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
    outputs = node.get("outputs") or []
    now_out = info["output"]
    if [o.get("type") for o in outputs] != list(now_out):
        report.add(node, "outputs", f"saved types {[o.get('type') for o in outputs]}, now {list(now_out)}")


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
