"""The selector: chains, fallback, strictness, and the probes of the builtin backends."""

from __future__ import annotations

import pytest
from plugins import register

from vllm_ascend_graphs import BackendUnavailableError, CUDAGraphMode, Environment, GraphRequest, ModelInfo, select

QWEN = ModelInfo.from_architecture("Qwen3ForCausalLM")


def trail(selection):
    return [(a.backend, a.selected) for a in selection.trail]


def test_auto_on_an_npu_picks_aclgraph_with_the_default_mode(npu):
    selection = select(None, environment=npu, model=QWEN)
    assert trail(selection) == [("aclgraph", True)]
    assert selection.plan.cudagraph_mode is CUDAGraphMode.FULL_AND_PIECEWISE
    assert selection.not_requested == ("xlite",) and selection.not_reached == ("native", "eager")
    assert selection.summary() == "graph backend: aclgraph, cudagraph_mode FULL_AND_PIECEWISE (xlite: not requested)"


def test_auto_without_an_npu_falls_back_to_eager(cpu):
    selection = select(None, environment=cpu, model=QWEN)
    assert trail(selection) == [("aclgraph", False), ("native", False), ("eager", True)]
    assert selection.trail[0].reason == "no Ascend NPU here (device: cpu)"
    assert selection.plan.cudagraph_mode is CUDAGraphMode.NONE and selection.plan.capture_sizes == ()
    assert selection.summary() == (
        "graph backend: eager, cudagraph_mode NONE (aclgraph: no Ascend NPU here (device: cpu); "
        "native: vLLM's cpu platform captures no graphs; xlite: not requested)")


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        (Environment(device="npu"), "torch_npu is not installed"),
        (Environment(device="npu", torch_npu="2.10.0", torch_npu_error="torch_npu 2.10.0 is installed but not "
                     "importable: ImportError: libhccl.so"), "libhccl.so"),
        (Environment(device="npu", torch_npu="2.10.0", launch_blocking=True), "ASCEND_LAUNCH_BLOCKING=1"),
    ],
)
def test_aclgraph_probe_reasons(environment, reason):
    selection = select(None, environment=environment, model=QWEN)
    assert trail(selection) == [("aclgraph", False), ("native", False), ("eager", True)]
    assert reason in selection.trail[0].reason


@pytest.mark.parametrize(("settings", "reason"), [
    ({"enforce_eager": True}, "enforce_eager=True"),
    ({"cudagraph_mode": "NONE"}, "cudagraph_mode NONE"),
])
def test_eager_requests_select_the_eager_backend(npu, settings, reason):
    selection = select(GraphRequest.parse({}, **settings), environment=npu, model=QWEN)
    assert trail(selection) == [("aclgraph", False), ("native", False), ("eager", True)]
    assert reason in selection.trail[0].reason


def test_a_model_left_without_any_graph_mode_runs_eagerly(npu):
    whisper = ModelInfo.from_architecture("WhisperForConditionalGeneration")
    selection = select(GraphRequest.parse({}, compiling=False), environment=npu, model=whisper)
    assert trail(selection) == [("aclgraph", False), ("native", False), ("eager", True)]
    assert "encoder-decoder" in selection.trail[0].reason


def test_strict_request_that_cannot_be_served_is_an_error(cpu):
    with pytest.raises(BackendUnavailableError) as info:
        select({"graph_backend": "aclgraph", "graph_fallback": False}, environment=cpu, model=QWEN)
    assert str(info.value) == (
        "additional_config.graph_backend: backend 'aclgraph' cannot serve here: no Ascend NPU here (device: cpu); "
        "allowed: a backend that can serve, or additional_config.graph_fallback true to fall back")


def test_a_single_name_is_followed_by_its_own_fallback_chain(cpu):
    selection = select({"graph_backend": "xlite"}, environment=cpu, model=QWEN)
    assert trail(selection) == [("xlite", False), ("aclgraph", False), ("native", False), ("eager", True)]
    assert "fallback chain: xlite -> aclgraph -> native -> eager" in selection.notes


def test_a_list_is_exactly_the_chain(npu):
    selection = select({"graph_backend": ["eager", "aclgraph"]}, environment=npu, model=QWEN)
    assert trail(selection) == [("eager", True)]
    with pytest.raises(BackendUnavailableError, match=r"no backend in the chain \['xlite'\] can serve"):
        select({"graph_backend": ["xlite"]}, environment=npu, model=QWEN)


