"""Every vLLM internal this project touches, named in one place (vLLM 0.23.0 to 0.32.0).

vLLM has no official hook for a general plugin to change `VllmConfig`; only the active
platform's `check_and_update_config` has the last word. So we wrap that classmethod, and
`EngineArgs.create_engine_config` to hand our config errors to the caller unwrapped (vLLM's
pydantic config turns any ValueError raised inside it into a `ValidationError`) and to see the
finished config; in each worker, the base class every vLLM worker starts with, to check the plan
before anything is loaded or captured; and vLLM's Prometheus stat logger to publish the decision on
`/metrics`. `tests/vllm/test_adapter.py` fails loudly when a supported vLLM changes any name
used here; `make test` runs it on the newest supported vLLM and in each contract environment
(vLLM 0.23.0, 0.26.0, 0.27.1).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from . import patching

SUPPORTED_VLLM = ((0, 23, 0), (0, 32, 0))  # the oldest and the newest vLLM this adapter is tested on
LOGGER_NAME = "vllm.plugins.vllm_ascend_graphs"  # a child of "vllm": vLLM's handlers print it

# The model runner's graph keys and the workers' base class: importing these modules costs about half
# a second, which processes that never run a model (the front end) must not pay, so each is patched
# when something imports it.
DISPATCHER_MODULE = "vllm.v1.cudagraph_dispatcher"
WORKER_MODULE = "vllm.v1.worker.worker_base"
# vLLM's stat loggers, imported only by the process that serves the engine's metrics: patched likewise.
STAT_LOGGER_MODULE = "vllm.v1.metrics.loggers"
# Model Runner V2's graph keys (its `ModelCudaGraphManager`), patched the same way.
GRAPH_MANAGER_MODULE = "vllm.v1.worker.gpu.cudagraph_utils"


def logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def vllm_version() -> str:
    import vllm

    return str(vllm.__version__)


def unsupported_version(version: str) -> str | None:
    """Why this plugin leaves vLLM `version` alone, or None when it is in the tested range."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    oldest, newest = SUPPORTED_VLLM
    if match and oldest <= tuple(int(part) for part in match.groups()) <= newest:
        return None
    return (f"vllm-ascend-graphs supports vLLM {'.'.join(map(str, oldest))} to {'.'.join(map(str, newest))}, "
            f"not {version}: the plugin leaves this vLLM untouched (graph settings are vLLM's own)")


# -- what the plugin hooks ---------------------------------------------------------------------------------


def platform_class() -> type:
    """The class of vLLM's active platform (resolved lazily by vLLM on first access)."""
    from vllm.platforms import current_platform

    return type(current_platform)


def engine_args_class() -> type:
    from vllm.engine.arg_utils import EngineArgs

    return EngineArgs


