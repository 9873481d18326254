"""Every vLLM internal the adapter touches exists in the installed vLLM: fails loudly when one moves.

`make test` runs this module on the newest supported vLLM (0.32.0, `.venv`) and in each contract
environment: 0.23.0 (the oldest), 0.26.0 and 0.27.1 (`.venv-ascend/vllm-VERSION/`).
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from vllm_ascend_graphs import CUDAGraphMode, GraphConfigError
from vllm_ascend_graphs.integrations.vllm import adapter, patching


def test_the_installed_vllm_is_in_the_tested_range():
    import vllm

    assert adapter.unsupported_version(vllm.__version__) is None, (
        f"vLLM {vllm.__version__} is outside {adapter.SUPPORTED_VLLM}: re-check every name in "
        "integrations/vllm/adapter.py on it, then widen SUPPORTED_VLLM")


@pytest.fixture
def vllm_untouched():
    """vLLM's own classes, without our patches, for the test; the plugin's state is restored after."""
    from vllm_ascend_graphs.integrations import vllm as plugin

    registered = patching.is_patched(adapter.platform_class(), "check_and_update_config")
    plugin.unregister()
    yield plugin
    plugin.unregister()
    if registered:
        plugin.register()


@pytest.mark.parametrize("version", ["0.22.1", "0.33.0", "1.0.0", "dev"])
def test_a_vllm_outside_the_range_is_left_untouched_with_one_line(version, vllm_untouched, monkeypatch, caplog):
    monkeypatch.setattr(adapter, "vllm_version", lambda: version)
    with caplog.at_level("WARNING", logger=adapter.LOGGER_NAME):
        vllm_untouched.register()
    assert not patching.is_patched(adapter.platform_class(), "check_and_update_config")
    assert not patching.is_patched(adapter.engine_args_class(), "create_engine_config")
    (line,) = [r.getMessage() for r in caplog.records if r.name == adapter.LOGGER_NAME]
    assert line == (f"vllm-ascend-graphs supports vLLM 0.23.0 to 0.32.0, not {version}: the plugin leaves this "
                    "vLLM untouched (graph settings are vLLM's own)")


@pytest.mark.parametrize("version", ["0.23.0", "0.25.1", "0.32.0", "0.32.0+cpu"])
def test_versions_in_the_range_are_supported(version):
    assert adapter.unsupported_version(version) is None


def test_platform_hooks_exist_with_the_expected_signatures(vllm_untouched):
    platform = adapter.platform_class()
    check = inspect.getattr_static(platform, "check_and_update_config", None) or next(
        klass.__dict__["check_and_update_config"] for klass in platform.__mro__
        if "check_and_update_config" in klass.__dict__)
    assert isinstance(check, classmethod), "check_and_update_config must stay a classmethod"
    assert list(inspect.signature(check.__func__).parameters) == ["cls", "vllm_config"]
    assert callable(platform.support_static_graph_mode) and adapter.supports_static_graphs() is False
    assert adapter.platform_name() == "vllm.platforms.cpu.CpuPlatform"


def test_engine_args_create_engine_config(vllm_untouched):
    parameters = inspect.signature(adapter.engine_args_class().create_engine_config).parameters
    assert list(parameters)[0] == "self"


def field_names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_config_fields_the_adapter_reads_and_writes():
    from vllm.config import (
        CompilationConfig,
        ModelConfig,
        ParallelConfig,
        SchedulerConfig,
        SpeculativeConfig,
        VllmConfig,
    )

    assert {"additional_config", "compilation_config", "model_config", "parallel_config", "scheduler_config",
            "speculative_config"} <= field_names(VllmConfig)
    assert {"mode", "cudagraph_mode", "cudagraph_capture_sizes", "max_cudagraph_capture_size"} <= field_names(
        CompilationConfig)
    assert "worker_cls" in field_names(ParallelConfig)
    assert "enforce_eager" in field_names(ModelConfig)
    assert isinstance(inspect.getattr_static(ModelConfig, "is_encoder_decoder"), (property, type(
        inspect.getattr_static(ModelConfig, "is_encoder_decoder"))))
    assert {"tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "decode_context_parallel_size",
            "prefill_context_parallel_size"} <= field_names(ParallelConfig)
    assert "num_speculative_tokens" in field_names(SpeculativeConfig)
    assert "max_num_seqs" in field_names(SchedulerConfig)


def test_graph_modes_match_ours_by_name():
    from vllm.config import CUDAGraphMode as VllmMode
    from vllm.config.compilation import CompilationMode

    assert set(VllmMode.__members__) == set(CUDAGraphMode.__members__)
    for name in CUDAGraphMode.__members__:
        ours, theirs = CUDAGraphMode[name], VllmMode[name]
        assert (ours.decode_mode.name, ours.mixed_mode.name) == (theirs.decode_mode().name, theirs.mixed_mode().name)
        assert ours.needs_piecewise_compilation == theirs.requires_piecewise_compilation()
    assert CompilationMode.VLLM_COMPILE.name == "VLLM_COMPILE"


def test_pydantic_wraps_our_errors_and_the_adapter_unwraps_them():
    import pydantic

    @pydantic.dataclasses.dataclass
    class Checked:
        value: int

        def __post_init__(self):
            raise GraphConfigError("additional_config.graph_backend: got 'x'; allowed: auto")

    with pytest.raises(pydantic.ValidationError) as info:
        Checked(value=1)
    unwrapped = adapter.unwrap_config_error(info.value, GraphConfigError)
    assert isinstance(unwrapped, GraphConfigError) and "graph_backend" in str(unwrapped)
    assert adapter.unwrap_config_error(ValueError("plain"), GraphConfigError) is None


def test_unpatched_is_what_the_class_answered_before_our_patch(vllm_untouched):
    class Base:
        @classmethod
        def answer(cls) -> str:
            return f"base for {cls.__name__}"

    class Own(Base):
        @classmethod
        def answer(cls) -> str:
            return f"own for {cls.__name__}"

    class Inherits(Base):
        pass

    for cls, before in ((Own, "own for Own"), (Inherits, "base for Inherits")):
        patching.patch(cls, "answer", lambda original: lambda klass: "ours")
        assert (cls.answer(), patching.unpatched(cls, "answer")()) == ("ours", before)
    assert patching.unpatched(Base, "answer")() == "base for Base"  # not patched: as it is


def test_run_time_internals():
    base = adapter.compiler_interface()
    assert list(inspect.signature(base.compile).parameters) == [
        "self", "graph", "example_inputs", "compiler_config", "compile_range", "key"]
    assert callable(base.compute_hash)
    platform = adapter.platform_class()
    for hook in ("get_static_graph_wrapper_cls", "get_compile_backend"):
        assert list(inspect.signature(getattr(platform, hook)).parameters) == [], hook  # bound classmethods
    assert adapter.platform_device_type() == "cpu"
    assert adapter.platform_wrapper_class().__name__ == "AbstractStaticGraphWrapper"  # the CPU build's: vLLM's default
    assert adapter.current_vllm_config() is None and adapter.forward_state() is None  # outside any model run


def our_variables() -> set[str]:
    """Every environment variable name written in the package's source."""
    import re
    from pathlib import Path

    import vllm_ascend_graphs

    root = Path(vllm_ascend_graphs.__file__).parent
    return {name for path in root.rglob("*.py")
            for name in re.findall(r"[\"'`]((?:VLLM_)?ASCEND_GRAPHS_[A-Z_]+)[\"'`]", path.read_text(encoding="utf-8"))}


