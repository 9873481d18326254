"""The worker's last reconcile, on vLLM's own config and dispatcher: what the model runner resolves
and captures is compared with the record; a difference is a WARNING and an override in that process.

`make test` runs this module on vLLM 0.32.0 and in the contract tier's vLLM; the contract tier
runs the same hook inside vllm-ascend's real model-runner code.
"""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from vllm_ascend_graphs.integrations.vllm import adapter, decision, patching

MODEL_RUNNER = "vLLM's model runner"


def worker_config(mode_name: str, sizes: list[int], max_num_seqs: int, record_graphs: dict[str, list[int]],
                  runner: str = "V1"):
    """A `VllmConfig` as a worker receives it: the platform's settings and our record in `additional_config`."""
    from vllm.config import CUDAGraphMode, SchedulerConfig, VllmConfig
    from vllm.config.compilation import CompilationMode

    config = VllmConfig(scheduler_config=SchedulerConfig(max_num_seqs=max_num_seqs, max_num_batched_tokens=8192,
                                                         max_model_len=8192, is_encoder_decoder=False))
    compilation = config.compilation_config
    mode = CUDAGraphMode[mode_name]
    compilation.mode = CompilationMode.VLLM_COMPILE
    compilation.cudagraph_mode = mode
    compilation.splitting_ops = list(compilation._attention_ops) if mode.requires_piecewise_compilation() else []
    compilation.cudagraph_capture_sizes, compilation.max_cudagraph_capture_size = list(sizes), max(sizes)
    summary = f"graph backend: aclgraph, cudagraph_mode {mode_name}"
    config.additional_config = {decision.RECORD_KEY: {
        "backend": "aclgraph", "cudagraph_mode": mode_name, "npugraph_ex": False, "static_kernel": False,
        "capture_sizes": list(sizes), "options": {}, "graphs": record_graphs, "model_runner": runner, "drafter": None,
        "notes": [], "overrides": [], "decided": summary, "summary": summary}}
    return config


def start(config, *args):
    """The model runner's call: `initialize_cudagraph_keys(mode, uniform_decode_query_len)`, through our hook."""
    from vllm.v1.cudagraph_dispatcher import CudagraphDispatcher

    hooked = decision.on_dispatcher_keys(CudagraphDispatcher.initialize_cudagraph_keys)
    dispatcher = CudagraphDispatcher(config)
    hooked(dispatcher, config.compilation_config.cudagraph_mode, *args)
    return dispatcher


@pytest.fixture
def warnings(caplog):
    caplog.set_level(logging.WARNING, logger=adapter.LOGGER_NAME)
    return lambda: [r.getMessage() for r in caplog.records if r.name == adapter.LOGGER_NAME]


def test_a_worker_that_captures_what_the_record_says_is_silent(warnings):
    config = worker_config("FULL_DECODE_ONLY", [1, 2, 4, 8, 12], 12, {"FULL": [1, 2, 4, 8, 12], "PIECEWISE": []})
    start(config, 1)
    assert warnings() == []
    assert config.additional_config[decision.RECORD_KEY]["overrides"] == []


def test_a_worker_that_captures_otherwise_warns_and_records_it_in_its_process(warnings):
    # The record predicted decode graphs up to 16 tokens; the dispatcher keys them only up to 12.
    config = worker_config("FULL_DECODE_ONLY", [1, 2, 4, 8, 16], 12, {"FULL": [1, 2, 4, 8, 16], "PIECEWISE": []})
    start(config, 1)
    text = (f"{MODEL_RUNNER} changed graphs from FULL [1, 2, 4, 8, 16], PIECEWISE [] to FULL [1, 2, 4, 8], "
            "PIECEWISE []")
    assert warnings() == [f"graph backend plan overridden: {text}"]
    record = config.additional_config[decision.RECORD_KEY]
    assert record["graphs"] == {"FULL": [1, 2, 4, 8], "PIECEWISE": []}
    assert record["overrides"] == [{"setting": "graphs", "planned": {"FULL": [1, 2, 4, 8, 16], "PIECEWISE": []},
                                    "effective": {"FULL": [1, 2, 4, 8], "PIECEWISE": []}, "by": MODEL_RUNNER}]
    assert record["summary"].endswith(f"[{text}]")


