"""The decision on vLLM's `/metrics`: one info metric, set where vLLM sets its own.

vLLM's Prometheus stat logger runs in the process that serves `/metrics` (each API server, when
there are several) and publishes its `vllm:cache_config_info` when the engine is ready. Our
`vllm:graph_backend_info` is published right after it, from the record in that logger's config,
with the same kind of metric (a gauge at 1 with the facts as labels, which also works in
Prometheus' multiprocess mode) and the same life cycle (vLLM drops every `vllm:` metric when a new
logger starts). Without vLLM's stat logging (`--disable-log-stats`) there is neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ...enums import CUDAGraphMode
from ...rules.graph_keys import DecodeShape, eager_decode_batches, spans
from . import adapter
from .decision import recorded

METRIC = "vllm:graph_backend_info"
DOCUMENTATION = "The graph backend vllm-ascend-graphs chose for this engine, and what it captures"
LABELS = ("model_name", "backend", "requested", "cudagraph_mode", "npugraph_ex", "static_kernel", "full_graphs",
          "piecewise_graphs", "eager_decode_batches")
NONE = "none"


def info_labels(record: dict[str, Any], model_name: str, shape: DecodeShape) -> dict[str, str]:
    """The metric's labels: the effective plan, the graphs per runtime mode (token counts) and the
    decode batches (request counts) that run eagerly."""
    mode = CUDAGraphMode.parse(record["cudagraph_mode"], "record.cudagraph_mode")
    if mode is CUDAGraphMode.NONE:
        eager = tuple(range(1, shape.max_requests + 1))
    else:
        eager = eager_decode_batches(mode, tuple(record["capture_sizes"]), shape)
    graphs = record.get("graphs") or {}
    return {
        "model_name": model_name,
        "backend": record["backend"],
        "requested": record.get("requested", "auto"),
        "cudagraph_mode": mode.name,
        "npugraph_ex": str(bool(record["npugraph_ex"])).lower(),
        "static_kernel": str(bool(record["static_kernel"])).lower(),
        "full_graphs": _listing(graphs.get("FULL", ())),
        "piecewise_graphs": _listing(graphs.get("PIECEWISE", ())),
        "eager_decode_batches": spans(eager).replace(" ", "") if eager else NONE,
    }


def publish(stat_logger: Any) -> None:
    """Set the info metric from the record in the stat logger's config (nothing without a record)."""
    vllm_config = adapter.stat_logger_config(stat_logger)
    record = recorded(vllm_config)
    if record is None:
        return
    shape = DecodeShape(*adapter.decode_limits(vllm_config))
    labels = info_labels(record, adapter.served_model_name(vllm_config), shape)
    gauge = adapter.info_gauge(stat_logger, METRIC, DOCUMENTATION, LABELS)
    gauge.labels(**labels).set(1)


def on_engine_initialized(original: Callable[[Any], None]) -> Callable[[Any], None]:
    """Wrap the Prometheus stat logger's `log_engine_initialized`: vLLM's info metrics, then ours."""

    def log_engine_initialized(stat_logger: Any) -> None:
        original(stat_logger)
        try:
            publish(stat_logger)
        except Exception as exc:  # noqa: BLE001 - a bug of ours must not stop a server that is ready: say so
            adapter.logger().warning("graph backend: the decision could not be put on /metrics (%s: %s); "
                                     "the server goes on without %s", type(exc).__name__, exc, METRIC)

    return log_engine_initialized


def _listing(values: Iterable[int]) -> str:
    return ",".join(map(str, values)) or NONE
