"""Capture failures: each Ascend signature becomes a GraphCaptureError with its advice; the
shrink and eager policies keep serving correct outputs without losing a request."""

from __future__ import annotations

import logging

import pytest
import torch

from vllm_ascend_graphs.errors import GraphCaptureError
from vllm_ascend_graphs.runtime.runner import GraphRunner, RunnerOptions

from .parity import assert_parity

# torch_npu's message layout; 207008 and 207005 / Alloc sq cq are from public vllm-ascend issues, the others carry
# the signature texts of CANN's error codes (107025, 107030) and torch_npu's messages (aclop, aclmdlRICaptureBegin).
STREAM_207008 = (
    "capture_begin:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:131 NPU function error: "
    "c10_npu::acl::AclmdlRICaptureBegin(capture_stream_, capture_mode), error code is 207008\n"
    "[ERROR] 2025-10-28-09:32:10 (PID:4242, Device:0, RankID:-1) ERR00100 PTA call acl api failed\n"
    "[Error]: Stream resources are insufficient.\n"
    "        Rectify the fault based on the error information in the ascend log.\n"
    "EL0009: [PID: 4242] 2025-10-28-09:32:10.515.112 Insufficient_Stream_Resources(EL0009): the number of "
    "streams exceeds the limit"
)
ALLOC_SQ_CQ = (
    "capture_begin:build/CMakeFiles/torch_npu.dir/compiler_depend.ts:214 NPU function error: "
    "c10_npu::acl::AclmdlRICaptureBegin(capture_stream_, capture_mode), error code is 207005\n"
    "[ERROR] 2026-04-17-09:16:39 (PID:1802934, Device:0, RankID:-1) ERR00100 PTA call acl api failed\n"
    "[Error]: Failed to apply for memory.\n"
    "        Check the remaining storage space in the hardware environment.\n"
    "EE9999: Inner Error!\n"
    "EE9999[PID: 1802934] 2026-04-17-09:16:39.992.922 (EE9999):  [SqCqManage]Alloc sq cq fail, stream_id=1984, "
    "retCode=0x7020023.[FUNC:Setup][FILE:stream.cc][LINE:653]"
)
NOT_JOINED_107025 = (
    "capture_end:torch_npu/csrc/core/npu/NPUGraph.cpp:247 NPU function error: "
    "c10_npu::acl::AclmdlRICaptureEnd(capture_stream_, &model_ri_), error code is 107025\n"
    "[ERROR] ERR00100 PTA call acl api failed\n[Error]: A stream that was not joined to the capture stream."
)
CAPTURE_MODE_107030 = (
    "copy_between_host_and_device:torch_npu/csrc/aten/common/CopyKernel.cpp:52 NPU function error: "
    "aclrtMemcpy, error code is 107030\n[ERROR] ERR00100 PTA call acl api failed\n"
    "[Error]: The current capture mode does not support this operation."
)
ACLOP = "Cannot run aclop operators during NPU graph capture. Please check the operator: IndexPut"
NO_CAPTURE_API = "Failed to find function aclmdlRICaptureBegin, please upgrade CANN to a version that supports it"

SIGNATURES = [
    ("207008", STREAM_207008, ["stream resources", "upgrade to a newer HDK/CANN"]),
    ("207008", "AclmdlRICaptureBegin error code is 207008: no stream resource left", ["207008"]),
    ("207008", "EL0009: INSUFFICIENT_STREAM_RESOURCES", ["cudagraph_capture_sizes"]),
    ("alloc-sq-cq", ALLOC_SQ_CQ, ["HDK to 25.5.1 or newer with the matching CANN"]),
    ("107025", NOT_JOINED_107025, ["not joined back into the capture stream", "wait for it"]),
    ("107030", CAPTURE_MODE_107030, ["host synchronisation", "non_blocking=True"]),
    ("aclop", ACLOP, ["aclnn kernel", "PIECEWISE"]),
    ("no-capture-api", NO_CAPTURE_API, ["too old for ACL graphs", "upgrade CANN"]),
]
SIZES = (1, 2, 4, 8, 16)


def runner_for(decoder, graphs, policy="raise"):
    return GraphRunner(decoder, SIZES, RunnerOptions(device=graphs, policy=policy))


