"""The layout keeps its promises (docs/architecture.md): the package root holds only the
composition root and the shared vocabulary, no module is over 400 lines, and no import cycle
exists, not even one behind `TYPE_CHECKING` or inside a function."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "lmarenarev"
ROOT_MODULES = {
    "__init__.py", "__main__.py", "app.py", "gateway.py", "errors.py", "messages.py",
    "openai_schema.py",
}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """Every module of the package `name` imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                target = f"{source}.{alias.name}"
                yield target if target in known else source
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {t for t in imported(name, path, known) if t in known and t != name}
        for name, path in known.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_root_holds_only_the_composition_root_and_the_vocabulary() -> None:
    loose = {p.name for p in PACKAGE.glob("*.py")} - ROOT_MODULES
    assert loose == set(), "modules belong in the package of their job (docs/architecture.md)"


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): count
        for path in PACKAGE.rglob("*.py")
        if (count := len(path.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_there_is_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_imports_behind_type_checking_and_in_functions_count(tmp_path: Path) -> None:
    (tmp_path / "gateway.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .ops import state\n"
    )
    (tmp_path / "state.py").write_text("def f():\n    from ..gateway import Gateway\n")
    known = {"p.gateway": tmp_path / "gateway.py", "p.ops.state": tmp_path / "state.py",
             "p.ops": tmp_path / "__init__.py"}
    graph = {
        "p.gateway": set(imported("p.gateway", known["p.gateway"], known)) & set(known),
        "p.ops.state": set(imported("p.ops.state", known["p.ops.state"], known)) & set(known),
    }
    assert graph == {"p.gateway": {"p.ops.state"}, "p.ops.state": {"p.gateway"}}
    assert cycles(graph) == [["p.gateway", "p.ops.state"]]
