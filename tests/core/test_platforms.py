"""Platforms: where nothing here captures, vLLM's own graph settings stay; where vLLM captures no
graphs, every backend sees NONE; what vLLM Ascend's xlite path supports follows the installed release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugins import register

from vllm_ascend_graphs import CUDAGraphMode, Environment, GraphBackend, GraphRequest, ModelInfo, Plan, Probe, select
from vllm_ascend_graphs.entrypoints.cli import main
from vllm_ascend_graphs.probes.vllm_ascend import BUILTIN, vllm_ascend_facts
from vllm_ascend_graphs.rules.capture_plan import default_capture_sizes

QWEN = ModelInfo.from_architecture("Qwen3ForCausalLM")
GPU = Environment(device="cuda", torch="2.13.0+cu130")


def explain(capsys, *args: str) -> dict:
    assert main(["explain", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("mode", "expected"), [
    (None, "FULL_AND_PIECEWISE"), ("FULL", "FULL"), ("PIECEWISE", "PIECEWISE"),
    ("FULL_DECODE_ONLY", "FULL_DECODE_ONLY"),
])
def test_on_a_gpu_the_platforms_own_mode_and_sizes_are_kept(capsys, mode, expected):
    answer = explain(capsys, "--assume", "device=cuda", *(["--cudagraph-mode", mode] if mode else []))
    assert [(a["backend"], a["selected"]) for a in answer["trail"]] == [("aclgraph", False), ("native", True)]
    assert answer["trail"][1]["reason"] == "vLLM's cuda platform captures its own graphs; its settings are kept"
    assert (answer["backend"], answer["cudagraph_mode"]) == ("native", expected)
    assert answer["capture_sizes"] == list(default_capture_sizes(512))  # vLLM's own: min(256 * 2, 512)
    assert not answer["npugraph_ex"] and not answer["static_kernel"]


def test_on_a_gpu_vllms_sizes_follow_its_own_rule():
    plan = select(GraphRequest.parse({}, max_num_seqs=8), environment=GPU.replace(spec_tokens=1), model=QWEN).plan
    assert plan.capture_sizes == (1, 2, 4, 8, 16, 24, 32)  # 8 sequences x 2 tokens x 2
    given = select(GraphRequest.parse({}, capture_sizes=[4, 1, 2]), environment=GPU, model=QWEN).plan
    assert given.capture_sizes == (1, 2, 4)
    eager = select(GraphRequest.parse({}, enforce_eager=True), environment=GPU, model=QWEN).plan
    assert (eager.backend, eager.cudagraph_mode, eager.capture_sizes) == ("native", CUDAGraphMode.NONE, ())


def test_naming_a_backend_on_a_gpu_still_selects_it():
    selection = select({"graph_backend": "eager"}, environment=GPU, model=QWEN)
    assert selection.plan.backend == "eager" and selection.plan.cudagraph_mode is CUDAGraphMode.NONE


def test_native_refuses_on_ascend_and_where_vllm_captures_nothing(npu, cpu):
    on_npu = select({"graph_backend": ["native", "eager"]}, environment=npu, model=QWEN)
    assert on_npu.trail[0].reason == "on Ascend the graph path is one of this package's backends (aclgraph, xlite)"
    on_cpu = select({"graph_backend": ["native", "eager"]}, environment=cpu, model=QWEN)
    assert on_cpu.trail[0].reason == "vLLM's cpu platform captures no graphs"


def test_where_vllm_captures_no_graphs_every_backend_sees_none(cpu):
    seen = []

    class Recording(GraphBackend):
        name = "recording"

        def probe(self, request, environment, model):
            seen.append(request.cudagraph_mode)
            return Probe.ok("serves anywhere")

        def plan(self, request, environment, model):
            return Plan(self.name, CUDAGraphMode.FULL, capture_sizes=(1, 2))  # ignores the request

    from vllm_ascend_graphs.hooks.registry import get_registry

    register(get_registry(), Recording(), name="recording-plugin")
    selection = select(GraphRequest.parse({"graph_backend": "recording"}, cudagraph_mode="FULL"), environment=cpu,
                       model=QWEN)
    assert seen == [CUDAGraphMode.NONE]
    assert (selection.plan.cudagraph_mode, selection.plan.capture_sizes) == (CUDAGraphMode.NONE, ())
    assert selection.notes[0] == "cudagraph_mode FULL -> NONE: vLLM's cpu platform captures no graphs"
    assert selection.notes[-1] == "cudagraph_mode FULL -> NONE: vLLM's cpu platform captures no graphs"


def test_planning_without_vllm_ascend_uses_the_table_of_the_release_it_names(npu):
    xlite_npu = npu.replace(xlite="0.2.0rc4")
    deepseek = select({"graph_backend": "xlite"}, environment=xlite_npu,
                      model=ModelInfo.from_architecture("DeepseekV3ForCausalLM"))
    assert deepseek.trail[0].reason.startswith(
        "DeepseekV3ForCausalLM has no xlite adapter in vllm-ascend 0.23.0.post1 (built-in table); supported: ")
    architectures = BUILTIN["0.23.0.post1"].xlite_architectures
    assert len(architectures) == 8
    for architecture in sorted(architectures):
        chosen = select({"graph_backend": "xlite"}, environment=xlite_npu,
                        model=ModelInfo.from_architecture(architecture))
        assert chosen.plan.backend == "xlite", architecture


def installed_vllm_ascend(root: Path, adapters: str | None, worker: bool = True) -> Path:
    package = root / "vllm_ascend"
    (package / "xlite").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('finding the package must not import it')\n")
    if adapters is not None:
        (package / "xlite" / "xlite.py").write_text(adapters)
    if worker:
        (package / "xlite" / "xlite_worker.py").write_text("")
    return root


ADAPTERS = '''
class Base:
    _supported_architectures = ["LlamaForCausalLM"]

class Next(Base):
    _supported_architectures: list[str] = ["DeepseekV3ForCausalLM", "NewModelForCausalLM"]

def unrelated():
    _supported_architectures = ["NotAnAdapter"]
'''


@pytest.fixture
def fresh_support(monkeypatch):
    from vllm_ascend_graphs.probes import vllm_ascend as vllm_ascend_support

    vllm_ascend_support.clear_cache()
    yield monkeypatch
    vllm_ascend_support.clear_cache()


def test_an_installed_vllm_ascend_says_which_architectures_xlite_runs(tmp_path, fresh_support):
    fresh_support.syspath_prepend(str(installed_vllm_ascend(tmp_path, ADAPTERS)))
    facts = vllm_ascend_facts("0.26.0")
    assert facts.xlite_architectures == {"LlamaForCausalLM", "DeepseekV3ForCausalLM", "NewModelForCausalLM"}
    assert facts.source_of("xlite_architectures") == "vllm-ascend 0.26.0 (installed)" and facts.xlite_worker
    assert vllm_ascend_facts(None).source == "vllm-ascend 0.23.0.post1 (built-in table)"


def test_an_installed_vllm_ascend_without_an_xlite_worker_has_no_xlite_path(tmp_path, fresh_support, npu):
    fresh_support.syspath_prepend(str(installed_vllm_ascend(tmp_path, None, worker=False)))
    environment = npu.replace(xlite="0.2.0rc4", vllm_ascend="0.10.0")
    selection = select({"graph_backend": "xlite"}, environment=environment, model=QWEN)
    assert selection.trail[0].reason == "vllm-ascend 0.10.0 (installed) has no XliteGraph path (no xlite worker)"


def test_unreadable_adapters_come_from_the_table_of_the_release_and_say_so(tmp_path, fresh_support, npu):
    fresh_support.syspath_prepend(str(installed_vllm_ascend(tmp_path, "class Broken(:\n")))
    facts = vllm_ascend_facts("0.26.0")
    assert facts.xlite_architectures == BUILTIN["0.26.0rc"].xlite_architectures
    assert "xlite_architectures" in facts.from_table
    environment = npu.replace(xlite="0.2.0rc4", vllm_ascend="0.26.0")
    assert select({"graph_backend": "xlite"}, environment=environment, model=QWEN).trail[0].reason == (
        "xlite 0.2.0rc4 supports Qwen3ForCausalLM on npu with the built-in table for vllm-ascend 0.26.0rc "
        "(installed: 0.26.0)")
