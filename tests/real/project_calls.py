"""Every use of torch_npu in `vllm_ascend_graphs/`, found with `ast`: calls and attribute reads.

A use is recognised by what it starts from: `torch_npu`, `torch.npu`, `npugraph_ex`, `torchair`,
or a receiver our code documents as `torch.npu` on an NPU (`DeviceGraphs.api`, built by
`runtime/devices/npu.py`). Methods called on a call's result are
followed where the result's class is known (`current_stream()` returns a `Stream`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "vllm_ascend_graphs"
RECEIVERS = {
    "torch_npu": "torch_npu",
    "torch.npu": "torch_npu.npu",
    "npugraph_ex": "npugraph_ex",
    "torchair": "torchair",
    "self.api": "torch_npu.npu",  # DeviceGraphs.api: torch.npu for the npu device
}
# The callables DeviceGraphs is given for the npu device: npu_graphs() passes torch.npu's.
CALLABLES = {"vllm_ascend_graphs/runtime/devices/__init__.py": {
    "self._new_graph": "torch_npu.npu.NPUGraph", "new_stream": "torch_npu.npu.Stream"}}
# The class of a call's result, where our code uses the result.
RETURNS = {"torch_npu.npu.current_stream": "torch_npu.npu.Stream"}


@dataclass(frozen=True)
class Use:
    where: str  # path:line
    real: str  # the real dotted name, e.g. torch_npu.npu.graph
    call: ast.Call | None  # None for an attribute read


def uses(package: Path = PACKAGE) -> list[Use]:
    found = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = f"{path.relative_to(package.parent)}"
        found += list(_uses(tree, where))
    return found


def _uses(tree: ast.Module, where: str) -> Iterator[Use]:
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    callables = CALLABLES.get(where, {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            real = real_name(node.func, callables)
            if real:
                yield Use(f"{where}:{node.lineno}", real, node)
        elif (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
              and id(node) not in callees and id(node) not in inner):
            real = real_name(node, callables)
            if real:
                yield Use(f"{where}:{node.lineno}", real, None)


def real_name(node: ast.expr, callables: dict[str, str] | None = None) -> str | None:
    """The real dotted name an expression stands for, or None when it is not torch_npu's."""
    if isinstance(node, ast.Call):
        return RETURNS.get(real_name(node.func, callables) or "")
    dotted = _dotted(node)
    if dotted is not None:
        if dotted in (callables or {}):
            return callables[dotted]
        for prefix, real in RECEIVERS.items():
            if dotted == prefix or dotted.startswith(prefix + "."):
                return real + dotted[len(prefix):]
    if isinstance(node, ast.Attribute):
        base = real_name(node.value, callables)
        return f"{base}.{node.attr}" if base else None
    return None


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None
