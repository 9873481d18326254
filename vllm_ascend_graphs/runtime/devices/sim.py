"""A CPU simulation of a device graph API, faithful where device graphs bite.

It has the shape of `torch.cuda` / `torch.npu` (graph objects, a `graph(g, pool=, stream=)`
capture context, pools, streams), so `DeviceGraphs` drives it exactly as it drives a device, and
a fake `torch.npu` can simply be a `SimDevice`.

Capture records, below autograd, every aten op the captured code runs (a `TorchDispatchMode`):
Python runs once, so its decisions are frozen at capture. Replay reruns the recorded ops on the
tensors that existed before capture (static inputs, weights, caches: read at replay, by address)
and writes the results into the tensors the capture returned (allocated at capture and, as on a
device, undefined until the first replay: floating outputs are NaN). So the bugs a device shows
show here too: an input not copied into its static buffer is stale, an output held across
replays is overwritten, wrong padding reads the wrong rows, and a host synchronisation
(`.item()`, data-dependent shapes) during capture fails as it does on a device.

Threads: the current stream is per thread, as on a device, and the device's bookkeeping is
locked. One capture at a time per device: a second thread that starts capturing while another
captures gets a clear error, as a device in the global capture mode refuses it (`DeviceGraphs`
serialises its captures, so the runtime never does this).
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import weakref
from collections.abc import Container, Iterator
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_leaves, tree_unflatten

from . import DeviceGraphs

_HOST_SYNC_TAGS = (torch.Tag.data_dependent_output, torch.Tag.dynamic_output_shape)
_CAPTURE_ERROR_MODES = ("global", "thread_local", "relaxed")


class SimStream:
    """A stream: only its identity matters (capture on the default stream is refused)."""

    def __init__(self, device: SimDevice, name: str):
        self._device = device
        self.name = name

    def synchronize(self) -> None:
        self._device.events.append("sync")

    def __repr__(self) -> str:
        return f"<SimStream {self.name}>"


class SimPool:
    """A memory pool handle; graphs captured with the same handle share it."""

    _ids = itertools.count()

    def __init__(self) -> None:
        self.id = next(self._ids)

    def __repr__(self) -> str:
        return f"<SimPool {self.id}>"


class _Op:
    """One recorded aten call: constants kept by reference, capture-made tensors by slot.

    Arguments are kept flat (`leaves`); `spec` rebuilds nested ones (lists of tensors), and is
    None when every argument is top-level, the common case, which skips pytree at replay.
    """

    __slots__ = ("func", "leaves", "spec", "positional", "names", "refs", "outs")

    def __init__(self, func: Any, args: tuple, kwargs: dict, slot_of: dict[int, int]):
        self.func = func
        nested = any(isinstance(x, (list, tuple, dict)) for x in (*args, *kwargs.values()))
        if nested:
            self.leaves, self.spec = tree_flatten((args, kwargs))
        else:
            self.leaves, self.spec = [*args, *kwargs.values()], None  # type: ignore[assignment]
        self.positional, self.names = len(args), tuple(kwargs)
        self.refs = [(i, slot_of[id(x)]) for i, x in enumerate(self.leaves)
                     if isinstance(x, torch.Tensor) and id(x) in slot_of]
        for i, _ in self.refs:
            self.leaves[i] = None  # read from the slot at replay; never keep capture-time intermediates
        self.outs: list[int | None] = []

    def run(self, slots: list[Any]) -> None:
        leaves = list(self.leaves)
        for leaf, slot in self.refs:
            leaves[leaf] = slots[slot]
        if self.spec is None:
            keywords = dict(zip(self.names, leaves[self.positional:], strict=True))
            result = self.func(*leaves[:self.positional], **keywords)
        else:
            args, kwargs = tree_unflatten(leaves, self.spec)
            result = self.func(*args, **kwargs)
        if isinstance(result, torch.Tensor):
            if self.outs[0] is not None:
                slots[self.outs[0]] = result
            return
        for out, value in zip(self.outs, tree_leaves(result), strict=True):
            if out is not None:
                slots[out] = value


class _Recorder(TorchDispatchMode):
    """Runs each aten op as usual and appends it to the tape."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[_Op] = []
        self.made: list[torch.Tensor] = []  # every tensor the capture made; alive, so ids stay unique
        self.created: list[bool] = []  # made by the op, not an argument it returned (in-place ops)
        self._slot: dict[int, int] = {}

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if any(tag in func.tags for tag in _HOST_SYNC_TAGS):
            raise RuntimeError(
                f"sim graph capture: {func} needs the host to read device data (a synchronisation or a "
                "data-dependent shape), which a device graph cannot record (on a device: operation not "
                "permitted when stream is capturing)"
            )
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        op = _Op(func, args, kwargs, self._slot)
        arguments = {id(x) for x in tree_leaves((args, kwargs)) if isinstance(x, torch.Tensor)}
        for value in tree_leaves(result):
            if not isinstance(value, torch.Tensor):
                op.outs.append(None)
                continue
            if id(value) not in self._slot:
                self._slot[id(value)] = len(self.made)
                self.made.append(value)
                self.created.append(id(value) not in arguments)
            op.outs.append(self._slot[id(value)])
        self.ops.append(op)
        return result


