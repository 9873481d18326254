"""The selector's less travelled paths: chain notes, plugin preferences, platforms without graphs,
the record's shape, and what `select()` fills in when the caller gives no environment or model."""

from __future__ import annotations

import sys

import pytest

from vllm_ascend_graphs import (
    BackendUnavailableError,
    CUDAGraphMode,
    Environment,
    GraphBackend,
    GraphConfigError,
    GraphRequest,
    ModelInfo,
    Plan,
    Probe,
    hookimpl,
    select,
)
from vllm_ascend_graphs.rules.assumptions import Assumptions
from vllm_ascend_graphs.selection.selector import current_environment

QWEN = ModelInfo.from_architecture("Qwen3ForCausalLM")
CHOICES = "auto, aclgraph, eager, native, xlite"


def names(selection):
    return [(a.backend, a.selected) for a in selection.trail]


def test_the_fallback_chain_note_needs_fallback_and_two_backends(npu, cpu):
    assert select(None, environment=npu, model=QWEN).notes == ("fallback chain: aclgraph -> native -> eager",)
    assert select({"graph_fallback": False}, environment=npu, model=QWEN).notes == ()
    assert select({"graph_backend": "native"}, environment=cpu, model=QWEN).chain_notes == (
        "cudagraph_mode FULL_AND_PIECEWISE -> NONE: vLLM's cpu platform captures no graphs",
        "fallback chain: native -> eager")
    assert select({"graph_backend": "eager"}, environment=npu, model=QWEN).notes == ()


def test_a_listed_chain_says_so(npu):
    selection = select({"graph_backend": ["eager", "aclgraph"]}, environment=npu, model=QWEN)
    assert selection.notes == ("graph_backend lists the chain: eager -> aclgraph (no other fallback)",)


def test_an_unknown_name_in_a_listed_chain_is_named_by_its_position(npu):
    with pytest.raises(GraphConfigError) as info:
        select({"graph_backend": ["eager", "nope"]}, environment=npu, model=QWEN)
    assert str(info.value) == f"additional_config.graph_backend[1]: unknown graph backend 'nope'; allowed: {CHOICES}"


def test_when_no_backend_can_serve_the_error_gives_each_reason(cpu):
    with pytest.raises(BackendUnavailableError) as info:
        select({"graph_backend": ["native", "aclgraph"]}, environment=cpu, model=QWEN)
    assert str(info.value) == (
        "additional_config.graph_backend: no backend in the chain ['native', 'aclgraph'] can serve here "
        "(native: vLLM's cpu platform captures no graphs; aclgraph: no Ascend NPU here (device: cpu)); "
        "allowed: a chain that ends with 'eager'")


def test_the_summary_without_skipped_backends_has_no_brackets(npu):
    selection = select({"graph_backend": ["aclgraph", "xlite", "native", "eager"]}, environment=npu, model=QWEN)
    assert selection.summary() == "graph backend: aclgraph, cudagraph_mode FULL_AND_PIECEWISE"


def test_the_record_keys_in_order(npu):
    data = select(GraphRequest.parse({}, max_num_seqs=2), environment=npu, model=QWEN).to_dict()
    assert data == {
        "backend": "aclgraph", "cudagraph_mode": "FULL_AND_PIECEWISE", "npugraph_ex": False, "static_kernel": False,
        "capture_sizes": [1, 2], "options": {}, "graphs": {"FULL": [1, 2], "PIECEWISE": [1, 2]}, "drafter": None,
        "model_runner": "V1",
        "trail": [{"backend": "aclgraph", "selected": True,
                   "reason": "torch_npu 2.10.0 with the NPU graph API on npu 910B"}],
        "not_reached": ["native", "eager"], "not_requested": ["xlite"],
        "notes": ["fallback chain: aclgraph -> native -> eager"],
    }
    assert list(data)[-1] == "notes"  # the selection's notes, after the trail, not the plan's in its place


def test_a_platform_without_graphs_gets_a_note_even_for_mode_none(cpu):
    selection = select(GraphRequest.parse({}, cudagraph_mode="NONE"), environment=cpu, model=QWEN)
    assert selection.notes == ("vLLM's cpu platform captures no graphs", "fallback chain: aclgraph -> native -> eager")
    selection = select(GraphRequest.parse({}, cudagraph_mode="FULL"), environment=cpu, model=QWEN)
    assert selection.notes[0] == "cudagraph_mode FULL -> NONE: vLLM's cpu platform captures no graphs"


