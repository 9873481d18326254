"""Device graph APIs: the only code that touches `torch.npu` / `torch.cuda` graphs.

`torch.npu`, `torch.cuda` and the CPU simulation share one API shape (a graph object, a
`graph(g, pool=..., stream=...)` capture context, `graph_pool_handle()`, streams), so one class,
`DeviceGraphs`, drives all three the same way: capture on a side stream into a shared pool,
replay, synchronise. Importing this module imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ...errors import GraphConfigError

DEVICES = ("sim", "cuda", "npu")


class Recording(NamedTuple):
    """One captured graph and the outputs it writes on every replay (allocated at capture)."""

    graph: Any
    outputs: Any


class DeviceGraphs:
    """One device's graph API, used the one way the runtime needs it."""

    def __init__(self, name: str, api: Any, new_graph: Callable[[], Any], new_stream: Callable[[], Any]):
        self.name = name
        self.api = api
        self._new_graph = new_graph
        # Capture on the default stream is refused by ACL graphs: every capture uses this one.
        self._capture_stream = new_stream()

    def graph_pool(self) -> object:
        """A memory pool handle; graphs captured into one pool share their memory."""
        return self.api.graph_pool_handle()

    def capture(self, fn: Callable[..., Any], inputs: Sequence[Any], *, pool: object) -> Recording:
        """Record `fn(*inputs)` into a new graph; its outputs are the ones every replay rewrites."""
        graph = self._new_graph()
        # Keywords only: torch.npu.graph's fourth positional parameter differs from torch.cuda.graph's.
        with self.api.graph(graph, pool=pool, stream=self._capture_stream):
            outputs = fn(*inputs)
        return Recording(graph, outputs)

    def synchronize(self) -> None:
        """Wait for the work queued on the current stream."""
        self.api.current_stream().synchronize()

    def __repr__(self) -> str:
        return f"<DeviceGraphs {self.name!r}>"


def get_device(name: str) -> DeviceGraphs:
    """The graph API of `name` (one of `DEVICES`); a device that is absent here is a clear error."""
    if name == "sim":
        from .sim import sim_graphs

        return sim_graphs()
    if name == "cuda":
        from .cuda import cuda_graphs

        return cuda_graphs()
    if name == "npu":
        from .npu import npu_graphs

        return npu_graphs()
    raise GraphConfigError(f"graph device: got {name!r}; allowed: {', '.join(DEVICES)}")
