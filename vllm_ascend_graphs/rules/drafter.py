"""The speculative-decoding drafter's graph path: what it captures and replays, or why it runs eagerly (pure).

vLLM Ascend's V1 model runner builds one proposer per speculative method
(`vllm_ascend/spec_decode/__init__.py`, `get_spec_decode_method`). The proposers with a draft model
(EAGLE, EAGLE3, MTP, draft models, DFlash) have no graphs of their own: at capture they run inside
the model runner's `_dummy_run` on each of the target's keys, and at each step they dispatch through
the model runner's `CudagraphDispatcher` with the token count of their first pass and the target
batch's uniform-decode flag, running all K draft steps in that one call (FULL graphs wrap it only
where the mode has full graphs). Such a proposer runs eagerly when `speculative_config.enforce_eager`
is set, when the target's model type names GLM, and always for DSpark; n-gram and suffix decoding
draft on the host, and Medusa's heads run outside the dispatcher: none of those capture anything.
A decode batch of `b` requests brings `b x (1 + K)` tokens to the target and, to the drafter's first
pass, that many plus `b` per extra input slot (draft models: one; parallel drafting: K or K - 1).

`DrafterPlan` says this for one deployment, per dispatch phase: the V1 runner has one phase,
"draft"; other model runners (V2's draft-prefill and draft-decode graph managers) state theirs in
the same shape. The record and `explain --json` carry `DrafterPlan.to_dict()` as `drafter`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..enums import CUDAGraphMode
from ..errors import GraphConfigError, invalid, show
from .graph_keys import DecodeShape, RuntimeGraphs, dispatch_uniform, runtime_graphs, spans

KEY = "speculative_config"
V1 = "V1"
DRAFT = "draft"  # the V1 runner's one drafter phase: all K draft steps in one call

# What a proposer does with graphs (its kind).
TARGET_KEYS = "target keys"  # a draft model dispatched on the model runner's keys
NO_MODEL = "no draft model"  # drafts from the token history on the host: nothing to capture
HEADS = "heads"  # Medusa: heads on the target's hidden states, run outside the dispatcher
ALWAYS_EAGER = "always eager"  # a draft model the proposer never runs in graphs
OWN_PIECEWISE = "own piecewise"  # a dispatcher of its own, with PIECEWISE graphs of the target's sizes


class Proposer(NamedTuple):
    """vLLM Ascend's proposer for one method on the V1 model runner, and what decides its graphs."""

    name: str  # its class in vllm_ascend.spec_decode
    kind: str
    hidden_states: bool = True  # passes the target's hidden states (EAGLE-like): no extra input slot
    own_first_pass: bool = False  # builds its first pass itself: 1 + K tokens per request (DFlash)
    why: str = ""  # for ALWAYS_EAGER and the kinds without graphs: why, with vllm-ascend's file:line


# The methods vLLM Ascend's `get_spec_decode_method` serves (0.23.0.post1, 0.26.0rc and main alike,
# except DSpark: 0.26.0rc and main); which ones the installed release serves is a fact read from it.
PROPOSERS: Mapping[str, Proposer] = {
    "ngram": Proposer("AscendNgramProposer", NO_MODEL, why="n-gram drafting runs on the host from the token "
                      "history: no draft model, nothing captured"),
    "ngram_gpu": Proposer("AscendNgramProposerNPU", NO_MODEL, why="vLLM Ascend's device n-gram proposer loads no "
                          "model and captures nothing (spec_decode/ngram_proposer_npu.py)"),
    "suffix": Proposer("AscendSuffixDecodingProposer", NO_MODEL, why="suffix decoding drafts on the host from a "
                       "suffix tree: no draft model, nothing captured"),
    "medusa": Proposer("AscendMedusaProposer", HEADS, why="Medusa's heads run on the target's hidden states "
                       "outside the model runner's dispatcher (vLLM's MedusaProposer.propose): eagerly"),
    "eagle": Proposer("AscendEagleProposer", TARGET_KEYS),
    "eagle3": Proposer("AscendEagleProposer", TARGET_KEYS),
    "mtp": Proposer("AscendEagleProposer", TARGET_KEYS),
    "draft_model": Proposer("AscendDraftModelProposer", TARGET_KEYS, hidden_states=False),
    "dflash": Proposer("AscendDflashProposer", TARGET_KEYS, own_first_pass=True),
    "extract_hidden_states": Proposer(
        "AscendExtractHiddenStatesProposer", OWN_PIECEWISE, why="it drafts nothing (it caches the target's hidden "
        "states) and keeps a dispatcher of its own with PIECEWISE graphs only (vLLM's ExtractHiddenStatesProposer)"),
    "dspark": Proposer("AscendDSparkProposer", ALWAYS_EAGER, why="vLLM Ascend runs DSpark's draft model eagerly "
                       "(spec_decode/dspark_proposer.py: use_cuda_graph = False)"),
}
# vLLM's method names that it renames to "mtp" (its MTPModelTypes): any "<model>_mtp".
MTP_SUFFIX = "_mtp"


