"""The worker stage of a contract case: what vllm-ascend's model runner decides at worker start.

A worker gets the engine config pickled, builds its model runner, and once the KV cache is laid
out calls the runner's `_check_and_update_cudagraph_mode(attention_backends, kv_cache_groups)`:
each attention backend's builder states its full-graph support, vLLM's
`resolve_cudagraph_mode_and_sizes` narrows the mode and rounds the sizes, and vLLM's
`CudagraphDispatcher` makes the keys that decide what is captured and which batches replay.
This stage runs exactly that method, vllm-ascend's own, on the worker's copy of the config.

Stood in, because they need a device: the runner's `__init__` (it allocates device buffers), so
the attributes the method reads are set as `__init__` sets them (`_runner`); and the
KV cache specs, which real layers build when the model is loaded, so one spec per model is
built from the model config as the attention layer would (vllm-ascend's builders read none of
its fields). The attention backend is the real one: vLLM's selector asks vllm-ascend's platform.

Before that, `start_worker` builds the worker as far as vLLM's `WorkerBase.__init__`, which every
worker class calls (vllm-ascend's after its own set-up, which needs an NPU): our plugin's check of
the recorded plan runs there, on an instance of the worker class the platform chose.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import pickle
from collections.abc import Iterator
from typing import Any

import drafter_stage
from worker_stage_v2 import decode_dispatch, drafter_keys, graphs_of, runs_model_runner_v2, start_model_runner_v2


def start_model_runner(config: Any) -> dict[str, Any]:
    """Run the worker's start-up graph decisions on a pickled copy of `config`; return what they decided."""
    from vllm.config import set_current_vllm_config

    from vllm_ascend_graphs.integrations.vllm.decision import RECORD_KEY

    worker_config = pickle.loads(pickle.dumps(config))
    with set_current_vllm_config(worker_config), reconciled_by_the_hook() as reconciled:
        if runs_model_runner_v2(worker_config):  # Model Runner V2: worker_stage_v2.py
            record = lambda: worker_config.additional_config.get(RECORD_KEY)  # noqa: E731 - read after the stage
            decided = start_model_runner_v2(worker_config, lambda *keyed: _decided_v2(*keyed, record()))
        else:
            runner = _runner(worker_config)
            drafter = (drafter_stage.build_drafter(runner, worker_config) if drafter_stage.wanted(worker_config)
                       else None)
            if drafter is not None and "error" in drafter:  # the model runner's start stops here
                return {"drafter": drafter}
            backend = attention_backend(worker_config)
            groups = kv_cache_groups(worker_config)
            runner.kv_cache_config = _kv_cache_config(groups)
            runner._check_and_update_cudagraph_mode([{backend}], groups)
            decided = _decided(runner, backend, worker_config.additional_config.get(RECORD_KEY))
            if drafter is not None:
                decided["drafter"] = drafter_stage.drafter_facts(runner, drafter)
    return {**decided, "reconciled": reconciled}


def start_drafter(config: Any) -> dict[str, Any]:
    """Only the model runner's drafter start (its `__init__` builds the proposer), on a worker's copy of
    `config`: `{"error": ...}` where it raises, else `{}`."""
    from vllm.config import set_current_vllm_config

    worker_config = pickle.loads(pickle.dumps(config))
    with set_current_vllm_config(worker_config):
        built = drafter_stage.build_drafter(_runner(worker_config), worker_config)
    return {"error": built["error"]} if "error" in built else {}


def start_worker(config: Any, assume: str) -> str | None:
    """Build the worker class the platform chose as far as `WorkerBase.__init__`, on a pickled copy of
    `config`, in an environment described by `assume` (`ASCEND_GRAPHS_ASSUME`); the error of the plugin's
    check of the plan (`WorkerEnvironmentError`), or None where the worker holds it."""
    from vllm.v1.worker.worker_base import WorkerBase

    from vllm_ascend_graphs import WorkerEnvironmentError

    module_name, _, class_name = config.parallel_config.worker_cls.rpartition(".")
    worker_class = getattr(importlib.import_module(module_name), class_name)
    assert issubclass(worker_class, WorkerBase) and "super().__init__(" in inspect.getsource(worker_class.__init__)
    worker = worker_class.__new__(worker_class)
    previous = os.environ.get("ASCEND_GRAPHS_ASSUME")
    os.environ["ASCEND_GRAPHS_ASSUME"] = assume
    try:
        WorkerBase.__init__(worker, vllm_config=pickle.loads(pickle.dumps(config)), local_rank=0, rank=0,
                            distributed_init_method="env://", is_driver_worker=True)
    except WorkerEnvironmentError as exc:
        return str(exc)
    finally:
        if previous is None:
            os.environ.pop("ASCEND_GRAPHS_ASSUME")
        else:
            os.environ["ASCEND_GRAPHS_ASSUME"] = previous
    return None


@contextlib.contextmanager
def reconciled_by_the_hook() -> Iterator[list[dict[str, list[int]]]]:
    """The graphs our worker hook (on the dispatcher or on V2's graph manager) compares with the record."""
    from vllm_ascend_graphs.integrations.vllm import decision

    seen: list[dict[str, list[int]]] = []
    original = decision.reconcile_worker

    def reconcile_worker(vllm_config: Any, graphs: dict[str, list[int]]) -> None:
        seen.append(graphs)
        original(vllm_config, graphs)

    decision.reconcile_worker = reconcile_worker
    try:
        yield seen
    finally:
        decision.reconcile_worker = original


