"""Every row of the tables in vLLM Ascend's graph-mode guide (`docs/source/user_guide/feature_guide/graph_mode.md`
in its repository) and every narrowing rule, as tables."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from vllm_ascend_graphs import AttentionSupport as AS
from vllm_ascend_graphs import CUDAGraphMode as M
from vllm_ascend_graphs import Environment, GraphRequest, ModelInfo, select
from vllm_ascend_graphs.rules.graph_keys import ModelRunner, RuntimeGraphs
from vllm_ascend_graphs.rules.modes import model_runner, narrow_mode, resolve, resolve_npugraph_ex

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


# -- which model runner keys the graphs ------------------------------------------------------

V2_ASKED = "Model Runner V2 (VLLM_USE_V2_MODEL_RUNNER=1) does not run: "


@pytest.mark.parametrize(("environment", "backend", "expected", "note"), [
    (Environment(vllm="0.27.1"), "aclgraph", ModelRunner.V1, None),  # not asked for
    (Environment(model_runner_v2=True, vllm="0.27.1", vllm_ascend="main"), "aclgraph", ModelRunner.V2, None),
    (Environment(model_runner_v2=True, vllm="0.25.0", vllm_ascend="0.26.0rc"), "aclgraph", ModelRunner.V2, None),
    (Environment(model_runner_v2=True, vllm="0.24.0", vllm_ascend="0.26.0rc"), "aclgraph",
     ModelRunner.V2_ROUNDING_SIZES, None),
    (Environment(model_runner_v2=True, vllm="0.23.0", vllm_ascend="main"), "aclgraph",
     ModelRunner.V2_ROUNDING_SIZES, None),  # main's worker does not fall back
    (Environment(model_runner_v2=True, vllm="0.23.0", vllm_ascend="0.23.0.post1"), "aclgraph", ModelRunner.V1,
     "vllm-ascend 0.23.0.post1 (built-in table) runs the V1 model runner on vLLM 0.23.0"),
    (Environment(model_runner_v2=True, vllm_ascend="0.23.0.post1"), "aclgraph", ModelRunner.V1,  # its paired vLLM
     "vllm-ascend 0.23.0.post1 (built-in table) runs the V1 model runner on vLLM 0.23.0"),
    (Environment(model_runner_v2=True, vllm_ascend="0.26.0rc"), "aclgraph", ModelRunner.V2, None),  # on 0.26.0
    (Environment(model_runner_v2=True, vllm="0.27.1", vllm_ascend="main"), "xlite", ModelRunner.V1,
     "vLLM Ascend's XliteWorker builds the V1 model runner"),
    (Environment(model_runner_v2=True, vllm="0.27.1", vllm_ascend="main", soc="310P"), "aclgraph", ModelRunner.V1,
     "vLLM Ascend's NPUWorker310 (Ascend 310P) builds the V1 model runner"),
    (Environment(model_runner_v2=True, vllm="0.23.0", soc="310P"), "native", ModelRunner.V2_ROUNDING_SIZES, None),
    (Environment(model_runner_v2=True, vllm="dev"), "native", ModelRunner.V2, None),  # unknown: the newest
])
def test_the_model_runner_that_keys_the_graphs(environment, backend, expected, note):
    runner, notes = model_runner(environment.replace(assumed=frozenset({"vllm_ascend"})), backend)
    assert runner is expected
    assert notes == ([f"{V2_ASKED}{note}, which keys the graphs"] if note else [])


def test_under_v2_the_plan_and_the_record_follow_its_keys():
    request = GraphRequest.parse({}, cudagraph_mode="FULL_DECODE_ONLY", max_num_seqs=12)
    npu = Environment(device="npu", soc="910B", torch_npu="2.10.0", spec_tokens=2, vllm="0.27.1",
                      model_runner_v2=True, vllm_ascend="main", assumed=frozenset({"vllm_ascend"}))
    llama = ModelInfo.from_architecture("LlamaForCausalLM")
    settings = resolve(request, npu, llama)
    assert settings.capture_sizes == (1, 2, 4, 8, 12, 16, 24, 32, 36)  # kept: V2 rounds its decode graphs
    assert settings.notes[-1].startswith("adds 12: draft-decode steps of 9-12 requests")  # K = 2: draft decode
    selection = select(request, environment=npu, model=llama)
    assert selection.to_dict()["model_runner"] == "V2"
    assert selection.graphs.full == (3, 6, 9, 12, 18, 24, 33, 36)
    fallback = select(request, environment=npu.replace(vllm="0.23.0", vllm_ascend="0.23.0.post1"), model=llama)
    assert fallback.to_dict()["model_runner"] == "V1" and fallback.plan.capture_sizes == (3, 6, 9, 18, 24, 36)
    assert any(note.startswith(V2_ASKED) for note in fallback.notes)
    eager = select(GraphRequest.parse({"graph_backend": "eager"}), environment=npu, model=llama)
    assert eager.to_dict()["model_runner"] == "V2" and eager.graphs == RuntimeGraphs()  # V2 runs, keys nothing