class SpeculativeConfig(NamedTuple):
    """vLLM's `speculative_config`, the fields that decide the drafter's graphs (as vLLM resolves them)."""

    method: str
    num_speculative_tokens: int
    enforce_eager: bool = False  # speculative_config.enforce_eager: the drafter runs no graphs
    disable_padded_drafter_batch: bool = False
    parallel_drafting: bool = False  # vLLM sets it for DFlash itself

    @classmethod
    def parse(cls, value: object, key: str = KEY) -> SpeculativeConfig:
        """From vLLM's `speculative_config` as a user writes it (`--speculative-config JSON`): `method`
        (or `model` "ngram", or a draft model whose name says eagle / eagle3 / dflash, as vLLM detects
        them), `num_speculative_tokens` and the switches read here; vLLM's other keys are not read."""
        if not isinstance(value, Mapping):
            raise invalid(key, value, "a JSON object, as vLLM's --speculative-config takes")
        method = _method(value, key)
        tokens = value.get("num_speculative_tokens")
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise invalid(f"{key}.num_speculative_tokens", tokens, "a positive integer")
        switches = {name: _flag(value, name, key) for name in ("enforce_eager", "disable_padded_drafter_batch",
                                                               "parallel_drafting")}
        switches["parallel_drafting"] |= method == "dflash"  # vLLM sets it for DFlash itself
        return cls(method, tokens, **switches)

    def replace(self, **changes: Any) -> SpeculativeConfig:
        return self._replace(**changes)


def _method(value: Mapping[str, Any], key: str) -> str:
    method, model = value.get("method"), value.get("model")
    if method is None:
        name = model.lower() if isinstance(model, str) else ""
        for found, text in (("ngram", "ngram"), ("eagle", "eagle-"), ("eagle3", "eagle3"), ("dflash", "dflash")):
            if (name in ("ngram", "[ngram]")) if found == "ngram" else text in name:
                return found
        raise invalid(f"{key}.method", method, f"one of {', '.join(PROPOSERS)} (explain does not read the draft "
                      "model's config to detect it, as vLLM does)")
    if not isinstance(method, str) or not method.strip():
        raise invalid(f"{key}.method", method, ", ".join(PROPOSERS))
    method = method.strip()
    return "mtp" if method.endswith(MTP_SUFFIX) else method


def _flag(value: Mapping[str, Any], name: str, key: str) -> bool:
    flag = value.get(name, False)
    if flag is None:  # vLLM's default for enforce_eager: follow the target (which the plan sees itself)
        return False
    if not isinstance(flag, bool):
        raise invalid(f"{key}.{name}", flag, "true or false")
    return flag


class DraftGraphs(NamedTuple):
    """One dispatch phase of the drafter: what it captures, and which decode batches it runs eagerly."""

    phase: str  # V1: "draft" (all K draft steps in one call); V2's managers: their own phases
    graphs: RuntimeGraphs
    tokens_per_request: int  # tokens one decode request brings to this phase's dispatch
    eager_batches: tuple[int, ...] = ()  # decode batches (requests) whose call here replays no graph

    def to_dict(self) -> dict[str, Any]:
        return {**self.graphs.to_dict(), "tokens_per_request": self.tokens_per_request,
                "eager_decode_batches": list(self.eager_batches)}

    @classmethod
    def from_dict(cls, phase: str, data: Mapping[str, Any]) -> DraftGraphs:
        return cls(phase, RuntimeGraphs(tuple(data["FULL"]), tuple(data["PIECEWISE"])), data["tokens_per_request"],
                   tuple(data["eager_decode_batches"]))


