"""The drafter's graph path (rules/drafter.py), vLLM's KV-connector rule (rules/kv_connectors.py) and how
the plan follows both. The contract tier (tests/ascend/test_drafters.py) holds them to vllm-ascend's
real proposers and vLLM's real connector classes."""

from __future__ import annotations

import json

import pytest

from vllm_ascend_graphs import GraphConfigError
from vllm_ascend_graphs.enums import CUDAGraphMode
from vllm_ascend_graphs.probes.environment import Environment
from vllm_ascend_graphs.rules.capture_plan import plan_capture_sizes
from vllm_ascend_graphs.rules.config import GraphRequest
from vllm_ascend_graphs.rules.drafter import (
    PROPOSERS,
    DrafterPlan,
    DraftGraphs,
    SpeculativeConfig,
    check_padded_batch,
    draft_tokens,
    on_target_keys,
    plan_drafter,
    proposer_of,
    start_problem,
    tokens_per_request,
)
from vllm_ascend_graphs.rules.graph_keys import DecodeShape, RuntimeGraphs
from vllm_ascend_graphs.rules.kv_connectors import KvTransfer, piecewise_reason, unknown_note
from vllm_ascend_graphs.rules.models import ModelInfo
from vllm_ascend_graphs.rules.modes import narrow_mode, resolve
from vllm_ascend_graphs.selection.selector import select

M = CUDAGraphMode
NPU = Environment(device="npu", soc="910B", torch_npu="2.10.0")
DEEPSEEK = ModelInfo.from_config_dict({"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
                                       "kv_lora_rank": 64})
GLM = ModelInfo.from_config_dict({"architectures": ["Glm4MoeForCausalLM"], "model_type": "glm4_moe"})
ALL_METHODS = frozenset(PROPOSERS)


def spec(method: str = "mtp", tokens: int = 2, **switches: object) -> SpeculativeConfig:
    return SpeculativeConfig.parse({"method": method, "num_speculative_tokens": tokens, **switches})


@pytest.mark.parametrize(("given", "method"), [
    ({"method": "mtp"}, "mtp"), ({"method": "deepseek_mtp"}, "mtp"), ({"method": "glm4_moe_mtp"}, "mtp"),
    ({"model": "ngram"}, "ngram"), ({"model": "[ngram]"}, "ngram"), ({"model": "yuhuili/EAGLE-LLaMA3-8B"}, "eagle"),
    ({"model": "AngelSlim/Qwen3-8B_eagle3"}, "eagle3"), ({"model": "z-lab/Qwen3-8B-DFlash-b16"}, "dflash"),
    ({"method": " eagle3 "}, "eagle3"),
])
def test_the_method_as_vllm_names_or_detects_it(given, method):
    assert SpeculativeConfig.parse({**given, "num_speculative_tokens": 1}).method == method


def test_dflash_always_drafts_in_parallel_as_vllm_sets_it():
    assert spec("dflash").parallel_drafting and not spec("eagle").parallel_drafting


@pytest.mark.parametrize(("given", "message"), [
    ({"model": "path/to/draft", "num_speculative_tokens": 1},
     "speculative_config.method: got None (NoneType); allowed: one of ngram, ngram_gpu, suffix, medusa, eagle, "
     "eagle3, mtp, draft_model, dflash, extract_hidden_states, dspark (explain does not read the draft model's "
     "config to detect it, as vLLM does)"),
    ({"method": "mtp"}, "speculative_config.num_speculative_tokens: got None (NoneType); allowed: a positive integer"),
    ({"method": "mtp", "num_speculative_tokens": 0},
     "speculative_config.num_speculative_tokens: got 0 (int); allowed: a positive integer"),
    ({"method": "mtp", "num_speculative_tokens": True}, "speculative_config.num_speculative_tokens: got True (bool); "
     "allowed: a positive integer"),
    ({"method": "mtp", "num_speculative_tokens": 1, "enforce_eager": "yes"},
     "speculative_config.enforce_eager: got 'yes'; allowed: true or false"),
    ([], "speculative_config: got [] (list); allowed: a JSON object, as vLLM's --speculative-config takes"),
])
def test_bad_speculative_configs_are_one_line_errors(given, message):
    with pytest.raises(GraphConfigError) as caught:
        SpeculativeConfig.parse(given)
    assert str(caught.value) == message


