"""The capture plan: vLLM Ascend's sizes as the model runner rounds them, plus the decode ceiling.

The dispatcher model here is checked against vLLM's own `CudagraphDispatcher` in
tests/vllm/test_capture_plan_against_vllm.py, and against vllm-ascend's model runner in the
contract tier (tests/ascend).
"""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import CUDAGraphMode as M
from vllm_ascend_graphs.errors import GraphConfigError
from vllm_ascend_graphs.rules.capture_plan import (
    TpAlignment,
    default_capture_sizes,
    plan_capture_sizes,
    round_for_decode,
    vllm_ascend_sizes,
)
from vllm_ascend_graphs.rules.graph_keys import (
    DecodeShape,
    ModelRunner,
    RuntimeGraphs,
    dispatch_decode,
    eager_decode_batches,
    runtime_graphs,
    spans,
)

DECODE_MODES = [M.FULL_DECODE_ONLY, M.FULL_AND_PIECEWISE, M.FULL, M.PIECEWISE]


def test_default_capture_sizes_follow_vllm():
    sizes = default_capture_sizes(512)
    assert sizes[:4] == (1, 2, 4, 8)
    assert sizes[-3:] == (480, 496, 512)
    assert all(b - a == 8 for a, b in zip(sizes[3:33], sizes[4:34], strict=True))
    assert default_capture_sizes(4) == (1, 2, 4)


@pytest.mark.parametrize(("shape", "kwargs", "expected"), [
    (DecodeShape(256), {}, default_capture_sizes(256)),
    (DecodeShape(8), {}, (1, 2, 4, 8)),
    (DecodeShape(8, spec_tokens=1), {}, (1, 2, 4, 8, 16)),  # max_num_seqs x (1 + K), not vLLM's x 2
    (DecodeShape(1024), {}, default_capture_sizes(512)),  # capped at 512
    (DecodeShape(12), {}, (1, 2, 4, 8)),  # off the grid: 9-12 requests find no size
    (DecodeShape(256), {"sizes": (8, 1, 4, 4)}, (1, 4, 8)),
    (DecodeShape(256), {"max_size": 24}, (1, 2, 4, 8, 16, 24)),
    # The token budget caps the grid, and is itself captured when it falls inside it.
    (DecodeShape(64, max_num_batched_tokens=36), {}, (1, 2, 4, 8, 16, 24, 32, 36)),
    (DecodeShape(64, max_num_batched_tokens=32), {"sizes": (16, 32, 64)}, (16, 32)),
])
def test_vllm_ascend_sizes(shape, kwargs, expected):
    assert vllm_ascend_sizes(shape, **kwargs) == expected


@pytest.mark.parametrize(("sizes", "multiple", "expected"), [
    ((1, 2, 4, 8, 16), 1, (1, 2, 4, 8, 16)),
    ((1, 2, 4, 8, 16), 2, (2, 4, 8, 16)),
    ((1, 2, 4, 8, 16, 24, 32), 3, (3, 6, 9, 18, 24)),  # 27 and 33 would pass the largest size, 32
    ((1, 2), 4, ()),  # nothing left: vLLM raises unless the multiple itself fits
    ((1, 2, 4), 4, (4,)),
    ((5, 6), 4, (4,)),  # nothing rounds within the largest size, but the multiple itself fits
])
def test_round_for_decode(sizes, multiple, expected):
    assert round_for_decode(sizes, multiple) == expected


@pytest.mark.parametrize(("mode", "expected"), [
    (M.NONE, RuntimeGraphs()),
    (M.PIECEWISE, RuntimeGraphs((), (1, 2, 4, 8, 16))),
    (M.FULL, RuntimeGraphs((1, 2, 4, 8, 16), ())),
    (M.FULL_DECODE_ONLY, RuntimeGraphs((1, 2, 4, 8), ())),  # decode graphs stop at max_num_seqs x (1 + K)
    (M.FULL_AND_PIECEWISE, RuntimeGraphs((1, 2, 4, 8), (1, 2, 4, 8, 16))),
])
def test_runtime_graphs(mode, expected):
    assert runtime_graphs(mode, (1, 2, 4, 8, 16), DecodeShape(max_num_seqs=10)) == expected


