"""Our model of the model runner's capture (graph_keys.py and capture_plan.py) against vLLM's own code.

vLLM's `CompilationConfig.resolve_cudagraph_mode_and_sizes` rounds the sizes, its
`CudagraphDispatcher` builds the graph keys and dispatches each decode batch: for vLLM Ascend's
sizes and for ours, every prediction must be what vLLM does. Model Runner V2's `ModelCudaGraphManager`
likewise; from vLLM 0.28 (0.32 here) its dispatch prefers a FULL graph of a larger size to a PIECEWISE
graph of the smallest one, which only the contract tier's vLLMs (0.23 to 0.27) are checked against
exactly: on 0.32 the graphs and which decode batches run eagerly are. `make test` runs this module on
vLLM 0.32.0 and on the vLLM each contract-tier vllm-ascend pairs with.
"""

from __future__ import annotations

import inspect

import pytest

from vllm_ascend_graphs import CUDAGraphMode, Environment
from vllm_ascend_graphs.integrations.vllm.adapter import manager_graphs
from vllm_ascend_graphs.rules.capture_plan import TpAlignment, plan_capture_sizes, round_for_decode, vllm_ascend_sizes
from vllm_ascend_graphs.rules.graph_keys import DecodeShape, ModelRunner, dispatch_decode, runtime_graphs
from vllm_ascend_graphs.rules.modes import model_runner as runner_of

MODES = ["FULL_DECODE_ONLY", "FULL_AND_PIECEWISE", "FULL", "PIECEWISE"]
SEQS = [1, 3, 7, 12, 20, 64, 100]


def platform_config(mode_name: str, sizes: tuple[int, ...], shape: DecodeShape):
    """vLLM's config as the platform's pass leaves it (vLLM's CPU platform turns graphs off, so they are set here)."""
    from vllm.config import CUDAGraphMode as VllmMode
    from vllm.config import SchedulerConfig, SpeculativeConfig, VllmConfig
    from vllm.config.compilation import CompilationMode

    scheduler = SchedulerConfig(max_num_seqs=shape.max_num_seqs, max_num_batched_tokens=8192, max_model_len=8192,
                                is_encoder_decoder=False)
    config = VllmConfig(scheduler_config=scheduler)
    if shape.spec_tokens:
        config.speculative_config = SpeculativeConfig(method="ngram", num_speculative_tokens=shape.spec_tokens,
                                                      prompt_lookup_max=3)
    mode = VllmMode[mode_name]
    compilation = config.compilation_config
    compilation.mode = CompilationMode.VLLM_COMPILE
    compilation.cudagraph_mode = mode
    compilation.splitting_ops = list(compilation._attention_ops) if mode.requires_piecewise_compilation() else []
    compilation.cudagraph_capture_sizes = list(sizes)
    compilation.max_cudagraph_capture_size = max(sizes)
    return config


def model_runner(mode_name: str, sizes: tuple[int, ...], shape: DecodeShape, tp: int = 1):
    """vLLM's config, resolved mode and dispatcher after the model runner's start-up steps; with `tp` > 1,
    sequence parallelism on (vLLM Ascend's model runner sets `pass_config.enable_sp` for it)."""
    from vllm.v1.attention.backend import AttentionCGSupport
    from vllm.v1.cudagraph_dispatcher import CudagraphDispatcher

    config = platform_config(mode_name, sizes, shape)
    compilation = config.compilation_config
    dispatcher = CudagraphDispatcher(config)
    parallel = {}
    if tp > 1:
        config.parallel_config.tensor_parallel_size = tp
        compilation.pass_config.enable_sp = True
        parallel = {"tensor_parallel_size": tp}
    resolved = compilation.resolve_cudagraph_mode_and_sizes(
        AttentionCGSupport.ALWAYS, "AscendAttentionBackend", uniform_decode_query_len=shape.query_len,
        max_num_reqs=shape.max_num_seqs, **parallel)
    dispatcher.initialize_cudagraph_keys(resolved, shape.query_len)
    return compilation, dispatcher


def graphs_of(dispatcher) -> dict[str, list[int]]:
    found = {"FULL": [], "PIECEWISE": []}
    for runtime_mode, descriptors in dispatcher.get_capture_descs():
        found[runtime_mode.name] = sorted(d.num_tokens for d in descriptors)
    return found


