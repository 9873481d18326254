"""`vllm_ascend_graphs.capture`: the graph runtime without vLLM."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..config import AUTO, GraphRequest
from ..modes import MAX_DEFAULT_CAPTURE_SIZE, CUDAGraphMode, default_capture_sizes
from ..selection import select
from .runner import GraphRunner

# The Ascend backends choose among NPU paths; on these devices "auto" means plain device graphs.
PLAIN_DEVICES = ("sim", "cuda")


def capture(
    fn: Callable[..., Any],
    example_inputs: Sequence[Any],
    sizes: Iterable[int] | None = None,
    *,
    backend: str = AUTO,
    device: str | None = None,
    mode: CUDAGraphMode | str = CUDAGraphMode.FULL_DECODE_ONLY,
    warmup: int = 1,
    policy: str = "raise",
    debug: bool = False,
    zero_copy_outputs: bool = False,
) -> GraphRunner:
    """Capture `fn` for each batch size and return the `GraphRunner` that serves it.

    `fn` takes tensors whose dim 0 is the batch (number of tokens). `backend` "auto" with
    `device` "sim" or "cuda" captures plain device graphs; otherwise the selector picks (or checks)
    the backend for this machine exactly as for vLLM, that backend compiles `fn` (a module or
    function is traced with `torch.fx.symbolic_trace` when its compile stage needs a graph) and
    its plan decides the mode and sizes; `device` then replaces the backend's own device API.
    `sizes` defaults to the plan's (vLLM's default list up to 512).
    """
    mode = CUDAGraphMode.parse(mode, "mode")
    if backend == AUTO and device in PLAIN_DEVICES:
        plain_sizes = default_capture_sizes(MAX_DEFAULT_CAPTURE_SIZE) if sizes is None else sizes
        runner = GraphRunner(fn, plain_sizes, device=device, mode=mode, warmup=warmup, policy=policy, debug=debug,
                             zero_copy_outputs=zero_copy_outputs)
        return runner.capture(example_inputs)
    request = GraphRequest.parse(
        {"graph_backend": backend, "graph_fallback": backend == AUTO, "graph_capture_policy": policy},
        cudagraph_mode=mode, capture_sizes=None if sizes is None else list(sizes),
    )
    selection = select(request)
    chosen, plan = selection.backend, selection.plan
    compiled = chosen.compile(fn, example_inputs, plan)
    runner = GraphRunner(compiled, plan.capture_sizes, device=device, backend=chosen, mode=plan.cudagraph_mode,
                         warmup=warmup, policy=policy, debug=debug, zero_copy_outputs=zero_copy_outputs)
    return runner.capture(example_inputs)

