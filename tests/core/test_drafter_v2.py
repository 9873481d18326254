"""The drafter under Model Runner V2: its draft-prefill and draft-decode graphs, and the capture size the
plan adds so that no draft-decode step runs eagerly. Checked against vLLM's own speculator managers in
tests/vllm/test_capture_plan_against_vllm.py and against vllm-ascend's in the contract tier."""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import CUDAGraphMode as M
from vllm_ascend_graphs.rules.capture_plan import TpAlignment, plan_capture_sizes
from vllm_ascend_graphs.rules.drafter import PROPOSERS, SpeculativeConfig
from vllm_ascend_graphs.rules.drafter_v2 import DECODE, PREFILL, plan_drafter_v2
from vllm_ascend_graphs.rules.graph_keys import (
    DecodeShape,
    ModelRunner,
    RuntimeGraphs,
    draft_decode_eager,
    eager_decode_batches,
)

V2 = ModelRunner.V2


def v2_shape(max_num_seqs: int, spec: int, budget: int | None = None, runner: ModelRunner = V2) -> DecodeShape:
    return DecodeShape(max_num_seqs, spec, budget, runner, draft_decode=spec >= 2)


def mtp(tokens: int) -> SpeculativeConfig:
    return SpeculativeConfig("mtp", tokens)


def test_draft_decode_graphs_hold_one_token_per_request_up_to_max_num_seqs():
    shape = v2_shape(12, 2)
    sizes = (1, 2, 4, 8, 16, 24, 32, 36)  # vLLM Ascend's grid and the target's ceiling: no 12
    assert draft_decode_eager(M.FULL_DECODE_ONLY, sizes, shape) == (9, 10, 11, 12)
    assert draft_decode_eager(M.FULL_DECODE_ONLY, (*sizes, 12), shape) == ()
    assert draft_decode_eager(M.PIECEWISE, sizes, shape) == ()  # no draft-decode graphs to miss
    assert draft_decode_eager(M.FULL_DECODE_ONLY, sizes, shape._replace(draft_decode=False)) == ()
    assert draft_decode_eager(M.FULL_DECODE_ONLY, sizes, shape._replace(runner=ModelRunner.V1)) == ()


@pytest.mark.parametrize("mode", [M.FULL_DECODE_ONLY, M.FULL_AND_PIECEWISE])
def test_the_plan_adds_max_num_seqs_for_the_draft_decode_steps(mode):
    plan = plan_capture_sizes(mode, v2_shape(12, 2))
    assert plan.sizes == (1, 2, 4, 8, 12, 16, 24, 32, 36)
    assert plan.notes[-1] == ("adds 12: draft-decode steps of 9-12 requests would otherwise run eagerly (Model "
                              "Runner V2 keys them at one token per request, up to max_num_seqs 12)")
    assert plan_capture_sizes(mode, v2_shape(12, 1)).sizes == (1, 2, 4, 8, 16, 24)  # K = 1: no draft decode


@pytest.mark.parametrize("runner", [V2, ModelRunner.V2_ROUNDING_SIZES])
@pytest.mark.parametrize("mode", [M.FULL_DECODE_ONLY, M.FULL_AND_PIECEWISE, M.FULL])
@pytest.mark.parametrize("spec", [2, 3])
@pytest.mark.parametrize("max_num_seqs", [1, 3, 7, 12, 20, 100, 300, 512])
def test_under_v2_no_target_or_draft_step_runs_eagerly(runner, mode, spec, max_num_seqs):
    shape = v2_shape(max_num_seqs, spec, runner=runner)
    plan = plan_capture_sizes(mode, shape)
    assert eager_decode_batches(mode, plan.sizes, shape) == ()
    # On vLLM 0.23 and 0.24 every size is a multiple of 1 + K: the steps above the largest one within
    # max_num_seqs stay eager. From vLLM 0.25: none.
    rounding = runner is ModelRunner.V2_ROUNDING_SIZES
    last = max_num_seqs // shape.query_len * shape.query_len if rounding else max_num_seqs
    expected = tuple(range(last + 1, max_num_seqs + 1))
    assert draft_decode_eager(mode, plan.sizes, shape) == expected


def test_on_vllm_0_23_the_draft_cover_is_a_multiple_of_the_decode_query_length():
    """There V2 rounds every size to a multiple of 1 + K, so the draft-decode steps above the largest multiple
    of 1 + K within max_num_seqs stay eager, and the note says why."""
    shape = v2_shape(7, 2, runner=ModelRunner.V2_ROUNDING_SIZES)
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, shape)
    assert 6 in plan.sizes and draft_decode_eager(M.FULL_DECODE_ONLY, plan.sizes, shape) == (7,)
    assert plan.notes[-1] == ("draft-decode steps of 7 requests run eagerly: Model Runner V2's draft-decode graphs "
                              "hold one token per request at sizes up to max_num_seqs 7 (sizes must be multiples of 3)")