def check_against_vllm(mode_name: str, sizes: tuple[int, ...], shape: DecodeShape) -> None:
    mode = CUDAGraphMode[mode_name]
    expected_sizes = round_for_decode(sizes, shape.query_len) if mode.decode_mode is CUDAGraphMode.FULL else sizes
    if not expected_sizes:  # vLLM Ascend's own grid can leave nothing to round (max_num_seqs 1 with K 2: [1, 2])
        with pytest.raises(ValueError, match="No valid cudagraph sizes after rounding"):
            model_runner(mode_name, sizes, shape)
        return
    compilation, dispatcher = model_runner(mode_name, sizes, shape)
    assert tuple(compilation.cudagraph_capture_sizes) == expected_sizes
    assert graphs_of(dispatcher) == runtime_graphs(mode, expected_sizes, shape).to_dict()
    for requests in range(1, shape.max_num_seqs + 1):
        runtime_mode, descriptor = dispatcher.dispatch(requests * shape.query_len, uniform_decode=True)
        predicted = dispatch_decode(mode, expected_sizes, shape, requests)
        assert (runtime_mode.name, descriptor.num_tokens) == (predicted[0].name, predicted[1]), requests


@pytest.mark.parametrize("spec", [0, 1, 2, 3])
@pytest.mark.parametrize("max_num_seqs", SEQS)
@pytest.mark.parametrize("mode_name", MODES)
def test_vllm_ascends_sizes_are_rounded_captured_and_dispatched_as_predicted(mode_name, max_num_seqs, spec):
    shape = DecodeShape(max_num_seqs, spec)
    check_against_vllm(mode_name, vllm_ascend_sizes(shape), shape)


@pytest.mark.parametrize("spec", [0, 1, 2, 3])
@pytest.mark.parametrize("max_num_seqs", SEQS)
@pytest.mark.parametrize("mode_name", MODES)
def test_our_sizes_are_kept_by_vllm_and_every_decode_batch_replays_a_graph(mode_name, max_num_seqs, spec):
    shape = DecodeShape(max_num_seqs, spec)
    sizes = plan_capture_sizes(CUDAGraphMode[mode_name], shape).sizes
    compilation, dispatcher = model_runner(mode_name, sizes, shape)
    assert tuple(compilation.cudagraph_capture_sizes) == sizes  # nothing left for vLLM to round
    check_against_vllm(mode_name, sizes, shape)
    assert all(dispatcher.dispatch(n * shape.query_len, uniform_decode=True)[0].name != "NONE"
               for n in range(1, max_num_seqs + 1))


def vllm_rounds_with_tp() -> bool:
    """vLLM 0.23 to 0.27 round decode sizes to a multiple of TP too under sequence parallelism; 0.32 does not."""
    import inspect

    from vllm.config import CompilationConfig

    return "tensor_parallel_size" in inspect.signature(CompilationConfig.resolve_cudagraph_mode_and_sizes).parameters


@pytest.mark.parametrize(("tp", "spec"), [(2, 0), (2, 1), (4, 1), (4, 3), (2, 3)])
@pytest.mark.parametrize("max_num_seqs", [3, 7, 12, 64])
@pytest.mark.parametrize("mode_name", MODES)
def test_tp_aligned_sizes_are_vllms_pruning_and_kept_by_its_rounding(mode_name, max_num_seqs, tp, spec):
    """vLLM Ascend prunes with vLLM's `update_sizes_for_sequence_parallelism`; the model runner's rounding
    then keeps our sizes, and every decode batch is dispatched as predicted."""
    from vllm.config import ParallelConfig, VllmConfig

    if not vllm_rounds_with_tp():
        pytest.skip("this vLLM rounds decode sizes without TP; vLLM Ascend pairs with 0.23 to 0.27, which do")
    shape, aligned = DecodeShape(max_num_seqs, spec), TpAlignment(tp, "additional_config.enable_flashcomm1")
    alone = vllm_ascend_sizes(shape)
    config = VllmConfig(parallel_config=ParallelConfig(tensor_parallel_size=tp))
    pruned = tuple(config.update_sizes_for_sequence_parallelism(list(alone)))
    assert pruned == tuple(s for s in alone if s % tp == 0)
    mode = CUDAGraphMode[mode_name]
    sizes = plan_capture_sizes(mode, shape, aligned=aligned).sizes
    base = round_for_decode(pruned, max(shape.query_len, tp)) if mode.decode_mode is CUDAGraphMode.FULL and spec \
        else pruned
    assert set(base) <= set(sizes) and len(set(sizes) - set(base)) <= 1  # vLLM Ascend's, and at most one more
    compilation, dispatcher = model_runner(mode_name, sizes, shape, tp=tp)
    assert tuple(compilation.cudagraph_capture_sizes) == sizes
    assert graphs_of(dispatcher) == runtime_graphs(mode, sizes, shape).to_dict()
    for requests in range(1, max_num_seqs + 1):
        runtime_mode, descriptor = dispatcher.dispatch(requests * shape.query_len, uniform_decode=True)
        predicted = dispatch_decode(mode, sizes, shape, requests)
        assert (runtime_mode.name, descriptor.num_tokens) == (predicted[0].name, predicted[1]), requests



