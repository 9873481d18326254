"""A fake `torch_npu` whose `torch.npu` graph API is the CPU simulation, so ACLGraph code runs end to end.

`torch.npu` is the sim device itself (the same API shape as the real one, stricter where our code
must be: pool and stream only by keyword, never the default stream). `npu_add_rms_norm` computes
what the real kernel computes: `(rms_norm(x1 + x2) * gamma, rstd, x1 + x2)`, in float32.
"""

from __future__ import annotations

import sys
import types

import pytest
import torch

from vllm_ascend_graphs.runtime.devices.sim import SimDevice


def npu_add_rms_norm(x1: torch.Tensor, x2: torch.Tensor, gamma: torch.Tensor, epsilon: float = 1e-6):
    summed = x1 + x2
    rstd = torch.rsqrt(summed.float().pow(2).mean(-1, keepdim=True) + epsilon)
    return (summed.float() * rstd * gamma.float()).to(summed.dtype), rstd, summed


def install(monkeypatch: pytest.MonkeyPatch, device: SimDevice) -> types.ModuleType:
    """Put the fake in `sys.modules` and at `torch.npu` for this test only; returns the module."""
    npu = types.SimpleNamespace(
        NPUGraph=device.new_graph,
        graph=device.graph,
        graph_pool_handle=device.graph_pool_handle,
        Stream=device.new_stream,
        current_stream=device.current_stream,
        synchronize=device.synchronize,
        compile_modes=[],
    )
    npu.set_compile_mode = lambda *, jit_compile: npu.compile_modes.append(jit_compile)
    module = types.ModuleType("torch_npu")
    module.npu = npu
    module.npu_add_rms_norm = npu_add_rms_norm
    monkeypatch.setitem(sys.modules, "torch_npu", module)
    monkeypatch.setattr(torch, "npu", npu, raising=False)
    return module
