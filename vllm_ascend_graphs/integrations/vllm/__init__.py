"""The vLLM general plugin: `additional_config` picks the graph backend in vLLM's own APIs.

Registered in the entry-point group `vllm.general_plugins`. vLLM calls `register()` once in
every process (front end, engine core, workers); it is idempotent and imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

from ...errors import GraphConfigError
from . import adapter
from .decision import (
    RECORD_KEY,
    REQUESTED_SIZES,
    on_check_and_update_config,
    on_dispatcher_keys,
    on_graph_manager,
    reconcile_recorded,
)

__all__ = ["RECORD_KEY", "decision_of", "register", "unregister"]


def register() -> None:
    """Hook the active platform's config check, and finish each engine config (errors, last reconcile).

    On platforms with static graphs, also reconcile what the model runner resolves at worker start,
    and let the selected backend supply the graph wrapper and the compiler (`runtime_hooks`); the
    CPU build has none, so nothing more is hooked there. A vLLM outside the tested range is left
    untouched, with one warning.
    """
    why_not = adapter.unsupported_version(adapter.vllm_version())
    if why_not:
        adapter.logger().warning(why_not)
        return
    platform = adapter.platform_class()
    adapter.patch(platform, "check_and_update_config", on_check_and_update_config)
    adapter.patch(adapter.engine_args_class(), "create_engine_config", _finish_engine_config)
    if adapter.supports_static_graphs():
        from . import runtime_hooks

        adapter.patch_dispatcher_keys(on_dispatcher_keys)
        adapter.patch_graph_manager(on_graph_manager)
        adapter.patch(platform, "get_static_graph_wrapper_cls", runtime_hooks.answering(runtime_hooks.WRAPPER))
        adapter.patch(platform, "get_compile_backend", runtime_hooks.answering(runtime_hooks.COMPILER))
    adapter.logger().debug("vllm-ascend-graphs plugin registered")


def unregister() -> None:
    """Undo `register()` (tests, and embedders that want vLLM's own behaviour back)."""
    adapter.unpatch_all()


def decision_of(llm: Any) -> dict[str, Any]:
    """The decision recorded for an `LLM` (backend, mode, trail, notes, summary)."""
    record = adapter.additional_config(adapter.vllm_config_of(llm)).get(RECORD_KEY)
    if record is None:
        raise LookupError("no graph-backend decision recorded: is the vllm_ascend_graphs plugin loaded?")
    return record


def _finish_engine_config(original: Any) -> Any:
    """The decision sees the sizes the user gave; our config errors reach the caller unwrapped; vLLM's
    passes after the platform's are reconciled."""

    def create_engine_config(self: Any, *args: Any, **kwargs: Any) -> Any:
        requested = REQUESTED_SIZES.set(adapter.requested_sizes(self))
        try:
            vllm_config = original(self, *args, **kwargs)
        except ValueError as exc:
            ours = adapter.unwrap_config_error(exc, GraphConfigError)
            if ours is None:
                raise
            raise ours from None
        finally:
            REQUESTED_SIZES.reset(requested)
        reconcile_recorded(vllm_config, by="vLLM's config passes")
        return vllm_config

    return create_engine_config
