"""GraphRunner: serve a callable from device graphs captured once per batch key.

A batch key is (number of tokens, uniform decode). The runner captures one graph per key for
the capture sizes, largest first, into one shared memory pool, each after `warmup` eager runs.
A call pads its batch (dim 0 of every input) up to the nearest captured size, copies the inputs
into the static input buffers, replays, and returns the outputs cut back to the real size.
A batch larger than the largest size, or of a key that was not captured, runs eagerly.

Which keys are captured follows the mode: uniform-decode keys unless the mode's decode part is
NONE, mixed keys unless its mixed part is NONE (so FULL_DECODE_ONLY captures only uniform
decode, FULL, PIECEWISE and FULL_AND_PIECEWISE capture both, NONE captures nothing).

Contracts:
- Outputs: by default a call returns new tensors that no later call touches. With
  `zero_copy_outputs=True` a graph-served call returns views of the graph's static outputs
  instead: no copy, but valid only until the next call of this runner. Eager calls return
  whatever `fn` returns.
- Padding: rows between the real and the captured size hold earlier inputs; `fn` must treat
  rows independently (as a model's token dimension is) - those rows are cut from the outputs.
- Addresses: graphs read the static input buffers by address; `debug=True` checks on every call
  that the inputs are copied to exactly those addresses.

How it captures and serves (device, mode, warm-up runs, failure policy, debug checks, output
copies) is one record, `RunnerOptions`; what it captures is the callable and the sizes, and whose
capture/replay duties it uses is the backend.
- Threads: a runner may be called from several threads. Graph-served calls (copy in, replay,
  copy out) take turns under one lock, since they share the static buffers; eager calls run
  at once. With `zero_copy_outputs=True` the outputs are views that the next call overwrites, so
  such a runner serves one thread: a call from another thread raises `RuntimeError`.
"""

from __future__ import annotations

import functools
import logging
import operator
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from ..enums import CUDAGraphMode
from ..errors import GraphCaptureError, GraphConfigError, invalid
from ..rules.config import CAPTURE_POLICIES
from .capture_errors import CAPTURE_FAILURES, capture_error
from .devices import DeviceGraphs, Recording, get_device
from .graph_entry import GraphEntry

logger = logging.getLogger("vllm_ascend_graphs")

BatchKey = tuple[int, bool]  # (number of tokens, uniform decode)


class RunnerOptions(NamedTuple):
    """How a `GraphRunner` captures and serves.

    `device`: a `runtime.devices` name or a `DeviceGraphs`; None for the backend's own. `policy`:
    what a capture failure does: "raise" a `GraphCaptureError`, "shrink" (drop the failed sizes and
    serve with the rest) or "eager" (give up graphs); the last two log exactly what was lost.
    `warmup`: eager runs before each capture. `debug`: check on every call that the inputs land
    where the graphs read them. `zero_copy_outputs`: return views of the graphs' outputs (valid
    until the next call) instead of copies.
    """

    device: str | DeviceGraphs | None = None
    mode: CUDAGraphMode | str = CUDAGraphMode.FULL_DECODE_ONLY
    warmup: int = 1
    policy: str = "raise"
    debug: bool = False
    zero_copy_outputs: bool = False

    def checked(self) -> RunnerOptions:
        """The options themselves, once checked; bad values are one-line errors naming what is allowed (the
        runner parses the mode)."""
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise invalid("GraphRunner warmup", self.warmup, "a non-negative integer")
        if self.policy not in CAPTURE_POLICIES:
            raise invalid("additional_config.graph_capture_policy", self.policy,
                          ", ".join(map(repr, CAPTURE_POLICIES)), choices=CAPTURE_POLICIES)
        return self


class GraphDuties(Protocol):
    """What the runner asks of a backend (a `GraphBackend` is one): its name and device, and how it
    captures and replays on the device."""

    @property
    def name(self) -> str: ...

    @property
    def device(self) -> str | None: ...

    def capture(self, graphs: DeviceGraphs, fn: Callable[..., Any], static_inputs: Sequence[Any], *,
                pool: object, mode: CUDAGraphMode) -> Recording | None:
        """One graph recorded; None: nothing captured, and that key runs eagerly."""

    def replay(self, graphs: DeviceGraphs, recording: Recording, mode: CUDAGraphMode) -> None: ...


