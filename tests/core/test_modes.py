"""Every row of the tables in vLLM Ascend's graph-mode guide (`docs/source/user_guide/feature_guide/graph_mode.md`
in its repository) and every narrowing rule, as tables."""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import AttentionSupport as AS
from vllm_ascend_graphs import CUDAGraphMode as M
from vllm_ascend_graphs import Environment, GraphRequest, ModelInfo
from vllm_ascend_graphs.rules.modes import narrow_mode, resolve, resolve_npugraph_ex

# The graph-mode guide's table "Compile-time / Runtime / Npugraph_ex", per requested mode (None = default).
GUIDE_TABLE = [
    (None, M.FULL_AND_PIECEWISE, False),
    (M.FULL_AND_PIECEWISE, M.FULL_AND_PIECEWISE, False),
    (M.FULL, M.FULL, True),
    (M.FULL_DECODE_ONLY, M.FULL_DECODE_ONLY, True),
    (M.PIECEWISE, M.PIECEWISE, False),
    (M.NONE, M.NONE, False),
]


@pytest.mark.parametrize(("requested", "effective", "npugraph_ex"), GUIDE_TABLE)
def test_guide_mode_table(requested, effective, npugraph_ex):
    settings = resolve(GraphRequest(cudagraph_mode=requested), Environment(device="npu"), ModelInfo())
    assert settings.cudagraph_mode is effective
    assert settings.npugraph_ex is npugraph_ex
    assert settings.static_kernel is False
    assert bool(settings.capture_sizes) is (effective is not M.NONE)


def test_two_part_modes_split_into_decode_and_mixed():
    assert (M.FULL_AND_PIECEWISE.decode_mode, M.FULL_AND_PIECEWISE.mixed_mode) == (M.FULL, M.PIECEWISE)
    assert (M.FULL_DECODE_ONLY.decode_mode, M.FULL_DECODE_ONLY.mixed_mode) == (M.FULL, M.NONE)
    assert (M.FULL.decode_mode, M.FULL.mixed_mode) == (M.FULL, M.FULL)
    assert [m for m in M if m.needs_piecewise_compilation] == [M.PIECEWISE, M.FULL_AND_PIECEWISE]


# (requested, keyword arguments of narrow_mode, expected mode, words the note must contain)
NARROWING = [
    (M.FULL_AND_PIECEWISE, {"enforce_eager": True}, M.NONE, "enforce_eager"),
    (M.FULL, {"enforce_eager": True}, M.NONE, "enforce_eager"),
    (M.FULL_AND_PIECEWISE, {"encoder_decoder": True}, M.PIECEWISE, "encoder-decoder"),
    (M.FULL, {"encoder_decoder": True}, M.PIECEWISE, "encoder-decoder"),
    (M.FULL_AND_PIECEWISE, {"encoder_decoder": True, "compiling": False}, M.NONE, "encoder-decoder"),
    (M.FULL, {"encoder_decoder": True, "compiling": False}, M.NONE, "encoder-decoder"),
    # vLLM narrows encoder-decoder models to FULL_DECODE_ONLY before vLLM Ascend's pass, which then
    # keeps only PIECEWISE (or NONE without piecewise compilation).
    (M.FULL_DECODE_ONLY, {"encoder_decoder": True}, M.PIECEWISE, "encoder-decoder"),
    (M.FULL_DECODE_ONLY, {"encoder_decoder": True, "compiling": False}, M.NONE, "encoder-decoder"),
    (M.PIECEWISE, {"compiling": False}, M.NONE, "VLLM_COMPILE"),
    (M.FULL_AND_PIECEWISE, {"compiling": False}, M.NONE, "VLLM_COMPILE"),  # vLLM 0.23 to 0.27's own rule
    (M.FULL, {"context_parallel": True}, M.FULL_AND_PIECEWISE, "context parallel"),
    (M.FULL, {"context_parallel": True, "compiling": False}, M.FULL_DECODE_ONLY, "context parallel"),
    (M.FULL, {"attention": AS.UNIFORM_BATCH, "attention_backend": "AscendMLABackend"}, M.FULL_DECODE_ONLY,
     "AscendMLABackend"),
    (M.FULL, {"attention": AS.UNIFORM_SINGLE_TOKEN_DECODE}, M.FULL_DECODE_ONLY, "single-token"),
    (M.FULL, {"attention": AS.NEVER}, M.PIECEWISE, "NEVER"),
    (M.FULL, {"attention": AS.NEVER, "compiling": False}, M.NONE, "NEVER"),
    (M.FULL_AND_PIECEWISE, {"attention": AS.NEVER}, M.PIECEWISE, "never"),
    (M.FULL_DECODE_ONLY, {"attention": AS.NEVER}, M.PIECEWISE, "never"),
    (M.FULL_DECODE_ONLY, {"attention": AS.NEVER, "compiling": False}, M.NONE, "never"),
    (M.FULL_DECODE_ONLY, {"attention": AS.UNIFORM_SINGLE_TOKEN_DECODE, "spec_tokens": 1}, M.PIECEWISE,
     "speculative"),
    (M.FULL_AND_PIECEWISE, {"attention": AS.UNIFORM_SINGLE_TOKEN_DECODE, "spec_tokens": 2}, M.PIECEWISE,
     "speculative"),
]


