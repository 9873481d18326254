"""`vllm_ascend_graphs.capture`: decide and capture without vLLM.

This is the one place outside vLLM where the selector meets the runtime: the selector decides the
backend and its plan, and the runtime (`runtime.runner.GraphRunner`) only carries the plan out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..enums import CUDAGraphMode
from ..errors import GraphCaptureError, GraphConfigError, one_line, show
from ..hooks.isolation import PLUGIN_ERRORS, logger
from ..rules.capture_plan import MAX_DEFAULT_CAPTURE_SIZE, default_capture_sizes
from ..rules.config import AUTO, ROOT, GraphRequest
from ..runtime.runner import GraphRunner, RunnerOptions
from ..selection.selector import current_environment, select

# The Ascend backends choose among NPU paths; on these devices "auto" means plain device graphs.
PLAIN_DEVICES = ("sim", "cuda")


def capture(
    fn: Callable[..., Any],
    example_inputs: Sequence[Any],
    sizes: Iterable[int] | None = None,
    *,
    backend: str | None = None,
    device: str | None = None,
    mode: CUDAGraphMode | str = CUDAGraphMode.FULL_DECODE_ONLY,
    additional_config: Mapping[str, Any] | None = None,
    warmup: int = 1,
    policy: str | None = None,
    debug: bool = False,
    zero_copy_outputs: bool = False,
) -> GraphRunner:
    """Capture `fn` for each batch size and return the `GraphRunner` that serves it.

    `fn` takes tensors whose dim 0 is the batch (number of tokens). `additional_config` is vLLM's
    (`graph_backend_options` for the backend's options, `ascend_compilation_config`, ...);
    `backend` and `policy` stand for its `graph_backend` (default "auto") and
    `graph_capture_policy` (default "raise"), and may not contradict it.

    "auto" with `device` "sim" or "cuda" captures plain device graphs. Otherwise the selector picks
    (or checks) the backend for this machine exactly as for vLLM (falling back only for "auto"),
    the backend compiles `fn` (tracing it with `torch.fx.symbolic_trace` when its compile stage
    needs a graph), and its plan decides the mode and sizes; `device` then replaces the backend's
    own device API. `sizes` defaults to the plan's (vLLM's default list up to 512).

    `mode` defaults to FULL_DECODE_ONLY, not vLLM's FULL_AND_PIECEWISE that `explain` shows: the
    runtime captures `fn` whole, and splitting a model into pieces is vLLM's compilation, so outside
    vLLM a "piecewise" graph would be a second whole graph per size for mixed batches.
    """
    config = _config(additional_config, backend, policy)
    mode = CUDAGraphMode.parse(mode, "capture mode")
    request = GraphRequest.parse(config, cudagraph_mode=mode)
    options = RunnerOptions(device=device, mode=mode, warmup=warmup, policy=request.graph_capture_policy, debug=debug,
                            zero_copy_outputs=zero_copy_outputs)
    if request.graph_backend == AUTO and device in PLAIN_DEVICES:
        plain_sizes = default_capture_sizes(MAX_DEFAULT_CAPTURE_SIZE) if sizes is None else sizes
        return GraphRunner(fn, plain_sizes, options).capture(example_inputs)
    if sizes is not None:
        request = GraphRequest.parse(config, cudagraph_mode=mode, capture_sizes=list(sizes))
    # No vLLM platform is involved: graphs are captured by the runtime here, on any machine.
    selection = select(request, environment=current_environment().replace(static_graphs=True))
    chosen, plan = selection.backend, selection.plan
    try:
        compiled = chosen.compile(fn, example_inputs, plan)
    except PLUGIN_ERRORS as exc:
        error = GraphCaptureError(f"backend {chosen.name!r} failed to compile the callable: {one_line(exc)}")
        if request.graph_capture_policy == "raise":
            raise error from exc
        logger().warning("graph_capture_policy %r: %s; every batch runs eagerly", request.graph_capture_policy, error)
        return GraphRunner(fn, (), options, backend=chosen).capture(example_inputs)
    runner = GraphRunner(compiled, plan.capture_sizes, options._replace(mode=plan.cudagraph_mode), backend=chosen)
    return runner.capture(example_inputs)


def _config(additional_config: Mapping[str, Any] | None, backend: str | None, policy: str | None) -> dict[str, Any]:
    """`additional_config` with `backend` and `policy` filled in; a contradiction is an error."""
    if additional_config is None:
        additional_config = {}
    if not isinstance(additional_config, Mapping):
        raise GraphConfigError(f"capture additional_config: got {show(additional_config)}; allowed: a dict")
    config = dict(additional_config)
    for argument, key, value, default in (("backend", "graph_backend", backend, AUTO),
                                          ("policy", "graph_capture_policy", policy, "raise")):
        given = config.get(key)
        if value is not None and given is not None and given != value:
            raise GraphConfigError(f"capture {argument}: got {show(value)} while {ROOT}.{key} is {show(given)}; "
                                   f"allowed: one of the two, or the same value in both")
        config[key] = value if value is not None else config.get(key, default)
    config.setdefault("graph_fallback", config["graph_backend"] == AUTO)
    return config