def test_vllms_default_for_the_drafters_enforce_eager_follows_the_target():
    assert spec(enforce_eager=None).enforce_eager is False and spec(enforce_eager=True).enforce_eager is True


@pytest.mark.parametrize(("method", "switches", "per_request"), [
    ("mtp", {}, 3), ("eagle", {}, 3), ("eagle3", {"parallel_drafting": True}, 4), ("draft_model", {}, 4),
    ("draft_model", {"parallel_drafting": True}, 5), ("dflash", {}, 3),
])
def test_the_drafters_first_pass_per_decode_request(method, switches, per_request):
    assert tokens_per_request(spec(method, 2, **switches), PROPOSERS[method]) == per_request


def test_a_method_the_release_has_no_proposer_for_is_the_error_its_start_would_raise():
    methods = ALL_METHODS - {"dspark"}
    with pytest.raises(GraphConfigError) as caught:
        proposer_of("dspark", methods, "vllm-ascend 0.23.0.post1 (installed)")
    assert str(caught.value) == (
        "speculative_config.method: got 'dspark', which vllm-ascend 0.23.0.post1 (installed) has no proposer for (its "
        "model runner raises at start); allowed: ngram, ngram_gpu, suffix, medusa, eagle, eagle3, mtp, draft_model, "
        "dflash, extract_hidden_states")
    with pytest.raises(GraphConfigError):
        proposer_of("custom_class", ALL_METHODS | {"custom_class"}, "x")  # served, but no proposer modelled here
    assert proposer_of("mtp", methods, "x").name == "AscendEagleProposer"


@pytest.mark.parametrize(("method", "switches", "mode", "graphs_on", "raises"), [
    ("mtp", {"disable_padded_drafter_batch": True}, M.FULL_AND_PIECEWISE, True, True),
    ("mtp", {"disable_padded_drafter_batch": True}, M.FULL_DECODE_ONLY, True, True),
    ("mtp", {"disable_padded_drafter_batch": True}, M.FULL, True, True),
    ("mtp", {"disable_padded_drafter_batch": True}, M.PIECEWISE, True, False),
    ("mtp", {"disable_padded_drafter_batch": True}, M.FULL_AND_PIECEWISE, False, False),
    ("mtp", {"disable_padded_drafter_batch": True, "enforce_eager": True}, M.FULL_AND_PIECEWISE, True, False),
    ("mtp", {}, M.FULL_AND_PIECEWISE, True, False),
    ("dspark", {"disable_padded_drafter_batch": True}, M.FULL_AND_PIECEWISE, True, True),  # built on the base
    ("ngram", {"disable_padded_drafter_batch": True}, M.FULL_AND_PIECEWISE, True, False),
    ("medusa", {"disable_padded_drafter_batch": True}, M.FULL_AND_PIECEWISE, True, False),
])
def test_full_graphs_without_the_padded_drafter_batch_raise_at_start(method, switches, mode, graphs_on, raises):
    problem = start_problem(spec(method, **switches), PROPOSERS[method], mode, graphs_on=graphs_on)
    assert (problem is not None) == raises


def test_vllms_draft_models_need_the_padded_batch_whatever_the_graphs():
    with pytest.raises(GraphConfigError) as caught:
        check_padded_batch(spec("draft_model", disable_padded_drafter_batch=True), PROPOSERS["draft_model"])
    assert str(caught.value) == (
        "speculative_config.disable_padded_drafter_batch: got True with method 'draft_model', whose proposer adds "
        "input slots and raises at start without the padded drafter batch (vLLM's SpecDecodeBaseProposer); "
        "allowed: false")
    check_padded_batch(spec("mtp", disable_padded_drafter_batch=True), PROPOSERS["mtp"])  # no extra slot: fine


SIZES = (3, 6, 9, 18, 24, 36)
SHAPE = DecodeShape(12, 2)


def test_a_drafter_on_the_target_keys_captures_them_and_replays_every_decode_batch():
    plan = plan_drafter(spec(), PROPOSERS["mtp"], M.FULL_AND_PIECEWISE, SIZES, SHAPE, graphs_on=True,
                        model_type="deepseek_v3")
    (phase,) = plan.phases
    assert (plan.proposer, plan.eager, plan.notes) == ("AscendEagleProposer", None, ())
    assert phase == DraftGraphs("draft", RuntimeGraphs(SIZES, SIZES), 3, ())
    assert DrafterPlan.from_dict(plan.to_dict()) == plan


