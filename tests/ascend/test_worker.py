"""The worker stage: what vllm-ascend's model runner resolves and captures at worker start is what
the record says, and every decode batch the scheduler can form replays a graph.

`worker_stage.py` runs vllm-ascend's own `_check_and_update_cudagraph_mode` on a worker's copy of
each case's config, with our plugin's worker hook in place (vLLM's `CudagraphDispatcher`).
"""

from __future__ import annotations

import pytest
from cases import CASES, Case
from test_contract import VERSION, result_of, where

from vllm_ascend_graphs import CUDAGraphMode

RUNNERS = {"vllm_ascend.worker.worker.NPUWorker": "vllm_ascend.worker.model_runner_v1.NPUModelRunner",
           "vllm_ascend.xlite.xlite_worker.XliteWorker": "vllm_ascend.xlite.xlite_model_runner.XliteModelRunner",
           "vllm_ascend._310p.worker_310p.NPUWorker310": "vllm_ascend._310p.model_runner_310p.NPUModelRunner310"}
V2_RUNNER = "vllm_ascend.worker.v2.model_runner.NPUModelRunner"
V2_GRAPH_MANAGER = "vllm_ascend.worker.v2.aclgraph_utils.ModelAclGraphManager"
MLA_MODELS = ("deepseek-v3",)
MODEL_RUNNER = "vLLM's model runner"
FIELDS = ("cudagraph_mode", "capture_sizes", "graphs")

built = [case for case in CASES if case.error is None]
ids = [case.id for case in built]


def worker_of(contract, case: Case) -> dict:
    return result_of(contract, case)["worker"]


def new_overrides(contract, case: Case) -> list[dict]:
    """Overrides the worker added to the record it received."""
    front = result_of(contract, case)["config"]["record"]
    return worker_of(contract, case)["record"]["overrides"][len(front["overrides"]):]


@pytest.mark.parametrize("case", built, ids=ids)
def test_the_worker_runs_vllm_ascends_model_runner_and_attention_backend(contract, case):
    config, worker = result_of(contract, case)["config"], worker_of(contract, case)
    v2 = case.expect(VERSION).model_runner == "V2"
    assert worker["runner"] == (V2_RUNNER if v2 else RUNNERS[config["worker_cls"]]), where(case)
    assert worker.get("graph_manager") == (V2_GRAPH_MANAGER if v2 else None), where(case)
    if case.soc == "310P":
        backend = "vllm_ascend._310p.attention.attention_v1.AscendAttentionBackend310"
    elif case.model in MLA_MODELS:
        backend = "vllm_ascend.attention.mla_v1.AscendMLABackend"
    else:
        backend = "vllm_ascend.attention.attention_v1.AscendAttentionBackend"
    assert worker["attention_backend"] == backend


@pytest.mark.parametrize("case", built, ids=ids)
def test_the_worker_class_holds_the_plan_and_a_node_of_another_soc_refuses_it(contract, case):
    """At the start of vllm-ascend's worker class (its `WorkerBase.__init__`), the worker says at DEBUG that it
    holds the plan, whose recorded environment it shares; on a node of another SoC (`ASCEND_GRAPHS_ASSUME`),
    a plan that assumed the SoC is refused with one line naming it, and any other plan is held."""
    record, start = result_of(contract, case)["config"]["record"], worker_of(contract, case)["start"]
    host, environment = record["environment"]["host"], record["environment"]
    plan = f"{record['backend']}, cudagraph_mode {record['cudagraph_mode']}"
    worker = f"graph backend: worker rank 0 (data-parallel rank 0) on host {host}"
    assert start["refused"] is None
    assert [level for level, _ in start["logged"]] == ["DEBUG"]
    assert start["logged"][0][1].startswith(f"{worker} holds the plan made on host {host} ({plan}; assumed of the "
                                            "environment: ")
    if "soc" in environment:
        assert environment["soc"] == case.soc and environment["vllm_ascend"]["source"].endswith("(installed)")
        assert start["elsewhere"] == (f"{worker} cannot carry the plan made on host {host} ({plan}): "
                                      f"SoC {start['other_soc']} here, the plan assumed SoC {case.soc}")
    else:
        assert record["backend"] == "eager" and start["elsewhere"] is None


@pytest.mark.parametrize("case", built, ids=ids)
def test_the_record_holds_what_the_worker_resolves_and_captures(contract, case):
    """The record the worker received predicts its mode, sizes and graphs per runtime mode, except
    where the case expects the model runner to override it; its own record then says what it did."""
    front, worker = result_of(contract, case)["config"]["record"], worker_of(contract, case)
    predicted = {field: front[field] for field in FIELDS}
    for override in new_overrides(contract, case):
        assert override["planned"] == predicted[override["setting"]]
        predicted[override["setting"]] = override["effective"]
    resolved = {field: worker[field] for field in FIELDS}
    assert resolved == predicted
    assert {field: worker["record"][field] for field in FIELDS} == resolved


@pytest.mark.parametrize("case", built, ids=ids)
def test_the_record_names_the_model_runner_that_keys_the_graphs(contract, case):
    """V1 or V2, as the worker builds it: the plan follows what vLLM Ascend's worker does with
    VLLM_USE_V2_MODEL_RUNNER=1 (XliteWorker, the 310P worker and 0.23.0.post1 on vLLM 0.23.0 run V1)."""
    front, worker = result_of(contract, case)["config"]["record"], worker_of(contract, case)
    assert front["model_runner"] == worker["record"]["model_runner"] == case.expect(VERSION).model_runner, where(case)


