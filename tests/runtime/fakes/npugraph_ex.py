"""Fakes of Npugraph_ex's two front doors, `npugraph_ex` and the older `torchair`, around their
real `CompilerConfig` classes.

The config classes are torch_npu's own, loaded from the downloaded wheel (`real_packages`): they
reject a misspelt option or a value outside its allowed set, exactly as on an NPU machine. Only
`get_npu_backend` is faked: the backend it returns models what ACLGraph asks of Npugraph_ex
(passes only, no capture: the graph module runs as is) and refuses any other configuration.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from real_packages import wheel_module


class CompilerConfigs(NamedTuple):
    npugraph_ex: type
    torchair: type


def real_compiler_configs(torch_npu_source: Path) -> CompilerConfigs:
    """The `CompilerConfig` classes of `npugraph_ex` and `torchair` from a torch_npu wheel's files."""
    dynamo = torch_npu_source / "torch_npu" / "dynamo"
    return CompilerConfigs(
        wheel_module(dynamo / "npugraph_ex", "npugraph_ex", "configs.compiler_config").CompilerConfig,
        wheel_module(dynamo / "torchair", "torchair", "configs.compiler_config").CompilerConfig,
    )


def changed_options(config: Any) -> dict[str, Any]:
    """The options set away from their defaults, by dotted name (`debug.run_eagerly` for torchair)."""
    return _changed(config, type(config)(), "")


def _changed(config: Any, default: Any, prefix: str) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for name, value in vars(config).items():
        if name == "_fixed_attrs":
            continue
        if hasattr(value, "_fixed_attrs"):  # a nested config section
            changed |= _changed(value, vars(default)[name], f"{prefix}{name}.")
        elif hasattr(value, "value") and value.value != vars(default)[name].value:
            changed[prefix + name] = value.value
    return changed


def _passes_only_backend(compiled: list, config: Any, passes_only: bool):
    def backend(gm: Any, example_inputs: Any) -> Any:
        if not passes_only:
            raise AssertionError(f"this fake models Npugraph_ex with passes only (ACLGraph captures); got "
                                 f"{changed_options(config)}")
        output = next(node for node in gm.graph.nodes if node.op == "output")
        if not isinstance(output.args[0], (tuple, list)):
            raise AssertionError("Dynamo backends take graphs that return a tuple")
        compiled.append((config, gm, example_inputs))
        return gm

    return backend


def install_npugraph_ex(monkeypatch: pytest.MonkeyPatch, configs: CompilerConfigs) -> types.ModuleType:
    module = types.ModuleType("npugraph_ex")
    module.CompilerConfig = configs.npugraph_ex
    module.compiled = []

    def get_npu_backend(*, compiler_config):
        return _passes_only_backend(module.compiled, compiler_config, compiler_config.force_eager.value is True)

    module.get_npu_backend = get_npu_backend
    monkeypatch.setitem(sys.modules, "npugraph_ex", module)
    return module


def install_torchair_only(monkeypatch: pytest.MonkeyPatch, configs: CompilerConfigs) -> types.ModuleType:
    """`torchair` present, `npugraph_ex` absent (an older torch_npu)."""
    module = types.ModuleType("torchair")
    module.CompilerConfig = configs.torchair
    module.compiled = []

    def get_npu_backend(*, compiler_config):
        passes_only = (compiler_config.mode.value == "reduce-overhead"
                       and compiler_config.debug.run_eagerly.value == "1")  # torchair reports booleans as "1"/"0"
        return _passes_only_backend(module.compiled, compiler_config, passes_only)

    module.get_npu_backend = get_npu_backend
    monkeypatch.setitem(sys.modules, "torchair", module)
    monkeypatch.setitem(sys.modules, "npugraph_ex", None)  # import npugraph_ex -> ImportError
    return module
