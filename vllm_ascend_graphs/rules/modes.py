"""Graph-mode resolution, as pure functions: the tables of vLLM Ascend's graph-mode guide
(`docs/source/user_guide/feature_guide/graph_mode.md` in its repository) and the narrowing rules.

Nothing here probes the machine or reads configuration: every input is an argument, so each
rule can be table-tested, and every adjustment comes back as a note that says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ..enums import AttentionSupport, CUDAGraphMode
from ..errors import GraphConfigError
from ..probes import vllm_ascend as vllm_ascend_support
from . import drafter, drafter_v2
from .capture_plan import TpAlignment, plan_capture_sizes
from .graph_keys import DecodeShape, ModelRunner
from .kv_connectors import piecewise_reason

if TYPE_CHECKING:
    from ..probes.environment import Environment
    from .config import GraphRequest
    from .models import ModelInfo


DEFAULT_MODE = CUDAGraphMode.FULL_AND_PIECEWISE
NPUGRAPH_EX_MODES = (CUDAGraphMode.FULL, CUDAGraphMode.FULL_DECODE_ONLY)


class GraphSettings(NamedTuple):
    """The effective graph settings for one backend, with a note for every adjustment."""

    cudagraph_mode: CUDAGraphMode
    npugraph_ex: bool
    static_kernel: bool
    capture_sizes: tuple[int, ...]
    notes: tuple[str, ...] = ()


def narrow_mode(
    mode: CUDAGraphMode,
    *,
    enforce_eager: bool = False,
    compiling: bool = True,
    encoder_decoder: bool = False,
    context_parallel: bool = False,
    attention: AttentionSupport = AttentionSupport.ALWAYS,
    attention_backend: str = "the attention backend",
    spec_tokens: int = 0,
    kv_piecewise: str | None = None,
) -> tuple[CUDAGraphMode, list[str]]:
    """Apply the narrowing rules in order; return the effective mode and one note per change.

    Upstream raises when attention never supports full graphs; here anything that can run
    eagerly narrows instead, and says so.
    """
    notes: list[str] = []

    def narrow(to: CUDAGraphMode, why: str) -> CUDAGraphMode:
        notes.append(f"cudagraph_mode {mode.name} -> {to.name}: {why}")
        return to

    # Without piecewise compilation the only graphs left are full ones, or none.
    piecewise_or_none = CUDAGraphMode.PIECEWISE if compiling else CUDAGraphMode.NONE

    if enforce_eager and mode is not CUDAGraphMode.NONE:
        mode = narrow(CUDAGraphMode.NONE, "enforce_eager=True turns graphs off")
    if encoder_decoder and mode not in (CUDAGraphMode.NONE, CUDAGraphMode.PIECEWISE):
        mode = narrow(piecewise_or_none, "encoder-decoder models run only piecewise graphs on Ascend")
    if mode.needs_piecewise_compilation and not compiling:  # vLLM 0.23 to 0.27 turn all graphs off then
        mode = narrow(CUDAGraphMode.NONE, "piecewise graphs need vLLM's piecewise compilation (VLLM_COMPILE), "
                      "which is off, and vLLM then runs no graphs")
    if kv_piecewise and drafter.has_full_graphs(mode):  # vLLM's own rule, before any platform pass
        mode = narrow(piecewise_or_none, kv_piecewise)
    elif kv_piecewise and mode is CUDAGraphMode.PIECEWISE:  # (inside vLLM, which has set it already)
        notes.append(f"cudagraph_mode PIECEWISE, as vLLM keeps it: {kv_piecewise}")
    if context_parallel and mode is CUDAGraphMode.FULL:
        to = CUDAGraphMode.FULL_AND_PIECEWISE if compiling else CUDAGraphMode.FULL_DECODE_ONLY
        mode = narrow(
            to,
            "context parallel (dcp or pcp > 1) does not support FULL graphs for mixed batches yet; "
            "uniform decode batches keep full graphs",
        )
    if mode.mixed_mode is CUDAGraphMode.FULL and attention < AttentionSupport.ALWAYS:
        if attention is AttentionSupport.NEVER:
            to = piecewise_or_none
        else:
            to = CUDAGraphMode.FULL_DECODE_ONLY
        mode = narrow(
            to,
            f"{attention_backend} supports full graphs only for {_support_text(attention)}; "
            "mixed prefill/decode batches cannot be captured whole",
        )
    if mode.decode_mode is CUDAGraphMode.FULL and attention is AttentionSupport.NEVER:
        mode = narrow(piecewise_or_none, f"{attention_backend} never supports full graphs")
    if mode.decode_mode is CUDAGraphMode.FULL and spec_tokens > 0 and attention < AttentionSupport.UNIFORM_BATCH:
        mode = narrow(
            piecewise_or_none,
            f"speculative decoding ({spec_tokens} tokens) decodes more than one token per request, "
            f"and {attention_backend} supports full graphs only for {_support_text(attention)}",
        )
    return mode, notes


def _support_text(level: AttentionSupport) -> str:
    """What a support level below ALWAYS covers; only those levels narrow a mode."""
    return {
        AttentionSupport.NEVER: "no batches (NEVER)",
        AttentionSupport.UNIFORM_SINGLE_TOKEN_DECODE: "single-token decode batches (UNIFORM_SINGLE_TOKEN_DECODE)",
        AttentionSupport.UNIFORM_BATCH: "uniform batches (UNIFORM_BATCH)",
    }[level]


def resolve_npugraph_ex(
    mode: CUDAGraphMode,
    *,
    enable_npugraph_ex: bool | None,
    enable_static_kernel: bool | None,
    soc: str | None = None,
    compiling: bool = True,
) -> tuple[bool, bool, list[str]]:
    """Npugraph_ex runs only in FULL / FULL_DECODE_ONLY, and only where vLLM compiles the model (it is
    vLLM Ascend's compile backend); static kernel needs Npugraph_ex.

    `None` means "not set by the user". Returns (npugraph_ex, static_kernel, notes).
    """
    notes: list[str] = []
    npugraph_ex = enable_npugraph_ex is not False and mode in NPUGRAPH_EX_MODES
    if enable_npugraph_ex and not npugraph_ex:
        notes.append(
            f"enable_npugraph_ex=true has no effect in {mode.name}: Npugraph_ex runs only in "
            "FULL and FULL_DECODE_ONLY"
        )
    if npugraph_ex and not compiling:
        npugraph_ex = False
        notes.append("Npugraph_ex is off: it optimises the graph vLLM compiles, and compilation (VLLM_COMPILE) is off")
    if npugraph_ex and soc == "310P":
        npugraph_ex = False
        notes.append("Npugraph_ex is off on Ascend 310P, which does not support it")
    static_kernel = bool(enable_static_kernel) and npugraph_ex
    if enable_static_kernel and not static_kernel:
        notes.append("enable_static_kernel=true has no effect: static kernel needs Npugraph_ex, which is off")
    return npugraph_ex, static_kernel, notes


def resolve(
    request: GraphRequest,
    environment: Environment,
    model: ModelInfo,
    *,
    mode: CUDAGraphMode | None = None,
    backend: str = "aclgraph",
) -> GraphSettings:
    """All rules for one graph backend. `mode` replaces the requested mode (XliteGraph does so)."""
    start = mode or request.cudagraph_mode or DEFAULT_MODE
    first: list[str] = []
    if request.other_compilation_mode and start is not CUDAGraphMode.NONE and not start.needs_piecewise_compilation:
        # (piecewise modes: vLLM's own rule comes first, in `narrow_mode`)
        start, note = _under_other_compilation_mode(start, request.other_compilation_mode, environment)
        first.append(note)
    effective, notes = narrow_mode(
        start,
        enforce_eager=request.enforce_eager,
        compiling=request.compiling,
        encoder_decoder=model.encoder_decoder,
        context_parallel=environment.context_parallel,
        attention=model.attention_support,
        attention_backend=model.attention_backend,
        spec_tokens=environment.spec_tokens,
        kv_piecewise=piecewise_reason(request.kv_transfer),
    )
    effective, notes = _mode_the_drafter_starts_with(request, environment, effective, notes)
    compilation = request.ascend_compilation_config
    npugraph_ex, static_kernel, ex_notes = resolve_npugraph_ex(
        effective,
        enable_npugraph_ex=compilation.enable_npugraph_ex,
        enable_static_kernel=compilation.enable_static_kernel,
        soc=environment.soc,
        compiling=request.compiling,
    )
    runner, runner_notes = model_runner(environment, backend) if effective is not CUDAGraphMode.NONE else (
        ModelRunner.V1, [])
    capture = plan_capture_sizes(effective, decode_shape(request, environment, model, runner),
                                 sizes=request.capture_sizes, max_size=request.max_capture_size, soc=environment.soc,
                                 aligned=tp_alignment(request, environment))
    return GraphSettings(effective, npugraph_ex, static_kernel, capture.sizes,
                         (*first, *notes, *ex_notes, *runner_notes, *capture.notes))


def _mode_the_drafter_starts_with(request: GraphRequest, environment: Environment, mode: CUDAGraphMode,
                                  notes: list[str]) -> tuple[CUDAGraphMode, list[str]]:
    """`mode`, or one without full graphs where vLLM Ascend's drafter would raise at start with it
    (full graphs without the padded drafter batch): a note where the mode was vLLM's default, a
    `GraphConfigError` where the user named it."""
    spec = request.speculative
    if spec is None or environment.device != "npu":
        return mode, notes
    facts = environment.vllm_ascend_facts
    proposer = drafter.proposer_of(spec.method, facts.speculative_methods, facts.source)
    graphs_on = drafter.uses_graphs(mode, compiling=request.compiling, enforce_eager=request.enforce_eager)
    problem = drafter.start_problem(spec, proposer, mode, graphs_on=graphs_on)
    if problem is None:
        return mode, notes
    to = CUDAGraphMode.PIECEWISE if request.compiling else CUDAGraphMode.NONE
    if request.mode_given:
        raise GraphConfigError(
            f"compilation_config.cudagraph_mode: got {(request.cudagraph_mode or mode).name} with "
            "speculative_config.disable_padded_drafter_batch "
            f"true: {problem}; allowed: {to.name} (no full graphs), or disable_padded_drafter_batch false")
    return to, [*notes, f"cudagraph_mode {mode.name} -> {to.name}: {problem}"]


def drafter_plan(request: GraphRequest, environment: Environment, model: ModelInfo, mode: CUDAGraphMode,
                 sizes: tuple[int, ...], runner: ModelRunner = ModelRunner.V1) -> drafter.DrafterPlan | None:
    """What vLLM Ascend's drafter captures and replays with the target's `mode` and `sizes` on the model
    runner `runner` (None without speculative decoding, or off vLLM Ascend's NPU platform). A method its
    release has no proposer for, or a padded-batch setting its proposer refuses, is the one-line error
    its start would raise."""
    spec = request.speculative
    if spec is None or environment.device != "npu":
        return None
    facts = environment.vllm_ascend_facts
    proposer = drafter.proposer_of(spec.method, facts.speculative_methods, facts.source)
    drafter.check_padded_batch(spec, proposer)
    graphs_on = drafter.uses_graphs(mode, compiling=request.compiling, enforce_eager=request.enforce_eager)
    shape = decode_shape(request, environment, model, runner)
    if runner is not ModelRunner.V1:
        return drafter_v2.plan_drafter_v2(spec, proposer, mode, sizes, shape, graphs_on=graphs_on)
    return drafter.plan_drafter(spec, proposer, mode, sizes, shape, graphs_on=graphs_on,
                                model_type=model.model_type or model.architecture)


def _under_other_compilation_mode(mode: CUDAGraphMode, compilation_mode: str,
                                  environment: Environment) -> tuple[CUDAGraphMode, str]:
    """vLLM Ascend runs only compilation modes NONE and VLLM_COMPILE; what it does with another one and
    a full `mode` depends on the release: no graphs, or no compilation with the mode kept. (vLLM itself
    turns piecewise modes off first, `narrow_mode`.)"""
    facts = environment.vllm_ascend_facts
    if facts.other_compilation_modes == vllm_ascend_support.NO_GRAPHS:
        return CUDAGraphMode.NONE, (f"cudagraph_mode {mode.name} -> NONE: {facts.source} runs no graphs under "
                                    f"compilation mode {compilation_mode} (only NONE and VLLM_COMPILE)")
    return mode, (f"{facts.source} turns compilation mode {compilation_mode} off (NONE) and keeps cudagraph_mode "
                  f"{mode.name}")


def tp_alignment(request: GraphRequest, environment: Environment) -> TpAlignment | None:
    """Whether vLLM Ascend keeps only capture sizes that are multiples of TP here, and for which setting.

    The installed (or assumed) release's facts say which settings do it; they are read only when one
    of them could be on, so most decisions never read them."""
    could = (environment.expert_parallel or environment.sequence_parallel_moe or environment.flashcomm1_env
             or any(request.ascend_switches.values()))
    if environment.tp <= 1 or not could:
        return None
    by = vllm_ascend_support.tp_alignment(environment.vllm_ascend_facts, request.ascend_switches,
                    expert_parallel=environment.expert_parallel,
                    sequence_parallel_moe=environment.sequence_parallel_moe,
                    flashcomm1_env=environment.flashcomm1_env)
    return None if by is None else TpAlignment(environment.tp, by)


def decode_shape(request: GraphRequest, environment: Environment, model: ModelInfo | None = None,
                 runner: ModelRunner = ModelRunner.V1) -> DecodeShape:
    """The decode batches this deployment can form, the model runner that keys their graphs, and the
    drafter's steps that need graphs of their own: they decide which sizes need graphs. On the V1 runner
    that is a drafter's first pass longer than the target's decode step; under Model Runner V2, with 2 or
    more speculative tokens, the drafter's draft-decode steps (vLLM's V2 takes only drafters with a model:
    EAGLE, EAGLE3 and MTP key them; DFlash and DSpark, whose speculators are not modelled, at worst gain a
    size)."""
    draft = None
    if runner is ModelRunner.V1 and request.speculative is not None and environment.device == "npu" and model:
        draft = drafter.draft_tokens(request.speculative, environment.vllm_ascend_facts.speculative_methods,
                                     model.model_type or model.architecture)
    draft_decode = runner is not ModelRunner.V1 and environment.spec_tokens >= 2
    return DecodeShape(request.max_num_seqs, environment.spec_tokens, request.max_num_batched_tokens, runner,
                       draft_decode, draft)


V2_ASKED = "Model Runner V2 (VLLM_USE_V2_MODEL_RUNNER=1)"
V2_SKIPS_ROUNDING = (0, 25)  # from this vLLM on, Model Runner V2 keeps the capture sizes (ModelRunner.V2)


def model_runner(environment: Environment, backend: str) -> tuple[ModelRunner, list[str]]:
    """The model runner that keys the graphs in the worker, with a note where Model Runner V2 is asked for
    and vLLM Ascend's worker runs V1 instead: XliteWorker and the 310P worker build their own V1 runner,
    and some releases fall back to V1 on some vLLMs (`VllmAscendFacts.v2_falls_back_on`)."""
    if not environment.model_runner_v2:
        return ModelRunner.V1, []
    vllm = environment.vllm
    if backend != "native":  # vLLM Ascend's workers
        facts = environment.vllm_ascend_facts
        vllm = vllm or vllm_ascend_support.PAIRED_VLLM[facts.release]
        worker = {"xlite": "XliteWorker", "310P": "NPUWorker310 (Ascend 310P)"}.get(
            "xlite" if backend == "xlite" else environment.soc or "")
        why = None
        if worker:
            why = f"vLLM Ascend's {worker} builds the V1 model runner"
        elif vllm in facts.v2_falls_back_on:  # (its `vllm_version_is`: the exact version)
            why = f"{facts.source_of('v2_falls_back_on')} runs the V1 model runner on vLLM {vllm}"
        if why:
            return ModelRunner.V1, [f"{V2_ASKED} does not run: {why}, which keys the graphs"]
    return (ModelRunner.V2_ROUNDING_SIZES if _release(vllm) < V2_SKIPS_ROUNDING else ModelRunner.V2), []


def _release(version: str | None) -> tuple[int, int]:
    """(major, minor) of a vLLM version; an unknown one counts as the newest."""
    parts = (version or "").split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (999, 0)