def test_the_draft_cover_keeps_to_the_token_budget_and_to_multiples_of_tp():
    roomy = plan_capture_sizes(M.FULL_DECODE_ONLY, v2_shape(64, 3, budget=40))  # 10 requests: 16 holds them
    assert 10 not in roomy.sizes and draft_decode_eager(M.FULL_DECODE_ONLY, roomy.sizes, v2_shape(64, 3, 40)) == ()
    tight = plan_capture_sizes(M.FULL_DECODE_ONLY, v2_shape(10, 3, budget=40))  # draft graphs up to 10 only
    assert 10 in tight.sizes and draft_decode_eager(M.FULL_DECODE_ONLY, tight.sizes, v2_shape(10, 3, 40)) == ()
    aligned = plan_capture_sizes(M.FULL_DECODE_ONLY, v2_shape(11, 2), aligned=TpAlignment(2, "x"))
    assert 10 in aligned.sizes and all(size % 2 == 0 for size in aligned.sizes)
    assert draft_decode_eager(M.FULL_DECODE_ONLY, aligned.sizes, v2_shape(11, 2)) == (11,)


def test_user_sizes_are_kept_and_the_eager_draft_steps_named():
    plan = plan_capture_sizes(M.FULL_DECODE_ONLY, v2_shape(12, 2), sizes=(3, 6, 9, 36))
    assert plan.sizes == (3, 6, 9, 36)
    assert plan.notes[-1].startswith("draft-decode steps of 10-12 requests run eagerly")  # 1-9 pad to 3, 6, 9
    assert plan.notes[-1].endswith("(cudagraph_capture_sizes was given)")


def test_the_v2_drafter_follows_the_targets_keys_in_prefill_and_one_token_keys_in_decode():
    shape = v2_shape(12, 2)
    sizes = plan_capture_sizes(M.FULL_AND_PIECEWISE, shape).sizes
    plan = plan_drafter_v2(mtp(2), PROPOSERS["mtp"], M.FULL_AND_PIECEWISE, sizes, shape, graphs_on=True)
    assert (plan.model_runner, plan.eager, [p.phase for p in plan.phases]) == ("V2", None, [PREFILL, DECODE])
    prefill, decode = plan.phases
    assert prefill.graphs == RuntimeGraphs(full=(3, 6, 9, 12, 18, 24, 33, 36), piecewise=sizes)
    assert (prefill.tokens_per_request, prefill.eager_batches) == (3, ())
    assert decode.graphs == RuntimeGraphs(full=(1, 2, 4, 8, 12)) and decode.eager_batches == ()
    single = plan_drafter_v2(mtp(1), PROPOSERS["mtp"], M.FULL_AND_PIECEWISE, sizes, v2_shape(12, 1), graphs_on=True)
    assert [p.phase for p in single.phases] == [PREFILL]  # K = 1: the prefill is the only draft step


def test_v2_runs_piecewise_draft_decode_eagerly_and_ignores_v1s_eager_rules():
    shape = v2_shape(7, 2)
    sizes = plan_capture_sizes(M.PIECEWISE, shape).sizes
    plan = plan_drafter_v2(mtp(2), PROPOSERS["mtp"], M.PIECEWISE, sizes, shape, graphs_on=True)
    assert plan.phases[1].eager_batches == tuple(range(1, 8)) and plan.phases[1].graphs == RuntimeGraphs()
    assert plan.notes == ("drafter: draft-decode steps run eagerly: Model Runner V2 captures them in FULL graphs "
                          "only, and PIECEWISE's decode graphs are not FULL",)
    forced = SpeculativeConfig("eagle3", 2, enforce_eager=True)  # V1 would run it eagerly; V2 does not read it
    assert plan_drafter_v2(forced, PROPOSERS["eagle3"], M.PIECEWISE, sizes, shape, graphs_on=True).eager is None
    off = plan_drafter_v2(mtp(2), PROPOSERS["mtp"], M.NONE, (), shape, graphs_on=False)
    assert off.eager and off.phases == ()
    other = plan_drafter_v2(SpeculativeConfig("dflash", 2), PROPOSERS["dflash"], M.PIECEWISE, sizes, shape,
                            graphs_on=True)
    assert other.phases == () and other.notes == ("drafter: Model Runner V2's dflash speculator keys graphs of its "
                                                  "own, which the plan does not model",)
