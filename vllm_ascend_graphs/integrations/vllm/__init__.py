"""The vLLM general plugin: `additional_config` picks the graph backend in vLLM's own APIs.

Registered in the entry-point group `vllm.general_plugins`. vLLM calls `register()` once in
every process (front end, engine core, workers); it is idempotent and imports nothing heavy.

What runs the graphs: the plugin decides and writes the plan into vLLM's config; the platform's
own classes carry it out. For every builtin backend that is vLLM Ascend's own wrappers, compiler
and workers (`aclgraph` and `xlite` capture on `npu`, the NPU platform's own device; `native` and
`eager` have no device), or the platform's. Only a backend whose `device` is not the platform's
device type, on a platform with static graphs, is run by this package's runtime
(`runtime_hooks`): `GraphWrapper` captures and replays the pieces of vLLM's piecewise compilation
with the backend's `capture` and `replay`, and `GraphCompiler` runs its `compile` where vLLM asks
the platform for a compiler. `examples/sim_backend` is such a backend, with the platform to run it.
"""

from __future__ import annotations

import os
from typing import Any

from ...errors import GraphConfigError, invalid
from . import adapter, metrics, patching
from .decision import (
    RECORD_KEY,
    REQUESTED_MODE,
    REQUESTED_SIZES,
    on_check_and_update_config,
    on_dispatcher_keys,
    on_graph_manager,
    reconcile_recorded,
)
from .worker_check import on_worker_start

__all__ = ["RECORD_KEY", "SWITCH_VAR", "decision_of", "register", "unregister"]

# Turns this plugin off in every vLLM process while other plugins stay on (VLLM_PLUGINS would have
# to list each of those by name, vllm-ascend's platform plugin included).
SWITCH_VAR = "ASCEND_GRAPHS_VLLM_PLUGIN"
_SWITCH = {"1": True, "on": True, "true": True, "yes": True, "0": False, "off": False, "false": False, "no": False}


def register() -> None:
    """Hook the active platform's config check, finish each engine config (errors, last reconcile), and
    check at each worker's start that its process can carry the recorded plan (`worker_check`).

    On platforms with static graphs, also reconcile what the model runner resolves at worker start,
    and name our graph wrapper and compiler for a backend whose device is not the platform's
    (`runtime_hooks`); vLLM's CPU build has no static graphs, so nothing more is hooked there. A
    vLLM outside the tested range is left untouched, with one warning.
    """
    if not switched_on():
        adapter.logger().info("vllm-ascend-graphs plugin off (%s=%s): graph settings are vLLM's own",
                              SWITCH_VAR, os.environ[SWITCH_VAR])
        return
    why_not = adapter.unsupported_version(adapter.vllm_version())
    if why_not:
        adapter.logger().warning(why_not)
        return
    platform = adapter.platform_class()
    patching.patch(platform, "check_and_update_config", on_check_and_update_config)
    patching.patch(adapter.engine_args_class(), "create_engine_config", _finish_engine_config)
    adapter.patch_worker_start(on_worker_start)
    adapter.patch_engine_initialized(metrics.on_engine_initialized)
    if adapter.supports_static_graphs():
        from . import runtime_hooks

        adapter.patch_dispatcher_keys(on_dispatcher_keys)
        adapter.patch_graph_manager(on_graph_manager)
        patching.patch(platform, "get_static_graph_wrapper_cls", runtime_hooks.naming(runtime_hooks.WRAPPER))
        patching.patch(platform, "get_compile_backend", runtime_hooks.answering(runtime_hooks.COMPILER))
    adapter.logger().debug("vllm-ascend-graphs plugin registered")


def switched_on() -> bool:
    """`ASCEND_GRAPHS_VLLM_PLUGIN`: unset or empty, 1, on, true, yes: on; 0, off, false, no: off."""
    value = os.environ.get(SWITCH_VAR, "").strip()
    if not value:
        return True
    if value.lower() not in _SWITCH:
        error = invalid(SWITCH_VAR, value, "1, on, true or yes; 0, off, false or no")
        adapter.logger().error("%s", error)
        raise error
    return _SWITCH[value.lower()]


def unregister() -> None:
    """Undo `register()` (tests, and embedders that want vLLM's own behaviour back)."""
    patching.unpatch_all()


def decision_of(llm: Any) -> dict[str, Any]:
    """The decision recorded for an `LLM` (backend, mode, trail, notes, summary)."""
    record = adapter.additional_config(adapter.vllm_config_of(llm)).get(RECORD_KEY)
    if record is None:
        raise LookupError("no graph-backend decision recorded: is the vllm_ascend_graphs plugin loaded?")
    return record


def _finish_engine_config(original: Any) -> Any:
    """The decision sees the sizes the user gave; our config errors are logged at ERROR and reach the
    caller unwrapped; vLLM's passes after the platform's are reconciled."""

    def create_engine_config(self: Any, *args: Any, **kwargs: Any) -> Any:
        requested = REQUESTED_SIZES.set(adapter.requested_sizes(self))
        mode = REQUESTED_MODE.set(adapter.requested_mode(self))
        try:
            vllm_config = original(self, *args, **kwargs)
        except ValueError as exc:
            ours = exc if isinstance(exc, GraphConfigError) else adapter.unwrap_config_error(exc, GraphConfigError)
            if ours is None:
                raise
            # vLLM's server start prints a long traceback and only then the message: the first line that
            # names the problem is this one. The traceback starts here, not deep inside the selector.
            adapter.logger().error("%s", ours)
            raise ours.with_traceback(None) from None
        finally:
            REQUESTED_SIZES.reset(requested)
            REQUESTED_MODE.reset(mode)
        reconcile_recorded(vllm_config, by="vLLM's config passes")
        return vllm_config

    return create_engine_config
