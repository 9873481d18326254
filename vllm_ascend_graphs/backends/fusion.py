"""FX fusion passes of the ACLGraph compile stage, used when Npugraph_ex is off (PIECEWISE and friends).

One pass, the example of vLLM Ascend's graph-mode guide
(`docs/source/user_guide/feature_guide/graph_mode.md` in its repository):
`rms_norm(a + b)` -> `npu_add_rms_norm(a, b, weight, eps)`, one
kernel instead of two. It matches the graphs Dynamo and `torch.fx.symbolic_trace` produce
(`operator.add` / `torch.add` and `F.rms_norm` / `torch.rms_norm`) and ATen graphs.
The fused op comes in as an argument, so this module never imports torch_npu.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.fx as fx

ADD = (operator.add, torch.add, torch.ops.aten.add.Tensor)
RMS_NORM = (torch.nn.functional.rms_norm, torch.rms_norm, torch.ops.aten.rms_norm.default)
_RMS_NORM_PARAMETERS = ("input", "normalized_shape", "weight", "eps")


def fuse_add_rms_norm(gm: fx.GraphModule, fused_op: Callable[..., Any]) -> int:
    """Rewrite each `rms_norm(a + b, (h,), weight, eps)` in place; returns how many were fused.

    `fused_op` has `torch_npu.npu_add_rms_norm`'s contract: `(a, b, weight, eps) -> (normed, rstd,
    a + b)`; the sum replaces the add for its other users (the residual stream).
    """
    fused = 0
    for norm in list(gm.graph.nodes):
        match = _match(norm)
        if match is None:
            continue
        add, weight, eps = match
        if not _defined_before(weight, add):
            if weight.op != "get_attr":
                continue
            add.prepend(weight)  # a get_attr reads nothing, so it may move up
        with gm.graph.inserting_after(add):
            call = gm.graph.call_function(fused_op, (*add.args, weight, eps))
        with gm.graph.inserting_after(call):
            normed = gm.graph.call_function(operator.getitem, (call, 0))
            summed = gm.graph.call_function(operator.getitem, (call, 2))
        norm.replace_all_uses_with(normed)
        gm.graph.erase_node(norm)
        add.replace_all_uses_with(summed)
        gm.graph.erase_node(add)
        fused += 1
    if fused:
        gm.graph.lint()
        gm.recompile()
    return fused


def _match(norm: fx.Node) -> tuple[fx.Node, fx.Node, float] | None:
    """(the add, the weight, eps) when `norm` is an rms_norm over the last dim of a tensor sum."""
    if norm.op != "call_function" or norm.target not in RMS_NORM:
        return None
    bound = {**dict(zip(_RMS_NORM_PARAMETERS, norm.args, strict=False)), **norm.kwargs}
    add, shape, weight, eps = (bound.get(name) for name in _RMS_NORM_PARAMETERS)
    if not (isinstance(add, fx.Node) and add.op == "call_function" and add.target in ADD):
        return None
    if len(add.args) != 2 or add.kwargs or not all(isinstance(arg, fx.Node) for arg in add.args):
        return None
    one_dimension = isinstance(shape, (list, tuple)) and len(shape) == 1
    if not isinstance(weight, fx.Node) or not isinstance(eps, float) or not one_dimension:
        return None
    return add, weight, eps


def _defined_before(node: fx.Node, other: fx.Node) -> bool:
    for current in other.graph.nodes:
        if current is node:
            return True
        if current is other:
            return False
    return False