class Greedy(GraphBackend):
    """A plugin backend that plans graphs whatever the platform."""

    name = "greedy"
    fallback = ("missing", "eager")

    def probe(self, request, environment, model):
        return Probe.ok("serves anywhere")

    def plan(self, request, environment, model):
        return Plan(self.name, CUDAGraphMode.FULL, npugraph_ex=True, static_kernel=True, capture_sizes=(1, 2),
                    notes=("planned FULL",))


class GreedyPlugin:
    @hookimpl
    def graph_backends(self):
        return [Greedy()]


def test_a_plan_with_graphs_on_a_platform_without_them_is_cut_to_none(builtins_only, cpu):
    builtins_only.register(GreedyPlugin(), "greedy")
    plan = select({"graph_backend": "greedy"}, environment=cpu, model=QWEN).plan
    assert plan.cudagraph_mode is CUDAGraphMode.NONE and plan.capture_sizes == ()
    assert plan.npugraph_ex is False and plan.static_kernel is False
    assert plan.notes == ("planned FULL", "cudagraph_mode FULL -> NONE: vLLM's cpu platform captures no graphs")


def test_an_unknown_fallback_name_is_skipped_with_a_note(builtins_only, npu):
    builtins_only.register(GreedyPlugin(), "greedy")
    selection = select({"graph_backend": "greedy"}, environment=npu, model=QWEN)
    assert selection.chain == ("greedy", "eager")
    assert selection.notes[:2] == (
        "fallback 'missing' skipped: additional_config.graph_backend: unknown graph backend 'missing'; "
        "allowed: auto, aclgraph, eager, greedy, native, xlite",
        "fallback chain: greedy -> eager")


class PrefersEagerOffNpu:
    @hookimpl
    def graph_backend_preference(self, model, environment):
        return None if environment.device == "npu" else "eager"


class PrefersNative:
    @hookimpl
    def graph_backend_preference(self, model):
        return "native"


def test_plugin_preferences_see_the_environment(builtins_only, npu, cpu):
    builtins_only.register(PrefersEagerOffNpu(), "prefers-eager")
    assert names(select(None, environment=npu, model=QWEN)) == [("aclgraph", True)]
    selection = select(None, environment=cpu, model=QWEN)
    assert names(selection) == [("eager", True)]
    assert selection.notes[1] == "plugins prefer eager for qwen-dense models here"


def test_every_preference_is_tried_in_registration_order(builtins_only):
    builtins_only.register(PrefersNative(), "prefers-native")
    builtins_only.register(PrefersEagerOffNpu(), "prefers-eager")
    selection = select(None, environment=Environment(device="cuda"), model=QWEN)
    assert selection.chain == ("native", "eager", "aclgraph")
    assert selection.chain_notes == ("plugins prefer native, eager for qwen-dense models here",
                                     "fallback chain: native -> eager -> aclgraph")


def test_without_a_model_select_plans_for_the_assumed_one(monkeypatch, npu):
    assert select(None, environment=npu).plan.cudagraph_mode is CUDAGraphMode.FULL_AND_PIECEWISE
    monkeypatch.setenv("ASCEND_GRAPHS_ASSUME", "attention=NEVER")
    assert select(None, environment=npu).plan.cudagraph_mode is CUDAGraphMode.PIECEWISE


def test_the_current_environment_applies_the_variable_then_the_given_assumptions(monkeypatch):
    monkeypatch.setenv("ASCEND_GRAPHS_ASSUME", "device=npu,soc=910B,tp=2")
    environment = current_environment()
    assert (environment.device, environment.soc, environment.tp) == ("npu", "910B", 2)
    environment = current_environment(Assumptions.parse(["soc=950"]))
    assert (environment.device, environment.soc, environment.tp) == ("npu", "950", 2)


def test_builtin_backends_run_with_stdout_left_alone(builtins_only, npu, monkeypatch):
    """Plugin code runs with stdout sent to stderr; builtins print nothing, and swapping the process-wide
    sys.stdout around them would send other threads' output to stderr meanwhile."""
    seen = []
    acl = type(builtins_only.get("aclgraph"))
    def spying(original):
        def spy(self, *arguments):
            seen.append(sys.stdout)
            return original(self, *arguments)

        return spy

    for method in ("validate_options", "probe", "plan"):
        monkeypatch.setattr(acl, method, spying(getattr(acl, method)))
    assert select(None, environment=npu, model=QWEN).plan.backend == "aclgraph"
    assert len(seen) == 3 and all(stream is sys.stdout for stream in seen)
