"""ACL graphs (`torch.npu.NPUGraph`), the run-time half of the ACLGraph path on Ascend."""

from __future__ import annotations

from typing import Any, cast

from ...errors import GraphConfigError
from . import DeviceGraphs


def npu_graphs() -> DeviceGraphs:
    import torch

    try:
        import torch_npu  # noqa: F401 - registers torch.npu
    except (ImportError, RuntimeError, OSError) as exc:
        raise GraphConfigError(
            f"graph device: got 'npu', but torch_npu cannot be imported ({type(exc).__name__}: {exc}); "
            "allowed: npu on an Ascend machine with torch_npu and CANN, or sim / cuda"
        ) from exc
    npu = cast(Any, torch).npu  # registered by torch_npu: not in torch's own stubs
    return DeviceGraphs("npu", npu, npu.NPUGraph, npu.Stream)
