"""Each fact `resolve()` hands to a rule changes its result: one fact at a time, against the baseline.

The rule functions have tables of their own (test_modes.py); these tests fail when `resolve()`
stops passing a fact on, or passes the wrong one.
"""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import AttentionSupport as AS
from vllm_ascend_graphs import CUDAGraphMode as M
from vllm_ascend_graphs import Environment, GraphRequest, ModelInfo
from vllm_ascend_graphs.rules.capture_plan import default_capture_sizes, plan_capture_sizes
from vllm_ascend_graphs.rules.config import AscendCompilationConfig
from vllm_ascend_graphs.rules.graph_keys import DecodeShape
from vllm_ascend_graphs.rules.modes import GraphSettings, resolve

NPU = Environment(device="npu", soc="910B", torch_npu="2.10.0")
DEFAULT_SIZES = default_capture_sizes(256)


def test_the_baseline():
    assert resolve(GraphRequest(), NPU, ModelInfo()) == GraphSettings(M.FULL_AND_PIECEWISE, False, False,
                                                                      DEFAULT_SIZES, ())
    assert resolve(GraphRequest(cudagraph_mode=M.FULL), NPU, ModelInfo()) == GraphSettings(M.FULL, True, False,
                                                                                           DEFAULT_SIZES, ())


def test_enforce_eager_reaches_the_narrowing_rules():
    settings = resolve(GraphRequest(enforce_eager=True), NPU, ModelInfo())
    assert settings == GraphSettings(M.NONE, False, False, (), (
        "cudagraph_mode FULL_AND_PIECEWISE -> NONE: enforce_eager=True turns graphs off",))


def test_compiling_reaches_the_narrowing_rules():
    assert resolve(GraphRequest(compiling=False), NPU, ModelInfo()).cudagraph_mode is M.NONE
    settings = resolve(GraphRequest(compiling=False, cudagraph_mode=M.FULL_DECODE_ONLY), NPU, ModelInfo())
    assert settings.cudagraph_mode is M.FULL_DECODE_ONLY and settings.npugraph_ex is False  # nothing to compile


def test_the_model_reaches_the_narrowing_rules():
    whisper = ModelInfo.from_architecture("WhisperForConditionalGeneration")
    assert resolve(GraphRequest(), NPU, whisper).cudagraph_mode is M.PIECEWISE
    single = ModelInfo(attention_backend="SingleTokenAttention", attention_support=AS.UNIFORM_SINGLE_TOKEN_DECODE)
    settings = resolve(GraphRequest(cudagraph_mode=M.FULL), NPU, single)
    assert settings.cudagraph_mode is M.FULL_DECODE_ONLY
    assert settings.notes == (
        "cudagraph_mode FULL -> FULL_DECODE_ONLY: SingleTokenAttention supports full graphs only for single-token "
        "decode batches (UNIFORM_SINGLE_TOKEN_DECODE); mixed prefill/decode batches cannot be captured whole",)


def test_context_parallel_reaches_the_narrowing_rules():
    assert resolve(GraphRequest(cudagraph_mode=M.FULL), NPU.replace(pcp=2), ModelInfo()).cudagraph_mode \
        is M.FULL_AND_PIECEWISE