def test_xlite_enabled_but_not_installed_falls_back_to_aclgraph(npu):
    selection = select({"xlite_graph_config": {"enabled": True}}, environment=npu, model=QWEN)
    assert trail(selection) == [("xlite", False), ("aclgraph", True)]
    reason = selection.trail[0].reason
    assert "xlite is not installed" in reason and "pip install --pre xlite" in reason
    assert "XliteGraph was asked for by xlite_graph_config.enabled=true" in selection.notes
    # ACLGraph runs its own default mode, not xlite's decode-only narrowing.
    assert selection.plan.cudagraph_mode is CUDAGraphMode.FULL_AND_PIECEWISE


XLITE_NPU = Environment(device="npu", soc="910B", torch_npu="2.10.0", xlite="0.2.0")


@pytest.mark.parametrize(
    ("config", "environment", "mode", "xlite_mode"),
    [
        ({"enabled": True}, XLITE_NPU, CUDAGraphMode.FULL_DECODE_ONLY, "decode_only"),
        ({"enabled": True, "full_mode": True}, XLITE_NPU, CUDAGraphMode.NONE, "full"),
        ({"enabled": True, "full_mode": True}, XLITE_NPU.replace(spec_tokens=1), CUDAGraphMode.FULL_DECODE_ONLY,
         "full"),
    ],
)
def test_xlite_plans(config, environment, mode, xlite_mode):
    selection = select({"xlite_graph_config": config}, environment=environment, model=QWEN)
    assert trail(selection) == [("xlite", True)]
    assert selection.plan.cudagraph_mode is mode
    assert selection.plan.options == {"xlite_mode": xlite_mode}
    assert selection.plan.npugraph_ex is (mode is CUDAGraphMode.FULL_DECODE_ONLY)


@pytest.mark.parametrize(
    ("environment", "model", "reason"),
    [
        (XLITE_NPU.replace(pp=2), QWEN, "pipeline parallelism (pp=2)"),
        (XLITE_NPU.replace(spec_tokens=2), QWEN, "at most 1 speculative token (got 2)"),
        (XLITE_NPU, ModelInfo.from_architecture("WhisperForConditionalGeneration"), "no xlite adapter"),
        (XLITE_NPU.replace(xlite_error="xlite 0.2.0 is installed but not importable: ImportError: x"), QWEN,
         "not importable"),
        (XLITE_NPU.replace(device="cpu"), QWEN, "no Ascend NPU"),
    ],
)
def test_xlite_probe_refusals(environment, model, reason):
    selection = select({"graph_backend": "xlite"}, environment=environment, model=model)
    assert selection.trail[0].backend == "xlite" and not selection.trail[0].selected
    assert reason in selection.trail[0].reason


def test_xlite_supports_the_families_the_guide_names():
    for architecture in ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM",
                         "Qwen3VLForConditionalGeneration"):
        selection = select({"graph_backend": "xlite"}, environment=XLITE_NPU,
                           model=ModelInfo.from_architecture(architecture))
        assert selection.plan.backend == "xlite", architecture


def test_a_probe_that_raises_is_a_refusal_not_a_crash(builtins_only, npu, monkeypatch):
    acl = builtins_only.get("aclgraph")
    monkeypatch.setattr(type(acl), "probe", lambda *a: 1 / 0)
    selection = select(None, environment=npu, model=QWEN)
    assert trail(selection) == [("aclgraph", False), ("native", False), ("eager", True)]
    assert selection.trail[0].reason == "its probe raised ZeroDivisionError: division by zero"


def test_mla_models_narrow_full_to_decode_only(npu):
    selection = select(GraphRequest.parse({}, cudagraph_mode="FULL"), environment=npu,
                       model=ModelInfo.from_architecture("DeepseekV3ForCausalLM"))
    assert selection.plan.cudagraph_mode is CUDAGraphMode.FULL_DECODE_ONLY
    assert selection.plan.npugraph_ex is True
    assert any("AscendMLABackend" in note for note in selection.notes)


def test_selection_as_json(npu):
    data = select(None, environment=npu, model=QWEN).to_dict()
    assert {"backend", "cudagraph_mode", "npugraph_ex", "static_kernel", "capture_sizes", "trail", "notes"} <= set(data)
    assert data["trail"] == [{"backend": "aclgraph", "selected": True,
                              "reason": "torch_npu 2.10.0 with the NPU graph API on npu 910B"}]


