"""XliteGraph's probe reasons, whole, and its plan: the mode ACLGraph keeps beside xlite, why, and the
compile options it hands on."""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import CUDAGraphMode, Environment, GraphRequest, ModelInfo, Probe, select
from vllm_ascend_graphs.backends.xlite import XliteBackend
from vllm_ascend_graphs.probes import vllm_ascend as support

XLITE_NPU = Environment(device="npu", soc="910B", torch_npu="2.10.0", xlite="0.2.0")
QWEN = ModelInfo.from_architecture("Qwen3ForCausalLM")
DECODE_ONLY = "xlite decode-only mode runs pure-decode batches; ACLGraph runs FULL_DECODE_ONLY"


@pytest.mark.parametrize(("config", "mode", "spec_tokens", "effective", "notes"), [
    ({}, None, 0, CUDAGraphMode.FULL_DECODE_ONLY, (DECODE_ONLY,)),
    ({}, "FULL", 0, CUDAGraphMode.FULL_DECODE_ONLY, (f"cudagraph_mode FULL -> FULL_DECODE_ONLY: {DECODE_ONLY}",)),
    ({"full_mode": True}, None, 0, CUDAGraphMode.NONE,
     ("xlite full mode runs prefill and decode itself, so ACLGraph is off",)),
    ({"full_mode": True}, None, 1, CUDAGraphMode.FULL_DECODE_ONLY,
     ("xlite full mode with speculative decoding keeps ACLGraph FULL_DECODE_ONLY for the draft steps",
      "capture sizes [1, 2, 4] -> [2, 4]: FULL decode graphs with 1 speculative token take multiples of 2 "
      "(vLLM's model runner rounds them)")),
    ({"full_mode": True}, "NONE", 0, CUDAGraphMode.NONE,
     ("xlite full mode runs prefill and decode itself, so ACLGraph is off",)),
])
def test_the_mode_beside_xlite_and_why(config, mode, spec_tokens, effective, notes):
    request = GraphRequest.parse({"xlite_graph_config": {"enabled": True, **config}}, cudagraph_mode=mode,
                                 max_num_seqs=2)
    plan = select(request, environment=XLITE_NPU.replace(spec_tokens=spec_tokens), model=QWEN).plan
    assert (plan.backend, plan.cudagraph_mode, plan.notes) == ("xlite", effective, notes)


def test_an_explicit_none_beside_decode_only_xlite_says_both_what_changed_and_how_to_run_eagerly():
    request = GraphRequest.parse({"xlite_graph_config": {"enabled": True}}, cudagraph_mode="NONE")
    plan = select(request, environment=XLITE_NPU, model=QWEN).plan
    assert (plan.cudagraph_mode, plan.notes) == (CUDAGraphMode.FULL_DECODE_ONLY, (
        f"cudagraph_mode NONE -> FULL_DECODE_ONLY: {DECODE_ONLY}",
        "beside xlite, vLLM Ascend sets the mode itself: to run without graphs, use enforce_eager=True or turn "
        "xlite off"))


def test_static_kernels_cover_the_decode_sizes_of_the_speculative_steps():
    request = GraphRequest.parse({"xlite_graph_config": {"enabled": True},
                                  "ascend_compilation_config": {"enable_static_kernel": True}}, max_num_seqs=4)
    plan = select(request, environment=XLITE_NPU.replace(spec_tokens=1), model=QWEN).plan
    assert plan.capture_sizes == (2, 4, 8)  # multiples of 1 + 1 tokens, as the model runner rounds them
    assert plan.options == {"xlite_mode": "decode_only", "static_kernel_sizes": [2, 4, 8]}


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Installs a vllm-ascend (found on sys.path, never imported) whose xlite adapters support the given list."""
    def install(architectures: list[str]) -> None:
        adapters = tmp_path / "vllm_ascend" / "xlite"
        adapters.mkdir(parents=True)
        (adapters.parent / "__init__.py").write_text("raise ImportError('finding the package must not import it')\n")
        (adapters / "xlite_worker.py").write_text("")
        (adapters / "xlite.py").write_text(f"class Adapter:\n    _supported_architectures = {architectures!r}\n")
        monkeypatch.syspath_prepend(str(tmp_path))
        support.clear_cache()

    yield install
    support.clear_cache()


def xlite_reason(environment, architecture="Qwen3ForCausalLM"):
    trail = select({"graph_backend": "xlite"}, environment=environment,
                   model=ModelInfo.from_architecture(architecture)).trail
    assert trail[0].backend == "xlite"
    return trail[0].reason


def test_the_probe_says_what_serves_and_whose_adapters_it_went_by():
    assert xlite_reason(XLITE_NPU) == "xlite 0.2.0 supports Qwen3ForCausalLM on npu with vllm-ascend 0.23.0.post1 " \
                                      "(built-in table)"


ASSUME_MAIN = XLITE_NPU.replace(vllm_ascend="main", assumed=frozenset({"vllm_ascend"}))
MAIN_ONLY = ("DeepseekV3ForCausalLM", "DeepseekV32ForCausalLM", "GlmMoeDsaForCausalLM")


@pytest.mark.parametrize("architecture", MAIN_ONLY)
def test_architectures_main_adds_serve_on_xlite_with_main_only(architecture):
    assert xlite_reason(ASSUME_MAIN, architecture) == (
        f"xlite 0.2.0 supports {architecture} on npu with vllm-ascend main (built-in table)")
    for release in ("0.23.0.post1", "0.26.0rc"):
        older = ASSUME_MAIN.replace(vllm_ascend=release)
        assert xlite_reason(older, architecture).startswith(
            f"{architecture} has no xlite adapter in vllm-ascend {release} (built-in table); supported: Glm4Moe")


def test_xlite_not_asked_for_is_not_requested():
    assert XliteBackend().probe(GraphRequest(), XLITE_NPU, QWEN) == Probe.refuse(
        "not requested (XliteGraph is optional: set xlite_graph_config.enabled)")


def test_the_installed_vllm_ascend_decides_the_architectures(installed):
    installed(["Qwen3ForCausalLM", "MiniCPMForCausalLM"])
    here = XLITE_NPU.replace(vllm_ascend="0.30.0")
    assert xlite_reason(here, "LlamaForCausalLM") == (
        "LlamaForCausalLM has no xlite adapter in vllm-ascend 0.30.0 (installed); supported: MiniCPMForCausalLM, "
        "Qwen3ForCausalLM")
    # An assumed vllm-ascend release describes another machine: its built-in table, not what is installed here.
    assumed = here.replace(vllm_ascend="main", assumed=frozenset({"vllm_ascend"}))
    assert xlite_reason(assumed, "LlamaForCausalLM").endswith("with vllm-ascend main (built-in table)")


def test_an_installed_vllm_ascend_without_adapters_supports_none(installed):
    installed([])
    assert xlite_reason(XLITE_NPU.replace(vllm_ascend="0.30.0")) == (
        "Qwen3ForCausalLM has no xlite adapter in vllm-ascend 0.30.0 (installed); supported: none")