def test_spec_tokens_reach_the_narrowing_rules_and_the_capture_sizes():
    single = ModelInfo(attention_backend="SingleTokenAttention", attention_support=AS.UNIFORM_SINGLE_TOKEN_DECODE)
    request = GraphRequest(cudagraph_mode=M.FULL_DECODE_ONLY, max_num_seqs=8)
    assert resolve(request, NPU, single) == GraphSettings(M.FULL_DECODE_ONLY, True, False, (1, 2, 4, 8), ())
    settings = resolve(request, NPU.replace(spec_tokens=1), single)
    assert settings.cudagraph_mode is M.PIECEWISE
    assert settings.notes == (
        "cudagraph_mode FULL_DECODE_ONLY -> PIECEWISE: speculative decoding (1 tokens) decodes more than one token "
        "per request, and SingleTokenAttention supports full graphs only for single-token decode batches "
        "(UNIFORM_SINGLE_TOKEN_DECODE)",)
    # Full graphs stay where attention handles uniform batches; each request then decodes 1 + 1 tokens.
    settings = resolve(request, NPU.replace(spec_tokens=1), ModelInfo())
    assert settings == GraphSettings(M.FULL_DECODE_ONLY, True, False, (2, 4, 8, 16), (
        "capture sizes [1, 2, 4, 8, 16] -> [2, 4, 8, 16]: FULL decode graphs with 1 speculative token take "
        "multiples of 2 (vLLM's model runner rounds them)",))


def test_the_soc_reaches_the_npugraph_ex_rule():
    settings = resolve(GraphRequest(cudagraph_mode=M.FULL), NPU.replace(soc="310P"), ModelInfo())
    assert settings == GraphSettings(M.FULL, False, False, DEFAULT_SIZES,
                                     ("Npugraph_ex is off on Ascend 310P, which does not support it",))


def test_the_soc_reaches_the_capture_size_rule():
    settings = resolve(GraphRequest(), NPU.replace(soc="950"), ModelInfo())
    assert settings == GraphSettings(M.FULL_AND_PIECEWISE, False, False, (1, 72, 168, 256), (
        "capture sizes 35 -> 4 [1, 72, 168, 256]: Ascend 950 drivers support only 4 piecewise capture sizes for now",
    ))


def test_the_npugraph_ex_switches_reach_their_rule():
    off = GraphRequest(cudagraph_mode=M.FULL, ascend_compilation_config=AscendCompilationConfig(
        enable_npugraph_ex=False))
    assert resolve(off, NPU, ModelInfo()).npugraph_ex is False
    static = GraphRequest(cudagraph_mode=M.FULL, ascend_compilation_config=AscendCompilationConfig(
        enable_static_kernel=True))
    assert resolve(static, NPU, ModelInfo())[1:3] == (True, True)


@pytest.mark.parametrize(("request_", "sizes"), [
    (GraphRequest(capture_sizes=(16, 2)), (2, 16)),
    (GraphRequest(max_capture_size=24), (1, 2, 4, 8, 16, 24)),
    (GraphRequest(max_num_seqs=4), (1, 2, 4)),
    (GraphRequest(max_num_seqs=12), (1, 2, 4, 8, 12)),
    (GraphRequest(max_num_seqs=64, max_num_batched_tokens=36), (1, 2, 4, 8, 16, 24, 32, 36)),
])
def test_the_size_settings_reach_the_capture_size_rule(request_, sizes):
    assert resolve(request_, NPU, ModelInfo()).capture_sizes == sizes


def test_a_mode_given_to_resolve_replaces_the_requested_one():
    assert resolve(GraphRequest(cudagraph_mode=M.PIECEWISE), NPU, ModelInfo(), mode=M.FULL_DECODE_ONLY)[:2] \
        == (M.FULL_DECODE_ONLY, True)


@pytest.mark.parametrize("mode", [M.PIECEWISE, M.FULL_AND_PIECEWISE])
def test_ascend_950_keeps_four_sizes_or_fewer_as_they_are(mode):
    shape = DecodeShape(max_num_seqs=16)
    assert plan_capture_sizes(mode, shape, sizes=(1, 2, 4, 8, 16), soc="950").sizes == (1, 2, 8, 16)
    assert plan_capture_sizes(mode, shape, sizes=(1, 2, 4, 8), soc="950").sizes == (1, 2, 4, 8)


def release(name: str) -> Environment:
    return NPU.replace(vllm_ascend=name, assumed=frozenset({"vllm_ascend"}), tp=2)


