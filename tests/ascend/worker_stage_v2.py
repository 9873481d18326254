"""The worker stage under Model Runner V2 (`VLLM_USE_V2_MODEL_RUNNER=1`): what vllm-ascend's V2 model
runner keys at worker start.

vllm-ascend's `NPUWorker` builds `vllm_ascend.worker.v2.model_runner.NPUModelRunner` when its
`use_v2_model_runner` is set (`runs_model_runner_v2` runs the worker's own statements that set it:
0.23.0.post1 turns it off again on vLLM 0.23.0). Once the KV cache is laid out, the runner's
`initialize_kv_cache` (vllm-ascend's, around vLLM's) resolves the mode with
`resolve_cudagraph_mode_and_sizes` and builds the graph manager through vllm-ascend's
`graph_manager_wrapper`: `ModelAclGraphManager`, a vLLM `ModelCudaGraphManager` whose
`_init_candidates` keys the graphs. This stage runs that method, with our plugin's worker hook on
`ModelCudaGraphManager.__init__`, then `dispatch_cg_and_sync_dp` for every decode batch.

Stood in, because they need a device or a loaded model: the runner's `__init__` (the attributes
`initialize_kv_cache` reads are set as `__init__` sets them); `init_attn_backend`, whose builders
and layers need both (its answer is built from the real attention backend's builder class:
`get_cudagraph_support`, as its own third phase asks each builder); `BlockTables` and
`init_kv_cache` (device tensors); the graph pool and the NPU streams (`get_global_graph_pool`,
`torch.npu.Stream`); the pipeline-parallel group (HCCL); and the capture itself (`_graphs_captured`
is set as `capture` sets it). A speculator (EAGLE, MTP) is vllm-ascend's own, built by its
`init_speculator` on the CPU (its `set_attn`, which reads the loaded draft model's layers, stood in);
the runner's `initialize_kv_cache` builds its draft-prefill and draft-decode managers
(`init_cudagraph_manager`), whose dispatch is then asked as its `propose` asks.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
import types
from typing import Any

V2_RUNNER = "vllm_ascend.worker.v2.model_runner.NPUModelRunner"


class DeviceHandle:
    """Stands in for an NPU stream or graph pool: accepted and stored, never used before capture."""


def runs_model_runner_v2(config: Any) -> bool:
    """Whether the worker class builds the V2 model runner: its `init_device` must ask for it, and the
    statements of its `__init__` that set `self.use_v2_model_runner` (run here as written) leave it on."""
    module_name, _, class_name = config.parallel_config.worker_cls.rpartition(".")
    module = importlib.import_module(module_name)
    worker = getattr(module, class_name)
    if "use_v2_model_runner" not in inspect.getsource(worker.init_device):
        return False  # XliteWorker, NPUWorker310: their own V1 runner
    init = ast.parse(textwrap.dedent(inspect.getsource(worker.__init__))).body[0]
    statements = [node for node in init.body if "use_v2_model_runner" in ast.unparse(node)]
    self = types.SimpleNamespace(vllm_config=config)
    code = compile(ast.Module(statements, type_ignores=[]), inspect.getsourcefile(worker) or module_name, "exec")
    exec(code, {**vars(module), "self": self})  # noqa: S102 - the worker's own statements
    return bool(self.use_v2_model_runner)


def start_model_runner_v2(config: Any, decided: Any) -> dict[str, Any]:
    """Run vllm-ascend's V2 `initialize_kv_cache` on `config` (a worker's copy, current); `decided(manager)`
    reports what was keyed, as the V1 stage reports its dispatcher."""
    import torch
    import vllm.v1.worker.gpu.cudagraph_utils as graph_utils
    import vllm.v1.worker.gpu.model_runner as gpu_runner
    from vllm.platforms import current_platform
    from vllm_ascend.utils import adapt_patch
    from vllm_ascend.worker.v2.model_runner import NPUModelRunner
    from worker_stage import attention_backend, kv_cache_groups

    adapt_patch()  # vllm-ascend's worker patches, as NPUWorker.__init__ applies them (its V2 managers among them)
    graph_utils.get_pp_group = OneStagePipeline
    type(current_platform)._global_graph_pool = DeviceHandle()
    torch.npu.Stream = DeviceHandle  # type: ignore[attr-defined]
    backend = attention_backend(config)
    groups = kv_cache_groups(config)
    gpu_runner.init_attn_backend = _attention_groups(backend)
    gpu_runner.BlockTables = lambda **_: None
    gpu_runner.init_kv_cache = lambda *args, **kwargs: {}
    runner = NPUModelRunner.__new__(NPUModelRunner)
    vars(runner).update(_runner_attributes(config))
    if config.speculative_config is not None:  # built as its __init__ builds it, on the CPU
        from vllm_ascend.worker.v2.spec_decode import init_speculator

        runner.speculator = init_speculator(config, torch.device("cpu"))
        runner.speculator.update_stream = runner.update_stream
        # Its `set_attn` reads the loaded draft model's attention layers; its graph managers do not use it.
        runner.speculator.set_attn = lambda *args, **kwargs: None
    from worker_stage import _kv_cache_config

    runner.initialize_kv_cache(_kv_cache_config(groups))
    manager = runner.cudagraph_manager
    manager._graphs_captured = True  # what `capture` sets once the graphs are recorded
    return decided(runner, backend, manager)


def decode_dispatch(runner: Any, manager: Any, requests: int) -> list[Any]:
    """[runtime mode, tokens] the V2 runner's `execute_model` gives a uniform decode batch of `requests`."""
    from vllm.v1.worker.gpu.cudagraph_utils import get_uniform_token_count
    from vllm.v1.worker.gpu.dp_utils import dispatch_cg_and_sync_dp

    query_len = runner.decode_query_len
    tokens = requests * query_len
    descriptor, _ = dispatch_cg_and_sync_dp(manager, requests, tokens,
                                            get_uniform_token_count(requests, tokens, query_len), 1, 0)
    return [descriptor.cg_mode.name, descriptor.num_tokens]


