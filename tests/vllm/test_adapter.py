"""Every vLLM internal the adapter touches exists in the installed vLLM: fails loudly when one moves.

`make test` runs this module on the newest supported vLLM (0.32.0, `.venv`) and in each contract
environment: 0.23.0 (the oldest), 0.26.0 and 0.27.1 (`.venv-ascend/vllm-VERSION/`).
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from vllm_ascend_graphs import CUDAGraphMode, GraphConfigError
from vllm_ascend_graphs.integrations.vllm import adapter


def test_the_installed_vllm_is_in_the_tested_range():
    import vllm

    assert adapter.unsupported_version(vllm.__version__) is None, (
        f"vLLM {vllm.__version__} is outside {adapter.SUPPORTED_VLLM}: re-check every name in "
        "integrations/vllm/adapter.py on it, then widen SUPPORTED_VLLM")


@pytest.fixture
def vllm_untouched():
    """vLLM's own classes, without our patches, for the test; the plugin's state is restored after."""
    from vllm_ascend_graphs.integrations import vllm as plugin

    registered = adapter.is_patched(adapter.platform_class(), "check_and_update_config")
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
    assert not adapter.is_patched(adapter.platform_class(), "check_and_update_config")
    assert not adapter.is_patched(adapter.engine_args_class(), "create_engine_config")
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


def test_run_time_internals():
    base = adapter.compiler_interface()
    assert list(inspect.signature(base.compile).parameters) == [
        "self", "graph", "example_inputs", "compiler_config", "compile_range", "key"]
    assert callable(base.compute_hash)
    platform = adapter.platform_class()
    for hook in ("get_static_graph_wrapper_cls", "get_compile_backend"):
        assert list(inspect.signature(getattr(platform, hook)).parameters) == [], hook  # bound classmethods
    assert adapter.platform_device_type() == "cpu"
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
    from vllm_ascend_graphs.rules.assumptions import ENV_VAR

    assert our_variables() == {ENV_VAR, ALLOW_LIST_VAR, PROBE_TIMEOUT_VAR}
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
    from vllm_ascend_graphs.rules.capture_plan import ModelRunner
    from vllm_ascend_graphs.rules.modes import model_runner

    rule, notes = model_runner(Environment(model_runner_v2=True, vllm=vllm.__version__), "native")
    rounds_sizes = "adjust_cudagraph_sizes_for_spec_decode" in inspect.getsource(cudagraph_utils.CudaGraphManager)
    rounds_decode_graphs = "round_up(num_tokens, decode_query_len)" in inspect.getsource(
        cudagraph_utils.CudaGraphManager._init_candidates)
    assert rounds_sizes != rounds_decode_graphs and notes == []
    assert rule is (ModelRunner.V2_ROUNDING_SIZES if rounds_sizes else ModelRunner.V2)
