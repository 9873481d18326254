"""Device graph APIs: the only code that touches `torch.npu` / `torch.cuda` graphs.

`torch.npu`, `torch.cuda` and the CPU simulation share one API shape (a graph object, a
`graph(g, pool=..., stream=...)` capture context, `graph_pool_handle()`, streams), so one class,
`DeviceGraphs`, drives all three the same way: capture on a side stream into a shared pool,
replay, synchronise. Captures on one device are serialised across threads (every `DeviceGraphs`
over that device shares one lock): in the global capture mode, a device refuses work from
another thread while one thread captures. Importing this module imports no torch.
"""

from __future__ import annotations

import threading
import weakref
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
        self._capture_lock = _capture_lock(api)

    def graph_pool(self) -> object:
        """A memory pool handle; graphs captured into one pool share their memory."""
        return self.api.graph_pool_handle()

    def capture(self, fn: Callable[..., Any], inputs: Sequence[Any], *, pool: object) -> Recording:
        """Record `fn(*inputs)` into a new graph; its outputs are the ones every replay rewrites."""
        graph = self._new_graph()
        # Keywords only: torch.npu.graph's fourth positional parameter differs from torch.cuda.graph's.
        with self._capture_lock, self.api.graph(graph, pool=pool, stream=self._capture_stream):
            outputs = fn(*inputs)
        return Recording(graph, outputs)

    def synchronize(self) -> None:
        """Wait for the work queued on the current stream."""
        self.api.current_stream().synchronize()

    def __repr__(self) -> str:
        return f"<DeviceGraphs {self.name!r}>"


_capture_locks: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def _capture_lock(api: Any) -> threading.RLock:
    """The capture lock of the device behind `api`, shared by every `DeviceGraphs` over it.

    Reentrant, so that a capture started inside a capture reaches the device's own error instead
    of a deadlock. An API object that cannot be a weak key gets a lock of its own.
    """
    with _guard:
        try:
            lock = _capture_locks.get(api)
            if lock is None:
                lock = _capture_locks[api] = threading.RLock()
        except TypeError:  # unhashable, or no weak references
            lock = threading.RLock()
        return lock


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