def test_a_draft_models_longer_first_pass_above_the_decode_keys():
    """4 tokens per request: 10 to 12 requests need more than the 36 tokens of the uniform decode keys."""
    piecewise = plan_drafter(spec("draft_model"), PROPOSERS["draft_model"], M.FULL_AND_PIECEWISE, (*SIZES, 48), SHAPE,
                             graphs_on=True, model_type="llama")
    assert piecewise.eager_decode_batches == () and piecewise.phases[0].tokens_per_request == 4
    decode_only = plan_drafter(spec("draft_model"), PROPOSERS["draft_model"], M.FULL_DECODE_ONLY, SIZES, SHAPE,
                               graphs_on=True, model_type="llama")
    assert decode_only.eager_decode_batches == (10, 11, 12)
    assert decode_only.notes == (
        "drafter: decode batches of 10-12 requests run the draft eagerly: its first pass has 4 tokens per request, and "
        "FULL_DECODE_ONLY's graphs hold uniform decode batches of up to 36 tokens only (a mode with PIECEWISE graphs "
        "for mixed batches would replay them)",)


@pytest.mark.parametrize(("method", "switches", "graphs_on", "model_type", "eager", "noted"), [
    ("mtp", {"enforce_eager": True}, True, "deepseek_v3", "speculative_config.enforce_eager is true", True),
    ("mtp", {}, True, "glm4_moe", "vLLM Ascend runs the drafter of GLM-series targets (model type glm4_moe) eagerly "
                                  "(spec_decode/llm_base_proposer.py, _is_glm_model)", True),
    ("mtp", {}, False, "deepseek_v3", "the model runner runs no graphs for it (vLLM Ascend's _use_aclgraph(): a graph "
                                      "mode, compilation VLLM_COMPILE and no enforce_eager)", False),
    ("dspark", {}, True, "qwen3", PROPOSERS["dspark"].why, False),
    ("ngram", {}, True, "llama", PROPOSERS["ngram"].why, False),
    ("medusa", {}, True, "llama", PROPOSERS["medusa"].why, False),
])
def test_why_a_drafter_runs_eagerly(method, switches, graphs_on, model_type, eager, noted):
    plan = plan_drafter(spec(method, **switches), PROPOSERS[method], M.FULL_AND_PIECEWISE, SIZES, SHAPE,
                        graphs_on=graphs_on, model_type=model_type)
    assert (plan.eager, plan.phases) == (eager, ())
    assert plan.notes == ((f"drafter: runs eagerly: {eager}",) if noted else ())
    assert plan.describe() == [f"{method} ({plan.proposer}), 2 speculative tokens: no drafter graphs: {eager}"]


def test_hidden_state_extraction_keeps_piecewise_graphs_of_its_own():
    plan = plan_drafter(spec("extract_hidden_states", 1), PROPOSERS["extract_hidden_states"], M.FULL_AND_PIECEWISE,
                        (2, 4, 8), DecodeShape(4, 1), graphs_on=True, model_type="llama")
    assert plan.phases[0].graphs == RuntimeGraphs((), (2, 4, 8))
    decode_only = plan_drafter(spec("extract_hidden_states", 1), PROPOSERS["extract_hidden_states"],
                               M.FULL_DECODE_ONLY, (2, 4, 8), DecodeShape(4, 1), graphs_on=True, model_type="llama")
    assert decode_only.eager is not None and "mixed batches run no graphs in FULL_DECODE_ONLY" in decode_only.eager


def test_after_an_override_a_drafter_follows_the_targets_keys():
    plan = plan_drafter(spec(), PROPOSERS["mtp"], M.FULL_AND_PIECEWISE, SIZES, SHAPE, graphs_on=True,
                        model_type="deepseek_v3")
    moved = on_target_keys(plan, M.FULL_DECODE_ONLY, (3, 6, 9), SHAPE)
    assert moved.phases[0].graphs == RuntimeGraphs((3, 6, 9), ()) and moved.eager_decode_batches == tuple(range(4, 13))
    eager = plan.replace(eager="x", phases=())
    assert on_target_keys(eager, M.FULL_DECODE_ONLY, (3,), SHAPE) is eager


