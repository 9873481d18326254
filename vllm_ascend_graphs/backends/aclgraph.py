"""ACLGraph: run-time capture/replay through torch.npu.NPUGraph, with the Npugraph_ex compile-time layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import GraphConfigError
from ..probes.environment import ASSUMED, Environment
from ..rules.config import GraphRequest
from ..rules.models import ModelInfo
from ..rules.modes import CUDAGraphMode, GraphSettings, resolve
from .base import GraphBackend, Plan, Probe

if TYPE_CHECKING:
    from ..runtime.devices import DeviceGraphs, Recording

# Npugraph_ex compiles only (ACLGraph captures), and must neither rewrite in place nor clone the
# static buffers the captured graphs read and write.
NPUGRAPH_EX_OPTIONS = {"force_eager": True, "inplace_pass": False, "clone_input": False, "clone_output": False}
# The fusion toggles of this package's own compile stage; a plan lists the ones turned off in its
# options. vLLM Ascend's toggles (`fuse_norm_quant`: add_rms_norm + quant, and the others) belong
# to its compiler, which this stage does not replace.
FUSION_TOGGLES = ("fuse_add_rms_norm",)


def graph_path_refusal(request: GraphRequest, environment: Environment) -> str | None:
    """Why no ACLGraph-based path can run here, or None; shared by ACLGraph and XliteGraph."""
    if environment.device != "npu":
        return f"no Ascend NPU here (device: {environment.device})"
    if environment.torch_npu is None:
        return "torch_npu is not installed (pip install torch-npu, matching your torch and CANN)"
    if environment.torch_npu_error:
        return environment.torch_npu_error
    if environment.launch_blocking:
        return "ACL graphs are incompatible with ASCEND_LAUNCH_BLOCKING=1; unset it to use graphs"
    if request.enforce_eager:
        return "enforce_eager=True turns graph capture off"
    return None


def compile_options(request: GraphRequest, environment: Environment, settings: GraphSettings) -> dict[str, Any]:
    """What the compile stage reads from the plan: fusion toggles turned off, static-kernel sizes."""
    compilation = request.ascend_compilation_config
    options: dict[str, Any] = {toggle: False for toggle in FUSION_TOGGLES if not getattr(compilation, toggle)}
    if settings.static_kernel:
        options["static_kernel_sizes"] = decode_capture_sizes(settings.capture_sizes, request.max_num_seqs,
                                                              environment.spec_tokens)
    return options


def decode_capture_sizes(capture_sizes: Sequence[int], max_num_seqs: int, spec_tokens: int) -> list[int]:
    """The capture sizes a pure-decode batch can have: static kernels are compiled for these only.

    A decode batch holds 1 + spec_tokens tokens per request and at most `max_num_seqs` requests
    (vLLM Ascend limits Npugraph_ex's static-kernel symbol range the same way).
    """
    per_request = 1 + spec_tokens
    return [size for size in capture_sizes if per_request <= size <= max_num_seqs * per_request]


class AclGraphRuntime:
    """The ACLGraph run-time duties, shared by every backend whose graphs are ACL graphs.

    Compile: Npugraph_ex (passes only) when the plan turns it on, else the FX fusion passes.
    Capture and replay on the `npu` device API; FULL graphs synchronise the stream before replay.
    """

    device: ClassVar[str | None] = "npu"

    def compile(self, graph_module: Callable[..., Any], example_inputs: Sequence[Any],
                plan: Plan) -> Callable[..., Any]:
        """Rewrites `graph_module` in place (a plain module or function is traced symbolically first)."""
        import logging  # here, not at import: the first select() has no time for it

        import torch.fx
        import torch_npu

        gm = graph_module if isinstance(graph_module, torch.fx.GraphModule) else torch.fx.symbolic_trace(graph_module)
        if plan.npugraph_ex:
            return _npugraph_ex_compile(torch_npu, gm, example_inputs, plan)
        if plan.options.get("fuse_add_rms_norm", True):
            from .fusion import fuse_add_rms_norm

            fused = fuse_add_rms_norm(gm, torch_npu.npu_add_rms_norm)
            logging.getLogger("vllm_ascend_graphs").debug("fused %d add + rms_norm pairs", fused)
        return gm

    def capture(self, graphs: DeviceGraphs, fn: Callable[..., Any], static_inputs: Sequence[Any], *,
                pool: object, mode: CUDAGraphMode) -> Recording:
        return graphs.capture(fn, static_inputs, pool=pool)

    def replay(self, graphs: DeviceGraphs, recording: Recording, mode: CUDAGraphMode) -> None:
        if mode is CUDAGraphMode.FULL:
            graphs.synchronize()
        recording.graph.replay()


class AclGraphBackend(AclGraphRuntime, GraphBackend):
    name = "aclgraph"
    aliases = ("acl", "npugraph")
    description = "ACLGraph capture/replay (torch.npu.NPUGraph) with the Npugraph_ex compile-time layer"
    fallback = ("native", "eager")
    # What its probe and plan read of the machine: the NPU stack, the SoC's rules and vllm-ascend's.
    assumes = ("device", "soc", "torch_npu", "launch_blocking", "vllm_ascend")

    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        refusal = graph_path_refusal(request, environment)
        if refusal:
            return Probe.refuse(refusal)
        if request.cudagraph_mode is CUDAGraphMode.NONE:
            return Probe.refuse("cudagraph_mode NONE asks for no graphs")
        settings = resolve(request, environment, model)
        if settings.cudagraph_mode is CUDAGraphMode.NONE:
            why = next(note for note in reversed(settings.notes) if note.startswith("cudagraph_mode"))
            return Probe.refuse(f"no graph mode is left for this model: {why}")
        soc = f" {environment.soc}" if environment.soc else ""
        version = "(assumed)" if environment.torch_npu == ASSUMED else environment.torch_npu
        return Probe.ok(f"torch_npu {version} with the NPU graph API on npu{soc}")

    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        settings = resolve(request, environment, model)
        return Plan.from_settings(self.name, settings, options=compile_options(request, environment, settings))


def _npugraph_ex_compile(torch_npu: Any, gm: Any, example_inputs: Sequence[Any], plan: Plan) -> Callable[..., Any]:
    """Npugraph_ex's passes through `npugraph_ex`, or through `torchair` where only that exists."""
    torch_npu.npu.set_compile_mode(jit_compile=False)
    sizes = _static_kernel_sizes(plan) if plan.static_kernel else None
    try:
        import npugraph_ex
    except ImportError:
        return _torchair_compile(gm, example_inputs, sizes)
    config = npugraph_ex.CompilerConfig()
    options: dict[str, Any] = dict(NPUGRAPH_EX_OPTIONS)
    if sizes is not None:
        options.update(static_kernel_compile=True, _vllm_aclnn_static_kernel_sym_range=sizes)
    for option, value in options.items():
        setattr(config, option, value)
    return _compile_returning_tuple(npugraph_ex.get_npu_backend(compiler_config=config), gm, example_inputs)


def _static_kernel_sizes(plan: Plan) -> list[int]:
    sizes = plan.options.get("static_kernel_sizes")
    if sizes is None:
        raise GraphConfigError(
            "plan.options.static_kernel_sizes: got no value for a plan with static kernel on; allowed: the decode "
            "capture sizes, as the aclgraph and xlite backends' plan() sets them"
        )
    return [int(size) for size in sizes]


def _torchair_compile(gm: Any, example_inputs: Sequence[Any], sizes: list[int] | None) -> Callable[..., Any]:
    try:
        import torchair
    except ImportError as exc:
        raise GraphConfigError(
            "additional_config.ascend_compilation_config.enable_npugraph_ex: Npugraph_ex is on, but this torch_npu "
            "provides neither npugraph_ex nor torchair; allowed: a torch_npu with Npugraph_ex, or "
            "enable_npugraph_ex false"
        ) from exc
    config = torchair.CompilerConfig()
    config.mode = "reduce-overhead"  # ACL graphs, not a conversion to Ascend IR
    config.debug.run_eagerly = True  # passes only: ACLGraph captures
    # Rewriting in place lets gelu fall back to the CPU, a host-device copy inside the graph.
    config.debug.aclgraph.disable_reinplace_inplaceable_ops_pass = True
    if sizes is not None:
        config.experimental_config.aclgraph._aclnn_static_shape_kernel = True
        config.experimental_config.aclgraph._aclnn_static_shape_kernel_sym_value_range = sizes
    return _compile_returning_tuple(torchair.get_npu_backend(compiler_config=config), gm, example_inputs)


def _compile_returning_tuple(backend: Callable[..., Any], gm: Any, example_inputs: Sequence[Any]) -> Callable[..., Any]:
    """Dynamo backends take graphs that return a tuple; wrap a single output and unwrap it after."""
    output = next(node for node in reversed(gm.graph.nodes) if node.op == "output")
    if isinstance(output.args[0], (tuple, list)):
        return backend(gm, example_inputs)
    output.args = ((output.args[0],),)
    gm.recompile()
    compiled = backend(gm, example_inputs)
    return lambda *args: compiled(*args)[0]
