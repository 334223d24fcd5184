"""Every node the pack registers has a help page that lists its real inputs and outputs, a description and a
tooltip on every input and output: read from the nodes' own V3 schemas in the booted host, so adding, renaming
or removing an input without its doc line or tooltip fails here.

A help page is `<WEB_DIRECTORY>/docs/<node_id>.md`, the file ComfyUI's frontend shows in its node help panel.
Its `## Inputs` and `## Outputs` sections hold one "- `name` — ..." item per input id / output name.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from comfy_host import PACK_ROOT

ITEM = re.compile(r"^- `([^`]+)`", re.MULTILINE)
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")


@pytest.fixture(scope="module")
def schemas(host):
    return [cls.define_schema() for cls in host.pack_module("nodes.registry").NODES]


@pytest.fixture(scope="module")
def docs_dir(host) -> Path:
    return (PACK_ROOT / host.pack.WEB_DIRECTORY / "docs").resolve()


def section(text: str, title: str) -> str:
    match = re.search(rf"^## {title}\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"no '## {title}' section"
    return match.group(1)


def output_name(output) -> str:
    return output.display_name or output.id


def all_inputs(schema) -> list:
    """Every input, with those inside a dynamic combo's options (listed under their own ids)."""
    return [inner for i in schema.inputs for inner in (i.get_all() if hasattr(i, "get_all") else [i])]


def test_registry_is_what_the_host_runs(host, schemas):
    ids = [s.node_id for s in schemas]
    assert len(ids) == len(set(ids)) and ids, ids
    missing = [i for i in ids if i not in host.node_mappings]
    assert not missing, f"registered in nodes/registry.py but not in the host: {missing}"


def test_every_node_has_a_description_and_input_tooltips(schemas):
    problems = []
    for schema in schemas:
        if not (schema.description or "").strip():
            problems.append(f"{schema.node_id}: no description")
        problems += [f"{schema.node_id}.{i.id}: no tooltip" for i in all_inputs(schema) if not (i.tooltip or "").strip()]
    assert not problems, "\n".join(problems)


def test_every_output_has_a_tooltip(schemas):
    missing = {s.node_id: [output_name(o) for o in s.outputs if not (o.tooltip or "").strip()] for s in schemas}
    problems = [f"{n}: {names}" for n, names in missing.items() if names]
    assert not problems, "outputs without a tooltip:\n" + "\n".join(problems)


def test_every_node_has_a_help_page_listing_exactly_its_inputs_and_outputs(schemas, docs_dir):
    problems = []
    for schema in schemas:
        page = docs_dir / f"{schema.node_id}.md"
        if not page.is_file():
            problems.append(f"{schema.node_id}: no help page {page.relative_to(PACK_ROOT)}")
            continue
        text = page.read_text(encoding="utf-8")
        title = text.splitlines()[0] if text else ""
        if title != f"# {schema.display_name}":
            problems.append(f"{page.name}: first line {title!r}, expected '# {schema.display_name}'")
        for kind, wanted in (("Inputs", [i.id for i in all_inputs(schema)]),
                             ("Outputs", [output_name(o) for o in schema.outputs])):
            listed = ITEM.findall(section(text, kind))
            if sorted(listed) != sorted(wanted):
                problems.append(f"{page.name} {kind}: lists {listed}, the node has {wanted}")
    assert not problems, "\n".join(problems)


def test_no_help_page_for_a_node_that_does_not_exist(schemas, docs_dir):
    ids = {s.node_id for s in schemas}
    stale = [p.name for p in docs_dir.glob("*.md") if p.stem not in ids]
    assert not stale, f"help pages for unknown node ids (renamed?): {stale}"


def test_images_in_help_pages_exist_and_stay_small(docs_dir):
    referenced = []
    for page in docs_dir.glob("*.md"):
        for link in IMAGE.findall(page.read_text(encoding="utf-8")):
            assert "://" not in link and not link.startswith("/"), f"{page.name}: {link} must be relative to docs/"
            referenced.append((page.name, (docs_dir / link).resolve()))
    assert referenced, "the Speaker Masks page shows the widget"
    for name, path in referenced:
        assert path.is_file() and docs_dir in path.parents, f"{name}: {path} is missing"
        assert path.stat().st_size < 200_000, f"{path.name} is {path.stat().st_size} bytes"


def test_every_node_is_found_by_the_model_names(schemas):
    """Search aliases: typing "multitalk" or "infinitetalk" in the node search lists every node of the pack."""
    missing = [s.node_id for s in schemas
               if not {"multitalk", "infinitetalk"} <= {a.lower() for a in (s.search_aliases or [])}]
    assert not missing, f"nodes without the multitalk / infinitetalk search aliases: {missing}"