def test_decode_graphs_start_at_one_decode_step():
    graphs = runtime_graphs(M.FULL_DECODE_ONLY, (2, 4, 8, 16), DecodeShape(max_num_seqs=8, spec_tokens=3))
    assert graphs.full == (4, 8, 16)


@pytest.mark.parametrize(("mode", "requests", "expected"), [
    (M.FULL_DECODE_ONLY, 3, (M.FULL, 4)),
    (M.FULL_DECODE_ONLY, 9, (M.NONE, 9)),  # above the largest size
    (M.FULL_AND_PIECEWISE, 5, (M.FULL, 8)),
    (M.PIECEWISE, 5, (M.PIECEWISE, 8)),
    (M.FULL, 5, (M.FULL, 8)),
    (M.NONE, 1, (M.NONE, 1)),
])
def test_dispatch_decode(mode, requests, expected):
    assert dispatch_decode(mode, (1, 2, 4, 8), DecodeShape(max_num_seqs=12), requests) == expected


def test_a_decode_batch_padded_past_the_decode_graphs_replays_piecewise_or_nothing():
    shape = DecodeShape(max_num_seqs=12)
    assert dispatch_decode(M.FULL_AND_PIECEWISE, (1, 2, 4, 8, 16), shape, 10) == (M.PIECEWISE, 16)
    assert dispatch_decode(M.FULL_DECODE_ONLY, (1, 2, 4, 8, 16), shape, 10) == (M.NONE, 10)


# vllm-ascend issue #16049's deployments: (max_num_seqs, K, mode, the ceiling, eager without it)
ISSUE_CASES = [
    (12, 0, M.FULL_DECODE_ONLY, 12, "9-12"),
    (12, 0, M.FULL_AND_PIECEWISE, 12, "9-12"),
    (20, 0, M.FULL_AND_PIECEWISE, 20, "17-20"),
    (3, 0, M.FULL_AND_PIECEWISE, 3, "3"),
    (100, 2, M.FULL_DECODE_ONLY, 300, "97-100"),
    (7, 1, M.FULL_AND_PIECEWISE, 14, "5-7"),
    (512, 1, M.FULL_DECODE_ONLY, 1024, "257-512"),  # past vLLM Ascend's cap of 512 tokens
]


@pytest.mark.parametrize(("max_num_seqs", "spec", "mode", "ceiling", "eager"), ISSUE_CASES)
def test_the_ceiling_is_added_where_decode_batches_would_run_eagerly(max_num_seqs, spec, mode, ceiling, eager):
    shape = DecodeShape(max_num_seqs, spec)
    alone = round_for_decode(vllm_ascend_sizes(shape), shape.query_len)
    plan = plan_capture_sizes(mode, shape)
    assert set(plan.sizes) - set(alone) == {ceiling}
    assert max(plan.sizes) == ceiling  # never a padded size above it
    assert eager_decode_batches(mode, plan.sizes, shape) == ()
    assert plan.notes[-1] == (f"adds {ceiling}: decode batches of {eager} requests would otherwise run eagerly "
                              f"(max_num_seqs {max_num_seqs} x {1 + spec} tokens)")


@pytest.mark.parametrize("mode", DECODE_MODES)
@pytest.mark.parametrize("spec", [0, 1, 2, 3])
@pytest.mark.parametrize("max_num_seqs", [1, 2, 3, 5, 7, 8, 12, 20, 63, 64, 100, 130, 255, 256, 300, 511, 512])
def test_no_decode_batch_runs_eagerly_and_at_most_one_size_is_added(mode, spec, max_num_seqs):
    shape = DecodeShape(max_num_seqs, spec)
    plan = plan_capture_sizes(mode, shape)
    alone = vllm_ascend_sizes(shape)
    if mode.decode_mode is M.FULL:
        alone = round_for_decode(alone, shape.query_len)
    assert eager_decode_batches(mode, plan.sizes, shape) == ()
    assert len(set(plan.sizes) - set(alone)) <= 1 and set(alone) <= set(plan.sizes)
    assert max(plan.sizes) <= shape.ceiling


def test_on_the_grid_nothing_is_added():
    plan = plan_capture_sizes(M.FULL_AND_PIECEWISE, DecodeShape(64))
    assert plan == (default_capture_sizes(64), ())


