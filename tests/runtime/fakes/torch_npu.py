"""A fake `torch_npu` whose `torch.npu` graph API is the CPU simulation, so ACLGraph code runs end to end.

`torch.npu` is the sim device itself (the same API shape as the real one, stricter where our code
must be: pool and stream only by keyword, never the default stream). `npu_add_rms_norm` computes
what the real kernel computes: `(rms_norm(x1 + x2) * gamma, rstd, x1 + x2)`, in float32. Every
name here is the real one, and `tests/real` checks that each function binds the real signature
read from the torch_npu wheel.
"""

from __future__ import annotations

import sys
import types

import pytest
import torch

from vllm_ascend_graphs.runtime.devices.sim import SimDevice, SimStream


def npu_add_rms_norm(x1: torch.Tensor, x2: torch.Tensor, gamma: torch.Tensor, epsilon: float = 1e-6):
    summed = x1 + x2
    rstd = torch.rsqrt(summed.float().pow(2).mean(-1, keepdim=True) + epsilon)
    return (summed.float() * rstd * gamma.float()).to(summed.dtype), rstd, summed


class Stream:
    """What `torch.npu.current_stream()` returns: a sim stream, with the methods our code calls."""

    def __init__(self, sim_stream: SimStream):
        self._sim_stream = sim_stream

    def synchronize(self) -> None:
        self._sim_stream.synchronize()


def install(monkeypatch: pytest.MonkeyPatch, device: SimDevice) -> types.ModuleType:
    """Put the fake in `sys.modules` and at `torch.npu` for this test only; returns the module."""

    def current_stream() -> Stream:
        return Stream(device.current_stream())

    def set_compile_mode(*, jit_compile: bool) -> None:
        npu.compile_modes.append(jit_compile)

    npu = types.SimpleNamespace(
        NPUGraph=device.new_graph,
        graph=device.graph,
        graph_pool_handle=device.graph_pool_handle,
        Stream=device.new_stream,
        current_stream=current_stream,
        synchronize=device.synchronize,
        set_compile_mode=set_compile_mode,
        compile_modes=[],
    )
    module = types.ModuleType("torch_npu")
    module.npu = npu
    module.npu_add_rms_norm = npu_add_rms_norm
    monkeypatch.setitem(sys.modules, "torch_npu", module)
    monkeypatch.setattr(torch, "npu", npu, raising=False)
    return module