class _DeviceGraphsOnly:
    """The capture/replay duties when no backend is given: record on the device, replay as recorded."""

    def capture(self, graphs: DeviceGraphs, fn: Callable[..., Any], static_inputs: Sequence[Any], *,
                pool: object, mode: CUDAGraphMode) -> Recording:
        return graphs.capture(fn, static_inputs, pool=pool)

    def replay(self, graphs: DeviceGraphs, recording: Recording, mode: CUDAGraphMode) -> None:
        recording.graph.replay()


class _Step:
    """Everything one call of one batch size needs, precomputed so the call itself stays short."""

    __slots__ = ("size", "inputs", "replay", "outputs", "pack", "entry")

    def __init__(self, size: int, inputs: tuple[Any, ...], replay: Callable[[], None], outputs: list[Any],
                 pack: Callable[[list[Any]], Any], entry: GraphEntry):
        self.size, self.inputs, self.replay, self.outputs, self.pack = size, inputs, replay, outputs, pack
        self.entry = entry


class GraphRunner:
    """Captures `fn` per batch key on a device graph API and serves calls by replay (see the module doc).

    `backend` supplies the capture/replay duties (None: plain device graphs) and, unless
    `options.device` names another, the device.
    """

    def __init__(self, fn: Callable[..., Any], sizes: Iterable[int], options: RunnerOptions | None = None, *,
                 backend: GraphDuties | None = None):
        options = (options or RunnerOptions()).checked()
        self._fn = fn
        self._backend = backend
        self._duties = backend or _DeviceGraphsOnly()
        self.sizes = _checked_sizes(sizes)
        self.options = options
        self.mode = CUDAGraphMode.parse(options.mode, "GraphRunner mode")
        self.graphs = _resolve_device(options.device, backend)
        self.captured: dict[BatchKey, GraphEntry] = {}
        self.dropped: dict[BatchKey, GraphCaptureError] = {}
        self.capture_seconds: dict[BatchKey, float] = {}
        self._static_inputs: tuple[torch.Tensor, ...] = ()
        self._uniform_steps: list[_Step | None] = []
        self._mixed_steps: list[_Step | None] = []
        self._lock = threading.Lock()  # graph-served calls share the static buffers: one at a time
        self._zero_copy_thread: int | None = None  # the one thread a zero-copy runner serves

    # -- capture ------------------------------------------------------------------------------

    def capture(self, example_inputs: Sequence[torch.Tensor]) -> GraphRunner:
        """Capture every batch key; `example_inputs` give the inputs' dtypes and trailing shapes."""
        with self._lock:
            return self._capture(example_inputs)

    def _capture(self, example_inputs: Sequence[torch.Tensor]) -> GraphRunner:
        if self._static_inputs:
            raise RuntimeError("GraphRunner.capture: this runner has captured already; make a new runner")
        examples = _checked_inputs(example_inputs)
        keys, graphs = self._keys(), self.graphs
        if graphs is None or not keys:
            logger.info("graph runner: nothing to capture (%s); every batch runs eagerly", self._why_no_keys())
            return self
        self._static_inputs = tuple(_static_buffer(x, self.sizes[0]) for x in examples)
        pool = graphs.graph_pool()
        with torch.no_grad():
            for key, mode in keys:
                if not self._capture_one(graphs, key, mode, pool):
                    break
        self._report_failures()
        self._build_tables()
        return self

    def _keys(self) -> list[tuple[BatchKey, CUDAGraphMode]]:
        if self.graphs is None:
            return []
        parts = [(True, self.mode.decode_mode), (False, self.mode.mixed_mode)]
        return [((size, uniform), mode) for size in self.sizes for uniform, mode in parts
                if mode is not CUDAGraphMode.NONE]

    def _why_no_keys(self) -> str:
        if self.graphs is None:
            return f"backend {self._backend.name!r} captures on no device" if self._backend else "no device"
        return f"mode {self.mode.name}" if self.sizes else "no capture sizes"

    def _capture_one(self, graphs: DeviceGraphs, key: BatchKey, mode: CUDAGraphMode, pool: object) -> bool:
        """Capture one key; False stops capturing (the eager policy, or a backend that captures nothing)."""
        size, uniform = key
        inputs = [buffer[:size] for buffer in self._static_inputs]
        for _ in range(self.options.warmup):
            self._fn(*inputs)
        start = time.perf_counter()
        try:
            recording = self._duties.capture(graphs, self._fn, inputs, pool=pool, mode=mode)
        except CAPTURE_FAILURES as exc:
            error = capture_error(exc, size=size, uniform_decode=uniform, device=graphs.name)
            if self.options.policy == "raise":
                raise error from exc
            error.__cause__ = exc
            self.dropped[key] = error
            if self.options.policy == "eager":
                self.captured.clear()
                self.capture_seconds.clear()
            return self.options.policy == "shrink"
        if recording is None:
            logger.info("graph runner: backend %r captures no graphs; every batch runs eagerly",
                        getattr(self._backend, "name", None))
            return False
        self.capture_seconds[key] = time.perf_counter() - start
        self.captured[key] = GraphEntry.captured(recording, mode, inputs)
        return True

    def _report_failures(self) -> None:
        if not self.dropped:
            return
        first = next(iter(self.dropped.values()))
        if self.options.policy == "eager":
            logger.warning("graph_capture_policy 'eager': graph capture failed, so no graphs are used and every "
                           "batch runs eagerly. %s", first)
            return
        kept = ", ".join(_describe(key) for key in self.captured) or "none (every batch runs eagerly)"
        logger.warning(
            "graph_capture_policy 'shrink': capture failed for %d of %d graphs on %s and they were dropped: %s. "
            "Kept: %s. Batches of a dropped size pad up to the next kept size, or run eagerly. First failure: %s",
            len(self.dropped), len(self.dropped) + len(self.captured), self.graphs and self.graphs.name,
            ", ".join(_describe(key) for key in self.dropped), kept, first,
        )

    def _build_tables(self) -> None:
        """One `_Step` per (batch size, key kind): a call is a list lookup, a copy per input and a replay."""
        views: dict[int, tuple[Any, ...]] = {}
        graphs = self.graphs
        if graphs is None:  # nothing was captured
            return
        for uniform in (True, False):
            sizes = sorted(size for size, kind in self.captured if kind is uniform)
            table: list[_Step | None] = [None] * (sizes[-1] + 1 if sizes else 0)
            previous = 0
            for size in sizes:
                entry = self.captured[(size, uniform)]
                outputs, pack = _flatten_outputs(entry.recording.outputs)
                replay = functools.partial(self._duties.replay, graphs, entry.recording, entry.mode)
                for n in range(previous + 1, size + 1):  # the batch sizes that pad up to `size`
                    if n not in views:
                        views[n] = tuple(buffer[:n] for buffer in self._static_inputs)
                    cut = [out[:n] if out.dim() and out.shape[0] == size else out for out in outputs]
                    table[n] = _Step(size, views[n], replay, cut, pack, entry)
                previous = size
            if uniform:
                self._uniform_steps = table
            else:
                self._mixed_steps = table

    # -- serving ------------------------------------------------------------------------------

    def __call__(self, *inputs: Any, uniform_decode: bool = True) -> Any:
        """Run one batch: by replay when its key was captured, else eagerly."""
        table = self._uniform_steps if uniform_decode else self._mixed_steps
        try:
            step = table[inputs[0].shape[0]]
        except (IndexError, AttributeError):  # larger than the largest size, or nothing to key on
            step = None
        if step is None:
            return self._fn(*inputs)
        with self._lock:
            if self.options.zero_copy_outputs:
                self._check_one_thread()  # before the copy: a refused call must not overwrite another's outputs
            self._load(step, inputs)
            step.replay()
            if self.options.zero_copy_outputs:
                return step.pack(step.outputs)
            return step.pack([out.clone() for out in step.outputs])

    def _check_one_thread(self) -> None:
        """Zero-copy outputs are overwritten by the next call: one thread only, or it would read another's."""
        thread = threading.get_ident()
        if self._zero_copy_thread is None:
            self._zero_copy_thread = thread
        elif self._zero_copy_thread != thread:
            raise RuntimeError("GraphRunner with zero_copy_outputs=True serves the one thread that called it first: "
                               "its outputs are views the next call overwrites, so another thread would read wrong "
                               "values; allowed: zero_copy_outputs=False (the default) for a runner shared by threads")

    def _load(self, step: _Step, inputs: tuple[Any, ...]) -> None:
        """Copy the inputs into the static buffers (their first rows)."""
        views = step.inputs
        if len(inputs) != len(views):
            raise TypeError(f"GraphRunner: got {len(inputs)} inputs; allowed: {len(views)} tensors, as captured")
        for view, value in zip(views, inputs, strict=True):
            if view.shape != getattr(value, "shape", None) or view.dtype != value.dtype:
                raise _mismatch(views, inputs)
            view.copy_(value)
        if self.options.debug:
            step.entry.check_inputs(views, "GraphRunner")

    def padded_size(self, num_tokens: int, uniform_decode: bool = True) -> int | None:
        """The captured size a batch of `num_tokens` replays at, or None when it runs eagerly."""
        table = self._uniform_steps if uniform_decode else self._mixed_steps
        step = table[num_tokens] if 0 <= num_tokens < len(table) else None
        return None if step is None else step.size

    @property
    def static_inputs(self) -> tuple[torch.Tensor, ...]:
        """The buffers every graph reads its inputs from (at the largest size)."""
        return self._static_inputs

    def __repr__(self) -> str:
        device = self.graphs.name if self.graphs else None
        return (f"<GraphRunner {self.mode.name} on {device}: {len(self.captured)} graphs, "
                f"{len(self.dropped)} dropped>")


