"""Run-time hooks for platforms with static graphs: the selected backend's wrapper and compiler.

vLLM asks the platform which class captures and replays each piece of piecewise compilation
(`get_static_graph_wrapper_cls`) and which compiler runs the compile stage
(`get_compile_backend`). With the plugin active both answer from the recorded decision:

- a backend whose device the platform drives natively keeps the platform's own classes: they
  know that device's per-replay duties (vLLM Ascend's ACLGraph wrapper updates attention
  parameters between full replays), and they read the plan from `additional_config`;
- any other backend with a device gets `GraphWrapper` and `GraphCompiler`, which run the
  backend's own compile, capture and replay duties on our device graph API.

vLLM names the wrapper class when it compiles, which a worker may do holding no current config
(vLLM's CPU worker and vLLM Ascend's NPU worker profile without one), so the hook always names
`static_graph_wrapper`, which chooses for each piece from the config vLLM hands it, wherever a
registered backend may need it (on vLLM Ascend's NPU platform with only the builtins, none does, and
the platform's own answer stands). The compiler
is named while the model is built, under the model's config. Full graphs are the model runner's
own wrapper, which no platform hook names. On a platform without static graphs (vLLM's CPU
build) none of this is hooked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ...backends.base import GraphBackend, Plan
from ...errors import GraphCaptureError
from ...hooks.registry import get_registry
from ...rules.config import GraphRequest
from ...rules.modes import CUDAGraphMode
from ...runtime.capture_errors import CAPTURE_FAILURES, capture_error
from ...runtime.devices import DeviceGraphs, get_device
from ...runtime.graph_entry import GraphEntry
from . import adapter
from .decision import recorded

WRAPPER = f"{__name__}.static_graph_wrapper"
COMPILER = f"{__name__}.GraphCompiler"

_devices: dict[str, tuple[DeviceGraphs, object]] = {}


def chosen(vllm_config: Any) -> tuple[GraphBackend, Plan] | None:
    """The backend and plan recorded in `vllm_config`, or None before a decision."""
    record = recorded(vllm_config) if vllm_config is not None else None
    if record is None:
        return None
    return get_registry().get(record["backend"]), Plan.from_dict(record)


def owns_runtime(backend: GraphBackend, platform_device: str) -> bool:
    """Whether our wrapper and compiler run this backend (see the module docstring)."""
    return backend.device is not None and backend.device != platform_device


def runs_ours(vllm_config: Any) -> bool:
    """Whether our runtime runs the backend recorded in `vllm_config` on the active platform."""
    choice = chosen(vllm_config)
    return choice is not None and owns_runtime(choice[0], adapter.platform_device_type())


def answering(ours: str) -> Callable[[Callable[[type], str]], Callable[[type], str]]:
    """A patch for a platform hook that names a class: `ours` when our runtime runs the chosen backend."""

    def make(original: Callable[[type], str]) -> Callable[[type], str]:
        def hook(platform_cls: type) -> str:
            return ours if runs_ours(adapter.current_vllm_config()) else original(platform_cls)

        return hook

    return make


def naming(ours: str) -> Callable[[Callable[[type], str]], Callable[[type], str]]:
    """A patch for a platform hook that names a class: `ours` (which chooses per piece) wherever a
    registered backend may need our runtime on this platform, else the platform's own answer, so that
    an install whose backends the platform all runs itself answers as the platform alone."""

    def make(original: Callable[[type], str]) -> Callable[[type], str]:
        def hook(platform_cls: type) -> str:
            return ours if any_ours() else original(platform_cls)

        return hook

    return make


def any_ours() -> bool:
    """Whether any registered backend is one our runtime would run on the active platform."""
    device = adapter.platform_device_type()
    return any(owns_runtime(entry.backend, device) for entry in get_registry().entries())


def wrapper_class(vllm_config: Any) -> Any:
    """The class that wraps each compiled piece of a model built with `vllm_config`: ours when our
    runtime runs the backend recorded there, else the platform's own."""
    return GraphWrapper if runs_ours(vllm_config) else adapter.platform_wrapper_class()


def static_graph_wrapper(runnable: Any, vllm_config: Any, runtime_mode: Any, **options: Any) -> Any:
    """What vLLM builds for each compiled piece, with what it passes (the hook names this function)."""
    return wrapper_class(vllm_config)(runnable=runnable, vllm_config=vllm_config, runtime_mode=runtime_mode,
                                      **options)


def _device(name: str) -> tuple[DeviceGraphs, object]:
    """One graph API and one memory pool per device, shared by every wrapped piece."""
    if name not in _devices:
        graphs = get_device(name)
        _devices[name] = (graphs, graphs.graph_pool())
    return _devices[name]


