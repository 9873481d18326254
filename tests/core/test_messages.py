"""The exact text of what users read: notes, refusal reasons and errors.

A note or an error is the product for whoever reads `explain`, a log line or a traceback-free
error: it must name the setting, the value and what to do. These tests pin each message whole,
so a changed word is a deliberate change here too.
"""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import AttentionSupport as AS
from vllm_ascend_graphs import CUDAGraphMode as M
from vllm_ascend_graphs import GraphConfigError, GraphRequest
from vllm_ascend_graphs.rules.modes import narrow_mode, resolve_npugraph_ex

# -- modes: one note per narrowing ---------------------------------------------------------------

NARROWING_NOTES = [
    (M.FULL, {"enforce_eager": True}, "cudagraph_mode FULL -> NONE: enforce_eager=True turns graphs off"),
    (M.FULL_AND_PIECEWISE, {"encoder_decoder": True},
     "cudagraph_mode FULL_AND_PIECEWISE -> PIECEWISE: encoder-decoder models run only piecewise graphs on Ascend"),
    (M.PIECEWISE, {"compiling": False},
     "cudagraph_mode PIECEWISE -> NONE: piecewise graphs need vLLM's piecewise compilation (VLLM_COMPILE), "
     "which is off, and vLLM then runs no graphs"),
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
    (M.FULL_DECODE_ONLY, {"enable_npugraph_ex": None, "enable_static_kernel": None, "compiling": False},
     ["Npugraph_ex is off: it optimises the graph vLLM compiles, and compilation (VLLM_COMPILE) is off"]),
]


@pytest.mark.parametrize(("mode", "switches", "notes"), NPUGRAPH_EX_NOTES)
def test_npugraph_ex_notes(mode, switches, notes):
    assert resolve_npugraph_ex(mode, **switches)[2] == notes


# -- config: key, value and what is allowed ------------------------------------------------------

BACKEND_ALLOWED = "'auto', a backend name, or a non-empty list of backend names"
SECTION_KEYS = ("enable_npugraph_ex, enable_static_kernel, fuse_norm_quant, fuse_qknorm_rope, fuse_muls_add, "
                "fuse_allreduce_rms, fuse_add_rms_norm")

CONFIG_ERRORS = [
    ({"graph_backend": 3}, f"additional_config.graph_backend: got 3 (int); allowed: {BACKEND_ALLOWED}"),
    ({"graph_backend": "bad name!"}, f"additional_config.graph_backend: got 'bad name!'; allowed: {BACKEND_ALLOWED}"),
    ({"graph_backend": ["eager", "-x"]}, "additional_config.graph_backend[1]: got '-x'; allowed: a backend name"),
    ({"graph_backend": ["auto", "eager"]},
     "additional_config.graph_backend: got ['auto', 'eager'] (list); allowed: 'auto' alone, or a list of backend names "
     "without 'auto'"),
    ({"graph_backend": ["eager", "native", "Eager", "native"]},
     "additional_config.graph_backend: got ['eager', 'native', 'Eager', 'native'] (list); allowed: each backend at "
     "most once (repeated: eager, native)"),
    ({"graph_capture_policy": "off"},
     "additional_config.graph_capture_policy: got 'off'; allowed: 'raise', 'shrink', 'eager'"),
    ({"ascend_compilation_config": [1]},
     "additional_config.ascend_compilation_config: got [1] (list); allowed: a JSON object (dict)"),
    ({"ascend_compilation_config": {"bogus": True}},
     f"additional_config.ascend_compilation_config: unknown key 'bogus'; allowed: {SECTION_KEYS}"),
    ({"graph_backend_options": [1]},
     "additional_config.graph_backend_options: got [1] (list); allowed: a JSON object mapping backend names to option "
     "objects"),
    ({"graph_backend_options": {"Bad!": {}}},
     "additional_config.graph_backend_options: got 'Bad!'; allowed: backend names as keys"),
    ({"graph_backend_options": {"Eager": [1]}},
     "additional_config.graph_backend_options.eager: got [1] (list); allowed: a JSON object of that backend's options"),
    ({"ascend_compilation_config": {"enable_npugraph_ex": False, "enable_static_kernel": True}},
     "additional_config.ascend_compilation_config.enable_static_kernel: got True while enable_npugraph_ex is False; "
     "allowed: static kernel only with Npugraph_ex (enable both, or drop enable_static_kernel)"),
    ({"graph_backend": ["native", "eager"], "xlite_graph_config": {"enabled": True}},
     "additional_config.graph_backend: got ('native', 'eager') (tuple) while additional_config.xlite_graph_config."
     "enabled is true; allowed: graph_backend 'auto' or 'xlite' with xlite enabled, or set xlite_graph_config.enabled "
     "to false"),
]


@pytest.mark.parametrize(("config", "message"), CONFIG_ERRORS)
def test_config_errors(config, message):
    with pytest.raises(GraphConfigError) as info:
        GraphRequest.parse(config)
    assert str(info.value) == message


POSITIVE = "a positive integer (at most 2147483647)"
SETTING_ERRORS = [
    ({"enforce_eager": "yes"}, "enforce_eager: got 'yes'; allowed: true or false"),
    ({"compiling": 1}, "compiling: got 1 (int); allowed: true or false"),
    ({"max_capture_size": 0}, f"compilation_config.max_cudagraph_capture_size: got 0 (int); allowed: {POSITIVE}"),
    ({"max_num_seqs": 2**31}, f"max_num_seqs: got 2147483648 (int); allowed: {POSITIVE}"),
    ({"capture_sizes": "1,2"}, "compilation_config.cudagraph_capture_sizes: got '1,2'; allowed: a list of positive "
                               "integers"),
    ({"max_num_batched_tokens": -1}, f"max_num_batched_tokens: got -1 (int); allowed: {POSITIVE}"),
    ({"other_compilation_mode": "STOCK_TORCH_COMPILE"},
     "compilation_config.mode: got 'STOCK_TORCH_COMPILE'; allowed: no other compilation mode while compiling "
     "(VLLM_COMPILE) is on"),
    ({"compiling": False, "other_compilation_mode": "inductor"},
     "compilation_config.mode: got 'inductor'; allowed: STOCK_TORCH_COMPILE, DYNAMO_TRACE_ONCE"),
    ({"capture_sizes": [1, 8], "max_capture_size": 16},
     "compilation_config.max_cudagraph_capture_size: got 16, but the largest of cudagraph_capture_sizes is 8; "
     "allowed: equal values, or set only one of them"),
]


@pytest.mark.parametrize(("settings", "message"), SETTING_ERRORS)
def test_vllm_setting_errors(settings, message):
    with pytest.raises(GraphConfigError) as info:
        GraphRequest.parse({}, **settings)
    assert str(info.value) == message
