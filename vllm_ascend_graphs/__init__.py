"""vllm-ascend-graphs: one registry, selector and runtime for vLLM's graph paths on Ascend.

The public API is imported lazily, so `import vllm_ascend_graphs` stays light: no torch, no
torch_npu, no vllm, not even pluggy until a name that needs it is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "select": "selection.selector",
    "Selection": "selection.selector",
    "Attempt": "selection.selector",
    "current_environment": "selection.selector",
    "GraphRequest": "rules.config",
    "Environment": "probes.environment",
    "ModelInfo": "rules.models",
    "CUDAGraphMode": "enums",
    "AttentionSupport": "enums",
    "Assumptions": "rules.assumptions",
    "GraphBackend": "backends.base",
    "Plan": "backends.base",
    "Probe": "backends.base",
    "hookimpl": "hooks.specs",
    "DeviceGraphs": "runtime.devices",
    "Recording": "runtime.devices",
    "get_registry": "hooks.registry",
    "capture": "entrypoints.standalone",
    "GraphRunner": "runtime.runner",
    "RunnerOptions": "runtime.runner",
    "GraphConfigError": "errors",
    "GraphCaptureError": "errors",
    "BackendUnavailableError": "errors",
    "WorkerEnvironmentError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
