"""XliteGraph's plan: the mode ACLGraph keeps beside xlite, why, and the compile options it hands on."""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import CUDAGraphMode, Environment, GraphRequest, ModelInfo, select

XLITE_NPU = Environment(device="npu", soc="910B", torch_npu="2.10.0", xlite="0.2.0", npugraph_ex=True)
QWEN = ModelInfo.from_architecture("Qwen3ForCausalLM")
DECODE_ONLY = "xlite decode-only mode runs pure-decode batches; ACLGraph runs FULL_DECODE_ONLY"


@pytest.mark.parametrize(("config", "mode", "spec_tokens", "effective", "note"), [
    ({}, None, 0, CUDAGraphMode.FULL_DECODE_ONLY, DECODE_ONLY),
    ({}, "FULL", 0, CUDAGraphMode.FULL_DECODE_ONLY, f"cudagraph_mode FULL -> FULL_DECODE_ONLY: {DECODE_ONLY}"),
    ({"full_mode": True}, None, 0, CUDAGraphMode.NONE,
     "xlite full mode runs prefill and decode itself, so ACLGraph is off"),
    ({"full_mode": True}, None, 1, CUDAGraphMode.FULL_DECODE_ONLY,
     "xlite full mode with speculative decoding keeps ACLGraph FULL_DECODE_ONLY for the draft steps"),
    ({"full_mode": True}, "NONE", 0, CUDAGraphMode.NONE,
     "cudagraph_mode NONE keeps ACLGraph off; xlite still runs its batches"),
])
def test_the_mode_beside_xlite_and_why(config, mode, spec_tokens, effective, note):
    request = GraphRequest.parse({"xlite_graph_config": {"enabled": True, **config}}, cudagraph_mode=mode)
    plan = select(request, environment=XLITE_NPU.replace(spec_tokens=spec_tokens), model=QWEN).plan
    assert (plan.backend, plan.cudagraph_mode, plan.notes) == ("xlite", effective, (note,))


def test_static_kernels_cover_the_decode_sizes_of_the_speculative_steps():
    request = GraphRequest.parse({"xlite_graph_config": {"enabled": True},
                                  "ascend_compilation_config": {"enable_static_kernel": True}}, max_num_seqs=4)
    plan = select(request, environment=XLITE_NPU.replace(spec_tokens=1), model=QWEN).plan
    assert plan.capture_sizes == (1, 2, 4, 8)
    assert plan.options == {"xlite_mode": "decode_only", "static_kernel_sizes": [2, 4, 8]}