# -- Model Runner V2: vLLM's CudaGraphManager -------------------------------------------------


class OneStagePipeline:
    """Stands in for vLLM's pipeline-parallel group (a process group; the manager asks its rank): one stage."""

    is_first_rank = True
    is_last_rank = True


def v2_rule() -> ModelRunner:
    """What the plan says Model Runner V2 does on the installed vLLM."""
    import vllm

    return runner_of(Environment(model_runner_v2=True, vllm=vllm.__version__), "native")[0]


@pytest.fixture
def v2_start(monkeypatch):
    """Model Runner V2's start-up on this vLLM: `resolve_cudagraph_mode_and_sizes` as its runner calls it
    (`use_v2_model_runner=True` from vLLM 0.25), then vLLM's `ModelCudaGraphManager`, which keys the graphs.
    Stood in: the pipeline group and the device's graph pool; `_graphs_captured` is set as `capture` sets it."""
    import vllm.v1.worker.gpu.cudagraph_utils as graph_utils
    from vllm.config import CompilationConfig
    from vllm.platforms import current_platform
    from vllm.v1.attention.backend import AttentionCGSupport

    monkeypatch.setattr(graph_utils, "get_pp_group", OneStagePipeline)
    monkeypatch.setattr(type(current_platform), "_global_graph_pool", object(), raising=False)
    v2 = {"use_v2_model_runner": True} if "use_v2_model_runner" in inspect.signature(
        CompilationConfig.resolve_cudagraph_mode_and_sizes).parameters else {}

    def start(mode_name: str, sizes: tuple[int, ...], shape: DecodeShape):
        config = platform_config(mode_name, sizes, shape)
        compilation = config.compilation_config
        resolved = compilation.resolve_cudagraph_mode_and_sizes(
            AttentionCGSupport.ALWAYS, "AscendAttentionBackend", shape.query_len, max_num_reqs=shape.max_num_seqs,
            **v2)
        manager = graph_utils.ModelCudaGraphManager(config, "cpu", resolved, shape.query_len)
        manager._graphs_captured = True
        return compilation, manager

    return start


def v2_dispatch(manager, shape: DecodeShape, requests: int) -> tuple[str, int]:
    """The V2 runner's dispatch of a uniform decode batch of `requests`: each request has 1 + K tokens."""
    loras = {"num_active_loras": 0} if "num_active_loras" in inspect.signature(manager.dispatch).parameters else {}
    descriptor = manager.dispatch(requests, requests * shape.query_len, shape.query_len, **loras)
    return descriptor.cg_mode.name, descriptor.num_tokens


def check_v2_against_vllm(start, mode_name: str, sizes: tuple[int, ...], shape: DecodeShape) -> None:
    import vllm

    mode = CUDAGraphMode[mode_name]
    shape = shape._replace(runner=v2_rule())
    rounds = shape.runner is ModelRunner.V2_ROUNDING_SIZES and shape.query_len > 1  # in every mode
    expected_sizes = round_for_decode(sizes, shape.query_len) if rounds else sizes
    if not expected_sizes:
        with pytest.raises(ValueError, match="No valid cudagraph sizes after rounding"):
            start(mode_name, sizes, shape)
        return
    compilation, manager = start(mode_name, sizes, shape)
    assert tuple(compilation.cudagraph_capture_sizes) == expected_sizes
    assert manager_graphs(manager)[1] == runtime_graphs(mode, expected_sizes, shape).to_dict()
    exact = tuple(int(part) for part in vllm.__version__.split(".")[:2]) < (0, 28)  # see the module's docstring
    for requests in range(1, shape.max_num_seqs + 1):
        found = v2_dispatch(manager, shape, requests)
        predicted = dispatch_decode(mode, expected_sizes, shape, requests)
        if exact:
            assert found == (predicted[0].name, predicted[1]), requests
        else:
            assert (found[0] == "NONE") == (predicted[0] is CUDAGraphMode.NONE), requests


