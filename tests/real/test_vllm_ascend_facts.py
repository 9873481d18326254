"""The vllm-ascend facts on the real sources of the three releases: 0.23.0.post1 (its sdist), releases/
v0.26.0rc and main (the vendored archives). Every fact read from source must equal that release's
built-in table, so a reader that drifts, or a table that is wrong, fails here; the one fact kept per
release only (the TP-multiple triggers) is derived here from the source by following its calls.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import real_packages

from vllm_ascend_graphs import Environment, ModelInfo, select
from vllm_ascend_graphs.probes import vllm_ascend as support
from vllm_ascend_graphs.probes.vllm_ascend import BUILTIN, FACTS, RELEASES, read_vllm_ascend

SOURCES = {
    "0.23.0.post1": lambda: real_packages.vllm_ascend_source("0.23.0.post1"),
    "0.26.0rc": lambda: real_packages.vllm_ascend_archive(real_packages.ARCHIVE_0_26),
    "main": lambda: real_packages.vllm_ascend_archive(real_packages.ARCHIVE_MAIN),
}


@pytest.fixture(scope="module", params=RELEASES)
def release(request) -> tuple[str, Path]:
    return request.param, SOURCES[request.param]() / "vllm_ascend"


def test_every_fact_read_from_the_source_is_that_releases_table(release):
    name, package = release
    facts = read_vllm_ascend(str(package), name)
    assert facts.release == name and facts.from_table == {"tp_multiple_triggers"}
    table = BUILTIN[name]
    assert {field: getattr(facts, field) for field in FACTS} == {field: getattr(table, field) for field in FACTS}


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def functions(tree: ast.AST) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def calls_to(tree: ast.AST, name: str) -> list[ast.Call]:
    def called(call: ast.Call) -> str | None:
        return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)

    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and called(node) == name]


def tp_multiple_triggers(package: Path) -> set[str]:
    """Follow the source from the call that keeps only TP multiples to the settings that decide it."""
    platform, utils, config = (parse(package / name) for name in ("platform.py", "utils.py", "ascend_config.py"))
    [pruner] = [f for f in functions(platform).values() if calls_to(f, "update_sizes_for_sequence_parallelism")]
    [condition] = [node.test for node in ast.walk(pruner)
                   if isinstance(node, ast.If) and calls_to(node, "update_sizes_for_sequence_parallelism")]
    common = ("tensor_parallel_size", "cudagraph_mode", "enforce_eager")  # TP > 1, a graph mode, no enforce_eager
    terms = [t for t in condition.values if not any(word in ast.unparse(t) for word in common)]
    local = {target.id: node.value for node in ast.walk(pruner) if isinstance(node, ast.Assign)
             for target in node.targets if isinstance(target, ast.Name)}
    while any(isinstance(t, ast.Name) and t.id in local for t in terms):  # main names the condition first
        terms = [part for t in terms for part in (
            getattr(local[t.id], "values", [local[t.id]]) if isinstance(t, ast.Name) and t.id in local else [t])]
    found: set[str] = set()
    for term in terms:
        if calls_to(term, "enable_sp"):
            found |= sequence_parallel_triggers(functions(utils)["enable_sp"], config)
        else:  # a parameter of the pruning function: what its caller passes
            assert isinstance(term, ast.Name), ast.unparse(term)
            [passed] = [k.value for call in calls_to(platform, pruner.name) for k in call.keywords if k.arg == term.id]
            keys = [c.args[0].value for c in calls_to(passed, "get")]
            attributes = [a.attr for a in ast.walk(passed) if isinstance(a, ast.Attribute)
                          and isinstance(a.value, ast.Name) and a.value.id == "ascend_config"]
            found |= {f"additional_config.{key}" for key in keys + attributes}
    return found


def sequence_parallel_triggers(enable_sp: ast.FunctionDef, config: ast.Module) -> set[str]:
    """What `utils.enable_sp` reads; and shared-expert DP where AscendConfig makes it force sequence parallelism."""
    found = {f"additional_config.{node.value}" for node in ast.walk(enable_sp)
             if isinstance(node, ast.Constant) and node.value == "enable_flashcomm1"}
    found |= {f"parallel_config.{node.attr}" for node in ast.walk(enable_sp)
              if isinstance(node, ast.Attribute) and node.attr == "use_sequence_parallel_moe"}
    forced = any(isinstance(node, ast.Name) and node.id == "enable_shared_expert_dp" and isinstance(node.ctx, ast.Load)
                 for node in ast.walk(enable_sp))
    passed = any(k.arg == "enable_shared_expert_dp" for call in calls_to(config, "enable_sp") for k in call.keywords)
    return found | ({"additional_config.enable_shared_expert_dp"} if forced and passed else set())


def test_the_tp_multiple_triggers_of_each_table_are_those_of_its_source(release):
    name, package = release
    assert tp_multiple_triggers(package) == set(BUILTIN[name].tp_multiple_triggers)


def test_shared_expert_dp_counts_only_with_expert_parallelism_and_tp(release):
    """What the triggers' comment promises: AscendConfig reads the key together with EP and TP > 1."""
    _, package = release
    [value] = [node.value for node in ast.walk(parse(package / "ascend_config.py")) if isinstance(node, ast.Assign)
               and any(ast.unparse(t) == "self.enable_shared_expert_dp" for t in node.targets)]
    assert "enable_expert_parallel" in ast.unparse(value) and "tensor_parallel_size > 1" in ast.unparse(value)