def test_the_token_budget_limits_the_ceiling():
    shape = DecodeShape(100, spec_tokens=1, max_num_batched_tokens=90)  # at most 45 requests per decode step
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, shape)
    assert shape.max_requests == 45 and plan.sizes[-1] == 90
    assert eager_decode_batches(M.FULL_DECODE_ONLY, plan.sizes, shape) == ()


def test_sizes_the_user_gave_are_kept_and_the_eager_batches_named():
    plan = plan_capture_sizes(M.FULL_AND_PIECEWISE, DecodeShape(12), sizes=(1, 2, 4, 8))
    assert plan.sizes == (1, 2, 4, 8)
    assert plan.notes == ("decode batches of 9-12 requests run eagerly: no capture size holds them "
                          "(cudagraph_capture_sizes was given; 12 would cover them)",)


def test_a_largest_size_the_user_gave_is_kept_too():
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, DecodeShape(20), max_size=16)
    assert plan.sizes == (1, 2, 4, 8, 16)
    assert plan.notes == ("decode batches of 17-20 requests run eagerly: no capture size holds them "
                          "(max_cudagraph_capture_size was given; 20 would cover them)",)


def test_user_sizes_are_rounded_as_the_worker_will_round_them():
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, DecodeShape(4, spec_tokens=3), sizes=(1, 2, 5, 16))
    assert plan.sizes == (4, 8, 16)
    assert plan.notes[0] == ("capture sizes [1, 2, 5, 16] -> [4, 8, 16]: FULL decode graphs with 3 speculative "
                             "tokens take multiples of 4 (vLLM's model runner rounds them)")


def test_rounding_applies_only_to_full_decode_graphs():
    assert plan_capture_sizes(M.PIECEWISE, DecodeShape(8, spec_tokens=1)).sizes == (1, 2, 4, 8, 16)


def test_ascend_950_keeps_the_ceiling_among_its_four_piecewise_sizes():
    plan = plan_capture_sizes(M.FULL_AND_PIECEWISE, DecodeShape(100), soc="950")
    assert len(plan.sizes) == 4 and plan.sizes[0] == 1 and plan.sizes[-1] == 100
    assert eager_decode_batches(M.FULL_AND_PIECEWISE, plan.sizes, DecodeShape(100)) == ()
    assert plan_capture_sizes(M.FULL_DECODE_ONLY, DecodeShape(100), soc="950").sizes[-2:] == (96, 100)


def test_no_sizes_without_graphs():
    assert plan_capture_sizes(M.NONE, DecodeShape(12), sizes=(1, 2)) == ((), ())


def test_user_sizes_that_rounding_empties_are_an_error():
    with pytest.raises(GraphConfigError) as error:
        plan_capture_sizes(M.FULL_DECODE_ONLY, DecodeShape(4, spec_tokens=3), sizes=(1, 2))
    assert str(error.value) == (
        "compilation_config.cudagraph_capture_sizes: got [1, 2], all below 4, the tokens of one decode step with 3 "
        "speculative tokens; allowed: a size of at least 4 (vLLM's FULL decode graphs need one)")


def test_user_sizes_above_the_token_budget_are_an_error():
    with pytest.raises(GraphConfigError) as error:
        plan_capture_sizes(M.PIECEWISE, DecodeShape(4, max_num_batched_tokens=8), sizes=(16, 32))
    assert str(error.value) == (
        "compilation_config.cudagraph_capture_sizes: got [16, 32], none of which fits the 8 tokens of "
        "max_num_batched_tokens; allowed: at least one size up to it")


# -- vLLM Ascend's TP-multiple rule (sequence parallelism and kin) ------------------------------

FLASHCOMM = TpAlignment(2, "additional_config.enable_flashcomm1")


def test_tp_alignment_keeps_multiples_of_tp_and_says_why():
    plan = plan_capture_sizes(M.FULL_AND_PIECEWISE, DecodeShape(64), aligned=FLASHCOMM)
    assert plan.sizes == tuple(s for s in default_capture_sizes(64) if s % 2 == 0)
    assert plan.notes == ("capture sizes 11 sizes [1, 2, 4, ..., 64] -> 10 sizes [2, 4, 8, ..., 64]: vLLM Ascend "
                          "keeps multiples of tensor_parallel_size 2 with additional_config.enable_flashcomm1",)


