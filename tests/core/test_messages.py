"""The exact text of what users read: notes, refusal reasons and errors.

A note or an error is the product for whoever reads `explain`, a log line or a traceback-free
error: it must name the setting, the value and what to do. These tests pin each message whole,
so a changed word is a deliberate change here too.
"""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import AttentionSupport as AS
from vllm_ascend_graphs import CUDAGraphMode as M
from vllm_ascend_graphs.modes import narrow_mode, resolve_npugraph_ex

# -- modes: one note per narrowing ---------------------------------------------------------------

NARROWING_NOTES = [
    (M.FULL, {"enforce_eager": True}, "cudagraph_mode FULL -> NONE: enforce_eager=True turns graphs off"),
    (M.FULL_AND_PIECEWISE, {"encoder_decoder": True},
     "cudagraph_mode FULL_AND_PIECEWISE -> PIECEWISE: encoder-decoder models run only piecewise graphs on Ascend"),
    (M.PIECEWISE, {"compiling": False},
     "cudagraph_mode PIECEWISE -> NONE: piecewise graphs need vLLM's piecewise compilation (VLLM_COMPILE), "
     "which is off"),
    (M.FULL, {"context_parallel": True},
     "cudagraph_mode FULL -> FULL_AND_PIECEWISE: context parallel (dcp or pcp > 1) does not support FULL graphs for "
     "mixed batches yet; uniform decode batches keep full graphs"),
    (M.FULL, {"attention": AS.UNIFORM_BATCH},
     "cudagraph_mode FULL -> FULL_DECODE_ONLY: the attention backend supports full graphs only for uniform batches "
     "(UNIFORM_BATCH); mixed prefill/decode batches cannot be captured whole"),
    (M.FULL, {"attention": AS.NEVER, "attention_backend": "NoGraphAttention"},
     "cudagraph_mode FULL -> PIECEWISE: NoGraphAttention supports full graphs only for no batches (NEVER); mixed "
     "prefill/decode batches cannot be captured whole"),
    (M.FULL_DECODE_ONLY, {"attention": AS.NEVER},
     "cudagraph_mode FULL_DECODE_ONLY -> PIECEWISE: the attention backend never supports full graphs"),
    (M.FULL_DECODE_ONLY, {"attention": AS.UNIFORM_SINGLE_TOKEN_DECODE, "spec_tokens": 2},
     "cudagraph_mode FULL_DECODE_ONLY -> PIECEWISE: speculative decoding (2 tokens) decodes more than one token per "
     "request, and the attention backend supports full graphs only for single-token decode batches "
     "(UNIFORM_SINGLE_TOKEN_DECODE)"),
]


@pytest.mark.parametrize(("mode", "facts", "note"), NARROWING_NOTES)
def test_narrowing_notes(mode, facts, note):
    assert narrow_mode(mode, **facts)[1] == [note]


NPUGRAPH_EX_NOTES = [
    (M.PIECEWISE, {"enable_npugraph_ex": True, "enable_static_kernel": None},
     ["enable_npugraph_ex=true has no effect in PIECEWISE: Npugraph_ex runs only in FULL and FULL_DECODE_ONLY"]),
    (M.FULL, {"enable_npugraph_ex": None, "enable_static_kernel": None, "soc": "310P"},
     ["Npugraph_ex is off on Ascend 310P, which does not support it"]),
    (M.FULL_DECODE_ONLY, {"enable_npugraph_ex": True, "enable_static_kernel": True, "soc": "310P"},
     ["Npugraph_ex is off on Ascend 310P, which does not support it",
      "enable_static_kernel=true has no effect: static kernel needs Npugraph_ex, which is off"]),
]


@pytest.mark.parametrize(("mode", "switches", "notes"), NPUGRAPH_EX_NOTES)
def test_npugraph_ex_notes(mode, switches, notes):
    assert resolve_npugraph_ex(mode, **switches)[2] == notes
