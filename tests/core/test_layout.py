"""The package's layout: its top level names the layers, and imports flow down them, one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "vllm_ascend_graphs"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, *, type_checking: bool, nested: bool = False) -> set[str]:
    """The package modules `path` imports at module level (optionally also under `if TYPE_CHECKING:`, and
    inside functions)."""
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
            elif nested and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.Try,
                                              ast.With, ast.For, ast.While)):
                visit([child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt)])

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


# Bottom to top. A module imports only modules of its own layer or of layers below it, types named
# under TYPE_CHECKING included (a layer that needs a type from above says what it needs: a Protocol).
LAYERS = (
    ("words", ("errors", "enums")),  # the vocabulary every layer shares
    ("probes", ("probes",)),  # what the machine has: device, libraries, vllm-ascend's facts
    ("rules", ("rules",)),  # the decision rules, pure functions of the request, environment and model
    ("runtime", ("runtime",)),  # device graph APIs and the runner: carries out a plan, never decides
    ("backends", ("backends",)),  # the strategy objects: probe, plan, compile, capture, replay
    ("hooks", ("hooks",)),  # the pluggy registry: specs, loading, names, isolated calls
    ("selection", ("selection",)),  # the selector: the chain, the trail, the Selection record
    ("integrations", ("integrations",)),  # vLLM's plugin
    ("entrypoints", ("entrypoints",)),  # the CLI, `check` and the standalone `capture()`
    ("facade", ("__init__", "__main__")),  # the package's lazy public API
)
MAX_LINES = 400


def layer_of(module: str) -> int:
    top = module.removeprefix("vllm_ascend_graphs").lstrip(".").partition(".")[0] or "__init__"
    if module == "vllm_ascend_graphs.__main__":
        top = "__main__"
    return next(rank for rank, (_, tops) in enumerate(LAYERS) if top in tops)


def test_the_top_level_names_the_layers():
    found = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()
             if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").exists())}
    assert found == {top for _, tops in LAYERS for top in tops}


@pytest.mark.parametrize("type_checking", [False, True], ids=["run time", "with TYPE_CHECKING imports"])
def test_no_import_circles(type_checking):
    assert cycles(type_checking) == []


def test_imports_flow_down_the_layers():
    upward = sorted(
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for name, path in FILES.items()
        for target in imported(path, type_checking=True, nested=True)
        if layer_of(target) > layer_of(name)
    )
    assert upward == []


def test_the_flow_check_sees_nested_imports():
    """The check above would pass vacuously if imports inside functions were not read: `check` imports the
    reference decoder (and with it torch) only when it runs."""
    check = FILES["vllm_ascend_graphs.entrypoints.check"]
    assert "vllm_ascend_graphs.runtime.reference_decoder" not in imported(check, type_checking=False)
    assert "vllm_ascend_graphs.runtime.reference_decoder" in imported(check, type_checking=False, nested=True)


def test_no_module_is_long():
    long = {name: lines for name, path in FILES.items()
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