def test_only_a_longer_first_pass_with_graphs_asks_the_capture_plan_for_a_size():
    assert draft_tokens(spec("draft_model"), ALL_METHODS, "llama") == 4
    assert draft_tokens(spec("mtp"), ALL_METHODS, "llama") is None
    assert draft_tokens(spec("draft_model", enforce_eager=True), ALL_METHODS, "llama") is None
    assert draft_tokens(spec("draft_model"), ALL_METHODS, "glm4_moe") is None
    assert draft_tokens(spec("draft_model"), ALL_METHODS - {"draft_model"}, "llama") is None
    assert draft_tokens(None, ALL_METHODS, "llama") is None


def test_the_capture_plan_adds_the_drafters_ceiling_where_a_mixed_graph_can_hold_it():
    shape = DecodeShape(12, 2, draft_tokens_per_request=4)
    plan = plan_capture_sizes(M.FULL_AND_PIECEWISE, shape)
    assert plan.sizes == (*SIZES, 48)
    assert plan.notes[-1] == ("adds 48: the drafter's first pass of decode batches of 10-12 requests would otherwise "
                              "run eagerly (max_num_seqs 12 x 4 tokens)")
    assert plan_capture_sizes(M.FULL_DECODE_ONLY, shape).sizes == SIZES  # no mixed graph could hold it
    assert plan_capture_sizes(M.FULL_AND_PIECEWISE, shape._replace(max_num_batched_tokens=40)).sizes[-1] == 36


# -- KV connectors ----------------------------------------------------------------------------

def kv(connector: str, layerwise: bool | None = None, **more: object) -> KvTransfer:
    extra = {} if layerwise is None else {"use_layerwise": layerwise}
    return KvTransfer.parse({"kv_connector": connector, "kv_role": "kv_both", "kv_connector_extra_config": extra,
                             **more})


@pytest.mark.parametrize(("transfer", "named"), [
    (kv("LMCacheConnectorV1", True), "vLLM's LMCacheConnectorV1"),
    (kv("AscendStoreConnector", True), "vLLM Ascend's AscendStoreConnector"),
    (kv("MooncakeConnectorStoreV1", True),
     "vLLM Ascend's AscendStoreConnector (registered as MooncakeConnectorStoreV1)"),
    (kv("LMCacheConnectorV1", False), None), (kv("LMCacheConnectorV1"), None),
    (kv("LMCacheAscendConnector", True), None),  # vllm-ascend 0.23's own LMCache connector asks for nothing
    (kv("MooncakeLayerwiseConnector", True), None), (kv("NixlConnector", True), None),
])
def test_which_connectors_need_piecewise_graphs(transfer, named):
    reason = piecewise_reason(transfer)
    assert reason == (None if named is None else f"KV connector {named} with use_layerwise transfers layer by layer, "
                      "which full graphs cannot capture (vLLM's requires_piecewise_for_cudagraph)")


def test_a_multi_connector_needs_piecewise_graphs_when_one_of_its_connectors_does():
    children = [{"kv_connector": "NixlConnector", "kv_role": "kv_both"},
                {"kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both",
                 "kv_connector_extra_config": {"use_layerwise": True}}]
    multi = KvTransfer.parse({"kv_connector": "MultiConnector", "kv_role": "kv_both",
                              "kv_connector_extra_config": {"connectors": children}})
    assert piecewise_reason(multi).startswith("MultiConnector holds KV connector vLLM's LMCacheConnectorV1")
    assert piecewise_reason(multi._replace(children=multi.children[:1])) is None


def test_an_external_connectors_rule_is_unknown_and_said_so():
    external = kv("MyConnector", True, kv_connector_module_path="my_package.connectors")
    assert piecewise_reason(external) is None
    assert unknown_note(external).startswith("KV connector MyConnector comes from my_package.connectors")
    assert unknown_note(kv("LMCacheConnectorV1", True)) is None


