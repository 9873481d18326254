"""What a plan assumes of the environment, and how another environment differs from it: the facts a
vLLM worker compares with the record at its start (`integrations/vllm/worker_check.py`)."""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import Environment, GraphRequest, ModelInfo
from vllm_ascend_graphs.backends.aclgraph import AclGraphBackend
from vllm_ascend_graphs.backends.eager import EagerBackend
from vllm_ascend_graphs.backends.native import NativeBackend
from vllm_ascend_graphs.backends.xlite import XliteBackend
from vllm_ascend_graphs.probes.environment import PLAN_FACTS, assumed_facts, differences
from vllm_ascend_graphs.probes.vllm_ascend import BUILTIN

NPU = Environment(device="npu", soc="910B", torch_npu="2.10.0", xlite="0.2.0rc4",
                  vllm_ascend="0.23.0.post1", assumed=frozenset({"vllm_ascend"}))
RULES_0_23 = BUILTIN["0.23.0.post1"].rules
# One other value of each fact: what another node of the same deployment could have.
ELSEWHERE = {
    "device": {"device": "cpu"},
    "soc": {"soc": "310P"},
    "torch_npu": {"torch_npu_error": "torch_npu 2.10.0 is installed but not importable: ImportError: libhccl.so"},
    "xlite": {"xlite_error": "xlite 0.2.0rc4 is installed but xlite._C does not load: OSError: libascendcl.so"},
    "launch_blocking": {"launch_blocking": True},
    "vllm_ascend": {"vllm_ascend": "main"},
}
QWEN = ModelInfo.from_architecture("Qwen3ForCausalLM")
DEEPSEEK = ModelInfo.from_architecture("DeepseekV3ForCausalLM")
XLITE = {"xlite_graph_config": {"enabled": True}}
# Questions whose answers depend on each fact somewhere: the SoC turns Npugraph_ex off (310P); the
# vllm-ascend release decides what another compilation mode does and which models xlite serves.
QUESTIONS = [
    (GraphRequest.parse({}, cudagraph_mode="FULL_DECODE_ONLY"), QWEN),
    (GraphRequest.parse({}, cudagraph_mode="FULL", compiling=False, other_compilation_mode="STOCK_TORCH_COMPILE"),
     QWEN),
    (GraphRequest.parse(XLITE), QWEN),
    (GraphRequest.parse(XLITE), DEEPSEEK),
]


def answers(backend, environment: Environment) -> list[tuple[object, object]]:
    """The backend's probe and, where it serves, its plan, for each question."""
    found = []
    for request, model in QUESTIONS:
        probe = backend.probe(request, environment, model)
        found.append((probe, backend.plan(request, environment, model) if probe.can_serve else None))
    return found


@pytest.mark.parametrize("backend", [AclGraphBackend(), XliteBackend(), NativeBackend(), EagerBackend()],
                         ids=lambda backend: backend.name)
@pytest.mark.parametrize("fact", PLAN_FACTS)
def test_a_backend_assumes_exactly_the_facts_its_probe_and_plan_read(backend, fact):
    """A fact is in `assumes` exactly when another value of it changes what the backend's own probe or
    plan answers: the worker compares those, and no other."""
    changed = answers(backend, NPU.replace(**ELSEWHERE[fact])) != answers(backend, NPU)
    assert changed == (fact in backend.assumes)


def test_the_assumed_facts_of_an_npu_environment():
    assert assumed_facts(NPU, PLAN_FACTS) == {
        "device": "npu", "soc": "910B", "torch_npu": "2.10.0", "xlite": "0.2.0rc4", "launch_blocking": False,
        "vllm_ascend": {"source": "vllm-ascend 0.23.0.post1 (built-in table)", "rules": RULES_0_23}}
    assert assumed_facts(NPU, ()) == {}


def test_torch_npu_and_xlite_count_only_when_ready():
    broken = NPU.replace(**ELSEWHERE["torch_npu"], **ELSEWHERE["xlite"])
    assert assumed_facts(broken, ("torch_npu", "xlite")) == {"torch_npu": None, "xlite": None}
    unread = NPU.replace(xlite="0.2.0rc4", xlite_unchecked=True)  # its files are read when asked: not here
    assert unread.xlite_problem is not None and assumed_facts(unread, ("xlite",)) == {"xlite": None}


def test_the_same_environment_differs_in_nothing():
    assert differences(assumed_facts(NPU, PLAN_FACTS), NPU) == []


@pytest.mark.parametrize(("fact", "text"), [
    ("device", "device cpu here, the plan assumed device npu"),
    ("soc", "SoC 310P here, the plan assumed SoC 910B"),
    ("torch_npu", "torch_npu 2.10.0 is installed but not importable: ImportError: libhccl.so "
                  "(the plan assumed torch_npu 2.10.0)"),
    ("xlite", "xlite 0.2.0rc4 is installed but xlite._C does not load: OSError: libascendcl.so "
              "(the plan assumed xlite 0.2.0rc4)"),
    ("launch_blocking", "ASCEND_LAUNCH_BLOCKING=1 here, the plan assumed no ASCEND_LAUNCH_BLOCKING"),
    ("vllm_ascend", "vllm-ascend main (built-in table) here, whose platform rules differ from those of vllm-ascend "
                    "0.23.0.post1 (built-in table), which the plan followed"),
])
def test_each_difference_is_named_with_both_values(fact, text):
    assert differences(assumed_facts(NPU, PLAN_FACTS), NPU.replace(**ELSEWHERE[fact])) == [text]


def test_only_the_facts_the_plan_recorded_are_compared():
    assert differences({"soc": "910B"}, NPU.replace(device="cpu", soc="910B")) == []
    assert differences({}, Environment()) == []


def test_missing_libraries_are_named_and_a_library_the_plan_lacked_is_no_difference():
    bare = NPU.replace(torch_npu=None, xlite=None)
    assert differences({"torch_npu": "2.10.0", "xlite": "0.2.0rc4"}, bare) == [
        "torch_npu is not installed (the plan assumed torch_npu 2.10.0)",
        "xlite is not installed (the plan assumed xlite 0.2.0rc4)"]
    assert differences({"torch_npu": None, "xlite": None}, NPU) == []
    assert differences({"torch_npu": "assumed"}, bare) == ["torch_npu is not installed (the plan assumed torch_npu "
                                                           "(assumed))"]


def test_vllm_ascend_rules_tell_releases_apart_and_nothing_else():
    rules = {release: facts.rules for release, facts in BUILTIN.items()}
    assert len(set(rules.values())) == len(BUILTIN)
    same = BUILTIN["main"].replace(source="vllm-ascend 0.0.0 (installed)", version="0.0.0", from_table=frozenset())
    assert same.rules == rules["main"]
    assert BUILTIN["main"].replace(tp_multiple_triggers=()).rules != rules["main"]
