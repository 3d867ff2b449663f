"""The package's layers, read from the source: no import cycle among descend's modules (imports inside functions
count), each package imports only what its docstring's "May import:" line allows, and argparse lives in the CLI."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGES = ("core", "optim", "doctor", "runs", "fit", "minimize", "apps.tabular", "apps.tuning", "apps.bench", "apps.landscape", "apps.sklearn",
            "apps.tracking", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted((SRC / "descend").rglob("*.py"))}


def imported(name: str, path: Path) -> list[tuple[str, int]]:
    """descend modules `name` imports anywhere in its file (top level, functions, TYPE_CHECKING), with line numbers.
    `from X import y` names the module X.y when that is a module, else X (a package means its __init__)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((full if full in MODULES else base, node.lineno))
    return [(target, line) for target, line in found if target in MODULES and target != name]


GRAPH = {name: imported(name, path) for name, path in MODULES.items()}


def find_cycle() -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search with three colours)."""
    colour, stack = dict.fromkeys(GRAPH, 0), []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for target, _ in GRAPH[node]:
            if colour[target] == 1:
                return stack[stack.index(target):] + [target]
            if colour[target] == 0 and (cycle := visit(target)):
                return cycle
        colour[node] = 2
        stack.pop()
        return None

    for start in GRAPH:
        if colour[start] == 0 and (cycle := visit(start)):
            return cycle
    return None


def test_the_graph_is_read_from_every_module_and_sees_imports_inside_functions():
    assert len(MODULES) > 90 and "descend.core.loop" in MODULES and "descend.fit.lr_find" in MODULES
    # cli/commands/bench.py imports descend.apps.bench inside its functions only (so the CLI starts fast)
    assert "descend.apps.bench" in {target for target, _ in GRAPH["descend.cli.commands.bench"]}
    # relative imports resolve to modules, and to the package when the name is not a module
    assert "descend.core.errors" in {target for target, _ in GRAPH["descend.fit.data"]}


def test_no_import_cycle_among_descends_modules():
    cycle = find_cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_search_finds_a_cycle_when_there_is_one(monkeypatch):
    monkeypatch.setitem(GRAPH, "descend.core.errors", [*GRAPH["descend.core.errors"], ("descend.fit.data", 1)])
    cycle = find_cycle()
    assert cycle is not None and cycle[0] == cycle[-1] and {"descend.core.errors", "descend.fit.data"} <= set(cycle)


def layer(module: str) -> str:
    """The layer a module belongs to: its package under descend, or under descend.apps (apps.tabular, ...)."""
    parts = module.split(".") + [""]   # descend itself: ""
    return ".".join(parts[1:3]) if parts[1] == "apps" and parts[2] else parts[1]


def allowed(package: str) -> set[str]:
    """The layers named on the "May import:" line of `descend.<package>`'s docstring (an app by its own name, all
    apps by "apps"), and itself."""
    doc = ast.get_docstring(ast.parse(MODULES[f"descend.{package}"].read_text())) or ""
    line = re.search(r"May import:([^\n]*(?:\n(?!\n)[^\n]*)*)", doc)
    assert line, f"descend.{package}'s docstring has no 'May import:' line"
    words = set(re.findall(r"\b[a-z_]+\b", line.group(1)))
    apps = {name for name in PACKAGES if name.startswith("apps.")}
    named = {name for name in PACKAGES if name in words or name.startswith("apps.") and name[5:] in words}
    return {package} | named | (apps if "apps" in words else set())


def violations(package: str) -> list[str]:
    may = allowed(package)
    return [f"{name}:{line} imports {target}" for name, imports in GRAPH.items() if layer(name) == package
            for target, line in imports if layer(target) not in may]


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_layers_its_docstring_allows(package):
    wrong = violations(package)
    assert not wrong, f"descend.{package} may import only {sorted(allowed(package))}:\n" + "\n".join(wrong)


def test_an_import_a_docstring_does_not_allow_is_named(monkeypatch):
    assert allowed("doctor") == {"doctor", "core"} and "apps.tabular" in allowed("cli")
    monkeypatch.setitem(GRAPH, "descend.doctor.rules", [*GRAPH["descend.doctor.rules"], ("descend.fit.task", 7)])
    assert violations("doctor") == ["descend.doctor.rules:7 imports descend.fit.task"]


def test_argparse_is_imported_only_by_the_cli():
    outside = [name for name, path in MODULES.items() if not name.startswith("descend.cli")
               and re.search(r"^\s*(import argparse|from argparse import)", path.read_text(), re.M)]
    assert outside == []