def test_with_tp_alignment_the_ceiling_is_rounded_up_to_tp_where_graphs_hold_it():
    plan = plan_capture_sizes(M.FULL_AND_PIECEWISE, DecodeShape(7), aligned=FLASHCOMM)
    assert plan.sizes == (2, 4, 8) and eager_decode_batches(M.FULL_AND_PIECEWISE, plan.sizes, DecodeShape(7)) == ()
    assert plan.notes[-1] == ("adds 8: decode batches of 5-7 requests would otherwise run eagerly (max_num_seqs 7 x 1 "
                              "tokens, as a multiple of 2)")


def test_with_tp_alignment_full_decode_graphs_stop_at_max_num_seqs_so_the_ceiling_is_rounded_down():
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, DecodeShape(7), aligned=FLASHCOMM)
    assert plan.sizes == (2, 4, 6)
    assert plan.notes[1:] == (
        "adds 6: decode batches of 5-6 requests would otherwise run eagerly (max_num_seqs 7 x 1 tokens, as a "
        "multiple of 2)",
        "decode batches of 7 requests run eagerly: no capture size holds them (sizes must be multiples of 2, and "
        "FULL decode graphs hold at most 7 tokens)")


def test_with_tp_alignment_spec_decode_rounds_to_the_larger_of_both():
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, DecodeShape(12, spec_tokens=1), aligned=TpAlignment(4, "x"))
    assert all(s % 4 == 0 for s in plan.sizes) and plan.sizes[-1] == 24


def test_tp_alignment_and_spec_decode_that_share_no_multiple_are_an_error():
    with pytest.raises(GraphConfigError) as error:
        plan_capture_sizes(M.FULL_DECODE_ONLY, DecodeShape(12, spec_tokens=2), aligned=FLASHCOMM)
    assert str(error.value) == (
        "speculative_config.num_speculative_tokens: got 2, but FULL decode graphs need sizes that are multiples of "
        "both 3 (1 + num_speculative_tokens) and tensor_parallel_size 2 (additional_config.enable_flashcomm1); "
        "allowed: num_speculative_tokens + 1 dividing 2 or a multiple of it, or additional_config.enable_flashcomm1 "
        "off")


def test_user_sizes_without_a_multiple_of_tp_are_an_error():
    with pytest.raises(GraphConfigError) as error:
        plan_capture_sizes(M.PIECEWISE, DecodeShape(12), sizes=(1, 3), aligned=FLASHCOMM)
    assert str(error.value) == (
        "compilation_config.cudagraph_capture_sizes: got [1, 3], no multiple of tensor_parallel_size 2, which "
        "additional_config.enable_flashcomm1 requires; allowed: sizes that are multiples of 2")


@pytest.mark.parametrize("mode", [*DECODE_MODES, M.NONE])
@pytest.mark.parametrize("sizes", [(1, 2, 4, 8), (2, 4, 8, 16), (4, 12, 16), (3, 6, 48), (1,), (8, 64, 100)])
@pytest.mark.parametrize(("max_num_seqs", "spec"), [(12, 0), (7, 1), (20, 2), (16, 3), (100, 0), (2, 0)])
def test_the_eager_batches_are_those_the_dispatcher_gives_no_graph(mode, sizes, max_num_seqs, spec):
    shape = DecodeShape(max_num_seqs, spec)
    one_by_one = tuple(n for n in range(1, max_num_seqs + 1) if dispatch_decode(mode, sizes, shape, n)[0] is M.NONE)
    assert eager_decode_batches(mode, sizes, shape) == (() if mode is M.NONE else one_by_one)


def test_a_mode_with_graphs_but_no_sizes_runs_every_decode_batch_eagerly():
    assert dispatch_decode(M.FULL_DECODE_ONLY, (), DecodeShape(4), 1) == (M.NONE, 1)


def test_spans_name_each_run_of_request_counts():
    assert spans((1, 2, 3, 5, 7, 8)) == "1-3, 5, 7-8"


