"""bench/ does not import tests/: the servers both start live in harness/, and tests/ is free to change.

A benchmark that reached into tests/ would break when a test helper moved, and would pull pytest into a
script that has no use for it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

BENCH = ROOT / "bench"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for each absolute import in ``path``; ``from x import y`` gives x."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            found.append((node.lineno, node.module))
    return found


def imports_tests(module: str) -> bool:
    return module == "tests" or module.startswith("tests.")


def test_the_walk_sees_imports_of_both_kinds(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("import tests.servers\nfrom tests import conftest\nfrom harness.process import HOST\n")
    modules = [module for _, module in imported_modules(script)]
    assert [module for module in modules if imports_tests(module)] == ["tests.servers", "tests"]


def test_no_bench_module_imports_tests() -> None:
    scripts = sorted(BENCH.rglob("*.py"))
    assert scripts, f"no Python files under {BENCH}"
    offending = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in scripts
        for line, module in imported_modules(path)
        if imports_tests(module)
    ]
    assert not offending, "bench/ must take its servers from harness/, not tests/:\n" + "\n".join(offending)