class SimGraph:
    """One graph: `capture_begin` / `capture_end` record, `replay` reruns (like `torch.cuda.CUDAGraph`)."""

    def __init__(self, device: SimDevice):
        self._device = device
        self._recorder: _Recorder | None = None
        self._ops: list[_Op] | None = None
        self._slots = 0
        self._outputs: list[tuple[int, torch.Tensor]] = []
        self._pool: SimPool | None = None

    def capture_begin(self, pool: SimPool | None = None, capture_error_mode: str = "global") -> None:
        if capture_error_mode not in _CAPTURE_ERROR_MODES:
            raise ValueError(
                f"capture_error_mode: got {capture_error_mode!r}; allowed: {', '.join(_CAPTURE_ERROR_MODES)}")
        if self._ops is not None or self._recorder is not None:
            raise RuntimeError("sim graph: this graph already holds a capture; call reset() before capturing again")
        self._device.begin_capture()
        self._pool = pool or SimPool()
        self._recorder = _Recorder()
        self._recorder.__enter__()

    def capture_end(self) -> None:
        recorder = self._stop()
        # What the caller still holds after capture is an output: replay must write it. Everything
        # else was an intermediate, remade on each replay.
        alive = [(slot, weakref.ref(t)) for slot, t in enumerate(recorder.made) if recorder.created[slot]]
        self._slots = len(recorder.made)
        recorder.made.clear()
        self._outputs = [(slot, t) for slot, ref in alive if (t := ref()) is not None]
        self._ops = recorder.ops
        for _, tensor in self._outputs:
            if tensor.is_floating_point():
                tensor.fill_(float("nan"))

    def abort(self) -> None:
        """Drop a capture that raised (the captured code failed)."""
        self._stop()

    def replay(self) -> None:
        if self._ops is None:
            raise RuntimeError("sim graph: replay() before a capture")
        self._device.events.append("replay")
        slots: list[Any] = [None] * self._slots
        with torch.no_grad():
            for op in self._ops:
                op.run(slots)
            for slot, tensor in self._outputs:
                value = slots[slot]
                if value.data_ptr() != tensor.data_ptr():
                    tensor.copy_(value)

    def reset(self) -> None:
        self._ops, self._outputs, self._slots = None, [], 0

    def pool(self) -> SimPool | None:
        return self._pool

    def _stop(self) -> _Recorder:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            raise RuntimeError("sim graph: capture_end() without capture_begin()")
        recorder.__exit__(None, None, None)
        self._device.end_capture()
        return recorder


class SimDevice:
    """The simulated device: its graph API, streams, a log of events, and injected capture failures.

    `events` records "capture", "replay" and "sync" in order, so tests can check, for example,
    that a FULL-mode replay is preceded by a synchronisation.
    """

    def __init__(self) -> None:
        self.events: list[str] = []
        self.captures = 0  # capture attempts, failed ones included
        self._streams = itertools.count()
        self.default_stream = SimStream(self, "default")
        self._side_stream = SimStream(self, "side")
        self._thread = threading.local()  # the current stream, per thread
        self._lock = threading.Lock()  # guards `captures` and `_capturing`
        self._capturing: str | None = None  # the name of the thread capturing now
        self._failure: tuple[str, Container[int] | None] | None = None

    def inject_capture_failure(self, message: str, captures: Container[int] | None = None) -> None:
        """Make capture attempts fail with `RuntimeError(message)`, as the device's runtime would.

        `captures` are 0-based capture attempts on this device (in the order they are made);
        None fails every one.
        """
        self._failure = (message, captures)

    # -- the torch.cuda / torch.npu shaped API ------------------------------------------------

    def new_graph(self) -> SimGraph:
        return SimGraph(self)

    def new_stream(self) -> SimStream:
        return SimStream(self, f"stream{next(self._streams)}")

    def graph_pool_handle(self) -> SimPool:
        return SimPool()

    def current_stream(self) -> SimStream:
        return getattr(self._thread, "stream", self.default_stream)

    def synchronize(self) -> None:
        self.events.append("sync")

    @contextlib.contextmanager
    def graph(self, sim_graph: SimGraph, /, *, pool: SimPool | None = None, stream: SimStream | None = None,
              capture_error_mode: str = "global") -> Iterator[SimGraph]:
        """Capture the body into `sim_graph` on `stream` (the graph positionally: torch.npu names it
        `npu_graph`, torch.cuda `cuda_graph`; the rest by keyword, as our callers must write them)."""
        stream = stream or self._side_stream
        if stream is self.default_stream:
            raise RuntimeError("sim graph: capture on the default stream is not allowed; pass a side stream")
        previous, self._thread.stream = self.current_stream(), stream
        try:
            sim_graph.capture_begin(pool=pool, capture_error_mode=capture_error_mode)
            try:
                yield sim_graph
            except BaseException:
                sim_graph.abort()
                raise
            sim_graph.capture_end()
        finally:
            self._thread.stream = previous

    # -- bookkeeping for SimGraph ------------------------------------------------------------

    def begin_capture(self) -> None:
        with self._lock:
            attempt = self.captures
            self.captures += 1
            if self._capturing is not None:
                raise RuntimeError(f"sim graph: a capture is already in progress on this device (in thread "
                                   f"{self._capturing!r}); capture one graph at a time per device")
            if self._failure is not None:
                message, which = self._failure
                if which is None or attempt in which:
                    raise RuntimeError(message)
            self._capturing = threading.current_thread().name
            self.events.append("capture")

    def end_capture(self) -> None:
        with self._lock:
            self._capturing = None


def sim_graphs(device: SimDevice | None = None) -> DeviceGraphs:
    """`DeviceGraphs` over a (new) simulated device."""
    device = device or SimDevice()
    return DeviceGraphs("sim", device, device.new_graph, device.new_stream)