class GraphWrapper:
    """vLLM's static-graph wrapper protocol over a backend's capture/replay duties.

    vLLM pads each batch to a captured size, keeps inputs in persistent buffers, and says in the
    forward context which runtime mode and batch descriptor this step is. The wrapper captures
    once per descriptor (replaying right away, since a device computes nothing while capturing)
    and replays afterwards; outputs are the graph's own (vLLM copies what it keeps). A capture failure
    follows `graph_capture_policy`: raise, or run that descriptor
    ("shrink") or every descriptor ("eager") eagerly from then on.
    """

    def __init__(self, runnable: Any, vllm_config: Any, runtime_mode: Any, **options: Any):
        choice = chosen(vllm_config)
        if choice is None:
            raise RuntimeError("GraphWrapper: no graph-backend decision is recorded in this vLLM config")
        self.runnable = runnable
        self.backend, plan = choice
        self.runtime_mode = CUDAGraphMode.parse(runtime_mode, "runtime_mode")
        policy = adapter.additional_config(vllm_config).get("graph_capture_policy", "raise")
        self.policy = GraphRequest.parse({"graph_capture_policy": policy}).graph_capture_policy
        if self.backend.device is None:
            raise RuntimeError(f"GraphWrapper: backend {self.backend.name!r} captures on no device")
        self.graphs, self.pool = _device(self.backend.device)
        self.entries: dict[Any, GraphEntry] = {}
        self.eager: set[Any] = set()
        self.all_eager = False
        self.debug = adapter.logger().isEnabledFor(logging.DEBUG)

    def __getattr__(self, key: str) -> Any:
        return getattr(self.runnable, key)  # vLLM reaches the piece's attributes through its wrapper

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        state = adapter.forward_state()
        if state is None or state[0] != self.runtime_mode.name or self.all_eager or state[1] in self.eager:
            return self.runnable(*args, **kwargs)
        descriptor = state[1]
        entry = self.entries.get(descriptor)
        if entry is None:
            return self._capture(descriptor, args, kwargs)
        if self.debug:
            entry.check_inputs(args, f"GraphWrapper for {descriptor}")
        self.backend.replay(self.graphs, entry.recording, self.runtime_mode)
        return entry.recording.outputs

    def _capture(self, descriptor: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        def piece(*inputs: Any) -> Any:
            return self.runnable(*inputs, **kwargs)

        try:
            recording = self.backend.capture(self.graphs, piece, args, pool=self.pool, mode=self.runtime_mode)
        except CAPTURE_FAILURES as exc:  # as GraphRunner: a device's error or the backend's own; the policy decides
            error = capture_error(exc, size=getattr(descriptor, "num_tokens", 0),
                                  uniform_decode=bool(getattr(descriptor, "uniform", False)), device=self.graphs.name)
            if self.policy == "raise":
                raise error from exc
            self._give_up(descriptor, error)
            return self.runnable(*args, **kwargs)
        if recording is None:
            self.eager.add(descriptor)
            return self.runnable(*args, **kwargs)
        self.entries[descriptor] = GraphEntry.captured(recording, self.runtime_mode, args)
        self.backend.replay(self.graphs, recording, self.runtime_mode)  # a capture computes nothing on a device
        return recording.outputs

    def _give_up(self, descriptor: Any, error: GraphCaptureError) -> None:
        if self.policy == "eager":
            self.all_eager = True
            self.entries.clear()
            adapter.logger().warning("graph_capture_policy 'eager': capture failed, every batch now runs eagerly. %s",
                                     error)
        else:
            self.eager.add(descriptor)
            adapter.logger().warning("graph_capture_policy 'shrink': capture failed for %s, which now runs eagerly. %s",
                                     descriptor, error)


class GraphCompiler(adapter.compiler_interface()):  # type: ignore[misc]
    """vLLM's compiler interface over the selected backend's compile stage (no compile cache).

    vLLM makes its compiler while building the model, under the model's config (from which the
    hook named this class), and compiles later, where a worker may hold no current config: the
    choice is kept from the start."""

    name = "vllm_ascend_graphs"

    def __init__(self) -> None:
        self.choice = chosen(adapter.current_vllm_config())

    def compute_hash(self, vllm_config: Any) -> str:
        choice = chosen(vllm_config)
        return "" if choice is None else f"{choice[0].name}:{choice[1].cudagraph_mode.name}"

    def compile(self, graph: Any, example_inputs: list[Any], compiler_config: dict[str, Any], compile_range: Any,
                key: str | None = None) -> tuple[Any, None]:
        if self.choice is None:
            return graph, None
        backend, plan = self.choice
        return backend.compile(graph, example_inputs, plan), None