@pytest.mark.parametrize(("given", "message"), [
    ({"kv_role": "kv_both"}, "kv_transfer_config.kv_connector: got None (NoneType); allowed: a connector name, e.g. "
                             "LMCacheConnectorV1"),
    ({"kv_connector": "LMCacheConnectorV1"}, "kv_transfer_config.kv_role: got None (NoneType); allowed: kv_producer, "
                                             "kv_consumer, kv_both"),
    ({"kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both", "kv_connector_extra_config": []},
     "kv_transfer_config.kv_connector_extra_config: got [] (list); allowed: a JSON object"),
])
def test_bad_kv_transfer_configs_are_one_line_errors(given, message):
    with pytest.raises(GraphConfigError) as caught:
        KvTransfer.parse(given)
    assert str(caught.value) == message


# -- the plan -----------------------------------------------------------------------------------

LAYERWISE = "KV connector vLLM's LMCacheConnectorV1 with use_layerwise"


@pytest.mark.parametrize(("requested", "compiling", "effective"), [
    (M.FULL_AND_PIECEWISE, True, M.PIECEWISE), (M.FULL_DECODE_ONLY, True, M.PIECEWISE), (M.FULL, True, M.PIECEWISE),
    (M.FULL, False, M.NONE), (M.PIECEWISE, True, M.PIECEWISE), (M.NONE, True, M.NONE),
])
def test_a_connector_that_needs_piecewise_graphs_narrows_the_mode(requested, compiling, effective):
    mode, notes = narrow_mode(requested, compiling=compiling, kv_piecewise=LAYERWISE)
    assert mode is effective
    if requested is not effective:
        assert notes == [f"cudagraph_mode {requested.name} -> {effective.name}: {LAYERWISE}"]
    elif requested is M.PIECEWISE:  # inside vLLM, which has set it already: still named
        assert notes == [f"cudagraph_mode PIECEWISE, as vLLM keeps it: {LAYERWISE}"]


def test_unpadded_drafts_with_vllms_default_mode_run_piecewise_with_a_note():
    request = GraphRequest.parse({}, max_num_seqs=12, speculative_config={
        "method": "mtp", "num_speculative_tokens": 1, "disable_padded_drafter_batch": True})
    settings = resolve(request, NPU.replace(spec_tokens=1), DEEPSEEK)
    assert settings.cudagraph_mode is M.PIECEWISE
    assert settings.notes[0] == (
        "cudagraph_mode FULL_AND_PIECEWISE -> PIECEWISE: vLLM Ascend's drafter supports full graphs only with the "
        "padded drafter batch (its proposer raises NotImplementedError at start with disable_padded_drafter_batch)")
    # without VLLM_COMPILE the model runner runs no graphs for the drafter (_use_aclgraph), which then starts
    without = resolve(request.replace(compiling=False, cudagraph_mode=M.FULL_DECODE_ONLY), NPU.replace(spec_tokens=1),
                      DEEPSEEK)
    assert without.cudagraph_mode is M.FULL_DECODE_ONLY and not any("padded" in note for note in without.notes)


def test_unpadded_drafts_with_a_named_full_mode_are_one_line_errors():
    request = GraphRequest.parse({}, cudagraph_mode="FULL_DECODE_ONLY", speculative_config={
        "method": "mtp", "num_speculative_tokens": 1, "disable_padded_drafter_batch": True})
    with pytest.raises(GraphConfigError) as caught:
        resolve(request, NPU.replace(spec_tokens=1), DEEPSEEK)
    assert str(caught.value) == (
        "compilation_config.cudagraph_mode: got FULL_DECODE_ONLY with speculative_config.disable_padded_drafter_batch "
        "true: vLLM Ascend's drafter supports full graphs only with the padded drafter batch (its proposer raises "
        "NotImplementedError at start with disable_padded_drafter_batch); allowed: PIECEWISE (no full graphs), or "
        "disable_padded_drafter_batch false")


def test_the_selection_carries_the_drafter_on_the_plans_keys():
    request = GraphRequest.parse({}, max_num_seqs=12, speculative_config={"method": "mtp", "num_speculative_tokens": 2})
    selection = select(request, environment=NPU.replace(spec_tokens=2), model=DEEPSEEK)
    assert selection.drafter.phases[0].graphs == selection.graphs
    assert selection.to_dict()["drafter"] == selection.drafter.to_dict()
    glm = select(request, environment=NPU.replace(spec_tokens=2), model=GLM)
    assert glm.drafter.eager is not None and glm.notes[-1].startswith("drafter: runs eagerly: vLLM Ascend runs the "
                                                                       "drafter of GLM-series targets")
    eager = select(request.replace(enforce_eager=True), environment=NPU.replace(spec_tokens=2), model=DEEPSEEK)
    assert eager.drafter.eager is not None and eager.drafter.notes == ()


