"""Helpers for the host-speedup tests (tests/host/test_speedups_*.py): put one of the host's MODEL nodes
(TorchCompileModel, EasyCache, LazyCache, MultiGPU CFG split, ...) in front of a node of a built prompt, set
inputs, and record the passes the guider asks of the model. Only import this inside a booted host."""
from __future__ import annotations

import contextlib


def through(prompt: dict, consumer: str, class_type: str, **inputs) -> dict:
    """Route the `model` input of every `consumer` node through a new `class_type` node (in place)."""
    node_id = f"{class_type}_{len(prompt)}"
    upstream = None
    for node in prompt.values():
        if node["class_type"] == consumer:
            upstream = node["inputs"]["model"]
            node["inputs"]["model"] = [node_id, 0]
    assert upstream is not None, f"no {consumer} in the prompt"
    prompt[node_id] = {"class_type": class_type, "inputs": dict(model=upstream, **inputs)}
    return prompt


def set_inputs(prompt: dict, class_type: str, **inputs) -> dict:
    nodes = [n for n in prompt.values() if n["class_type"] == class_type]
    assert nodes, f"no {class_type} in the prompt"
    for node in nodes:
        node["inputs"].update(inputs)
    return prompt


@contextlib.contextmanager
def recorded_passes(events: list):
    """Every call the guider makes to the host's calc_cond_batch, as ("calc", record) in `events`: the sigma, the
    per-cond predictions and whether a step cache (EasyCache) answered this step from its cache."""
    import comfy.samplers

    inner = comfy.samplers.calc_cond_batch

    def spy(model, conds, x, timestep, model_options):
        out = inner(model, conds, x, timestep, model_options)
        cache = model_options.get("transformer_options", {}).get("easycache")
        events.append(("calc", {"sigma": float(timestep.flatten()[0]), "out": [o.clone() for o in out],
                                "skipped": bool(getattr(cache, "skip_current_step", False))}))
        return out

    comfy.samplers.calc_cond_batch = spy
    try:
        yield events
    finally:
        comfy.samplers.calc_cond_batch = inner


def steps_by_window(events: list) -> list[list[list[dict]]]:
    """[window][step] -> the calc records of that step, from events of the loop's hooks ("window_start", "step")
    interleaved with recorded_passes' ("calc", record)."""
    windows: list[list[list[dict]]] = []
    pending: list[dict] = []
    for kind, info in events:
        if kind == "window_start":
            windows.append([])
            pending = []
        elif kind == "calc":
            pending.append(info)
        elif kind == "step":
            windows[-1].append(pending)
            pending = []
    return windows
