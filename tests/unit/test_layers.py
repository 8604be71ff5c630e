"""The package's layers: no import cycle between modules or packages, and no import up a layer.

Walks every module of gslb/ with ``ast`` (imports inside functions count too: a lazy import is
still a dependency), so the shape ARCHITECTURE.md draws stays the shape of the code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "gslb"

# A module may import its own package and any lower layer, never a higher one or a sibling of its
# own layer. The data path reads down: answer -> snapshot -> dns; the control path writes down:
# node -> api -> (health, declare) -> store.
LAYERS: dict[str, int] = {
    "__init__": 0,
    "errors": 0,
    "log": 0,
    "runtime": 0,
    "model": 1,
    "tokens": 1,
    "config": 2,
    "dns": 3,
    "store": 3,
    "snapshot": 4,
    "answer": 5,
    "health": 5,
    "declare": 5,
    "api": 6,
    "node": 7,
    "cli": 8,
    "__main__": 9,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imported(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The gslb modules ``path`` imports (``from gslb.x import y`` is gslb.x.y when y is a module)."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == "gslb")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "gslb":
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                yield candidate if candidate in known else node.module


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(path, known)) - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    assert sorted({layer_of(name) for name in modules()} - set(LAYERS)) == []


def test_no_import_cycle_between_modules() -> None:
    assert cycles(graph()) == []


def test_no_import_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for source, targets in graph().items():
        packages.setdefault(layer_of(source), set()).update(
            layer_of(target) for target in targets if layer_of(target) != layer_of(source)
        )
    assert cycles(packages) == []


def test_no_import_reaches_up_or_across_a_layer() -> None:
    wrong = sorted(
        f"{source} imports {target}"
        for source, targets in graph().items()
        for target in targets
        if layer_of(target) != layer_of(source) and LAYERS[layer_of(target)] >= LAYERS[layer_of(source)]
    )
    assert wrong == []


@pytest.mark.parametrize(
    ("source", "target"),
    [("gslb.dns.wire", "gslb.snapshot.snapshot"), ("gslb.store.rows", "gslb.api.app")],
)
def test_the_walk_sees_an_upward_import(source: str, target: str, tmp_path: Path) -> None:
    """The rule above must be able to fail: an upward import is seen in both spellings."""
    module = tmp_path / "probe.py"
    package, _, name = target.rpartition(".")
    module.write_text(f"import {target}\nfrom {package} import {name}\n")
    found = set(imported(module, modules()))
    assert found == {target}
    assert LAYERS[layer_of(target)] >= LAYERS[layer_of(source)]