def model_runner_class(worker_cls: str) -> type:
    """The model runner the worker class builds: the most derived runner class its module imports,
    which its `init_device` names (NPUWorker: NPUModelRunner; XliteWorker: XliteModelRunner; ...)."""
    from vllm.v1.worker.gpu_model_runner import GPUModelRunner

    module_name, _, class_name = worker_cls.rpartition(".")
    module = importlib.import_module(module_name)
    runners = [value for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, GPUModelRunner) and value is not GPUModelRunner]
    (runner,) = [cls for cls in runners if all(issubclass(cls, other) for other in runners)]
    assert runner.__name__ in inspect.getsource(getattr(module, class_name).init_device), (worker_cls, runner)
    return runner


def attention_backend(config: Any) -> type:
    """The attention backend vLLM's selector picks for the model, through vllm-ascend's platform."""
    from vllm.v1.attention.selector import get_attn_backend

    model = config.model_config
    return get_attn_backend(model.get_head_size(), model.dtype, config.cache_config.cache_dtype,
                            use_mla=model.use_mla, use_sparse=hasattr(model.hf_text_config, "index_topk"))


def kv_cache_groups(config: Any) -> list[Any]:
    """One KV cache group for the model's attention layers, with the spec its layers would state."""
    from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheGroupSpec, MLAAttentionSpec

    model, cache = config.model_config, config.cache_config
    layers = [f"model.layers.{i}.self_attn.attn" for i in range(model.get_num_layers(config.parallel_config))]
    if model.use_mla:
        spec = MLAAttentionSpec(block_size=cache.block_size, num_kv_heads=1, head_size=model.get_head_size(),
                                dtype=model.dtype, cache_dtype_str=cache.cache_dtype)
    else:
        spec = FullAttentionSpec(block_size=cache.block_size, num_kv_heads=model.get_num_kv_heads(
            config.parallel_config), head_size=model.get_head_size(), dtype=model.dtype)
    return [KVCacheGroupSpec(layers, spec)]


def _kv_cache_config(groups: list[Any]) -> Any:
    from vllm.v1.kv_cache_interface import KVCacheConfig

    return KVCacheConfig(num_blocks=1024, kv_cache_tensors=[], kv_cache_groups=groups)


def _runner(config: Any) -> Any:
    """The worker's model runner class, with the attributes its `__init__` would set for this method."""
    from vllm.v1.cudagraph_dispatcher import CudagraphDispatcher

    cls = model_runner_class(config.parallel_config.worker_cls)
    runner = cls.__new__(cls)
    spec_tokens = config.speculative_config.num_speculative_tokens if config.speculative_config else 0
    vars(runner).update({
        "vllm_config": config, "model_config": config.model_config, "compilation_config": config.compilation_config,
        "parallel_config": config.parallel_config, "scheduler_config": config.scheduler_config,
        "speculative_config": config.speculative_config, "max_num_reqs": config.scheduler_config.max_num_seqs,
        "num_spec_tokens": spec_tokens, "uniform_decode_query_len": 1 + spec_tokens,
        "cudagraph_dispatcher": CudagraphDispatcher(config), "drafter": None, "kv_cache_config": None,
    })
    runner.use_aclgraph = runner._use_aclgraph()  # vllm-ascend's own rule
    return runner


def _decided(runner: Any, backend: type, record: dict[str, Any] | None) -> dict[str, Any]:
    """The resolved mode and sizes, the graphs the dispatcher captures, how it dispatches every decode
    batch of 1 to max_num_seqs requests, and the record as the worker's process holds it after."""
    dispatcher = runner.cudagraph_dispatcher
    graphs: dict[str, list[int]] = {"FULL": [], "PIECEWISE": []}
    for runtime_mode, descriptors in dispatcher.get_capture_descs():
        graphs[runtime_mode.name] = sorted(d.num_tokens for d in descriptors)
    query_len = runner.uniform_decode_query_len
    budget = runner.scheduler_config.max_num_batched_tokens
    decode = []  # every decode batch the scheduler can form: at most max_num_seqs requests, within the budget
    for requests in range(1, min(runner.max_num_reqs, budget // query_len) + 1):
        runtime_mode, descriptor = dispatcher.dispatch(requests * query_len, uniform_decode=True)
        decode.append([runtime_mode.name, descriptor.num_tokens])
    return _report(runner, backend, graphs, decode, query_len, record)


def _decided_v2(runner: Any, backend: type, manager: Any, record: dict[str, Any] | None) -> dict[str, Any]:
    """`_decided` for Model Runner V2: its graph manager's keys, and its dispatch of every decode batch."""
    budget = runner.scheduler_config.max_num_batched_tokens
    requests = range(1, min(runner.max_num_reqs, budget // runner.decode_query_len) + 1)
    decode = [decode_dispatch(runner, manager, n) for n in requests]
    return {**_report(runner, backend, graphs_of(manager), decode, runner.decode_query_len, record),
            "graph_manager": f"{type(manager).__module__}.{type(manager).__qualname__}",
            "drafter_v2": drafter_keys(runner, decode)}


def _report(runner: Any, backend: type, graphs: dict[str, list[int]], decode: list[Any], query_len: int,
            record: dict[str, Any] | None) -> dict[str, Any]:
    compilation = runner.compilation_config
    return {
        "runner": f"{type(runner).__module__}.{type(runner).__qualname__}",
        "attention_backend": f"{backend.__module__}.{backend.__qualname__}",
        "cudagraph_mode": compilation.cudagraph_mode.name,
        "capture_sizes": list(compilation.cudagraph_capture_sizes or []),
        "graphs": graphs,
        "decode": decode,
        "query_len": query_len,
        "max_num_seqs": runner.max_num_reqs,
        "max_num_batched_tokens": runner.scheduler_config.max_num_batched_tokens,
        "record": record,
    }