@pytest.mark.parametrize("spec", [0, 1, 2, 3])
@pytest.mark.parametrize("max_num_seqs", SEQS)
@pytest.mark.parametrize("mode_name", MODES)
def test_v2_keys_and_dispatches_vllm_ascends_sizes_as_predicted(v2_start, mode_name, max_num_seqs, spec):
    shape = DecodeShape(max_num_seqs, spec)
    check_v2_against_vllm(v2_start, mode_name, vllm_ascend_sizes(shape), shape)


@pytest.mark.parametrize("spec", [0, 1, 2, 3])
@pytest.mark.parametrize("max_num_seqs", SEQS)
@pytest.mark.parametrize("mode_name", MODES)
def test_under_v2_every_decode_batch_replays_a_graph_of_our_sizes(v2_start, mode_name, max_num_seqs, spec):
    shape = DecodeShape(max_num_seqs, spec, runner=v2_rule())
    sizes = plan_capture_sizes(CUDAGraphMode[mode_name], shape).sizes
    compilation, manager = v2_start(mode_name, sizes, shape)
    assert tuple(compilation.cudagraph_capture_sizes) == sizes  # nothing left for vLLM to round
    check_v2_against_vllm(v2_start, mode_name, sizes, shape)
    assert all(v2_dispatch(manager, shape, n)[0] != "NONE" for n in range(1, max_num_seqs + 1))


@pytest.mark.parametrize("spec", [1, 2, 3])
@pytest.mark.parametrize("max_num_seqs", [3, 7, 12, 100])
@pytest.mark.parametrize("mode_name", ["FULL_DECODE_ONLY", "FULL_AND_PIECEWISE", "PIECEWISE"])
def test_under_v2_the_drafters_graphs_are_predicted_and_no_draft_step_runs_eagerly(v2_start, mode_name,
                                                                                   max_num_seqs, spec):
    """vLLM's autoregressive speculator (EAGLE, MTP) builds its draft-prefill and draft-decode managers from the
    target's resolved mode (`init_cudagraph_manager`, its own code; its `__init__`, which allocates device
    buffers, stood in): their graphs are `rules/drafter_v2.py`'s, on our sizes no draft step runs eagerly
    where decode graphs are FULL. vLLM 0.28 on restructured these speculators (not paired with vllm-ascend)."""
    from vllm_ascend_graphs.rules.drafter import PROPOSERS, SpeculativeConfig
    from vllm_ascend_graphs.rules.drafter_v2 import plan_drafter_v2
    from vllm_ascend_graphs.rules.graph_keys import draft_decode_eager

    pytest.importorskip("vllm.v1.worker.gpu.spec_decode.autoregressive.speculator",
                        reason="vLLM 0.28 on restructured Model Runner V2's speculators")
    from vllm.v1.worker.gpu.spec_decode.mtp.speculator import MTPSpeculator  # an AutoRegressiveSpeculator
    mode = CUDAGraphMode[mode_name]
    shape = DecodeShape(max_num_seqs, spec, runner=v2_rule(), draft_decode=spec >= 2)
    sizes = plan_capture_sizes(mode, shape).sizes
    compilation, target = v2_start(mode_name, sizes, shape)
    speculator = MTPSpeculator.__new__(MTPSpeculator)
    vars(speculator).update(vllm_config=target.vllm_config, device="cpu", num_speculative_steps=spec)
    speculator.init_cudagraph_manager(compilation.cudagraph_mode)
    plan = plan_drafter_v2(SpeculativeConfig("mtp", spec), PROPOSERS["mtp"], mode,
                           tuple(compilation.cudagraph_capture_sizes), shape, graphs_on=True)
    managers = {"draft-prefill": speculator.prefill_cudagraph_manager,
                "draft-decode": speculator.decode_cudagraph_manager}
    for phase in plan.phases:
        manager = managers[phase.phase]
        manager._graphs_captured = True
        assert manager_graphs(manager)[1] == phase.graphs.to_dict(), phase.phase
        per_request = 1 if phase.phase == "draft-decode" else shape.query_len
        eager = [n for n in range(1, max_num_seqs + 1)
                 if v2_dispatch(manager, shape._replace(spec_tokens=per_request - 1), n)[0] == "NONE"]
        assert eager == list(phase.eager_batches), phase.phase
    # From vLLM 0.25 none; on 0.23 and 0.24, whose V2 rounds every size to 1 + K, the draft-decode steps above
    # the largest multiple of 1 + K within max_num_seqs stay eager (predicted above, phase by phase).
    if mode.decode_mode is CUDAGraphMode.FULL and shape.runner is ModelRunner.V2:
        assert plan.eager_decode_batches == () == draft_decode_eager(mode, sizes, shape)