def test_user_sizes_keep_their_multiples_of_tp():
    plan = plan_capture_sizes(M.PIECEWISE, DecodeShape(24), sizes=(1, 2, 4, 8, 16, 24), aligned=FLASHCOMM)
    assert plan.sizes == (2, 4, 8, 16, 24)
    assert plan.notes == ("capture sizes [1, 2, 4, 8, 16, 24] -> [2, 4, 8, 16, 24]: vLLM Ascend keeps multiples of "
                          "tensor_parallel_size 2 with additional_config.enable_flashcomm1",)


def test_the_covering_size_stays_within_the_token_budget():
    shape = DecodeShape(64, max_num_batched_tokens=30)  # 30 requests at most; 32 would pass the budget
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, shape, aligned=TpAlignment(4, "x"))
    assert plan.sizes[-1] == 28
    assert plan.notes[-1] == ("decode batches of 29-30 requests run eagerly: no capture size holds them (sizes must "
                              "be multiples of 4, and max_num_batched_tokens is 30)")


def test_a_covering_size_equal_to_the_token_budget_is_kept():
    shape = DecodeShape(30, max_num_batched_tokens=32)  # 30 tokens at most: 32 is the multiple of 4 that holds them
    plan = plan_capture_sizes(M.FULL_AND_PIECEWISE, shape, aligned=TpAlignment(4, "x"))
    assert plan.sizes == (4, 8, 16, 24, 32) and eager_decode_batches(M.FULL_AND_PIECEWISE, plan.sizes, shape) == ()


def test_notes_show_a_list_of_seven_sizes_short():
    plan = plan_capture_sizes(M.PIECEWISE, DecodeShape(32), aligned=FLASHCOMM)
    assert plan.notes[0].startswith("capture sizes 7 sizes [1, 2, 4, ..., 32] -> [2, 4, 8, 16, 24, 32]: ")


def test_one_size_above_the_multiple_leaves_the_multiple():
    assert round_for_decode((5,), 4) == (4,)


def test_the_eager_note_names_the_full_decode_limit_where_the_budget_is_not_the_limit():
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, DecodeShape(7, max_num_batched_tokens=8), aligned=FLASHCOMM)
    assert plan.notes[-1] == ("decode batches of 7 requests run eagerly: no capture size holds them (sizes must be "
                              "multiples of 2, and FULL decode graphs hold at most 7 tokens)")


# -- Model Runner V2 (checked against vLLM's own CudaGraphManager in tests/vllm) -----------------

V2, V2_ROUNDING = ModelRunner.V2, ModelRunner.V2_ROUNDING_SIZES


def test_v2_keeps_the_sizes_and_rounds_its_decode_graphs_up_within_the_largest_size():
    shape = DecodeShape(max_num_seqs=8, spec_tokens=2, runner=V2)  # FULL decode graphs up to 24 tokens
    assert runtime_graphs(M.FULL_DECODE_ONLY, (1, 2, 4, 8, 16), shape) == RuntimeGraphs(full=(3, 6, 9))  # 18 > 16
    assert runtime_graphs(M.FULL_AND_PIECEWISE, (1, 2, 4, 8, 16, 32), shape) == RuntimeGraphs(
        full=(3, 6, 9, 18), piecewise=(1, 2, 4, 8, 16, 32))  # 33 > 24
    assert runtime_graphs(M.FULL, (1, 2, 4), shape) == RuntimeGraphs(full=(1, 2, 4))  # mixed FULL graphs only
    assert runtime_graphs(M.FULL_DECODE_ONLY, (1, 2, 4), shape._replace(runner=ModelRunner.V1)).full == (4,)


def test_v2_pads_a_decode_batch_to_the_smallest_graph_that_holds_it():
    shape, sizes = DecodeShape(max_num_seqs=12, spec_tokens=2, runner=V2), (1, 2, 4, 8, 16)
    assert [dispatch_decode(M.FULL_AND_PIECEWISE, sizes, shape, n) for n in (1, 2, 3, 4, 5, 6)] == [
        (M.FULL, 3), (M.FULL, 6), (M.FULL, 9), (M.PIECEWISE, 16), (M.PIECEWISE, 16), (M.NONE, 18)]
    assert dispatch_decode(M.FULL_DECODE_ONLY, sizes, shape, 4) == (M.NONE, 12)  # no graph holds 12 tokens
    rounded = DecodeShape(8, spec_tokens=1, runner=V2_ROUNDING)  # its sizes are multiples of 2: it pads as V1
    assert dispatch_decode(M.FULL_AND_PIECEWISE, (2, 4, 8, 16), rounded, 3) == (M.FULL, 8) == dispatch_decode(
        M.FULL_AND_PIECEWISE, (2, 4, 8, 16), rounded._replace(runner=ModelRunner.V1), 3)


