"""The facts record about a vllm-ascend: how each reader takes its fact from source, what stands in where
one cannot, and which release an installed version counts as. Each snippet below has the shape of the
real source it stands for (file and release named); tests/real/test_vllm_ascend_facts.py reads the
real sources of all three releases."""

from __future__ import annotations

import ast
import sys

import pytest

from vllm_ascend_graphs.probes import vllm_ascend as support
from vllm_ascend_graphs.probes.vllm_ascend import (
    BUILTIN,
    FACTS,
    NO_COMPILATION,
    NO_GRAPHS,
    RELEASES,
    read_vllm_ascend,
    release_of,
    vllm_ascend_facts,
)


@pytest.fixture(autouse=True)
def fresh():
    support.clear_cache()
    yield
    support.clear_cache()


@pytest.mark.parametrize(("version", "release"), [
    ("0.23.0.post1", "0.23.0.post1"), ("0.26.0rc", "0.26.0rc"), ("main", "main"),
    ("0.22.1rc1", "0.23.0.post1"), ("0.23.0", "0.23.0.post1"), ("0.24.0", "0.26.0rc"), ("0.26.0rc1", "0.26.0rc"),
    ("0.26.1.dev3+gcf0baa38", "0.26.0rc"), ("0.27.0", "main"), ("1.0.0", "main"),
    ("0.0.0", "main"),  # what vllm-ascend's setup.py names a checkout without tags
    ("unknown", "main"),
])
def test_the_release_an_installed_version_counts_as(version, release):
    assert release_of(version) == release


def test_each_release_has_a_table_that_says_it_is_one():
    assert tuple(BUILTIN) == RELEASES
    for release, facts in BUILTIN.items():
        assert (facts.release, facts.source, facts.version) == (
            release, f"vllm-ascend {release} (built-in table)", None)
        assert facts.from_table == set(FACTS) and facts.source_of("xlite_architectures") == facts.source


def test_what_changed_between_the_releases():
    old, rc, main = (BUILTIN[release] for release in RELEASES)
    assert main.xlite_architectures - old.xlite_architectures == {
        "DeepseekV3ForCausalLM", "DeepseekV32ForCausalLM", "GlmMoeDsaForCausalLM"}
    assert rc.xlite_architectures == old.xlite_architectures and len(main.xlite_architectures) == 11
    assert [f.other_compilation_modes for f in (old, rc, main)] == [NO_GRAPHS, NO_GRAPHS, NO_COMPILATION]
    assert rc.speculative_methods - old.speculative_methods == {"dspark"}
    assert main.speculative_methods == rc.speculative_methods
    assert [f.v2_falls_back_on for f in (old, rc, main)] == [{"0.23.0"}, set(), set()]
    assert old.tp_multiple_triggers == ("additional_config.enable_flashcomm1",
                                        "additional_config.enable_shared_expert_dp")
    assert rc.tp_multiple_triggers == ("additional_config.enable_flashcomm1",)
    assert main.tp_multiple_triggers == ("parallel_config.use_sequence_parallel_moe",
                                         "additional_config.enable_shared_expert_dp", "additional_config.enable_dsa_cp")


def parse(text: str) -> ast.Module:
    return ast.parse(text)


# vllm_ascend/xlite/xlite.py: the base class declares the attribute and accepts a bare string (main, lines 91-95).
ADAPTERS = '''
class XliteModelBase:
    _supported_architectures: Sequence[str] | str

class LlamaXliteModel(XliteModelBase):
    _supported_architectures = ["LlamaForCausalLM", "Qwen2ForCausalLM"]

class DeepseekV3XliteModel(XliteModelBase):
    _supported_architectures = "DeepseekV3ForCausalLM"

class Qwen3MoeXliteModel(XliteModelBase):
    _supported_architectures: tuple[str, ...] = ("Qwen3MoeForCausalLM",)

class Computed(XliteModelBase):
    _supported_architectures = LlamaXliteModel._supported_architectures + ["NotLiteral"]

def helper():
    _supported_architectures = ["NotAnAdapter"]
'''