def test_no_drafter_section_without_speculative_decoding_or_off_vllm_ascend():
    assert select(GraphRequest.parse({}), environment=NPU, model=DEEPSEEK).drafter is None
    request = GraphRequest.parse({}, speculative_config={"method": "mtp", "num_speculative_tokens": 1})
    assert select(request, environment=Environment(device="cuda"), model=DEEPSEEK).drafter is None


def test_a_method_the_installed_release_lacks_stops_the_selection():
    request = GraphRequest.parse({}, speculative_config={"method": "dspark", "num_speculative_tokens": 1},
                                 cudagraph_mode="NONE")
    with pytest.raises(GraphConfigError, match="got 'dspark', which vllm-ascend 0.23.0.post1"):
        select(request, environment=NPU.replace(spec_tokens=1), model=DEEPSEEK)


# -- explain --------------------------------------------------------------------------------------

EXPLAIN = ["explain", "--architecture", "DeepseekV3ForCausalLM", "--assume", "device=npu,soc=910B",
           "--max-num-seqs", "12"]
MTP2 = '{"method": "mtp", "num_speculative_tokens": 2}'


def explain(capsys, *argv: str) -> tuple[int, str, str]:
    from vllm_ascend_graphs.entrypoints.cli import main

    code = main([*EXPLAIN, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_prints_what_the_drafter_captures_and_replays(capsys):
    code, out, err = explain(capsys, "--speculative-config", MTP2)
    assert (code, err) == (0, "")
    assert ("Drafter:        mtp (AscendEagleProposer), 2 speculative tokens, on the V1 model runner\n"
            "                draft: FULL [3, 6, 9, 18, 24, 36], PIECEWISE [3, 6, 9, 18, 24, 36] (3 tokens per request)"
            ) in out
    code, out, _ = explain(capsys, "--speculative-config", MTP2, "--json")
    drafter = json.loads(out)["drafter"]
    assert drafter["phases"]["draft"]["FULL"] == [3, 6, 9, 18, 24, 36] and drafter["eager"] is None
    code, out, _ = explain(capsys, "--json")
    assert json.loads(out)["drafter"] is None


def test_explain_takes_the_speculative_tokens_from_the_speculative_config(capsys):
    code, out, _ = explain(capsys, "--speculative-config", MTP2, "--assume", "spec_tokens=2", "--json")
    assert code == 0 and json.loads(out)["capture_sizes"] == [3, 6, 9, 18, 24, 36]
    code, out, err = explain(capsys, "--speculative-config", MTP2, "--assume", "spec_tokens=1")
    assert code == 2 and err == ("vllm-ascend-graphs: error: --assume spec_tokens: got 1, but --speculative-config "
                                 "has num_speculative_tokens 2; allowed: the same number, or one of the two\n")


def test_explain_predicts_the_kv_connectors_piecewise_graphs(capsys):
    layerwise = ('{"kv_connector": "LMCacheConnectorV1", "kv_role": "kv_both", '
                 '"kv_connector_extra_config": {"use_layerwise": true}}')
    code, out, _ = explain(capsys, "--kv-transfer-config", layerwise, "--json")
    data = json.loads(out)
    assert (code, data["cudagraph_mode"], data["graphs"]["FULL"]) == (0, "PIECEWISE", [])
    narrowed = f"cudagraph_mode FULL_AND_PIECEWISE -> PIECEWISE: {LAYERWISE}"
    assert any(note.startswith(narrowed) for note in data["notes"])


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--speculative-config", "{", "--speculative-config: not valid JSON"),
    ("--speculative-config", '{"method": "mtp"}', "--speculative-config.num_speculative_tokens: got None"),
    ("--kv-transfer-config", '{"kv_connector": "X"}', "--kv-transfer-config.kv_role: got None"),
])
def test_explain_flags_take_one_line_errors(capsys, flag, value, message):
    code, out, err = explain(capsys, flag, value)
    assert code == 2 and out == "" and err.startswith(f"vllm-ascend-graphs: error: {message}")
    assert err.count("\n") == 1
