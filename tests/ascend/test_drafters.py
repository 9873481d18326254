"""Drafters and KV connectors against the real code: the proposer vllm-ascend's V1 model runner builds
(`drafter_stage.py`), what it captures and how it dispatches each decode batch's draft, are what the
record's `drafter` section says; where the real start raises, the plan chose a configuration that
starts or gave one error line first; and the KV connector's own class decides the mode the record holds.
"""

from __future__ import annotations

import pytest
from cases import CASES, Case
from test_contract import VERSION, result_of, where

# The drafters of the V1 model runner (Model Runner V2's speculators: test_worker.py).
DRAFTING = [c for c in CASES if c.expect(VERSION).error is None and c.expect(VERSION).model_runner == "V1"
            and c.engine.get("speculative_config", {}).get("method") not in (None, "ngram")]
RAISING = [c for c in CASES if c.raises_without_plugin]
KV = [c for c in CASES if "kv_transfer_config" in c.engine]
MODES_WITHOUT_FULL_GRAPHS = ("NONE", "PIECEWISE")


def ids(cases: list[Case]) -> list[str]:
    return [case.id for case in cases]


def drafters(contract, case: Case) -> tuple[dict, dict]:
    """(the record's drafter section, what the worker's real proposer did)."""
    result = result_of(contract, case)
    return result["config"]["record"]["drafter"], result["worker"]["drafter"]


@pytest.mark.parametrize("case", DRAFTING, ids=ids(DRAFTING))
def test_the_model_runner_builds_the_recorded_proposer(contract, case):
    record, real = drafters(contract, case)
    assert "error" not in real, f"{where(case)}: {real}"
    module, _, name = real["proposer"].rpartition(".")
    assert module.startswith("vllm_ascend.spec_decode.") and name == record["proposer"], f"{where(case)}: {real}"
    assert record["method"] == case.engine["speculative_config"]["method"], where(case)


@pytest.mark.parametrize("case", DRAFTING, ids=ids(DRAFTING))
def test_the_drafter_runs_graphs_exactly_where_the_record_says(contract, case):
    """The proposer's own `use_cuda_graph`; without it, it dispatches no draft at all; with it, it captures
    on the model runner's keys, which the record's phase holds."""
    record, real = drafters(contract, case)
    worker = result_of(contract, case)["worker"]
    assert (record["eager"] is None) == real["use_cuda_graph"], f"{where(case)}: {record['eager']}"
    if record["eager"] is not None:
        assert record["phases"] == {} and real["decode"] == [None] * len(worker["decode"]), where(case)
        return
    (phase,) = record["phases"].values()
    assert {"FULL": phase["FULL"], "PIECEWISE": phase["PIECEWISE"]} == worker["graphs"], where(case)


@pytest.mark.parametrize("case", DRAFTING, ids=ids(DRAFTING))
def test_each_decode_batch_drafts_where_the_record_says(contract, case):
    """For a decode batch of 1 to max_num_seqs requests, the real proposer's first pass and the runtime mode
    the dispatcher gave it: eager exactly for the batches the record names, and every graph it replays
    is one the record's phase holds."""
    record, real = drafters(contract, case)
    if record["eager"] is not None:
        return
    (phase,) = record["phases"].values()
    eager = []
    for requests, (mode, padded, first_pass) in enumerate(real["decode"], start=1):
        assert first_pass == requests * phase["tokens_per_request"], f"{where(case)}: {requests} requests"
        if mode == "NONE":
            eager.append(requests)
        else:
            assert padded in phase[mode] and padded >= first_pass, f"{where(case)}: {requests} -> {mode} {padded}"
    assert eager == phase["eager_decode_batches"], where(case)


SPECULATIVE = [c for c in CASES if c.expect(VERSION).error is None and "speculative_config" in c.engine]


@pytest.mark.parametrize("case", SPECULATIVE, ids=ids(SPECULATIVE))
def test_explain_predicts_the_drafter(contract, case):
    result = result_of(contract, case)
    assert result["explain"]["drafter"] == result["config"]["record"]["drafter"], where(case)


@pytest.mark.parametrize("case", RAISING, ids=ids(RAISING))
def test_where_the_real_start_raises_the_plan_starts_or_says_why_first(contract, case):
    """Without our plugin, vllm-ascend's model runner raises at start (its proposer); with it, the plan's
    configuration starts (a mode without full graphs, noted), or the user's explicit request is one line
    from the plugin before any worker starts."""
    result = contract[case.id]
    assert result["without_plugin"]["drafter"]["error"].startswith(case.raises_without_plugin), where(case)
    if case.expect(VERSION).error:
        assert "config" not in result, where(case)  # our error came first (test_contract checks its text)
        return
    record, real = result["config"]["record"], result["worker"]["drafter"]
    assert "error" not in real and record["cudagraph_mode"] in MODES_WITHOUT_FULL_GRAPHS, where(case)
    assert any("disable_padded_drafter_batch" in note for note in record["notes"]), where(case)


@pytest.mark.parametrize("case", KV, ids=ids(KV))
def test_the_kv_connectors_own_class_decides_the_recorded_mode(contract, case):
    """vLLM asks the connector's real class (`requires_piecewise_for_cudagraph`) before any platform pass:
    without our plugin vLLM and vllm-ascend arrive at the mode the record holds; a forced PIECEWISE names
    the connector in a note."""
    result = result_of(contract, case)
    record = result["config"]["record"]
    assert result["without_plugin"]["cudagraph_mode"] == record["cudagraph_mode"], where(case)
    connector = case.engine["kv_transfer_config"]["kv_connector"]
    named = [note for note in record["notes"] if "KV connector" in note and connector in note]
    assert bool(named) == (record["cudagraph_mode"] == "PIECEWISE"), f"{where(case)}: {record['notes']}"