def test_piecewise_modes_need_vllm_compile_in_every_release(release):
    """Why NO_COMPILATION (main) matters: its platform keeps the graph mode, then asserts VLLM_COMPILE for it."""
    _, package = release
    [branch] = [node for node in ast.walk(parse(package / "platform.py")) if isinstance(node, ast.If)
                and calls_to(node.test, "requires_piecewise_compilation")]
    checks = [ast.unparse(node) for node in ast.walk(branch) if isinstance(node, (ast.Assert, ast.If))]
    assert any("mode" in check and "CompilationMode.VLLM_COMPILE" in check for check in checks)
    assert any(isinstance(node, (ast.Assert, ast.Raise)) for node in ast.walk(branch))


def test_a_bare_string_names_one_architecture(release):
    """vllm-ascend's adapter base class (`__init_subclass__`) takes `_supported_architectures = "Name"` as
    `["Name"]`. Write one of the real adapters that way: the reader must see the same architectures, not
    the characters of the name (the bug this replaced)."""
    name, package = release
    text = (package / "xlite" / "xlite.py").read_text(encoding="utf-8")
    assert "if isinstance(arcs, str):\n            arcs = [arcs]" in text
    adapter = '_supported_architectures = ["Glm4MoeForCausalLM"]'
    assert text.count(adapter) == 1
    bare = ast.parse(text.replace(adapter, '_supported_architectures = "Glm4MoeForCausalLM"'))
    assert support._supported_architectures(bare) == BUILTIN[name].xlite_architectures


def test_the_installed_main_serves_its_new_architectures_on_xlite_without_being_imported(monkeypatch):
    """main installed from a checkout without tags is version 0.0.0 (its setup.py): read as main."""
    monkeypatch.syspath_prepend(str(SOURCES["main"]()))
    support.clear_cache()
    try:
        environment = Environment(device="npu", soc="910B", torch_npu="2.10.0", xlite="0.2.0rc4", vllm_ascend="0.0.0")
        for architecture in ("DeepseekV3ForCausalLM", "DeepseekV32ForCausalLM", "GlmMoeDsaForCausalLM"):
            selection = select({"graph_backend": "xlite"}, environment=environment,
                               model=ModelInfo.from_architecture(architecture))
            assert selection.trail[0].reason == (
                f"xlite 0.2.0rc4 supports {architecture} on npu with vllm-ascend 0.0.0 (installed)")
        facts = environment.vllm_ascend_facts
        assert facts.release == "main" and "additional_config.enable_flashcomm1" not in facts.tp_multiple_triggers
        assert "vllm_ascend" not in sys.modules
    finally:
        support.clear_cache()