@pytest.mark.parametrize("case", built, ids=ids)
def test_the_worker_hook_compares_what_the_model_runner_keys_once(contract, case):
    """Our hook on the dispatcher (V1) or on `ModelCudaGraphManager` (V2) runs once in the worker, on the
    graphs the model runner really keys; proposers' and drafters' keys are left out."""
    worker = worker_of(contract, case)
    assert worker["reconciled"] == [worker["graphs"]], where(case)


@pytest.mark.parametrize("case", built, ids=ids)
def test_worker_overrides_are_exactly_the_expected_ones_and_said(contract, case):
    worker = worker_of(contract, case)
    found = new_overrides(contract, case)
    assert [o["setting"] for o in found] == list(case.worker_overrides)
    assert all(o["by"] == MODEL_RUNNER for o in found)
    texts = [f"{MODEL_RUNNER} changed {o['setting']}" for o in found]
    warnings = [message for level, message in worker["logged"] if level == "WARNING"]
    assert len(warnings) == len(texts) and all(t in w for t, w in zip(texts, warnings, strict=True))
    assert [level for level, _ in worker["logged"]] == ["WARNING"] * len(texts)  # no second INFO line
    assert all(t in worker["record"]["summary"] for t in texts)


@pytest.mark.parametrize("case", built, ids=ids)
def test_every_decode_batch_replays_a_graph_where_the_plan_chose_the_sizes(contract, case):
    """Decode batches of 1 to max_num_seqs requests (as many as the token budget allows) replay a
    graph; where the user gave the sizes, the record names exactly the batches that run eagerly."""
    worker = worker_of(contract, case)
    eager = [requests for requests, (mode, _) in enumerate(worker["decode"], start=1) if mode == "NONE"]
    if worker["cudagraph_mode"] == "NONE":
        assert len(eager) == len(worker["decode"])
    elif case.user_sizes:
        named = [n for n in worker["record"]["notes"] if "run eagerly: no capture size holds them" in n]
        assert len(named) == (1 if eager else 0)
        assert all(n.startswith(f"decode batches of {span(eager)} requests run eagerly") for n in named)
    elif not case.worker_overrides:
        assert eager == []


@pytest.mark.parametrize("case", [c for c in built if not c.user_sizes], ids=[c.id for c in built if not c.user_sizes])
def test_no_capture_size_is_padded_above_the_decode_ceiling(contract, case):
    """The plan adds at most the ceiling, max_num_seqs x (1 + K) within the token budget (rounded up to
    a multiple of TP where sequence parallelism needs one; a draft model's first pass, with more tokens
    per request, rounded up to a multiple of 1 + K): nothing larger than it, or than vLLM Ascend's own
    largest size."""
    worker = worker_of(contract, case)
    if not worker["capture_sizes"]:
        return
    query_len, budget = worker["query_len"], worker["max_num_batched_tokens"]
    tp = case.engine.get("tensor_parallel_size", 1)
    step = max(query_len, tp) if case.additional.get("enable_flashcomm1") else 1
    drafter = result_of(contract, case)["config"]["record"]["drafter"]
    phases = (drafter or {}).get("phases", {}).values()
    per_request = max([query_len, *(phase["tokens_per_request"] for phase in phases)])
    step = max(step, query_len) if per_request > query_len else step
    ceiling = -(-len(worker["decode"]) * per_request // step) * step
    own_largest = min(worker["max_num_seqs"] * query_len, 512, budget)  # vLLM Ascend's default, within the budget
    assert max(worker["capture_sizes"]) <= max(ceiling, own_largest)


def span(batches: list[int]) -> str:
    from vllm_ascend_graphs.rules.graph_keys import spans

    return spans(tuple(batches))


V2_DRAFTERS = [case for case in built if case.model_runner_v2 and case.spec_tokens]


@pytest.mark.parametrize("case", V2_DRAFTERS, ids=[c.id for c in V2_DRAFTERS])
def test_v2s_draft_graphs_are_the_plans_and_no_draft_step_runs_eagerly(contract, case):
    """vllm-ascend's speculator keys its draft-prefill and draft-decode graphs as the record's drafter says
    (`rules/drafter_v2.py`, on the mode and sizes the record holds); where decode graphs are FULL no draft
    step of any decode batch runs eagerly (the plan adds max_num_seqs for the draft-decode steps)."""
    from vllm_ascend_graphs.rules.drafter import DrafterPlan

    worker = worker_of(contract, case)
    if case.expect(VERSION).model_runner != "V2":
        assert worker.get("drafter_v2") is None, where(case)  # its V1 runner: the drafters' own cases
        return
    drafter, record = worker["drafter_v2"], worker["record"]
    assert drafter["speculator"].startswith("vllm_ascend.worker.v2.spec_decode."), where(case)
    assert {p["manager"] for p in drafter["phases"].values()} == {
        "vllm_ascend.worker.v2.spec_decode.eagle.aclgraph.EagleAclGraphManager"}, where(case)
    plan = DrafterPlan.from_dict(record["drafter"])
    assert plan.model_runner == "V2" and plan.eager is None, where(case)
    mode = CUDAGraphMode[record["cudagraph_mode"]]
    assert list(drafter["phases"]) == [phase.phase for phase in plan.phases], where(case)
    for phase in plan.phases:
        found = drafter["phases"][phase.phase]
        eager = [n for n, (runtime_mode, _) in enumerate(found["dispatch"], start=1) if runtime_mode == "NONE"]
        assert found["graphs"] == phase.graphs.to_dict(), (where(case), phase.phase)
        assert eager == list(phase.eager_batches), (where(case), phase.phase)
        if mode.decode_mode is CUDAGraphMode.FULL:
            assert eager == [], (where(case), phase.phase)