def _resolve_device(device: str | DeviceGraphs | None, backend: GraphDuties | None) -> DeviceGraphs | None:
    if isinstance(device, DeviceGraphs):
        return device
    if isinstance(device, str):
        return get_device(device)
    if device is not None:
        raise invalid("GraphRunner device", device, "'sim', 'cuda', 'npu' or a DeviceGraphs")
    if backend is None:
        raise GraphConfigError("GraphRunner device: got None without a backend; allowed: 'sim', 'cuda', 'npu', "
                               "a DeviceGraphs, or a backend that names its device")
    return get_device(backend.device) if backend.device else None


def _checked_sizes(sizes: Iterable[int]) -> tuple[int, ...]:
    """Unique capture sizes, largest first."""
    sizes = tuple(sizes)
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise invalid("capture sizes", list(sizes), "positive integers")
    return tuple(sorted(set(sizes), reverse=True))


def _checked_inputs(inputs: Sequence[Any]) -> list[Any]:
    inputs = list(inputs)
    allowed = "one or more tensors that share their batch size in dim 0"
    if not inputs or not all(isinstance(x, torch.Tensor) and x.dim() >= 1 for x in inputs):
        raise invalid("GraphRunner example inputs", inputs, allowed)
    batch = {x.shape[0] for x in inputs}
    if len(batch) != 1 or 0 in batch:
        raise GraphConfigError(f"GraphRunner example inputs: got batch sizes {sorted(batch)}; allowed: {allowed}")
    return inputs


