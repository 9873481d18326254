"""Each fact `resolve()` hands to a rule changes its result: one fact at a time, against the baseline.

The rule functions have tables of their own (test_modes.py); these tests fail when `resolve()`
stops passing a fact on, or passes the wrong one.
"""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import AttentionSupport as AS
from vllm_ascend_graphs import CUDAGraphMode as M
from vllm_ascend_graphs import Environment, GraphRequest, ModelInfo
from vllm_ascend_graphs.config import AscendCompilationConfig
from vllm_ascend_graphs.capture_plan import DecodeShape, default_capture_sizes, plan_capture_sizes
from vllm_ascend_graphs.modes import GraphSettings, resolve

NPU = Environment(device="npu", soc="910B", torch_npu="2.10.0", npugraph_ex=True)
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
    settings = resolve(GraphRequest(compiling=False), NPU, ModelInfo())
    assert settings.cudagraph_mode is M.FULL_DECODE_ONLY and settings.npugraph_ex is True


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