def test_sizes_the_model_runner_rounds_are_an_override_of_the_sizes_too(warnings):
    from vllm.config import SpeculativeConfig

    config = worker_config("FULL_DECODE_ONLY", [1, 2, 4, 8], 4, {"FULL": [1, 2, 4, 8], "PIECEWISE": []})
    config.speculative_config = SpeculativeConfig(method="ngram", num_speculative_tokens=1, prompt_lookup_max=3)
    from vllm.v1.attention.backend import AttentionCGSupport

    config.compilation_config.resolve_cudagraph_mode_and_sizes(AttentionCGSupport.ALWAYS, "Attention",
                                                               uniform_decode_query_len=2, max_num_reqs=4)
    start(config, 2)
    assert [o["setting"] for o in config.additional_config[decision.RECORD_KEY]["overrides"]] == [
        "capture_sizes", "graphs"]
    assert len(warnings()) == 2


def test_a_proposers_dispatcher_is_left_alone(warnings):
    """Speculative-decoding proposers call it with the mode alone; their graphs are the drafter's."""
    config = worker_config("FULL_DECODE_ONLY", [1, 2, 4, 8, 16], 12, {"FULL": [1, 2, 4, 8, 16], "PIECEWISE": []})
    start(config)
    assert warnings() == [] and config.additional_config[decision.RECORD_KEY]["overrides"] == []


def test_the_graph_keys_are_patched_when_something_imports_them_and_unpatched_after():
    """V1's dispatcher and V2's graph manager, in a fresh process: nothing is imported for the patch, each is
    patched right after its own module's import, undone by `unpatch_all`, and patched at once when its
    module is already imported."""
    code = """
import sys
import vllm.config
from vllm_ascend_graphs.integrations.vllm import adapter, patching
calls = []
def make(original):
    def wrapped(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)
    return wrapped
adapter.patch_dispatcher_keys(make)
adapter.patch_graph_manager(make)  # both wait for their own module
assert adapter.DISPATCHER_MODULE not in sys.modules and adapter.GRAPH_MANAGER_MODULE not in sys.modules
from vllm.v1.worker.gpu.cudagraph_utils import ModelCudaGraphManager
assert ModelCudaGraphManager.__init__.__name__ == "wrapped"
from vllm.v1.cudagraph_dispatcher import CudagraphDispatcher
assert CudagraphDispatcher.initialize_cudagraph_keys.__name__ == "wrapped"
patching.unpatch_all()
assert CudagraphDispatcher.initialize_cudagraph_keys.__name__ == "initialize_cudagraph_keys"
assert ModelCudaGraphManager.__init__.__name__ == "__init__"
assert not [f for f in sys.meta_path if type(f).__name__ == "_AfterImport"]
adapter.patch_dispatcher_keys(make)  # now imported: patched at once
assert CudagraphDispatcher.initialize_cudagraph_keys.__name__ == "wrapped"
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_a_config_without_a_model_is_left_to_the_platform():
    """`VllmConfig()` without a model (vLLM builds such configs) passes the platform's check untouched."""
    from vllm.config import VllmConfig
    from vllm.platforms import current_platform

    from vllm_ascend_graphs.integrations import vllm as plugin

    registered = patching.is_patched(adapter.platform_class(), "check_and_update_config")
    plugin.register()
    try:
        assert patching.is_patched(adapter.platform_class(), "check_and_update_config")
        config = VllmConfig()
        current_platform.check_and_update_config(config)
        assert decision.RECORD_KEY not in (config.additional_config or {})
    finally:
        if not registered:
            plugin.unregister()


