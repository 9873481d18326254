"""Decide once per engine configuration, apply the plan to vLLM's config, and record it there.

The record travels inside `additional_config` to the engine core and every worker, so they act
on the same decision; a process that finds a record re-applies it instead of deciding again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...assumptions import Assumptions
from ...backends.base import Plan
from ...models import ModelInfo
from ...modes import CUDAGraphMode
from ...config import GraphRequest
from ...selection import Selection, current_environment, select
from . import adapter

RECORD_KEY = "_vllm_ascend_graphs"


def recorded(vllm_config: Any) -> dict[str, Any] | None:
    """The decision recorded in this config, or None before one is made."""
    config = adapter.additional_config(vllm_config)
    return config.get(RECORD_KEY) if isinstance(config, dict) else None


def decide(vllm_config: Any) -> Selection:
    """Run the selector with vLLM's settings, parallel sizes and model."""
    config = {k: v for k, v in adapter.additional_config(vllm_config).items() if k != RECORD_KEY}
    request = GraphRequest.parse(config, **adapter.graph_settings(vllm_config))
    environment = current_environment().replace(**adapter.parallel_sizes(vllm_config))
    hf_config, encoder_decoder = adapter.model_traits(vllm_config)
    model = ModelInfo.from_hf_config(hf_config)
    model = Assumptions.from_environ().apply_to_model(model.replace(encoder_decoder=encoder_decoder))
    return without_static_graphs(select(request, environment=environment, model=model))


def without_static_graphs(selection: Selection) -> Selection:
    """On a platform with no static graphs (vLLM's CPU build) the plan captures nothing, and says so."""
    if adapter.supports_static_graphs():
        return selection
    plan = selection.plan
    note = f"vLLM's {adapter.platform_device_type()} platform supports no static graphs: no graph is captured"
    if plan.cudagraph_mode is not CUDAGraphMode.NONE:
        note = f"cudagraph_mode {plan.cudagraph_mode.name} -> NONE: {note}"
    plan = plan.replace(cudagraph_mode=CUDAGraphMode.NONE, capture_sizes=(), npugraph_ex=False,
                        static_kernel=False, notes=(*plan.notes, note))
    return selection.replace(plan=plan)


def record(vllm_config: Any, selection: Selection) -> None:
    """Write the plan into `additional_config`, including the keys vLLM Ascend itself reads."""
    plan = selection.plan
    config = adapter.additional_config(vllm_config)
    compilation = dict(config.get("ascend_compilation_config") or {})
    compilation.update(enable_npugraph_ex=plan.npugraph_ex, enable_static_kernel=plan.static_kernel)
    xlite = dict(config.get("xlite_graph_config") or {})
    xlite["enabled"] = plan.backend == "xlite"
    adapter.set_additional_config(vllm_config, {
        **config,
        "ascend_compilation_config": compilation,
        "xlite_graph_config": xlite,
        RECORD_KEY: {**selection.to_dict(), "summary": selection.summary()},
    })


def on_check_and_update_config(original: Callable[..., None]) -> Callable[..., None]:
    """Wrap the platform's `check_and_update_config(cls, vllm_config)` to decide and apply."""

    def check_and_update_config(platform_cls: type, vllm_config: Any) -> None:
        log = adapter.logger()
        previous = recorded(vllm_config)
        if previous is None:
            selection = decide(vllm_config)  # before the platform rewrites vLLM's settings
            original(platform_cls, vllm_config)
            record(vllm_config, selection)
            plan = selection.plan
            log.info(selection.summary())
            for note in selection.notes:
                log.debug("graph backend note: %s", note)
        else:
            original(platform_cls, vllm_config)
            plan = Plan.from_dict(previous)
            log.debug("graph backend: re-applying the recorded decision (%s)", previous["summary"])
        adapter.apply_graph_settings(vllm_config, plan.cudagraph_mode.name, list(plan.capture_sizes))

    return check_and_update_config