def test_adapters_name_their_architectures_in_a_list_a_tuple_or_a_bare_string():
    assert support._supported_architectures(parse(ADAPTERS)) == {
        "LlamaForCausalLM", "Qwen2ForCausalLM", "DeepseekV3ForCausalLM", "Qwen3MoeForCausalLM"}


# vllm_ascend/platform.py, 0.23.0.post1 (lines 535-540) and main (lines 973-978).
OTHER_MODES_0_23 = '''
if compilation_config.mode not in [CompilationMode.NONE, CompilationMode.VLLM_COMPILE]:
    logger.warning("NPU does not support compilation mode.")
    compilation_config.cudagraph_mode = CUDAGraphMode.NONE
'''
OTHER_MODES_MAIN = OTHER_MODES_0_23.replace("compilation_config.cudagraph_mode = CUDAGraphMode.NONE",
                                            "compilation_config.mode = CompilationMode.NONE")


@pytest.mark.parametrize(("text", "expected"), [
    (OTHER_MODES_0_23, NO_GRAPHS), (OTHER_MODES_MAIN, NO_COMPILATION),
    (OTHER_MODES_0_23.replace("not in", "in"), None),
    (OTHER_MODES_0_23.replace("VLLM_COMPILE", "STOCK_TORCH_COMPILE"), None),
    (OTHER_MODES_0_23.replace("compilation_config.cudagraph_mode =", "mode ="), None),
    ("def check_and_update_config(cls, vllm_config):\n" + "\n".join("    " + line for line in
                                                                      OTHER_MODES_MAIN.splitlines()), NO_COMPILATION),
])
def test_what_a_compilation_mode_other_than_none_or_vllm_compile_turns_off(text, expected):
    assert support._other_compilation_modes(parse(text)) == expected


# vllm_ascend/spec_decode/__init__.py, main (lines 34-58): each method it builds a proposer for.
SPEC_DECODE = '''
def get_spec_decode_method(method, vllm_config, device, runner):
    if method == "ngram":
        return AscendNgramProposer(vllm_config, runner)
    elif method == "dspark":
        return AscendDSparkProposer(vllm_config, device, runner)
    elif method in ("eagle", "eagle3", "mtp"):
        if speculative_config is not None and speculative_config.use_step3p5_mtp():
            return AscendStep3p5MTPProposer(vllm_config, device, runner)
        return AscendEagleProposer(vllm_config, device, runner)
    else:
        raise ValueError(f"Unknown speculative decoding method: {method}")
'''


def test_the_speculative_methods_are_those_the_proposer_choice_compares_with():
    assert support._speculative_methods(parse(SPEC_DECODE)) == {"ngram", "dspark", "eagle", "eagle3", "mtp"}
    assert support._speculative_methods(parse(SPEC_DECODE.replace("method ==", "name =="))) == {
        "eagle", "eagle3", "mtp"}
    assert support._speculative_methods(parse(SPEC_DECODE.replace("method in", "method not in"))) == {
        "ngram", "dspark"}


# vllm_ascend/worker/worker.py, 0.23.0.post1 (lines 160-163), and the same test for a newer release of its own.
WORKER_0_23 = """
class NPUWorker(WorkerBase):
    def __init__(self, vllm_config, local_rank, rank, distributed_init_method, is_driver_worker=False, **kwargs):
        self.use_v2_model_runner = self.vllm_config.use_v2_model_runner
        if self.use_v2_model_runner and vllm_version_is("0.23.0"):
            logger.warning("VLLM_USE_V2_MODEL_RUNNER is not supported on vllm 0.23.0; falling back to v1 model runner.")
            self.use_v2_model_runner = False
"""


