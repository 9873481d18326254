"""`additional_config` picks the graph backend in vLLM's offline LLM API (CPU build, tiny model)."""

from __future__ import annotations

import logging
import os
import traceback

import pytest

from vllm_ascend_graphs import BackendUnavailableError, GraphConfigError
from vllm_ascend_graphs.integrations.vllm import decision_of

PROMPTS = [[1, 17, 42, 99, 7], [1, 5, 5, 200], [1, 300, 12, 61, 88, 3, 9]]
NEW_TOKENS = 12


def greedy_vllm(llm) -> list[list[int]]:
    from vllm import SamplingParams

    params = SamplingParams(temperature=0, max_tokens=NEW_TOKENS, ignore_eos=True)
    outputs = llm.generate([{"prompt_token_ids": ids} for ids in PROMPTS], params, use_tqdm=False)
    return [list(output.outputs[0].token_ids) for output in outputs]


@pytest.fixture(scope="module")
def transformers_greedy(tiny_model) -> list[list[int]]:
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    results = []
    for ids in PROMPTS:
        out = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=NEW_TOKENS,
                             min_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0)
        results.append(out[0, len(ids):].tolist())
    return results


@pytest.mark.parametrize("backend", ["auto", "eager"])
def test_greedy_output_matches_transformers(make_llm, transformers_greedy, backend):
    llm = make_llm(additional_config={"graph_backend": backend})
    assert decision_of(llm)["backend"] == "eager"
    assert greedy_vllm(llm) == transformers_greedy


def test_auto_decides_logs_once_and_records_the_plan(make_llm, plugin_log):
    llm = make_llm(additional_config={"graph_backend": "auto"})
    decision = decision_of(llm)
    assert decision["backend"] == "eager" and decision["cudagraph_mode"] == "NONE"
    assert decision["requested"] == "auto" and plugin_log(logging.WARNING) == []  # auto's choice is no fallback
    assert decision["trail"][0] == {"backend": "aclgraph", "selected": False,
                                    "reason": "no Ascend NPU here (device: cpu)"}
    assert plugin_log(logging.INFO) == [
        "graph backend: eager, cudagraph_mode NONE (aclgraph: no Ascend NPU here (device: cpu); "
        "native: vLLM's cpu platform captures no graphs; xlite: not requested)"]
    assert "graph backend note: fallback chain: aclgraph -> native -> eager" in plugin_log(logging.DEBUG)
    assert "vLLM's cpu platform captures no graphs" in decision["notes"]
    assert decision["overrides"] == [] and decision["worker_cls"].endswith("CPUWorker")
    config = llm.llm_engine.vllm_config
    assert config.compilation_config.cudagraph_mode.name == "NONE"
    assert config.additional_config["ascend_compilation_config"]["enable_npugraph_ex"] is False
    assert config.additional_config["xlite_graph_config"]["enabled"] is False


def test_an_unknown_backend_raises_naming_the_choices(make_llm):
    with pytest.raises(GraphConfigError) as info:
        make_llm(additional_config={"graph_backend": "cudagrph"})
    assert str(info.value).startswith("additional_config.graph_backend: unknown graph backend 'cudagrph'")
    assert "allowed: auto, aclgraph, eager, native, xlite" in str(info.value)


def test_bad_keys_raise_the_config_error_with_the_key(make_llm, plugin_log):
    with pytest.raises(GraphConfigError, match=r"additional_config.xlite_graph_config.full_mode: got 'yes'") as info:
        make_llm(additional_config={"xlite_graph_config": {"full_mode": "yes"}})
    # Logged at ERROR first (a server prints its traceback before the message), and the traceback
    # starts where the engine config is built, not inside our parser.
    assert plugin_log(logging.ERROR) == [str(info.value)]
    innermost = traceback.extract_tb(info.value.__traceback__)[-1]
    assert innermost.name == "create_engine_config" and innermost.filename.endswith(
        os.path.join("integrations", "vllm", "__init__.py"))


def test_vllms_own_config_errors_pass_as_vllm_raises_them(make_llm, plugin_log):
    with pytest.raises(ValueError, match="max_model_len") as info:
        make_llm(max_model_len=100_000)  # more than the tiny model's 512 positions
    assert not isinstance(info.value, GraphConfigError) and plugin_log(logging.ERROR) == []


def test_strict_aclgraph_on_the_cpu_is_a_clear_error(make_llm):
    with pytest.raises(BackendUnavailableError) as info:
        make_llm(additional_config={"graph_backend": "aclgraph", "graph_fallback": False})
    assert "backend 'aclgraph' cannot serve here: no Ascend NPU here (device: cpu)" in str(info.value)


def test_aclgraph_with_fallback_runs_eagerly_and_logs_why(make_llm, plugin_log, transformers_greedy):
    llm = make_llm(additional_config={"graph_backend": "aclgraph"})
    assert [(a["backend"], a["selected"]) for a in decision_of(llm)["trail"]] == [
        ("aclgraph", False), ("native", False), ("eager", True)]
    (line,) = plugin_log(logging.WARNING)  # asked for by name, and not what runs: the operator must see it
    assert line == decision_of(llm)["summary"] == (
        "graph backend: aclgraph was asked for, eager runs instead, cudagraph_mode NONE (aclgraph: no Ascend NPU "
        "here (device: cpu); native: vLLM's cpu platform captures no graphs; xlite: not requested)")
    assert plugin_log(logging.INFO) == [] and decision_of(llm)["requested"] == "aclgraph"
    assert greedy_vllm(llm) == transformers_greedy


def test_xlite_enabled_on_the_cpu_falls_back_with_reasons(make_llm):
    decision = decision_of(make_llm(additional_config={"xlite_graph_config": {"enabled": True}}))
    assert [(a["backend"], a["selected"]) for a in decision["trail"]] == [
        ("xlite", False), ("aclgraph", False), ("native", False), ("eager", True)]
    assert "is installed but not ready" in decision["trail"][0]["reason"]  # no CANN for xlite._C here
    assert "XliteGraph was asked for by xlite_graph_config.enabled=true" in decision["notes"]
    assert decision["requested"] == "xlite"
    assert decision["summary"].startswith("graph backend: xlite was asked for, eager runs instead, cudagraph_mode NONE")


def test_two_llms_in_one_process_keep_their_own_decisions(make_llm, transformers_greedy):
    first = make_llm(additional_config={"graph_backend": ["eager"]})
    second = make_llm(additional_config={"graph_backend": "xlite"})
    assert [a["backend"] for a in decision_of(first)["trail"]] == ["eager"]
    assert [a["backend"] for a in decision_of(second)["trail"]] == ["xlite", "aclgraph", "native", "eager"]
    assert greedy_vllm(first) == greedy_vllm(second) == transformers_greedy