def patch_dispatcher_keys(make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Wrap `CudagraphDispatcher.initialize_cudagraph_keys(self, cudagraph_mode, uniform_decode_query_len=1)`,
    which the model runner calls once its mode is resolved; now if vLLM imported it, else on import.

    The model runner passes `uniform_decode_query_len`. vLLM's own speculative-decoding proposers keep
    a dispatcher of their own and call it with the mode alone (`vllm/v1/spec_decode/llm_base_proposer.py`,
    vLLM 0.23 to 0.32); vLLM Ascend's V1 proposers dispatch through the model runner's instead.
    """
    patching.patch_after_import(DISPATCHER_MODULE, "CudagraphDispatcher", "initialize_cudagraph_keys", make)


def patch_worker_start(make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Wrap `WorkerBase.__init__(self, vllm_config, local_rank, rank, distributed_init_method, ...)`, which
    every worker class calls as it is built (vLLM's CPU and GPU workers, vLLM Ascend's NPU, xlite and
    310P workers), before the executor asks it to start its device, load the model and capture graphs.
    vLLM loads the general plugins in each worker process right before it builds the worker, so the
    module is imported by then and patched at once."""
    patching.patch_after_import(WORKER_MODULE, "WorkerBase", "__init__", make)


def worker_identity(worker: Any) -> tuple[Any, int, int]:
    """(vllm_config, rank, data-parallel rank) of a worker once `WorkerBase.__init__` has run. The data-parallel
    rank is `data_parallel_index`: vLLM resets `data_parallel_rank` (and the size) to 0 (1) in the engine of
    each rank of a dense model, which runs as an independent DP=1 engine."""
    return worker.vllm_config, int(worker.rank), int(worker.vllm_config.parallel_config.data_parallel_index)


def patch_engine_initialized(make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Wrap `PrometheusStatLogger.log_engine_initialized(self)`, where vLLM publishes its info metrics
    (`vllm:cache_config_info`) once the engine is ready, in the process that serves `/metrics`
    (vLLM 0.23 to 0.32); now if vLLM imported it, else on import."""
    patching.patch_after_import(STAT_LOGGER_MODULE, "PrometheusStatLogger", "log_engine_initialized", make)


def patch_graph_manager(make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Wrap `ModelCudaGraphManager.__init__(self, vllm_config, device, cudagraph_mode, decode_query_len, ...)`:
    Model Runner V2 builds it once its mode is resolved, and it keys its graphs in `_init_candidates`
    (vLLM 0.23 to 0.32). vllm-ascend's `ModelAclGraphManager` calls it first; the speculators' managers
    derive from `CudaGraphManager` alone. Now if vLLM imported it, else on import."""
    patching.patch_after_import(GRAPH_MANAGER_MODULE, "ModelCudaGraphManager", "__init__", make)


def supports_static_graphs() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.support_static_graph_mode())


def unwrap_config_error(exc: BaseException, error_type: type[BaseException]) -> BaseException | None:
    """The `error_type` instance pydantic wrapped into a `ValidationError`, if any."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return None
    for error in errors():
        original = error.get("ctx", {}).get("error")
        if isinstance(original, error_type):
            return original
    return None


# -- reading VllmConfig -----------------------------------------------------------------------


def additional_config(vllm_config: Any) -> dict[str, Any]:
    value = vllm_config.additional_config
    return dict(value) if isinstance(value, dict) else value


def set_additional_config(vllm_config: Any, value: dict[str, Any]) -> None:
    vllm_config.additional_config = value


def has_model(vllm_config: Any) -> bool:
    """Whether the config is for a model (`VllmConfig()` alone has no model config)."""
    return vllm_config.model_config is not None


def graph_settings(vllm_config: Any) -> dict[str, Any]:
    """vLLM's own graph settings, as keyword arguments of `GraphRequest.parse`."""
    from vllm.config.compilation import CompilationMode

    compilation = vllm_config.compilation_config
    mode = compilation.mode  # by name; a value that is no CompilationMode as it is, for the parser to reject
    return {
        "cudagraph_mode": compilation.cudagraph_mode,
        "enforce_eager": vllm_config.model_config.enforce_eager,
        "compiling": mode == CompilationMode.VLLM_COMPILE,
        "other_compilation_mode": None if mode in (CompilationMode.NONE, CompilationMode.VLLM_COMPILE)
        else mode.name if isinstance(mode, CompilationMode) else mode,
        "capture_sizes": compilation.cudagraph_capture_sizes or None,
        "max_capture_size": compilation.max_cudagraph_capture_size or None,
        "max_num_seqs": vllm_config.scheduler_config.max_num_seqs,
        "max_num_batched_tokens": vllm_config.scheduler_config.max_num_batched_tokens,
    }


def speculative_config(vllm_config: Any) -> dict[str, Any] | None:
    """vLLM's resolved `speculative_config` (method, tokens, the drafter's switches), as `--speculative-config`
    takes it; None without speculative decoding."""
    speculative = vllm_config.speculative_config
    if speculative is None:
        return None
    return {"method": speculative.method, "num_speculative_tokens": speculative.num_speculative_tokens,
            "enforce_eager": bool(speculative.enforce_eager),
            "disable_padded_drafter_batch": bool(speculative.disable_padded_drafter_batch),
            "parallel_drafting": bool(getattr(speculative, "parallel_drafting", False))}


def kv_transfer_config(vllm_config: Any) -> dict[str, Any] | None:
    """vLLM's `kv_transfer_config` where it names a connector with a role (`is_kv_transfer_instance`), as
    `--kv-transfer-config` takes it; else None."""
    kv = vllm_config.kv_transfer_config
    if kv is None or not kv.is_kv_transfer_instance:
        return None
    return {"kv_connector": kv.kv_connector, "kv_role": kv.kv_role,
            "kv_connector_extra_config": dict(kv.kv_connector_extra_config or {}),
            "kv_connector_module_path": kv.kv_connector_module_path}


def requested_mode(engine_args: Any) -> bool:
    """Whether the user named a cudagraph mode in the `EngineArgs` (vLLM fills in its default later)."""
    return getattr(engine_args.compilation_config, "cudagraph_mode", None) is not None


def requested_sizes(engine_args: Any) -> tuple[list[int] | None, int | None]:
    """The capture sizes and largest size the user gave `EngineArgs` (directly or in its
    compilation_config), before vLLM fills in its defaults: the config the platform sees holds
    both, so it cannot tell sizes the user chose from the default grid."""
    compilation = engine_args.compilation_config
    sizes = engine_args.cudagraph_capture_sizes or getattr(compilation, "cudagraph_capture_sizes", None)
    largest = engine_args.max_cudagraph_capture_size or getattr(compilation, "max_cudagraph_capture_size", None)
    return sizes, largest


def decode_limits(vllm_config: Any) -> tuple[int, int, int]:
    """(max_num_seqs, speculative tokens, max_num_batched_tokens): what bounds a decode batch."""
    scheduler = vllm_config.scheduler_config
    return scheduler.max_num_seqs, parallel_sizes(vllm_config)["spec_tokens"], scheduler.max_num_batched_tokens


def parallel_sizes(vllm_config: Any) -> dict[str, int]:
    """Parallel sizes, the parallel switches that shape capture sizes, and speculative tokens, as
    `Environment` fields."""
    parallel = vllm_config.parallel_config
    speculative = vllm_config.speculative_config
    return {
        "tp": parallel.tensor_parallel_size,
        "pp": parallel.pipeline_parallel_size,
        "dp": parallel.data_parallel_size,
        "dcp": parallel.decode_context_parallel_size,
        "pcp": parallel.prefill_context_parallel_size,
        "spec_tokens": speculative.num_speculative_tokens if speculative is not None else 0,
        "expert_parallel": parallel.enable_expert_parallel,
        "sequence_parallel_moe": getattr(parallel, "use_sequence_parallel_moe", False),  # newer vLLM only
    }


def model_traits(vllm_config: Any) -> tuple[Any, Any]:
    """The model's transformers config and whether vLLM treats it as encoder-decoder (a bool, as vLLM sets it)."""
    model_config = vllm_config.model_config
    return model_config.hf_config, model_config.is_encoder_decoder


def served_model_name(vllm_config: Any) -> str:
    """The model name vLLM's own metrics carry in their `model_name` label."""
    return str(vllm_config.model_config.served_model_name)


def vllm_config_of(llm: Any) -> Any:
    """The `VllmConfig` of an offline `LLM` (or of an engine)."""
    engine = getattr(llm, "llm_engine", llm)
    return engine.vllm_config


# -- writing VllmConfig -----------------------------------------------------------------------


def apply_graph_settings(vllm_config: Any, mode_name: str, capture_sizes: list[int]) -> None:
    """Set the cudagraph mode and capture sizes (the platform's `_set_cudagraph_sizes` keeps them)."""
    from vllm.config import CUDAGraphMode

    compilation = vllm_config.compilation_config
    compilation.cudagraph_mode = CUDAGraphMode[mode_name]
    compilation.cudagraph_capture_sizes = list(capture_sizes)
    compilation.max_cudagraph_capture_size = max(capture_sizes, default=0)


def effective_graph_settings(vllm_config: Any) -> tuple[str, list[int]]:
    """The cudagraph mode (by name) and the capture sizes as the config holds them now."""
    compilation = vllm_config.compilation_config
    return compilation.cudagraph_mode.name, list(compilation.cudagraph_capture_sizes or [])


def captured_graphs(dispatcher: Any) -> tuple[Any, dict[str, list[int]]]:
    """A dispatcher's `VllmConfig` and the token counts it captures a graph for, per runtime mode."""
    graphs: dict[str, list[int]] = {"FULL": [], "PIECEWISE": []}
    for runtime_mode, descriptors in dispatcher.get_capture_descs():
        graphs[runtime_mode.name] = sorted({descriptor.num_tokens for descriptor in descriptors})
    return dispatcher.vllm_config, graphs


def manager_graphs(manager: Any) -> tuple[Any, dict[str, list[int]]]:
    """A V2 graph manager's `VllmConfig` and the token counts it captures a graph for, per runtime mode."""
    graphs: dict[str, list[int]] = {"FULL": [], "PIECEWISE": []}
    for runtime_mode, descriptors in manager._capture_descs.items():
        graphs[runtime_mode.name] = sorted({descriptor.num_tokens for descriptor in descriptors})
    return manager.vllm_config, graphs


def runner_facts(vllm_config: Any) -> dict[str, Any]:
    """The vLLM version and whether Model Runner V2 is on, as `Environment` fields (vllm-ascend patches
    `use_v2_model_runner` to read `VLLM_USE_V2_MODEL_RUNNER` alone)."""
    return {"vllm": vllm_version(), "model_runner_v2": bool(vllm_config.use_v2_model_runner)}


def worker_class(vllm_config: Any) -> str:
    """The worker class the platform chose (a qualified name; "auto" before the platform's pass)."""
    return str(vllm_config.parallel_config.worker_cls)


# -- metrics ----------------------------------------------------------------------------------


def stat_logger_config(stat_logger: Any) -> Any:
    """The `VllmConfig` of vLLM's Prometheus stat logger."""
    return stat_logger.vllm_config


def info_gauge(stat_logger: Any, name: str, documentation: str, labelnames: tuple[str, ...]) -> Any:
    """An info metric made as vLLM makes `vllm:cache_config_info`: the logger's gauge class (Prometheus',
    or Ray's wrapper), "mostrecent" across processes. A `vllm:` name is dropped with vLLM's own metrics
    whenever a new stat logger starts, so it can be made once per logger."""
    return stat_logger._gauge_cls(name=name, documentation=documentation, multiprocess_mode="mostrecent",
                                  labelnames=list(labelnames))


# -- run time (static-graph platforms only) ---------------------------------------------------


def compiler_interface() -> type:
    """vLLM's base class for compile backends (`compile(graph, example_inputs, config, range, key)`)."""
    from vllm.compilation.compiler_interface import CompilerInterface

    return CompilerInterface


def platform_device_type() -> str:
    """The active platform's device type ("cuda", "npu", "cpu", ...)."""
    from vllm.platforms import current_platform

    return str(current_platform.device_type)


def platform_wrapper_class() -> Any:
    """The active platform's own static-graph wrapper class (`runnable=, vllm_config=, runtime_mode=`, options)."""
    from vllm.utils.import_utils import resolve_obj_by_qualname

    return resolve_obj_by_qualname(patching.unpatched(platform_class(), "get_static_graph_wrapper_cls")())


def platform_name() -> str:
    """The active platform's class, for messages (e.g. "vllm_ascend.platform.NPUPlatform")."""
    platform = platform_class()
    return f"{platform.__module__}.{platform.__qualname__}"


def current_vllm_config() -> Any:
    """The `VllmConfig` vLLM is building or running a model with, or None outside of that."""
    from vllm.config import get_current_vllm_config_or_none

    return get_current_vllm_config_or_none()


def forward_state() -> tuple[str, Any] | None:
    """(runtime mode name, batch descriptor) of the step being run, or None outside a forward pass."""
    from vllm.forward_context import get_forward_context, is_forward_context_available

    if not is_forward_context_available():
        return None
    context = get_forward_context()
    return context.cudagraph_runtime_mode.name, context.batch_descriptor