def vllm_environ_check():
    """vLLM's check for unknown `VLLM_*` variables (0.23 has it in vllm.envs, 0.32 on the platform)."""
    import vllm.envs

    if hasattr(vllm.envs, "validate_environ"):
        return vllm.envs.validate_environ
    from vllm.platforms import current_platform

    return current_platform.validate_environ


def test_our_environment_variables_pass_vllms_strict_check(monkeypatch):
    from vllm_ascend_graphs.hooks.isolation import PROBE_TIMEOUT_VAR
    from vllm_ascend_graphs.hooks.registry import ALLOW_LIST_VAR
    from vllm_ascend_graphs.integrations.vllm import SWITCH_VAR
    from vllm_ascend_graphs.rules.assumptions import ENV_VAR

    assert our_variables() == {ENV_VAR, ALLOW_LIST_VAR, PROBE_TIMEOUT_VAR, SWITCH_VAR}
    check = vllm_environ_check()
    for name in our_variables():
        monkeypatch.setenv(name, "1")
    check(True)  # hard_fail, as with fail_on_environ_validation=True
    monkeypatch.setenv("VLLM_ASCEND_GRAPHS_ASSUME", "device=npu")  # the old name: vLLM refuses it
    with pytest.raises(ValueError, match="Unknown vLLM environment variable detected: VLLM_ASCEND_GRAPHS_ASSUME"):
        check(True)