@pytest.mark.parametrize(("text", "expected"), [
    (WORKER_0_23, {"0.23.0"}),
    (WORKER_0_23.replace('vllm_version_is("0.23.0")', '(vllm_version_is("0.23.0") or vllm_version_is("0.24.0"))'),
     {"0.23.0", "0.24.0"}),
    (WORKER_0_23.replace("self.use_v2_model_runner = False", "logger.info('kept')"), set()),  # warns, runs V2
    (WORKER_0_23.replace("self.use_v2_model_runner and ", "self.rank == 0 and "), set()),  # not about V2
    ("self.use_v2_model_runner = self.vllm_config.use_v2_model_runner\n", set()),  # 0.26.0rc and main
])
def test_the_vllms_on_which_the_worker_runs_v1_although_v2_is_asked_for(text, expected):
    assert support._v2_falls_back_on(parse(text)) == expected


def installed(tmp_path, monkeypatch, files: dict[str, str]) -> str:
    """A vllm-ascend on sys.path whose import would fail: finding and reading it must import nothing."""
    package = tmp_path / "vllm_ascend"
    (package / "xlite").mkdir(parents=True)
    (package / "spec_decode").mkdir()
    (package / "worker").mkdir()
    (package / "__init__.py").write_text("raise ImportError('reading vllm-ascend must not import it')\n")
    for name, text in files.items():
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    return str(package)


def test_an_installed_vllm_ascend_is_read_from_its_files(tmp_path, monkeypatch):
    installed(tmp_path, monkeypatch, {"xlite/xlite_worker.py": "", "xlite/xlite.py": ADAPTERS,
                                      "platform.py": OTHER_MODES_MAIN, "spec_decode/__init__.py": SPEC_DECODE,
                                      "worker/worker.py": WORKER_0_23})
    facts = vllm_ascend_facts("0.30.0")
    assert (facts.source, facts.version, facts.release) == ("vllm-ascend 0.30.0 (installed)", "0.30.0", "main")
    assert "DeepseekV3ForCausalLM" in facts.xlite_architectures and facts.xlite_worker
    assert facts.other_compilation_modes == NO_COMPILATION
    assert facts.speculative_methods == {"ngram", "dspark", "eagle", "eagle3", "mtp"}
    assert facts.v2_falls_back_on == {"0.23.0"}, "read from its worker, not main's table"
    assert facts.from_table == {"tp_multiple_triggers"}, "the one fact known per release only"
    assert facts.tp_multiple_triggers == BUILTIN["main"].tp_multiple_triggers
    assert facts.source_of("tp_multiple_triggers") == "the built-in table for vllm-ascend main (installed: 0.30.0)"
    assert facts.source_of("other_compilation_modes") == "vllm-ascend 0.30.0 (installed)"
    assert "vllm_ascend" not in sys.modules
    assert vllm_ascend_facts("0.30.0", assumed=True) is BUILTIN["main"], "assumed: another machine's release"


def test_what_cannot_be_read_comes_from_the_table_of_its_release(tmp_path, monkeypatch):
    package = installed(tmp_path, monkeypatch, {"xlite/xlite_worker.py": "", "xlite/xlite.py": "class Broken(:\n",
                                                "platform.py": "y = 2\n"})
    facts = read_vllm_ascend(package, "0.26.0rc2")
    table = BUILTIN["0.26.0rc"]
    assert facts.from_table == {"xlite_architectures", "other_compilation_modes", "tp_multiple_triggers",
                                "speculative_methods", "v2_falls_back_on"}
    assert (facts.xlite_architectures, facts.other_compilation_modes) == (
        table.xlite_architectures, table.other_compilation_modes)
    gone = read_vllm_ascend(installed(tmp_path / "bare", monkeypatch, {}), "0.23.0.post1")
    assert gone.from_table == set(FACTS) - {"xlite_worker", "xlite_architectures"}
    assert (gone.xlite_worker, gone.xlite_architectures) == (False, frozenset()), "no worker: no xlite path at all"


def test_without_an_installed_package_the_version_names_the_table():
    assert vllm_ascend_facts(None) is BUILTIN["0.23.0.post1"], "the release this package pairs with"
    assert vllm_ascend_facts("0.26.0rc3") is BUILTIN["0.26.0rc"]
    assert vllm_ascend_facts("main", assumed=True) is BUILTIN["main"]
