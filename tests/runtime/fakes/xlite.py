"""A fake `xlite` (`xlite._C`) that logs every call, in order, into a list the test owns.

`ModelConfig` records each field set on it; `Model.forward` fills the output with a marker so a
test can tell xlite's result from the fallback's.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

MARKER = 7.0


def install(monkeypatch: pytest.MonkeyPatch, log: list, pool_status: int = 0) -> types.ModuleType:
    """Install `xlite` and `xlite._C`; calls are appended to `log` as tuples."""

    class ModelConfig:
        def __init__(self) -> None:
            object.__setattr__(self, "fields", {})

        def __setattr__(self, name: str, value: Any) -> None:
            self.fields[name] = value

        def __getattr__(self, name: str) -> Any:
            try:
                return self.fields[name]
            except KeyError:
                raise AttributeError(name) from None

    class Runtime:
        def __init__(self, devid: int, size: int = 0, rank: int = 0, tp_size: int = 1, dp_size: int = 1) -> None:
            log.append(("Runtime", devid, size, rank, tp_size, dp_size))

        def init_tensor_pool(self, size_mb: int) -> int:
            log.append(("init_tensor_pool", size_mb))
            return pool_status

    class Model:
        def __init__(self) -> None:
            log.append(("Model",))

        def init(self, config: ModelConfig, rank: int) -> None:
            log.append(("Model.init", dict(config.fields), rank, sorted(vars(self))))

        def get_tensor_pool_size(self) -> int:
            log.append(("get_tensor_pool_size",))
            return 96

        def forward(self, runtime: Runtime, input_ids: Any, meta: Any, kv_caches: Any, freqs: Any, output: Any) -> None:
            log.append(("forward", input_ids, dict(vars(meta)), kv_caches, tuple(freqs.shape)))
            output.fill_(MARKER)

        def forward_with_inputs_embeds(self, runtime: Runtime, embeds: Any, meta: Any, kv_caches: Any, freqs: Any,
                                       output: Any) -> None:
            log.append(("forward_with_inputs_embeds", embeds, dict(vars(meta))))
            output.fill_(MARKER)

    core = types.ModuleType("xlite._C")
    core.ModelConfig, core.Runtime, core.Model = ModelConfig, Runtime, Model
    core.AttnMeta = types.SimpleNamespace
    core.AttnMHA = "AttnMHA"
    package = types.ModuleType("xlite")
    package._C = core
    monkeypatch.setitem(sys.modules, "xlite", package)
    monkeypatch.setitem(sys.modules, "xlite._C", core)
    return core
