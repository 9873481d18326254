"""Fakes of Npugraph_ex's two front doors: `npugraph_ex` and the older `torchair`.

Each `CompilerConfig` accepts only the option names the real one has, and records what it is
given. The backend they return models only what ACLGraph asks of them (passes only, no capture:
the graph module runs as is), and refuses anything else, so a wrong option fails the test.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

# The options of npugraph_ex's CompilerConfig (torch_npu 2.10+).
NPUGRAPH_EX_OPTIONS = frozenset({
    "force_eager", "use_graph_pool", "reuse_graph_pool_in_same_fx", "capture_limit", "clone_input", "clone_output",
    "disable_static_kernel_compile_cache", "static_kernel_compile", "frozen_parameter", "remove_noop_ops",
    "remove_cat_ops", "inplace_pass", "input_inplace_pass", "pattern_fusion_pass", "post_grad_custom_pre_pass",
    "post_grad_custom_post_pass", "dump_tensor_data", "data_dump_stage", "data_dump_dir",
    "_vllm_aclnn_static_kernel_sym_index", "_vllm_aclnn_static_kernel_sym_range", "super_kernel_optimize",
    "super_kernel_optimize_options", "super_kernel_debug_options", "deadlock_check", "capture_error_mode", "mode",
})


class CompilerConfig:
    def __init__(self) -> None:
        object.__setattr__(self, "options", {})

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in NPUGRAPH_EX_OPTIONS:
            raise AttributeError(f"npugraph_ex CompilerConfig has no option {name!r}")
        self.options[name] = value


def _passes_only_backend(compiled: list, config: Any, force_eager: bool):
    def backend(gm: Any, example_inputs: Any) -> Any:
        if not force_eager:
            raise AssertionError("this fake models Npugraph_ex with passes only (ACLGraph captures)")
        output = next(node for node in gm.graph.nodes if node.op == "output")
        if not isinstance(output.args[0], (tuple, list)):
            raise AssertionError("Dynamo backends take graphs that return a tuple")
        compiled.append((config, gm, example_inputs))
        return gm

    return backend


def install_npugraph_ex(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("npugraph_ex")
    module.CompilerConfig = CompilerConfig
    module.compiled = []
    module.get_npu_backend = lambda *, compiler_config: _passes_only_backend(
        module.compiled, compiler_config, compiler_config.options.get("force_eager") is True)
    monkeypatch.setitem(sys.modules, "npugraph_ex", module)
    return module


def install_torchair_only(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """`torchair` present, `npugraph_ex` absent (an older torch_npu)."""

    def new_config() -> Any:
        aclgraph = types.SimpleNamespace()
        return types.SimpleNamespace(mode="max-autotune", debug=types.SimpleNamespace(run_eagerly=False),
                                     experimental_config=types.SimpleNamespace(aclgraph=aclgraph))

    module = types.ModuleType("torchair")
    module.CompilerConfig = new_config
    module.compiled = []
    module.get_npu_backend = lambda *, compiler_config: _passes_only_backend(
        module.compiled, compiler_config,
        compiler_config.mode == "reduce-overhead" and compiler_config.debug.run_eagerly is True)
    monkeypatch.setitem(sys.modules, "torchair", module)
    monkeypatch.setitem(sys.modules, "npugraph_ex", None)  # import npugraph_ex -> ImportError
    return module