@pytest.mark.parametrize(("requested", "facts", "expected", "why"), NARROWING)
def test_narrowing_rules(requested, facts, expected, why):
    mode, notes = narrow_mode(requested, **facts)
    assert mode is expected
    assert notes, "every adjustment must leave a note"
    assert why.lower() in " ".join(notes).lower()
    assert f"-> {expected.name}" in notes[-1]


# Modes that must stay as they are: no change, no note.
KEPT = [
    (M.PIECEWISE, {"encoder_decoder": True}),
    (M.FULL_DECODE_ONLY, {"context_parallel": True}),
    (M.FULL_AND_PIECEWISE, {"context_parallel": True}),
    (M.FULL_AND_PIECEWISE, {"attention": AS.UNIFORM_BATCH}),
    (M.FULL_DECODE_ONLY, {"attention": AS.UNIFORM_BATCH, "spec_tokens": 3}),
    (M.FULL_DECODE_ONLY, {"compiling": False}),
    (M.FULL, {"compiling": False}),
    (M.PIECEWISE, {"attention": AS.NEVER}),
    (M.NONE, {"enforce_eager": True}),
]


@pytest.mark.parametrize(("requested", "facts"), KEPT)
def test_modes_that_are_kept(requested, facts):
    assert narrow_mode(requested, **facts) == (requested, [])


@pytest.mark.parametrize(
    ("mode", "ex", "sk", "soc", "expected", "note"),
    [
        (M.FULL, None, None, None, (True, False), None),
        (M.FULL_DECODE_ONLY, None, True, None, (True, True), None),
        (M.FULL, True, True, "910_93", (True, True), None),
        (M.FULL, False, None, None, (False, False), None),
        (M.PIECEWISE, True, None, None, (False, False), "no effect in PIECEWISE"),
        (M.FULL_AND_PIECEWISE, True, None, None, (False, False), "no effect in FULL_AND_PIECEWISE"),
        (M.NONE, True, None, None, (False, False), "no effect in NONE"),
        (M.PIECEWISE, None, True, None, (False, False), "static kernel needs Npugraph_ex"),
        (M.FULL, None, None, "310P", (False, False), "310P"),
        (M.FULL, True, True, "310P", (False, False), "310P"),
    ],
)
def test_npugraph_ex_and_static_kernel(mode, ex, sk, soc, expected, note):
    on, static, notes = resolve_npugraph_ex(mode, enable_npugraph_ex=ex, enable_static_kernel=sk, soc=soc)
    assert (on, static) == expected
    if note is None:
        assert notes == []
    else:
        assert any(note in n for n in notes), notes


def test_resolve_applies_request_environment_and_model_together():
    request = GraphRequest.parse({"ascend_compilation_config": {"enable_static_kernel": True}},
                                 cudagraph_mode="FULL", max_num_seqs=16)
    mla = ModelInfo.from_architecture("DeepseekV3ForCausalLM")
    settings = resolve(request, Environment(device="npu", dcp=2), mla)
    assert settings.cudagraph_mode is M.FULL_AND_PIECEWISE  # context parallel narrows FULL first
    assert (settings.npugraph_ex, settings.static_kernel) == (False, False)
    assert settings.capture_sizes == (1, 2, 4, 8, 16)
    assert any("context parallel" in n for n in settings.notes)
    assert any("enable_static_kernel=true has no effect" in n for n in settings.notes)