def test_a_refusal_quotes_the_mode_rule_not_a_later_note(npu):
    request = GraphRequest.parse({"ascend_compilation_config": {"enable_static_kernel": True}},
                                 cudagraph_mode="PIECEWISE", compiling=False)
    selection = select(request, environment=npu, model=QWEN)
    assert selection.trail[0].reason == (
        "no graph mode is left for this model: cudagraph_mode PIECEWISE -> NONE: piecewise graphs need vLLM's "
        "piecewise compilation (VLLM_COMPILE), which is off, and vLLM then runs no graphs")


def test_beside_xlite_an_explicit_none_gives_way_to_vllm_ascends_decode_graphs():
    """vLLM Ascend's xlite path sets FULL_DECODE_ONLY whatever the mode (the contract tier runs it):
    planning NONE made its capture-size pass fail with `Maximum cudagraph size should be >= 1`."""
    selection = select(GraphRequest.parse({"xlite_graph_config": {"enabled": True}}, cudagraph_mode="NONE"),
                       environment=XLITE_NPU, model=QWEN)
    assert selection.plan.backend == "xlite" and selection.plan.cudagraph_mode is CUDAGraphMode.FULL_DECODE_ONLY
    assert selection.plan.capture_sizes and selection.notes[-1] == (
        "beside xlite, vLLM Ascend sets the mode itself: to run without graphs, use enforce_eager=True or turn "
        "xlite off")


def test_backend_options_are_validated_with_defaults_filled_in(builtins_only, cpu):
    from vllm_ascend_graphs import GraphBackend, GraphConfigError, Plan, Probe

    class Tunable(GraphBackend):
        name = "tunable"

        def validate_options(self, options):
            unknown = set(options) - {"streams"}
            if unknown:
                raise GraphConfigError(f"additional_config.graph_backend_options.tunable: unknown {sorted(unknown)}; "
                                       "allowed: streams")
            return {"streams": 4, **options}

        def probe(self, request, environment, model):
            return Probe.ok("ok")

        def plan(self, request, environment, model):
            return Plan(backend=self.name, cudagraph_mode=CUDAGraphMode.NONE,
                        options=request.graph_backend_options[self.name])

    register(builtins_only, Tunable(), name="tunable")
    assert select({"graph_backend": "tunable"}, environment=cpu, model=QWEN).plan.options == {"streams": 4}
    given = {"graph_backend": "tunable", "graph_backend_options": {"TUNABLE": {"streams": 2}}}
    assert select(given, environment=cpu, model=QWEN).plan.options == {"streams": 2}
    with pytest.raises(GraphConfigError, match="unknown \\['x'\\]; allowed: streams"):
        select({"graph_backend_options": {"tunable": {"x": 1}}}, environment=cpu, model=QWEN)


@pytest.mark.parametrize(("config", "asked"), [
    ({}, None),
    ({"graph_backend": "auto"}, None),
    ({"graph_backend": "ACL"}, "aclgraph"),  # an alias: the backend's own name
    ({"graph_backend": "eager"}, "eager"),
    ({"graph_backend": ["xlite", "eager"]}, "xlite"),  # a list: its first
    ({"xlite_graph_config": {"enabled": True}}, "xlite"),
])
def test_the_backend_asked_for(cpu, config, asked):
    assert select(config, environment=cpu, model=QWEN).asked == asked


@pytest.mark.parametrize(("config", "environment", "fell_back"), [
    ({}, "cpu", False),  # auto: whatever it chooses is what was asked
    ({"graph_backend": "aclgraph"}, "npu", False),
    ({"graph_backend": "aclgraph"}, "cpu", True),
    ({"graph_backend": "eager"}, "cpu", False),
    ({"graph_backend": ["xlite", "eager"]}, "cpu", True),
    ({"xlite_graph_config": {"enabled": True}}, "npu", True),  # xlite is not installed: aclgraph runs
])
def test_a_backend_asked_for_that_cannot_serve_has_fallen_back(request, config, environment, fell_back):
    selection = select(config, environment=request.getfixturevalue(environment), model=QWEN)
    assert selection.fell_back is fell_back


def test_the_summary_names_the_backend_asked_for_when_another_runs(cpu, npu):
    summary = select({"graph_backend": ["xlite", "eager"]}, environment=cpu, model=QWEN).summary()
    assert summary.startswith("graph backend: xlite was asked for, eager runs instead, cudagraph_mode NONE "
                              "(xlite: xlite is not installed: ")
    assert summary.endswith("; aclgraph: not requested; native: not requested)")
    assert select({"graph_backend": "aclgraph"}, environment=npu, model=QWEN).summary() == (
        "graph backend: aclgraph, cudagraph_mode FULL_AND_PIECEWISE (xlite: not requested)")