def test_the_model_runners_graph_keys_and_the_sizes_the_user_gave():
    """The worker hook wraps the dispatcher's key initialisation, tells the model runner's call (which
    passes `uniform_decode_query_len`) from a proposer's (mode alone), and reads the capture
    descriptors; the decision reads the sizes the user gave `EngineArgs` and the decode limits."""
    import ast
    import importlib

    from vllm.config import ParallelConfig, SchedulerConfig
    from vllm.engine.arg_utils import EngineArgs
    from vllm.v1.cudagraph_dispatcher import CudagraphDispatcher

    parameters = inspect.signature(CudagraphDispatcher.initialize_cudagraph_keys).parameters
    assert list(parameters) == ["self", "cudagraph_mode", "uniform_decode_query_len"]
    assert parameters["uniform_decode_query_len"].default == 1
    assert callable(CudagraphDispatcher.get_capture_descs)
    assert "vllm_config" in inspect.getsource(CudagraphDispatcher.__init__)

    def calls(module_name: str) -> list[int]:
        tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
        return [len(node.args) + len(node.keywords) for node in ast.walk(tree) if isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "initialize_cudagraph_keys"
                and "dispatcher" in ast.unparse(node.func.value)]

    assert calls("vllm.v1.worker.gpu_model_runner") == [2]  # the model runner: mode and query length
    assert set(calls("vllm.v1.spec_decode.llm_base_proposer")) == {1}  # a proposer: the mode alone
    assert {"cudagraph_capture_sizes", "max_cudagraph_capture_size", "compilation_config"} <= field_names(EngineArgs)
    assert "max_num_batched_tokens" in field_names(SchedulerConfig)
    assert "enable_expert_parallel" in field_names(ParallelConfig)


def test_a_transformers_config_gives_the_model_traits():
    """vLLM hands the plugin transformers' config objects (`adapter.model_traits`), not dicts."""
    import transformers

    from vllm_ascend_graphs.rules.models import ModelInfo

    config = transformers.WhisperConfig(d_model=64, encoder_layers=1, decoder_layers=1)
    model = ModelInfo.from_hf_config(config)
    assert model.architecture == "unknown" and model.encoder_decoder is True


def test_every_worker_is_built_through_worker_base_after_the_plugins_are_loaded(vllm_untouched):
    """The worker check's hook: `WorkerBase.__init__(self, vllm_config, local_rank, rank, distributed_init_method,
    ...)`, which sets what `worker_identity` reads. In each worker process vLLM loads the general plugins
    (`WorkerWrapperBase.init_worker`) before it builds the worker, so `register()` patches it in time; vLLM's
    own workers reach it through `super().__init__` before they start a device."""
    import ast

    from vllm.config import ParallelConfig
    from vllm.v1.worker.cpu_worker import CPUWorker
    from vllm.v1.worker.gpu_worker import Worker
    from vllm.v1.worker.worker_base import WorkerBase, WorkerWrapperBase

    assert adapter.WORKER_MODULE == WorkerBase.__module__
    assert list(inspect.signature(WorkerBase.__init__).parameters)[:5] == [
        "self", "vllm_config", "local_rank", "rank", "distributed_init_method"]
    sets = {ast.unparse(target) for node in ast.walk(ast.parse(inspect.getsource(WorkerBase.__init__).strip()))
            if isinstance(node, ast.Assign) for target in node.targets}
    assert {"self.vllm_config", "self.rank"} <= sets
    assert "data_parallel_index" in field_names(ParallelConfig)
    init_worker = inspect.getsource(WorkerWrapperBase.init_worker)
    assert init_worker.index("load_general_plugins()") < init_worker.index("worker_class(**kwargs)")
    for worker in (CPUWorker, Worker):
        assert issubclass(worker, WorkerBase) and "super().__init__(" in inspect.getsource(worker.__init__)


def test_building_a_worker_runs_the_check_of_the_recorded_plan(vllm_untouched):
    from vllm.config import VllmConfig
    from vllm.v1.worker.worker_base import WorkerBase

    from vllm_ascend_graphs import WorkerEnvironmentError
    from vllm_ascend_graphs.integrations.vllm.decision import RECORD_KEY

    vllm_untouched.register()
    assert patching.is_patched(WorkerBase, "__init__")
    config = VllmConfig()
    config.additional_config = {RECORD_KEY: {"backend": "tpugraph", "cudagraph_mode": "FULL", "summary": "",
                                             "environment": {"host": "node-a"}}}
    with pytest.raises(WorkerEnvironmentError, match=r"worker rank 5 \(data-parallel rank 0\) on host .* made on "
                                                     r"host node-a \(tpugraph, cudagraph_mode FULL\): no backend "
                                                     r"'tpugraph' is registered"):
        WorkerBase(vllm_config=config, local_rank=0, rank=5, distributed_init_method="env://")
    config.additional_config = {}
    config.parallel_config.data_parallel_index = 2  # kept by vLLM in each data-parallel engine of a dense model
    worker = WorkerBase(vllm_config=config, local_rank=1, rank=7, distributed_init_method="env://")
    assert adapter.worker_identity(worker) == (config, 7, 2)