def test_a_failing_reconcile_is_a_warning_and_the_worker_keeps_its_keys(warnings, monkeypatch):
    def broken(dispatcher):
        raise KeyError("num_tokens")

    monkeypatch.setattr(adapter, "captured_graphs", broken)
    config = worker_config("FULL_DECODE_ONLY", [1, 2, 4, 8, 12], 12, {"FULL": [1, 2, 4, 8, 12], "PIECEWISE": []})
    assert start(config, 1).keys_initialized
    assert warnings() == ["graph backend: the worker could not compare its graphs with the record (KeyError: "
                          "'num_tokens'); the model runner goes on with its own"]


# -- Model Runner V2: the hook on vLLM's ModelCudaGraphManager ---------------------------------


class OneStagePipeline:
    """Stands in for vLLM's pipeline-parallel group (a process group; the manager asks its rank): one stage."""

    is_first_rank = True
    is_last_rank = True


@pytest.fixture
def start_v2(monkeypatch):
    """Model Runner V2 keys its graphs: vLLM's `ModelCudaGraphManager`, built with our hook as `register()`
    installs it. Stood in: the pipeline group and the device's graph pool."""
    import vllm.v1.worker.gpu.cudagraph_utils as graph_utils
    from vllm.platforms import current_platform

    monkeypatch.setattr(graph_utils, "get_pp_group", OneStagePipeline)
    monkeypatch.setattr(type(current_platform), "_global_graph_pool", object(), raising=False)
    monkeypatch.setattr(graph_utils.ModelCudaGraphManager, "__init__",
                        decision.on_graph_manager(graph_utils.ModelCudaGraphManager.__init__))

    def start(config, decode_query_len: int = 1):
        return graph_utils.ModelCudaGraphManager(config, "cpu", config.compilation_config.cudagraph_mode,
                                                 decode_query_len)

    return start


def test_a_v2_worker_that_keys_what_the_record_says_is_silent(start_v2, warnings):
    config = worker_config("FULL_AND_PIECEWISE", [1, 2, 4, 8, 12], 12,
                           {"FULL": [1, 2, 4, 8, 12], "PIECEWISE": [1, 2, 4, 8, 12]}, runner="V2")
    start_v2(config)
    assert warnings() == [] and config.additional_config[decision.RECORD_KEY]["overrides"] == []


def test_a_v2_worker_that_keys_otherwise_warns_once_and_records_it(start_v2, warnings):
    # The record predicted decode graphs up to 16 tokens; V2 keys them only up to max_num_seqs, 12.
    config = worker_config("FULL_DECODE_ONLY", [1, 2, 4, 8, 16], 12, {"FULL": [1, 2, 4, 8, 16], "PIECEWISE": []},
                           runner="V2")
    start_v2(config)
    text = (f"{MODEL_RUNNER} changed graphs from FULL [1, 2, 4, 8, 16], PIECEWISE [] to FULL [1, 2, 4, 8], "
            "PIECEWISE []")
    assert warnings() == [f"graph backend plan overridden: {text}"]
    record = config.additional_config[decision.RECORD_KEY]
    assert record["graphs"] == {"FULL": [1, 2, 4, 8], "PIECEWISE": []}
    assert [o["setting"] for o in record["overrides"]] == ["graphs"] and record["summary"].endswith(f"[{text}]")


def test_a_failing_v2_reconcile_is_a_warning_and_the_manager_keeps_its_keys(start_v2, warnings, monkeypatch):
    def broken(manager):
        raise AttributeError("_capture_descs")

    monkeypatch.setattr(adapter, "manager_graphs", broken)
    config = worker_config("FULL_DECODE_ONLY", [1, 2, 4, 8, 12], 12, {"FULL": [1, 2, 4, 8, 12], "PIECEWISE": []},
                           runner="V2")
    assert start_v2(config).needs_capture()
    assert warnings() == ["graph backend: the worker could not compare its graphs with the record (AttributeError: "
                          "_capture_descs); the model runner goes on with its own"]
