"""At worker start, each worker checks that its own process can carry the plan the engine recorded.

A plan is made once, in the process that builds the engine config, and travels to every worker in
the config. On several nodes a worker may run where the plan was not made: without an NPU,
torch_npu or a ready xlite, on another SoC, with another vllm-ascend release, or without the
plugin whose backend was chosen. Ranks that run different graph paths hang instead of failing, so
such a worker fails before it starts its device, loads the model or captures anything, with one
line naming its host, its rank and each difference. The facts compared are those the chosen
backend's plans assume (`GraphBackend.assumes`), read by the environment probe the decision used,
with this process's `ASCEND_GRAPHS_ASSUME`.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from ...errors import WorkerEnvironmentError
from ...hooks.registry import get_registry
from ...probes.environment import differences
from ...rules.assumptions import Assumptions
from . import adapter
from .decision import environment_of, recorded


def on_worker_start(original: Callable[..., None]) -> Callable[..., None]:
    """Wrap `WorkerBase.__init__`: once the worker knows its config and rank, check the plan."""

    def __init__(worker: Any, *args: Any, **kwargs: Any) -> None:
        original(worker, *args, **kwargs)
        check_worker(*adapter.worker_identity(worker))

    return __init__


def check_worker(vllm_config: Any, rank: int, dp_rank: int) -> None:
    """Raise `WorkerEnvironmentError` (after one ERROR line) where this process cannot carry the recorded
    plan; else say at DEBUG that it holds it. Nothing to check where no plan is recorded."""
    entry = recorded(vllm_config)
    if entry is None:
        return
    where = f"worker rank {rank} (data-parallel rank {dp_rank}) on host {socket.gethostname()}"
    assumed = dict(entry.get("environment") or {})
    made_on = assumed.pop("host", "unknown")
    plan = f"{entry['backend']}, cudagraph_mode {entry['cudagraph_mode']}"
    found = problems(entry["backend"], assumed, vllm_config)
    if found:
        text = f"graph backend: {where} cannot carry the plan made on host {made_on} ({plan}): {'; '.join(found)}"
        adapter.logger().error(text)
        raise WorkerEnvironmentError(text)
    facts = ", ".join(f"{name} {value['source'] if name == 'vllm_ascend' else value}"
                      for name, value in assumed.items()) or "nothing"
    adapter.logger().debug("graph backend: %s holds the plan made on host %s (%s; assumed of the environment: %s)",
                           where, made_on, plan, facts)


def problems(backend: str, assumed: dict[str, Any], vllm_config: Any) -> list[str]:
    """Why this process cannot carry a plan of `backend` that `assumed` these facts, one text each."""
    registry = get_registry()
    if backend not in registry.names():
        return [f"no backend {backend!r} is registered here (registered: {', '.join(registry.names())})"]
    return differences(assumed, environment_of(vllm_config, Assumptions.from_environ()))
