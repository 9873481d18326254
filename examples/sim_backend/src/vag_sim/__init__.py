"""A graph backend on the simulated device, which vLLM runs through vllm-ascend-graphs' runtime hooks.

Two entry points: `vllm_ascend_graphs` registers the backend `sim`, and `vllm.platform_plugins`
offers `SimGraphPlatform` (`platform.py`), vLLM's CPU platform with static graphs, when
`VAG_SIM_PLATFORM=1`. The backend's device, "sim", is not the platform's ("cpu"), so inside vLLM
the plugin hands each piece of vLLM's piecewise compilation to `GraphWrapper`, which captures it
with this backend's `capture` on the simulated device and replays it with `replay`.
Importing this module imports neither torch nor vLLM.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vllm_ascend_graphs import (
    CUDAGraphMode,
    Environment,
    GraphBackend,
    GraphRequest,
    ModelInfo,
    Plan,
    Probe,
    hookimpl,
)
from vllm_ascend_graphs.rules.modes import resolve

if TYPE_CHECKING:
    from vllm_ascend_graphs import DeviceGraphs, Recording

PLATFORM_VAR = "VAG_SIM_PLATFORM"


class SimBackend(GraphBackend):
    """Piecewise graphs on the simulated device: the only graphs a platform's wrapper is handed."""

    name = "sim"
    description = "graphs on the simulated device (CPU), run in vLLM through the runtime hooks"
    fallback = ("eager",)
    device = "sim"

    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        return Probe.ok("the simulated device runs on any host")

    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        settings = resolve(request, environment, model)
        mode, notes = settings.cudagraph_mode, settings.notes
        if mode is CUDAGraphMode.NONE:
            return Plan(self.name, mode, notes=notes)
        if mode is not CUDAGraphMode.PIECEWISE:
            # vLLM wraps full graphs in the model runner's own class; the platform's wrapper gets the pieces.
            narrowed = (f"cudagraph_mode {mode.name} -> PIECEWISE: the sim backend captures the pieces of vLLM's "
                        "piecewise compilation, the only graphs vLLM hands a platform's wrapper")
            notes = (*notes, narrowed)
            mode = CUDAGraphMode.PIECEWISE
        return Plan(self.name, mode, capture_sizes=settings.capture_sizes, notes=notes)

    def capture(self, graphs: DeviceGraphs, fn: Callable[..., Any], static_inputs: Sequence[Any], *,
                pool: object, mode: CUDAGraphMode) -> Recording:
        return graphs.capture(fn, static_inputs, pool=pool)


@hookimpl
def graph_backends() -> list[GraphBackend]:
    return [SimBackend()]


@hookimpl
def graph_backend_preference(environment: Environment) -> str | None:
    """With `graph_backend: "auto"`, try `sim` first on a CPU platform that captures graphs (this one's)."""
    return "sim" if environment.device == "cpu" and environment.captures_graphs else None


def activate() -> str | None:
    """vLLM's platform plugin: the platform's qualified name when `VAG_SIM_PLATFORM=1`, else None."""
    return "vag_sim.platform.SimGraphPlatform" if os.environ.get(PLATFORM_VAR) == "1" else None