def test_v2_on_vllm_0_23_rounds_the_sizes_in_every_mode():
    plan = plan_capture_sizes(M.PIECEWISE, DecodeShape(8, spec_tokens=1, runner=V2_ROUNDING))
    assert plan.sizes == (2, 4, 8, 16)
    assert plan.notes == ("capture sizes [1, 2, 4, 8, 16] -> [2, 4, 8, 16]: Model Runner V2 with 1 speculative token "
                          "takes multiples of 2 (its CudaGraphManager rounds them)",)
    with pytest.raises(GraphConfigError, match=r"all below 4, .*\(Model Runner V2 needs one\)$"):
        plan_capture_sizes(M.PIECEWISE, DecodeShape(4, spec_tokens=3, runner=V2_ROUNDING), sizes=(1, 2))
    assert plan_capture_sizes(M.FULL_AND_PIECEWISE, DecodeShape(8, spec_tokens=1, runner=V2)).sizes == (
        1, 2, 4, 8, 16)  # from vLLM 0.25: kept


@pytest.mark.parametrize("runner", [V2, V2_ROUNDING])
@pytest.mark.parametrize("mode", DECODE_MODES)
@pytest.mark.parametrize("spec", [0, 1, 2, 3])
@pytest.mark.parametrize("max_num_seqs", [1, 3, 7, 12, 20, 100, 255, 300, 512])
def test_under_v2_no_decode_batch_runs_eagerly_and_at_most_one_size_is_added(runner, mode, spec, max_num_seqs):
    shape = DecodeShape(max_num_seqs, spec, runner=runner)
    plan = plan_capture_sizes(mode, shape)
    alone = vllm_ascend_sizes(shape)
    if runner is V2_ROUNDING:
        alone = round_for_decode(alone, shape.query_len)
    assert eager_decode_batches(mode, plan.sizes, shape) == ()
    assert set(alone) <= set(plan.sizes) and len(set(plan.sizes) - set(alone)) <= 1
    assert max(plan.sizes) <= shape.ceiling


@pytest.mark.parametrize("runner", [V2, V2_ROUNDING])
@pytest.mark.parametrize("mode", [*DECODE_MODES, M.NONE])
@pytest.mark.parametrize("sizes", [(1, 2, 4, 8), (2, 4, 8, 16), (4, 12, 16), (3, 6, 48), (1,), (8, 64, 100)])
@pytest.mark.parametrize(("max_num_seqs", "spec"), [(12, 0), (7, 1), (20, 2), (16, 3)])
def test_under_v2_the_eager_batches_are_those_it_dispatches_to_no_graph(runner, mode, sizes, max_num_seqs, spec):
    shape = DecodeShape(max_num_seqs, spec, runner=runner)
    one_by_one = tuple(n for n in range(1, max_num_seqs + 1) if dispatch_decode(mode, sizes, shape, n)[0] is M.NONE)
    assert eager_decode_batches(mode, sizes, shape) == (() if mode is M.NONE else one_by_one)


def test_under_v2_with_tp_alignment_the_covering_size_is_its_own_decode_graph():
    """A multiple of TP that is no multiple of 1 + K would be rounded up past itself, the largest size."""
    shape = DecodeShape(8, spec_tokens=2, runner=V2)  # 24 tokens at most
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, shape, aligned=TpAlignment(4, "x"))
    assert plan.sizes[-1] == 24 and eager_decode_batches(M.FULL_DECODE_ONLY, plan.sizes, shape) == ()
    tight = DecodeShape(7, spec_tokens=2, runner=V2)  # 21 tokens: no multiple of 2 and 3 in reach holds them
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, tight, aligned=FLASHCOMM)
    assert eager_decode_batches(M.FULL_DECODE_ONLY, plan.sizes, tight) == (7,)
    assert plan.notes[-1] == ("decode batches of 7 requests run eagerly: no capture size holds them (sizes must be "
                              "multiples of 6, and FULL decode graphs hold at most 21 tokens)")
