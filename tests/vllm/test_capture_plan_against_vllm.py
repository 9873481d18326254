"""Our model of the model runner's capture (capture_plan.py) against vLLM's own code.

vLLM's `CompilationConfig.resolve_cudagraph_mode_and_sizes` rounds the sizes, its
`CudagraphDispatcher` builds the graph keys and dispatches each decode batch: for vLLM Ascend's
sizes and for ours, every prediction must be what vLLM does. `make test` runs this module on
vLLM 0.32.0 and on the vLLM each contract-tier vllm-ascend pairs with.
"""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import CUDAGraphMode
from vllm_ascend_graphs.rules.capture_plan import (
    DecodeShape,
    TpAlignment,
    dispatch_decode,
    plan_capture_sizes,
    round_for_decode,
    runtime_graphs,
    vllm_ascend_sizes,
)

MODES = ["FULL_DECODE_ONLY", "FULL_AND_PIECEWISE", "FULL", "PIECEWISE"]
SEQS = [1, 3, 7, 12, 20, 64, 100]


def model_runner(mode_name: str, sizes: tuple[int, ...], shape: DecodeShape, tp: int = 1):
    """vLLM's config, resolved mode and dispatcher after the model runner's start-up steps; with `tp` > 1,
    sequence parallelism on (vLLM Ascend's model runner sets `pass_config.enable_sp` for it)."""
    from vllm.config import CUDAGraphMode as VllmMode
    from vllm.config import SchedulerConfig, SpeculativeConfig, VllmConfig
    from vllm.config.compilation import CompilationMode
    from vllm.v1.attention.backend import AttentionCGSupport
    from vllm.v1.cudagraph_dispatcher import CudagraphDispatcher

    scheduler = SchedulerConfig(max_num_seqs=shape.max_num_seqs, max_num_batched_tokens=8192, max_model_len=8192,
                                is_encoder_decoder=False)
    config = VllmConfig(scheduler_config=scheduler)
    if shape.spec_tokens:
        config.speculative_config = SpeculativeConfig(method="ngram", num_speculative_tokens=shape.spec_tokens,
                                                      prompt_lookup_max=3)
    # What the platform's pass leaves (vLLM's CPU platform turns graphs off, so it is set here).
    mode = VllmMode[mode_name]
    compilation = config.compilation_config
    compilation.mode = CompilationMode.VLLM_COMPILE
    compilation.cudagraph_mode = mode
    compilation.splitting_ops = list(compilation._attention_ops) if mode.requires_piecewise_compilation() else []
    compilation.cudagraph_capture_sizes = list(sizes)
    compilation.max_cudagraph_capture_size = max(sizes)
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