@pytest.mark.parametrize(("environment", "switches", "pruned_by"), [
    (release("0.23.0.post1"), {"enable_flashcomm1": True}, "additional_config.enable_flashcomm1"),
    (release("0.23.0.post1"), {"enable_flashcomm1": False}, None),
    (release("0.23.0.post1").replace(flashcomm1_env=True), {}, "additional_config.enable_flashcomm1"),
    (release("0.23.0.post1").replace(flashcomm1_env=True), {"enable_flashcomm1": False}, None),  # the key wins
    (release("0.23.0.post1"), {"enable_shared_expert_dp": True}, None),  # only with expert parallelism
    (release("0.23.0.post1").replace(expert_parallel=True), {"enable_shared_expert_dp": True},
     "additional_config.enable_shared_expert_dp"),
    (release("0.26.0rc"), {"enable_flashcomm1": True}, "additional_config.enable_flashcomm1"),
    (release("main"), {"enable_flashcomm1": True}, None),  # FlashComm v1 is gone on main
    (release("main"), {"enable_dsa_cp": True}, "additional_config.enable_dsa_cp"),
    (release("main").replace(sequence_parallel_moe=True), {}, "parallel_config.use_sequence_parallel_moe"),
    (release("0.23.0.post1").replace(tp=1), {"enable_flashcomm1": True}, None),  # TP 1: nothing to align
])
def test_the_release_and_its_switches_reach_the_tp_multiple_rule(environment, switches, pruned_by):
    settings = resolve(GraphRequest(max_num_seqs=8, ascend_switches=switches), environment, ModelInfo())
    assert settings.capture_sizes == ((2, 4, 8) if pruned_by else (1, 2, 4, 8))
    assert [n for n in settings.notes if "multiples of tensor_parallel_size" in n] == (
        [f"capture sizes [1, 2, 4, 8] -> [2, 4, 8]: vLLM Ascend keeps multiples of tensor_parallel_size 2 with "
         f"{pruned_by}"] if pruned_by else [])


def test_another_compilation_mode_turns_graphs_off_on_0_23_and_compilation_off_on_main():
    request = GraphRequest.parse({}, compiling=False, other_compilation_mode="stock_torch_compile", max_num_seqs=8,
                                 cudagraph_mode="FULL_DECODE_ONLY")
    old = resolve(request, release("0.23.0.post1"), ModelInfo())
    assert (old.cudagraph_mode, old.capture_sizes) == (M.NONE, ())
    assert old.notes == ("cudagraph_mode FULL_DECODE_ONLY -> NONE: vllm-ascend 0.23.0.post1 (built-in table) runs no "
                         "graphs under compilation mode STOCK_TORCH_COMPILE (only NONE and VLLM_COMPILE)",)
    new = resolve(request, release("main"), ModelInfo())
    assert (new.cudagraph_mode, new.npugraph_ex) == (M.FULL_DECODE_ONLY, False)  # nothing compiled, no Npugraph_ex
    assert new.notes == (
        "vllm-ascend main (built-in table) turns compilation mode STOCK_TORCH_COMPILE off (NONE) and keeps "
        "cudagraph_mode FULL_DECODE_ONLY",
        "Npugraph_ex is off: it optimises the graph vLLM compiles, and compilation (VLLM_COMPILE) is off")


def test_piecewise_modes_without_vllm_compile_run_no_graphs_on_every_release():
    """vLLM's own rule (0.23 to 0.27) comes before vLLM Ascend's."""
    request = GraphRequest.parse({}, compiling=False, other_compilation_mode="STOCK_TORCH_COMPILE")
    for name in ("0.23.0.post1", "main"):
        settings = resolve(request, release(name), ModelInfo())
        assert settings.cudagraph_mode is M.NONE
        assert settings.notes == ("cudagraph_mode FULL_AND_PIECEWISE -> NONE: piecewise graphs need vLLM's piecewise "
                                  "compilation (VLLM_COMPILE), which is off, and vLLM then runs no graphs",)
