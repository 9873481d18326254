"""The package's layout rules: imports flow one way, and the runtime does not decide."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "vllm_ascend_graphs"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, *, type_checking: bool) -> set[str]:
    """The package modules `path` imports at module level (optionally also under `if TYPE_CHECKING:`)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                if type_checking:
                    visit(node.body)
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = f"{base}.{node.module}" if node.level and node.module else (node.module or base)
                for alias in node.names:  # `from . import x` may name a module
                    candidate = f"{target}.{alias.name}"
                    found.add(candidate if candidate in MODULES else target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {m for m in found if m in MODULES and m != name}


FILES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
MODULES = set(FILES)


def cycles(type_checking: bool) -> list[list[str]]:
    graph = {m: imported(p, type_checking=type_checking) for m, p in FILES.items()}
    found, done = [], set()

    def walk(node: str, stack: list[str]) -> None:
        if node in stack:
            found.append(stack[stack.index(node):] + [node])
            return
        if node in done:
            return
        for target in sorted(graph[node]):
            walk(target, [*stack, node])
        done.add(node)

    for module in sorted(graph):
        walk(module, [])
    return found


@pytest.mark.parametrize("type_checking", [False, True], ids=["run time", "with TYPE_CHECKING imports"])
def test_no_import_circles(type_checking):
    assert cycles(type_checking) == []


def test_the_runtime_does_not_decide():
    """Nothing under runtime/ imports the selector, the registry or the standalone facade."""
    deciders = {"vllm_ascend_graphs.selection", "vllm_ascend_graphs.standalone", "vllm_ascend_graphs.hooks.registry",
                "vllm_ascend_graphs.check"}
    for name, path in FILES.items():
        if name.startswith("vllm_ascend_graphs.runtime"):
            assert not imported(path, type_checking=True) & deciders, name
            assert "selection" not in path.read_text(encoding="utf-8"), name
