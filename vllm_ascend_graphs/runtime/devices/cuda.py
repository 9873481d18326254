"""CUDA graphs (`torch.cuda.CUDAGraph`): the same runtime on an NVIDIA GPU."""

from __future__ import annotations

from ...errors import GraphConfigError
from . import DeviceGraphs


def cuda_graphs() -> DeviceGraphs:
    import torch

    if not torch.cuda.is_available():
        raise GraphConfigError("graph device: got 'cuda', but torch sees no CUDA device here; allowed: sim, "
                               "or cuda on a machine with an NVIDIA GPU and a CUDA build of torch")
    return DeviceGraphs("cuda", torch.cuda, torch.cuda.CUDAGraph, torch.cuda.Stream)
