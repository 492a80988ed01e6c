"""The house stays one-directional: every import in ``pytest_stress`` (at module level, inside a function or
under TYPE_CHECKING) goes to a lower layer or stays inside its own package, and no import closes a cycle.

The layer table below is the one docs/architecture.md draws; change both together. Read bottom-up: a module
may import from rows with a smaller number, and from its own package (``run.harness`` -> ``run.scenario``),
never from a sibling package of the same row (``replay`` and ``stack`` know nothing of each other).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_stress

PACKAGE = Path(pytest_stress.__file__).resolve().parent
ROOT = "pytest_stress"

# layer -> the units (a top-level module or package of pytest_stress) that live on it
LAYERS: dict[int, tuple[str, ...]] = {
    0: ("errors",),
    1: ("options", "schema", "metrics"),
    2: ("specs",),
    3: ("scenario", "checks", "verdict"),
    4: ("market",),
    5: ("replay", "stack"),
    6: ("run",),
    7: ("faults", "load"),
    8: ("certify", "ops", "allocation"),
    9: ("strategies", "sst"),
    10: ("fixtures", "runbook"),
    11: ("plugin",),
    12: ("",),  # the package's own __init__: the public face, which re-exports from every layer
    13: ("cli",),
    14: ("__main__",),
}
LAYER_OF = {unit: layer for layer, units in LAYERS.items() for unit in units}

# Moved modules that keep a re-export for one release (they import their new home, a layer up, and warn).
# Nothing in the package may import them.
COMPAT_SHIMS = {
    f"{ROOT}.replay.{old}": f"{ROOT}.run.{new}"
    for old, new in (
        ("engine", "scenario"),
        ("harness", "harness"),
        ("runner", "batch"),
        ("summary", "summary"),
        ("result", "result"),
    )
}
# ``pytest_stress.replay.run_scenario`` and friends resolve, with a DeprecationWarning, on attribute access.
COMPAT_EDGES = {(f"{ROOT}.replay", f"{ROOT}.run")}


def _module_name(path: Path) -> str:
    parts = (ROOT, *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _imports(path: Path, module: str) -> set[str]:
    """Every pytest_stress module ``path`` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:  # ``from pkg import module`` imports the module
                sub = f"{target}.{alias.name}"
                found.add(sub if _is_module(sub) else target)
        elif (  # importlib.import_module("pytest_stress.x") with a literal name
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.add(node.args[0].value)
    return {m for m in found if m == ROOT or m.startswith(ROOT + ".")}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p, _module_name(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _unit(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def _layer(module: str) -> int:
    unit = _unit(module)
    if unit not in LAYER_OF:
        pytest.fail(f"{module}: the unit '{unit}' is in no layer; add it to LAYERS and docs/architecture.md")
    return LAYER_OF[unit]


GRAPH = _graph()


def test_every_module_is_in_a_layer():
    for module in GRAPH:
        _layer(module)


def test_no_import_runs_up_a_layer_or_across_to_a_sibling_package():
    wrong = []
    for module, targets in GRAPH.items():
        if module in COMPAT_SHIMS:
            continue
        for target in targets:
            if (module, target) in COMPAT_EDGES or _unit(target) == _unit(module):
                continue
            if target == ROOT and _layer(module) < _layer(ROOT):
                wrong.append(f"{module} imports the package face {ROOT} (import the defining module)")
            elif _layer(target) > _layer(module):
                wrong.append(f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})")
            elif _layer(target) == _layer(module):
                wrong.append(f"{module} imports {target}, a sibling on layer {_layer(module)}")
    assert not wrong, "imports against the direction of the house:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle():
    """Tarjan's strongly connected components over the module graph; a package's __init__ importing its
    own children is a face, not a cycle, unless a child imports the face back."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH or (v, w) in COMPAT_EDGES or v in COMPAT_SHIMS:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_nothing_imports_a_compatibility_shim_or_the_plugin():
    users = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target in COMPAT_SHIMS or (target == f"{ROOT}.plugin" and module != target)
    )
    assert not users, "\n".join(users)


def test_each_shim_reexports_its_new_home_and_warns():
    import importlib
    import sys

    for old, new in COMPAT_SHIMS.items():
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
            shim = importlib.import_module(old)
        moved = importlib.import_module(new)
        public = [n for n in vars(moved) if not n.startswith("_")]
        assert public, new
        assert all(getattr(shim, n) is getattr(moved, n) for n in public), old


def test_the_parts_of_a_facade_do_not_import_it_back():
    """``market.historic`` and ``scenario`` re-export the modules they were split into; those never import
    the face, so the face stays a table of contents."""
    faces = {
        f"{ROOT}.market.historic": ("tables", "quality", "grid", "estimate", "data_market", "ingest"),
    }
    for face, parts in faces.items():
        for part in parts:
            assert face not in GRAPH[f"{face.rpartition('.')[0]}.{part}"], part
    assert f"{ROOT}.scenario" not in GRAPH[f"{ROOT}.specs.scenario"]


def test_the_scanner_sees_every_kind_of_import(tmp_path):
    """The test above can fail: a module-level, a function-level, a relative and an import_module import
    are all found."""
    source = tmp_path / "probe.py"
    source.write_text(
        "import pytest_stress.errors\n"
        "from . import schema\n"
        "def f():\n"
        "    from pytest_stress.run import scenario\n"
        "    import importlib\n"
        "    importlib.import_module('pytest_stress.cli')\n",
        encoding="utf-8",
    )
    assert _imports(source, f"{ROOT}.probe") == {
        f"{ROOT}.errors",
        f"{ROOT}.schema",
        f"{ROOT}.run.scenario",
        f"{ROOT}.cli",
    }
