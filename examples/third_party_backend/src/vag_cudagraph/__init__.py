"""CUDA graphs as a vllm-ascend-graphs backend, registered through the `vllm_ascend_graphs` entry point.

Selection reads only the probed environment, so listing backends never imports torch; capture
and replay run on the runtime's `cuda` device API (`torch.cuda.CUDAGraph`).
"""

from __future__ import annotations

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


class CudaGraphBackend(GraphBackend):
    """The Ascend graph paths cannot serve on an NVIDIA GPU; CUDA graphs can, through the same runtime."""

    name = "cudagraph"
    aliases = ("cuda-graph",)
    description = "CUDA graphs (torch.cuda.CUDAGraph) on an NVIDIA GPU"
    fallback = ("eager",)
    device = "cuda"

    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        if environment.device != "cuda":
            return Probe.refuse(f"no CUDA device here (device: {environment.device})")
        torch_version = environment.torch
        if torch_version is None or torch_version.endswith("+cpu"):
            return Probe.refuse(f"no CUDA build of torch here (torch: {torch_version or 'absent'})")
        if request.enforce_eager:
            return Probe.refuse("enforce_eager=True turns graph capture off")
        if request.cudagraph_mode is CUDAGraphMode.NONE:
            return Probe.refuse("cudagraph_mode NONE asks for no graphs")
        return Probe.ok(f"torch {torch_version} on a CUDA device")

    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        settings = resolve(request, environment, model)
        # Npugraph_ex and static kernel are Ascend's: a CUDA plan keeps the mode and the sizes.
        return Plan(self.name, settings.cudagraph_mode, capture_sizes=settings.capture_sizes, notes=settings.notes)

    def capture(self, graphs: DeviceGraphs, fn: Callable[..., Any], static_inputs: Sequence[Any], *,
                pool: object, mode: CUDAGraphMode) -> Recording:
        # The default captures nothing (eager); the inherited replay() replays the recorded graph.
        return graphs.capture(fn, static_inputs, pool=pool)


@hookimpl
def graph_backends() -> list[GraphBackend]:
    return [CudaGraphBackend()]


@hookimpl
def graph_backend_preference(environment: Environment) -> str | None:
    """With `graph_backend: "auto"`, try CUDA graphs first wherever there is a CUDA device."""
    return "cudagraph" if environment.device == "cuda" else None