class DrafterPlan(NamedTuple):
    """What the drafter captures and replays, per phase, or why it runs eagerly."""

    method: str
    proposer: str  # vLLM Ascend's proposer class
    num_speculative_tokens: int
    model_runner: str = V1
    eager: str | None = None  # why the drafter captures no graphs at all (None: it replays graphs)
    phases: tuple[DraftGraphs, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def eager_decode_batches(self) -> tuple[int, ...]:
        """Decode batches (requests) with at least one drafter call that replays no graph."""
        return tuple(sorted({b for phase in self.phases for b in phase.eager_batches}))

    @property
    def graph_count(self) -> int:
        return sum(len(phase.graphs.full) + len(phase.graphs.piecewise) for phase in self.phases)

    def replace(self, **changes: Any) -> DrafterPlan:
        return self._replace(**changes)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "proposer": self.proposer, "num_speculative_tokens": self.num_speculative_tokens,
                "model_runner": self.model_runner, "eager": self.eager,
                "phases": {phase.phase: phase.to_dict() for phase in self.phases}, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DrafterPlan:
        phases = tuple(DraftGraphs.from_dict(name, phase) for name, phase in data["phases"].items())
        return cls(data["method"], data["proposer"], data["num_speculative_tokens"], data["model_runner"],
                   data["eager"], phases, tuple(data["notes"]))

    def describe(self) -> list[str]:
        """Lines for `explain`: the proposer, then what each phase captures and runs eagerly."""
        head = f"{self.method} ({self.proposer}), {self.num_speculative_tokens} speculative tokens"
        if self.eager:
            return [f"{head}: no drafter graphs: {self.eager}"]
        lines = [f"{head}, on the {self.model_runner} model runner"]
        for phase in self.phases:
            graphs = phase.graphs
            eager = (f"; decode batches of {spans(phase.eager_batches)} requests run eagerly"
                     if phase.eager_batches else "")
            tokens = f"{phase.tokens_per_request} token{'' if phase.tokens_per_request == 1 else 's'}"
            lines.append(f"{phase.phase}: FULL {list(graphs.full)}, PIECEWISE {list(graphs.piecewise)} "
                         f"({tokens} per request){eager}")
        return lines


def proposer_of(method: str, methods: frozenset[str], source: str) -> Proposer:
    """vLLM Ascend's proposer for `method`; a method its release does not serve is the error its model
    runner would raise at start (`get_spec_decode_method`: Unknown speculative decoding method)."""
    if method not in methods or method not in PROPOSERS:
        served = ", ".join(m for m in PROPOSERS if m in methods)
        raise GraphConfigError(f"{KEY}.method: got {show(method)}, which {source} has no proposer for (its model "
                               f"runner raises at start); allowed: {served}")
    return PROPOSERS[method]


def is_glm(model_type: str) -> bool:
    """vLLM Ascend's test for the GLM series (`_is_glm_model`): the target's model type names GLM."""
    return "glm" in model_type.lower()


def uses_graphs(mode: CUDAGraphMode, *, compiling: bool, enforce_eager: bool) -> bool:
    """The model runner's `_use_aclgraph()`: graphs at all (a mode, VLLM_COMPILE, no enforce_eager)."""
    return mode is not CUDAGraphMode.NONE and compiling and not enforce_eager


def has_full_graphs(mode: CUDAGraphMode) -> bool:
    return CUDAGraphMode.FULL in (mode.decode_mode, mode.mixed_mode)


def tokens_per_request(spec: SpeculativeConfig, proposer: Proposer) -> int:
    """Tokens one decode request brings to the drafter's first pass: its 1 + K, plus the extra input
    slots of vLLM's proposer (draft models: one; parallel drafting: K, less one with hidden states)."""
    verify = 1 + spec.num_speculative_tokens
    if proposer.own_first_pass:
        return verify
    extra = spec.num_speculative_tokens if spec.parallel_drafting else 1
    return verify + extra - (1 if proposer.hidden_states else 0)


def start_problem(spec: SpeculativeConfig, proposer: Proposer, mode: CUDAGraphMode, *,
                  graphs_on: bool) -> str | None:
    """Why the drafter would raise at start with `mode`, or None. vLLM Ascend's base proposer refuses
    full graphs without the padded drafter batch (`_raise_if_padded_drafter_batch_disabled_and_full_graph_enabled`,
    before its GLM rule, so GLM targets too; DSpark's proposer is built on it)."""
    if (proposer.kind in (TARGET_KEYS, ALWAYS_EAGER) and spec.disable_padded_drafter_batch and graphs_on
            and not spec.enforce_eager and has_full_graphs(mode)):
        return ("vLLM Ascend's drafter supports full graphs only with the padded drafter batch (its proposer "
                "raises NotImplementedError at start with disable_padded_drafter_batch)")
    return None


def check_padded_batch(spec: SpeculativeConfig, proposer: Proposer) -> None:
    """vLLM's own proposer needs the padded drafter batch wherever it adds input slots (draft models,
    parallel drafting): it raises at start otherwise, whatever the graphs."""
    if proposer.kind == TARGET_KEYS and spec.disable_padded_drafter_batch and (
            tokens_per_request(spec, proposer) > 1 + spec.num_speculative_tokens):
        raise GraphConfigError(
            f"{KEY}.disable_padded_drafter_batch: got True with method {show(spec.method)}, whose proposer adds input "
            "slots and raises at start without the padded drafter batch (vLLM's SpecDecodeBaseProposer); "
            "allowed: false")


def plan_drafter(spec: SpeculativeConfig, proposer: Proposer, mode: CUDAGraphMode, sizes: tuple[int, ...],
                 shape: DecodeShape, *, graphs_on: bool, model_type: str) -> DrafterPlan:
    """The V1 model runner's drafter: on the target's keys (`mode`, `sizes`), or eagerly and why.

    `graphs_on`: the model runner's `_use_aclgraph()` (`uses_graphs`); `model_type`: the target's.
    """
    eager = _eager_reason(spec, proposer, mode, graphs_on=graphs_on, model_type=model_type)
    if eager is not None:
        could = proposer.kind in (TARGET_KEYS, OWN_PIECEWISE) and graphs_on  # a draft model the mode would capture
        notes = (f"drafter: runs eagerly: {eager}",) if could else ()
        return DrafterPlan(spec.method, proposer.name, spec.num_speculative_tokens, eager=eager, notes=notes)
    phase = _draft_phase(proposer, tokens_per_request(spec, proposer), mode, sizes, shape)
    notes = ()
    if phase.eager_batches:
        notes = (f"drafter: decode batches of {spans(phase.eager_batches)} requests run the draft eagerly: its first "
                 f"pass has {phase.tokens_per_request} tokens per request, and {_why_no_graph(mode, shape)}",)
    return DrafterPlan(spec.method, proposer.name, spec.num_speculative_tokens, phases=(phase,), notes=notes)


def on_target_keys(drafter: DrafterPlan, mode: CUDAGraphMode, sizes: tuple[int, ...],
                   shape: DecodeShape) -> DrafterPlan:
    """A V1 drafter's plan once the target's mode or sizes changed (an override): its phase follows the
    target's keys; a drafter without graphs stays as it is."""
    if drafter.eager is not None or drafter.model_runner != V1:
        return drafter
    phase = _draft_phase(PROPOSERS[drafter.method], drafter.phases[0].tokens_per_request, mode, sizes, shape)
    return drafter.replace(phases=(phase,))


def _draft_phase(proposer: Proposer, per_request: int, mode: CUDAGraphMode, sizes: tuple[int, ...],
                 shape: DecodeShape) -> DraftGraphs:
    """The V1 drafter's one phase: the graphs it captures (the target's keys; a dispatcher of its own has
    PIECEWISE keys of every size) and the decode batches whose draft replays none."""
    if proposer.kind == OWN_PIECEWISE:
        mode = CUDAGraphMode.PIECEWISE
    eager = tuple(b for b in range(1, shape.max_requests + 1)
                  if dispatch_uniform(mode, sizes, shape, b * per_request)[0] is CUDAGraphMode.NONE)
    return DraftGraphs(DRAFT, runtime_graphs(mode, sizes, shape), per_request, eager)


def _why_no_graph(mode: CUDAGraphMode, shape: DecodeShape) -> str:
    top = shape.max_num_seqs * shape.query_len
    if mode.mixed_mode is CUDAGraphMode.NONE:
        return (f"{mode.name}'s graphs hold uniform decode batches of up to {top} tokens only (a mode with "
                "PIECEWISE graphs for mixed batches would replay them)")
    return "no capture size holds them"


def draft_tokens(spec: SpeculativeConfig | None, methods: frozenset[str], model_type: str) -> int | None:
    """Tokens per request of a drafter on the target's keys whose first pass is longer than the target's
    decode step (vLLM's draft models), for the capture plan; None otherwise."""
    if spec is None or spec.method not in methods or spec.method not in PROPOSERS:
        return None
    proposer = PROPOSERS[spec.method]
    if proposer.kind != TARGET_KEYS or spec.enforce_eager or is_glm(model_type):
        return None
    per_request = tokens_per_request(spec, proposer)
    return per_request if per_request > 1 + spec.num_speculative_tokens else None


def _eager_reason(spec: SpeculativeConfig, proposer: Proposer, mode: CUDAGraphMode, *, graphs_on: bool,
                  model_type: str) -> str | None:
    if proposer.kind not in (TARGET_KEYS, OWN_PIECEWISE):
        return proposer.why
    if not graphs_on:
        return ("the model runner runs no graphs for it (vLLM Ascend's _use_aclgraph(): a graph mode, compilation "
                "VLLM_COMPILE and no enforce_eager)")
    if spec.enforce_eager:
        return "speculative_config.enforce_eager is true"
    if proposer.kind == OWN_PIECEWISE:
        if mode.mixed_mode is CUDAGraphMode.NONE:
            return f"{proposer.why}, and mixed batches run no graphs in {mode.name}"
        return None
    if is_glm(model_type):
        return (f"vLLM Ascend runs the drafter of GLM-series targets (model type {model_type}) eagerly "
                "(spec_decode/llm_base_proposer.py, _is_glm_model)")
    return None