@pytest.fixture
def our_log():
    """(level, message) of each record of our logger at INFO and above. A filter sees them all: vLLM's
    logging set-up, which may run again inside `create_engine_config`, stops "vllm" loggers from
    propagating and resets the handlers and level of ours, but keeps its filters."""
    import logging

    records: list[logging.LogRecord] = []

    def keep(record: logging.LogRecord) -> bool:
        records.append(record)
        return True

    adapter.logger().addFilter(keep)
    yield lambda: [(r.levelname, r.getMessage()) for r in records if r.levelno >= logging.INFO]
    adapter.logger().removeFilter(keep)


def test_our_config_error_is_logged_first_and_reaches_the_caller_from_vllms_engine_config(tiny_model, our_log):
    """What a server start shows (tests/vllm/test_serving.py runs the server on the newest vLLM): our
    line at ERROR, then our error itself, unwrapped from vLLM's config validation."""
    from vllm.engine.arg_utils import EngineArgs

    from vllm_ascend_graphs.integrations import vllm as plugin

    plugin.register()
    with pytest.raises(GraphConfigError) as info:
        EngineArgs(model=tiny_model, max_model_len=256, additional_config={"graph_backend": 3}).create_engine_config()
    assert str(info.value).startswith("additional_config.graph_backend: got 3 (int); allowed: ")
    assert our_log() == [("ERROR", str(info.value))]


def test_vllms_prometheus_stat_logger_publishes_our_info_metric_after_its_own(tiny_model, our_log):
    """vLLM's own stat logger, built twice as a restarted engine builds it: `log_engine_initialized` publishes
    vLLM's info metric and then ours, from the record; a new logger drops every `vllm:` metric first (else
    ours would be a duplicate the second time)."""
    from prometheus_client import REGISTRY
    from vllm.engine.arg_utils import EngineArgs
    from vllm.v1.metrics.loggers import PrometheusStatLogger

    from vllm_ascend_graphs.integrations import vllm as plugin
    from vllm_ascend_graphs.integrations.vllm.metrics import METRIC

    plugin.register()
    assert patching.is_patched(PrometheusStatLogger, "log_engine_initialized")
    config = EngineArgs(model=tiny_model, max_model_len=256, additional_config={"graph_backend": "xlite"}
                        ).create_engine_config()
    record = config.additional_config[plugin.RECORD_KEY]
    # xlite, asked for by name, cannot serve: the decision's one line is a WARNING naming it
    assert our_log() == [("WARNING", record["summary"])]
    assert record["summary"].startswith("graph backend: xlite was asked for, eager runs instead, ")
    for _ in range(2):
        PrometheusStatLogger(config, [0]).log_engine_initialized()
    published = {metric.name: [sample.labels for sample in metric.samples] for metric in REGISTRY.collect()}
    assert published["vllm:cache_config_info"]  # vLLM's own, still there
    (labels,) = published[METRIC]
    decode = min(config.scheduler_config.max_num_seqs, config.scheduler_config.max_num_batched_tokens)
    assert record["backend"] == "eager"
    assert labels == {"model_name": tiny_model, "backend": "eager", "requested": "xlite",
                      "cudagraph_mode": "NONE", "npugraph_ex": "false", "static_kernel": "false",
                      "full_graphs": "none", "piecewise_graphs": "none", "eager_decode_batches": f"1-{decode}"}