@pytest.mark.parametrize(("signature", "message", "advice"), SIGNATURES)
def test_each_signature_raises_a_capture_error_with_its_advice_and_the_cause(decoder, graphs, sim, signature,
                                                                              message, advice):
    sim.inject_capture_failure(message, captures={2})
    with pytest.raises(GraphCaptureError) as caught:
        runner_for(decoder, graphs).capture(decoder.inputs(2, seed=0))
    error = caught.value
    assert error.signature == signature
    assert error.size == 4 and str(error).startswith("graph capture failed for 4 tokens (uniform decode batch) on sim")
    for words in advice:
        assert words in str(error)
    assert isinstance(error.__cause__, RuntimeError) and str(error.__cause__) == message


def test_the_207008_advice_reads_as_the_guides_troubleshooting_section(decoder, graphs, sim):
    sim.inject_capture_failure(STREAM_207008)
    with pytest.raises(GraphCaptureError) as caught:
        runner_for(decoder, graphs).capture(decoder.inputs(2, seed=0))
    text = str(caught.value)
    steps = [
        "upgrade to a newer HDK/CANN stack if one is available",
        "reduce cudagraph_capture_sizes or max_cudagraph_capture_size",
        "prefer FULL or FULL_DECODE_ONLY when the workload is mostly uniform decode",
        "temporarily disable graph mode (enforce_eager=True) to confirm the issue is capture-related",
    ]
    positions = [text.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), text


def test_an_unknown_capture_failure_is_still_a_capture_error_with_its_cause(decoder, graphs, sim):
    sim.inject_capture_failure("NPU out of coffee")
    with pytest.raises(GraphCaptureError, match="failed for 16 tokens .*: NPU out of coffee") as caught:
        runner_for(decoder, graphs).capture(decoder.inputs(2, seed=0))
    assert caught.value.signature is None and str(caught.value.__cause__) == "NPU out of coffee"


def test_errors_in_the_callable_itself_are_not_capture_failures(graphs):
    def broken(x):
        raise ValueError("model bug")

    with pytest.raises(ValueError, match="model bug"):
        GraphRunner(broken, (2,), RunnerOptions(device=graphs, policy="eager")).capture([torch.zeros(2)])


REQUESTS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 2, 8]


def test_shrink_drops_exactly_the_failed_sizes_and_keeps_serving(decoder, graphs, sim, caplog):
    sim.inject_capture_failure(STREAM_207008, captures={1, 3})  # largest first: 8 and 2
    with caplog.at_level(logging.WARNING, logger="vllm_ascend_graphs"):
        runner = runner_for(decoder, graphs, policy="shrink").capture(decoder.inputs(2, seed=0))
    assert sorted(size for size, _ in runner.captured) == [1, 4, 16]
    assert sorted(size for size, _ in runner.dropped) == [2, 8]
    assert all(error.signature == "207008" for error in runner.dropped.values())
    [record] = caplog.records
    assert "dropped: 8 tokens (uniform decode), 2 tokens (uniform decode)" in record.getMessage()
    kept = "Kept: 16 tokens (uniform decode), 4 tokens (uniform decode), 1 tokens (uniform decode)"
    assert kept in record.getMessage()
    assert [runner.padded_size(n) for n in (2, 5, 8, 9)] == [4, 16, 16, 16]

    outputs = assert_parity(runner, decoder, REQUESTS)
    assert len(outputs) == len(REQUESTS)
    assert sim.events.count("replay") == len(REQUESTS) - 1  # only 17 runs eagerly


def test_shrink_with_every_capture_failing_serves_everything_eagerly(decoder, graphs, sim):
    sim.inject_capture_failure(ALLOC_SQ_CQ)
    runner = runner_for(decoder, graphs, policy="shrink").capture(decoder.inputs(2, seed=0))
    assert not runner.captured and len(runner.dropped) == len(SIZES)
    assert len(assert_parity(runner, decoder, REQUESTS)) == len(REQUESTS)
    assert sim.events.count("replay") == 0


def test_eager_gives_up_graphs_says_why_and_keeps_serving(decoder, graphs, sim, caplog):
    sim.inject_capture_failure(STREAM_207008, captures={2})
    with caplog.at_level(logging.WARNING, logger="vllm_ascend_graphs"):
        runner = runner_for(decoder, graphs, policy="eager").capture(decoder.inputs(2, seed=0))
    assert not runner.captured and list(runner.dropped) == [(4, True)]
    assert sim.captures == 3, "capture stops at the first failure"
    [record] = caplog.records
    assert "graph_capture_policy 'eager'" in record.getMessage() and "207008" in record.getMessage()
    assert len(assert_parity(runner, decoder, REQUESTS)) == len(REQUESTS)
    assert sim.events.count("replay") == 0