def _static_buffer(example: torch.Tensor, size: int) -> torch.Tensor:
    """A buffer for `size` rows, filled by repeating the example's rows (valid values, e.g. indices)."""
    rows = torch.arange(size, device=example.device) % example.shape[0]
    return example[rows].contiguous()


def _flatten_outputs(outputs: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """The output tensors, and how to put them back into the structure `fn` returned."""
    leaves, spec = tree_flatten(outputs)
    if not all(isinstance(leaf, torch.Tensor) for leaf in leaves):
        kinds = sorted({type(leaf).__name__ for leaf in leaves if not isinstance(leaf, torch.Tensor)})
        raise TypeError(f"GraphRunner: the captured callable returned {', '.join(kinds)}; allowed: tensors, "
                        "or tuples, lists and dicts of tensors")
    if isinstance(outputs, torch.Tensor):
        return leaves, operator.itemgetter(0)
    if type(outputs) is tuple and len(outputs) == len(leaves):
        return leaves, tuple
    return leaves, lambda tensors: tree_unflatten(tensors, spec)


def _mismatch(views: tuple[Any, ...], inputs: tuple[Any, ...]) -> TypeError:
    for index, (view, value) in enumerate(zip(views, inputs, strict=True)):
        shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
        if view.shape != shape or view.dtype != dtype:
            got = f"{type(value).__name__}" if shape is None else f"{dtype} {list(shape)}"
            return TypeError(
                f"GraphRunner: input {index} is {got}; allowed: {view.dtype} {list(view.shape)} (the captured "
                f"dtype and trailing shape, with every input's dim 0 equal to the batch size {inputs[0].shape[0]})"
            )
    return TypeError("GraphRunner: the inputs do not match the captured ones")


def _describe(key: BatchKey) -> str:
    size, uniform = key
    return f"{size} tokens ({'uniform decode' if uniform else 'mixed'})"