def test_the_speculative_and_kv_transfer_configs_and_the_mode_the_user_named():
    """The decision reads the drafter's fields of `speculative_config`, the connector of `kv_transfer_config`
    (only where it is a transfer instance, as vLLM's own rule asks), and whether `EngineArgs` names a
    cudagraph mode (vLLM fills in its default later: `None` until then)."""
    from vllm.config import CompilationConfig, KVTransferConfig, SpeculativeConfig, VllmConfig
    from vllm.engine.arg_utils import EngineArgs

    assert {"method", "num_speculative_tokens", "enforce_eager", "disable_padded_drafter_batch",
            "parallel_drafting"} <= field_names(SpeculativeConfig)
    assert {"kv_connector", "kv_role", "kv_connector_extra_config", "kv_connector_module_path"} <= field_names(
        KVTransferConfig)
    assert "kv_transfer_config" in field_names(VllmConfig)
    transfer = KVTransferConfig(kv_connector="LMCacheConnectorV1", kv_role="kv_both",
                                kv_connector_extra_config={"use_layerwise": True})
    config = VllmConfig(kv_transfer_config=transfer)
    assert adapter.kv_transfer_config(config) == {
        "kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both",
        "kv_connector_extra_config": {"use_layerwise": True}, "kv_connector_module_path": None}
    assert adapter.kv_transfer_config(VllmConfig()) is None
    assert adapter.speculative_config(VllmConfig()) is None
    assert CompilationConfig().cudagraph_mode is None
    assert not adapter.requested_mode(EngineArgs(model="m"))
    assert adapter.requested_mode(EngineArgs(model="m", compilation_config={"cudagraph_mode": "PIECEWISE"}))


def test_model_runner_v2s_graph_keys_and_the_switch_for_it():
    """The V2 hook wraps `ModelCudaGraphManager.__init__` and reads `_capture_descs`; the decision reads
    `VllmConfig.use_v2_model_runner`. Only the target model's manager is a `ModelCudaGraphManager`: the
    speculators' managers derive from `CudaGraphManager` alone, so their graphs are not compared."""
    import ast
    import importlib
    import pkgutil

    import vllm.v1.worker.gpu.spec_decode as spec_decode
    from vllm.config import CompilationConfig, VllmConfig
    from vllm.v1.worker.gpu import cudagraph_utils

    assert cudagraph_utils.__name__ == adapter.GRAPH_MANAGER_MODULE
    manager = cudagraph_utils.ModelCudaGraphManager
    assert list(inspect.signature(manager.__init__).parameters)[:5] == [
        "self", "vllm_config", "device", "cudagraph_mode", "decode_query_len"]
    init = inspect.getsource(cudagraph_utils.CudaGraphManager.__init__)
    assert "self.vllm_config = vllm_config" in init and "self._capture_descs" in init and "_init_candidates()" in init
    assert "_capture_descs[mode] = descs" in inspect.getsource(cudagraph_utils.CudaGraphManager._init_candidates)
    assert "num_tokens" in {f.name for f in dataclasses.fields(cudagraph_utils.BatchExecutionDescriptor)}
    assert isinstance(inspect.getattr_static(VllmConfig, "use_v2_model_runner"), property)
    managers = []
    for info in pkgutil.walk_packages(spec_decode.__path__, f"{spec_decode.__name__}."):
        module = importlib.import_module(info.name)
        managers += [value for value in vars(module).values() if isinstance(value, type)
                     and issubclass(value, cudagraph_utils.CudaGraphManager) and value.__module__ == info.name]
    assert managers and not any(issubclass(m, manager) for m in managers), managers
    runner = ast.parse(inspect.getsource(importlib.import_module("vllm.v1.worker.gpu.model_runner")))
    (resolve,) = [node for node in ast.walk(runner) if isinstance(node, ast.Call)
                  and getattr(node.func, "attr", None) == "resolve_cudagraph_mode_and_sizes"]
    takes_v2 = "use_v2_model_runner" in inspect.signature(CompilationConfig.resolve_cudagraph_mode_and_sizes).parameters
    assert [ast.unparse(k) for k in resolve.keywords if k.arg == "use_v2_model_runner"] == (
        ["use_v2_model_runner=True"] if takes_v2 else [])


def test_the_plans_rule_for_model_runner_v2_is_this_vllms():
    """vLLM 0.23 and 0.24 round the capture sizes in the V2 graph manager (every mode); from 0.25 it keeps
    them and rounds its decode graphs. The plan tells them apart by the version: check it on each vLLM."""
    import vllm
    from vllm.v1.worker.gpu import cudagraph_utils

    from vllm_ascend_graphs import Environment
    from vllm_ascend_graphs.rules.graph_keys import ModelRunner
    from vllm_ascend_graphs.rules.modes import model_runner

    rule, notes = model_runner(Environment(model_runner_v2=True, vllm=vllm.__version__), "native")
    rounds_sizes = "adjust_cudagraph_sizes_for_spec_decode" in inspect.getsource(cudagraph_utils.CudaGraphManager)
    rounds_decode_graphs = "round_up(num_tokens, decode_query_len)" in inspect.getsource(
        cudagraph_utils.CudaGraphManager._init_candidates)
    assert rounds_sizes != rounds_decode_graphs and notes == []
    assert rule is (ModelRunner.V2_ROUNDING_SIZES if rounds_sizes else ModelRunner.V2)
