"""What vLLM Ascend's graph paths support, read from the installed vllm-ascend without importing it.

Importing `vllm_ascend` imports torch_npu, which breaks on a machine without CANN, and what its
paths support changes between releases (0.23.0.post1 has xlite adapters for 8 architectures, its
main branch for 11). So the facts come from its source files, parsed with `ast`. Where it is not
installed (planning with `--assume` on another machine), the built-in table below stands in, and
says which release it describes.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import ast

DESCRIBED_RELEASE = "0.23.0.post1"
# Architectures with an xlite adapter (`_supported_architectures` of the adapter classes in
# vllm_ascend/xlite/xlite.py) in vllm-ascend 0.23.0.post1.
BUILTIN_XLITE_ARCHITECTURES = frozenset({
    "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3VLForConditionalGeneration",
    "Qwen3MoeForCausalLM", "Qwen3VLMoeForConditionalGeneration", "Glm4MoeForCausalLM", "MiniMaxM2ForCausalLM",
})
XLITE_ADAPTERS = ("xlite", "xlite.py")  # below the vllm_ascend package
XLITE_WORKER = ("xlite", "xlite_worker.py")


class XliteSupport(NamedTuple):
    """The architectures vLLM Ascend runs on xlite, and where that list comes from."""

    architectures: frozenset[str]
    source: str  # shown to users: "vllm-ascend 0.23.0.post1 (installed)" or "the built-in table ..."
    worker: bool = True  # whether that vllm-ascend has an xlite worker at all


def xlite_support(vllm_ascend_version: str | None) -> XliteSupport:
    """From the installed vllm-ascend when `vllm_ascend_version` is its version, else the built-in table."""
    package = _package_dir()
    if vllm_ascend_version is None or package is None:
        return XliteSupport(BUILTIN_XLITE_ARCHITECTURES, f"the built-in table for vllm-ascend {DESCRIBED_RELEASE}")
    return _read_xlite_support(package, vllm_ascend_version)


@functools.cache
def _package_dir() -> str | None:
    """The folder of the `vllm_ascend` package on `sys.path`; finding it imports nothing."""
    try:
        spec = importlib.util.find_spec("vllm_ascend")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return locations[0] if locations else None


@functools.cache
def _read_xlite_support(package: str, version: str) -> XliteSupport:
    import ast  # only where vllm-ascend is installed: not on every decision's import path

    source = f"vllm-ascend {version} (installed)"
    if not os.path.exists(os.path.join(package, *XLITE_WORKER)):
        return XliteSupport(frozenset(), source, worker=False)
    try:
        with open(os.path.join(package, *XLITE_ADAPTERS), encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return XliteSupport(frozenset(), f"{source}, whose xlite adapters could not be read", worker=True)
    return XliteSupport(frozenset(_supported_architectures(tree)), source)


def _supported_architectures(tree: ast.Module) -> set[str]:
    """The strings of every class-level `_supported_architectures = [...]` in the module."""
    import ast

    found: set[str] = set()
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        for statement in cls.body:
            targets = statement.targets if isinstance(statement, ast.Assign) else (
                [statement.target] if isinstance(statement, ast.AnnAssign) else [])
            if any(isinstance(t, ast.Name) and t.id == "_supported_architectures" for t in targets):
                try:
                    found.update(a for a in ast.literal_eval(statement.value) if isinstance(a, str))
                except (ValueError, TypeError):
                    continue
    return found