def drafter_keys(runner: Any, decode: list[Any]) -> dict[str, Any] | None:
    """The speculator's draft-prefill and draft-decode managers (vllm-ascend's EagleAclGraphManager): their
    graphs, and their dispatch of every decode batch: draft prefill with the target's padded token count
    (`decode`: the target's [mode, tokens] per batch), draft decode (K >= 2) with one token per request."""
    from vllm.v1.worker.gpu.dp_utils import dispatch_cg_and_sync_dp

    speculator = getattr(runner, "speculator", None)
    if speculator is None:
        return None
    query_len = runner.decode_query_len
    prefill, draft_decode = speculator.prefill_cudagraph_manager, speculator.decode_cudagraph_manager
    for manager in (prefill, draft_decode):
        manager._graphs_captured = True  # what `capture` sets once the graphs are recorded
    batches = list(enumerate(decode, start=1))
    phases = {"draft-prefill": _phase(prefill, [dispatch_cg_and_sync_dp(prefill, n, tokens, query_len, 1, 0)[0]
                                                for n, (_, tokens) in batches])}
    if speculator.num_speculative_steps >= 2:  # draft decode runs only then (its `propose`)
        phases["draft-decode"] = _phase(draft_decode, [dispatch_cg_and_sync_dp(draft_decode, n, n, 1, 1, 0)[0]
                                                       for n, _ in batches])
    return {"speculator": f"{type(speculator).__module__}.{type(speculator).__qualname__}", "phases": phases}


def _phase(manager: Any, descriptors: list[Any]) -> dict[str, Any]:
    return {"manager": f"{type(manager).__module__}.{type(manager).__qualname__}", "graphs": graphs_of(manager),
            "dispatch": [[d.cg_mode.name, d.num_tokens] for d in descriptors]}


def graphs_of(manager: Any) -> dict[str, list[int]]:
    graphs: dict[str, list[int]] = {"FULL": [], "PIECEWISE": []}
    for runtime_mode, descriptors in manager._capture_descs.items():
        graphs[runtime_mode.name] = sorted({d.num_tokens for d in descriptors})
    return graphs


def _attention_groups(backend: type):
    """`init_attn_backend`'s answer for one attention backend: no groups (their builders need the loaded
    layers), the backend's own full-graph support, and the block size of each KV cache group."""
    from vllm.v1.worker.gpu import attn_utils

    def init_attn_backend(kv_cache_config: Any, vllm_config: Any, device: Any, *args: Any, **kwargs: Any):
        builder = backend.get_builder_cls()
        specs = [group.kv_cache_spec for group in kv_cache_config.kv_cache_groups]
        support = min((builder.get_cudagraph_support(vllm_config, spec) for spec in specs), key=lambda s: s.value)
        return [], attn_utils.AttentionCGSupportInfo(support, backend.__name__), [s.block_size for s in specs]

    return init_attn_backend


def _runner_attributes(config: Any) -> dict[str, Any]:
    """What the V2 runner's `__init__` (vLLM's and vllm-ascend's) sets that `initialize_kv_cache` reads."""
    import torch

    spec_tokens = config.speculative_config.num_speculative_tokens if config.speculative_config else 0
    scheduler, model = config.scheduler_config, config.model_config
    model_state = None  # built by `load_model`; for the tiny models vllm-ascend's default model state
    try:
        from vllm_ascend.worker.v2.model_states.default import AscendModelState

        model_state = AscendModelState.__new__(AscendModelState)
    except ImportError:
        pass
    return {
        "vllm_config": config, "model_config": model, "compilation_config": config.compilation_config,
        "parallel_config": config.parallel_config, "scheduler_config": scheduler, "cache_config": config.cache_config,
        "speculative_config": config.speculative_config, "lora_config": config.lora_config,
        "max_num_reqs": scheduler.max_num_seqs, "max_model_len": model.max_model_len,
        "max_num_tokens": scheduler.max_num_batched_tokens, "is_encoder_decoder": model.is_encoder_decoder,
        "dcp_size": 1, "dcp_rank": 0, "cp_interleave": 1, "supports_mm_inputs": False,
        "num_speculative_steps": spec_tokens, "decode_query_len": 1 + spec_tokens, "lora_capture_cases": [0],
        "speculator": None, "req_states": None, "input_buffers": None, "model_state": model_state,
        "pcp_manager": None, "device": torch.device("cpu"), "update_stream": DeviceHandle(),
    }


class OneStagePipeline:
    """Stands in for vLLM's pipeline-parallel group, which vllm-ascend builds on HCCL (a device): the one
    stage of a pipeline of one is its first and its last."""

    is_first_rank = True
    is_last_rank = True
