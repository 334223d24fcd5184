"""Layout rules a user's install depends on, checked statically over the shipped Python files.

Under pytest the repo root is on sys.path, so an absolute `import wan_multitalk` works here but
fails in ComfyUI (which imports the pack under a path-derived name): only relative imports ship.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [p for d in ("wan_multitalk", "nodes") for p in (ROOT / d).rglob("*.py")] + [ROOT / "__init__.py"]


def relative_imports(path: Path) -> list[tuple[int, int, str]]:
    """(line, level, module) of every relative import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    return [(node.lineno, node.level, node.module or "") for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level > 0]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_pack_modules_import_each_other_relatively():
    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}" for p in SHIPPED for line, name in imported_modules(p)
           if name.split(".")[0] in ("wan_multitalk", "nodes")]
    assert not bad, "absolute imports of the pack break inside ComfyUI:\n" + "\n".join(bad)


def test_library_never_imports_the_host():
    host_modules = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "node_helpers", "server",
                    "execution", "nodes"}
    library = [p for p in SHIPPED if "wan_multitalk" in p.parts]
    bad = [f"{p.relative_to(ROOT)}:{line} imports {name}" for p in library for line, name in imported_modules(p)
           if name.split(".")[0] in host_modules]
    assert not bad, "wan_multitalk must stay host-free:\n" + "\n".join(bad)


def test_node_modules_are_schemas_over_the_host_package():
    """Outside nodes/host/, a node module talks to ComfyUI only through comfy_api (and comfy.utils' progress bar):
    sampling, folders and the memory manager are the host package's, and no node module borrows another's."""
    node_modules = [p for p in (ROOT / "nodes").glob("*.py") if p.name not in ("__init__.py", "registry.py")]
    assert node_modules
    allowed = {"comfy_api", "comfy.utils"}
    bad = [f"{p.name}:{line} imports {name}" for p in node_modules for line, name in imported_modules(p)
           if name.split(".")[0] in ("comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths",
                                     "node_helpers") and not any(name == a or name.startswith(a + ".") for a in allowed)]
    bad += [f"{p.name}:{line} imports .{module}" for p in node_modules for line, level, module in relative_imports(p)
            if level == 1 and module.split(".")[0] not in ("host", "sockets")]
    assert not bad, "host integration belongs in nodes/host/:\n" + "\n".join(bad)


OPTIONAL = {"kornia", "sklearn", "webrtcvad"}
"""Imported only inside the function of the feature that needs them (wan_multitalk/optional.py)."""


def test_optional_dependencies_are_never_imported_at_module_level():
    bad = []
    for path in SHIPPED:
        for node in ast.parse(path.read_text(), filename=str(path)).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            bad += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in OPTIONAL]
    assert not bad, "an optional dependency imported at module level takes every node down without it:\n" + "\n".join(bad)


def test_the_declared_support_range_is_the_one_the_readme_and_ci_state():
    """pyproject declares the floors; requirements.txt, the README's table and .ci/run's transformers run agree."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    comfy = re.search(r'^requires-comfyui = ">=([0-9.]+)"', pyproject, re.M).group(1)
    transformers = re.search(r'"transformers>=([0-9.]+)"', pyproject).group(1)
    assert f"transformers>={transformers}\n" in (ROOT / "requirements.txt").read_text()
    table = (ROOT / "README.md").read_text().split("### Supported versions", 1)[1].split("\n\n", 2)[1]
    assert f"| ComfyUI | **{comfy}** to the newest release |" in table, table
    assert f"| transformers | **{transformers}** " in table, table
    assert f"\ntf_floor={transformers}\n" in (ROOT / ".ci" / "run").read_text()
