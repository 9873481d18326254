"""Every row of the tables in vLLM Ascend's graph-mode guide (`docs/source/user_guide/feature_guide/graph_mode.md`
in its repository) and every narrowing rule, as tables."""

from __future__ import annotations

from typing import NamedTuple

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


class NpugraphExRow(NamedTuple):
    """One case of `resolve_npugraph_ex`: what is asked, and what it turns on, with the note it leaves."""

    mode: M
    npugraph_ex: bool | None  # enable_npugraph_ex as the user set it; None: not set
    static_kernel: bool | None  # enable_static_kernel likewise
    soc: str | None
    turns_on: tuple[bool, bool]  # (Npugraph_ex, static kernel)
    note: str | None = None  # words a note must contain; None: no note at all


NPUGRAPH_EX = [
    NpugraphExRow(M.FULL, None, None, None, turns_on=(True, False)),
    NpugraphExRow(M.FULL_DECODE_ONLY, None, True, None, turns_on=(True, True)),
    NpugraphExRow(M.FULL, True, True, "910_93", turns_on=(True, True)),
    NpugraphExRow(M.FULL, False, None, None, turns_on=(False, False)),
    NpugraphExRow(M.PIECEWISE, True, None, None, turns_on=(False, False), note="no effect in PIECEWISE"),
    NpugraphExRow(M.FULL_AND_PIECEWISE, True, None, None, turns_on=(False, False),
                  note="no effect in FULL_AND_PIECEWISE"),
    NpugraphExRow(M.NONE, True, None, None, turns_on=(False, False), note="no effect in NONE"),
    NpugraphExRow(M.PIECEWISE, None, True, None, turns_on=(False, False), note="static kernel needs Npugraph_ex"),
    NpugraphExRow(M.FULL, None, None, "310P", turns_on=(False, False), note="310P"),
    NpugraphExRow(M.FULL, True, True, "310P", turns_on=(False, False), note="310P"),
]


def row_id(row: NpugraphExRow) -> str:
    return f"{row.mode.name}-ex{row.npugraph_ex}-sk{row.static_kernel}-{row.soc}"


@pytest.mark.parametrize("row", NPUGRAPH_EX, ids=row_id)
def test_npugraph_ex_and_static_kernel(row):
    on, static, notes = resolve_npugraph_ex(row.mode, enable_npugraph_ex=row.npugraph_ex,
                                            enable_static_kernel=row.static_kernel, soc=row.soc)
    assert (on, static) == row.turns_on
    if row.note is None:
        assert notes == []
    else:
        assert any(row.note in n for n in notes), notes


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
