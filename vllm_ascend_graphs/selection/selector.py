"""The selector: walks a chain of backends, probes each, and returns one plan with its reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..backends.base import GraphBackend, Plan
from ..errors import BackendUnavailableError, GraphConfigError
from ..hooks.isolation import PluginError
from ..hooks.registry import BackendRegistry, get_registry
from ..probes.environment import Environment, probe_environment
from ..rules.assumptions import Assumptions
from ..rules.config import AUTO, ROOT, GraphRequest
from ..rules.drafter import DrafterPlan
from ..rules.graph_keys import DecodeShape, RuntimeGraphs, runtime_graphs
from ..rules.models import ModelInfo
from ..rules.modes import DEFAULT_MODE, CUDAGraphMode, decode_shape, drafter_plan, model_runner


class Attempt(NamedTuple):
    """One backend tried by the selector, and why it was or was not selected."""

    backend: str
    selected: bool
    reason: str


class Selection(NamedTuple):  # not a dataclass: docs/architecture.md, "Rules of the house"
    """The chosen backend, its plan, the trail of backends tried, and every note."""

    backend: GraphBackend
    plan: Plan
    trail: tuple[Attempt, ...]
    chain: tuple[str, ...] = ()
    registered: tuple[str, ...] = ()
    chain_notes: tuple[str, ...] = ()
    shape: DecodeShape = DecodeShape()  # the decode batches the deployment forms
    asked: str | None = None  # the backend the user named first (or enabled, for xlite); None for auto
    drafter: DrafterPlan | None = None  # the speculative-decoding drafter's graphs, if there is one

    @property
    def fell_back(self) -> bool:
        """Whether the backend the user asked for could not serve, so that another one runs."""
        return self.asked is not None and self.asked != self.plan.backend

    @property
    def graphs(self) -> RuntimeGraphs:
        """What vLLM's model runner will capture from the plan, per runtime mode."""
        return runtime_graphs(self.plan.cudagraph_mode, self.plan.capture_sizes, self.shape)

    @property
    def not_reached(self) -> tuple[str, ...]:
        """Backends in the chain after the selected one."""
        return self.chain[len(self.trail):]

    @property
    def not_requested(self) -> tuple[str, ...]:
        """Registered backends outside the chain."""
        return tuple(name for name in self.registered if name not in self.chain)

    @property
    def notes(self) -> tuple[str, ...]:
        return (*self.chain_notes, *self.plan.notes, *(self.drafter.notes if self.drafter else ()))

    def replace(self, **changes: Any) -> Selection:
        return self._replace(**changes)

    def to_dict(self) -> dict[str, Any]:
        plan = self.plan.to_dict()
        return {
            **{k: v for k, v in plan.items() if k != "notes"},
            "graphs": self.graphs.to_dict(),
            "drafter": self.drafter.to_dict() if self.drafter else None,
            "model_runner": self.shape.runner.value,
            "trail": [{"backend": a.backend, "selected": a.selected, "reason": a.reason} for a in self.trail],
            "not_reached": list(self.not_reached),
            "not_requested": list(self.not_requested),
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """One line for logs: choice, mode, and each skipped backend with its reason; a backend asked for
        that fell back is named first."""
        skipped = [f"{a.backend}: {a.reason}" for a in self.trail if not a.selected]
        skipped += [f"{name}: not requested" for name in self.not_requested]
        detail = f" ({'; '.join(skipped)})" if skipped else ""
        choice = self.plan.backend
        if self.fell_back:
            choice = f"{self.asked} was asked for, {choice} runs instead"
        return f"graph backend: {choice}, cudagraph_mode {self.plan.cudagraph_mode.name}{detail}"


def current_environment(assumptions: Assumptions | None = None) -> Environment:
    """The probed environment with `ASCEND_GRAPHS_ASSUME` and then `assumptions` applied."""
    merged = Assumptions.from_environ().merged(assumptions or Assumptions())
    return merged.apply_to_environment(probe_environment())


def select(
    request: GraphRequest | Mapping[str, Any] | None = None,
    *,
    environment: Environment | None = None,
    model: ModelInfo | None = None,
    registry: BackendRegistry | None = None,
) -> Selection:
    """Choose the graph backend for `model` here. `request` may be an `additional_config` dict.

    A backend whose own code fails (options, probe or plan) is skipped with the reason, naming its
    plugin; only bad input (`GraphConfigError`) stops the selection.
    """
    if not isinstance(request, GraphRequest):
        request = GraphRequest.parse(request)
    environment = environment or current_environment()
    model = model or Assumptions.from_environ().apply_to_model(ModelInfo())
    registry = registry or get_registry()

    request, broken, notes = _with_validated_options(request, registry)
    request, platform_notes = _on_platform(request, environment)
    chain, chain_notes = _chain(request, registry, model, environment)
    unrecognised = model.unrecognised_note()
    notes = [*([unrecognised] if unrecognised else []), *platform_notes, *chain_notes, *notes]
    trail: list[Attempt] = []
    for backend in chain:
        reason = broken.get(backend.name)
        if reason is None:
            probe = registry.probe(backend, request, environment, model)
            reason = probe.reason
            if probe.can_serve:
                try:
                    plan = _within_platform(registry.plan(backend, request, environment, model), environment)
                except PluginError as exc:
                    reason = str(exc)
                else:
                    trail.append(Attempt(backend.name, True, reason))
                    names = tuple(b.name for b in chain)
                    asked = names[0] if request.requested_names or request.xlite_graph_config.enabled else None
                    runner = model_runner(environment, backend.name)[0]
                    drafter = drafter_plan(request, environment, model, plan.cudagraph_mode, plan.capture_sizes,
                                           runner)
                    return Selection(backend, plan, tuple(trail), names, tuple(registry.names()), tuple(notes),
                                     decode_shape(request, environment, model, runner), asked, drafter)
        trail.append(Attempt(backend.name, False, reason))
        if not request.graph_fallback:
            raise BackendUnavailableError(
                f"{ROOT}.graph_backend: backend {backend.name!r} cannot serve here: {reason}; "
                f"allowed: a backend that can serve, or {ROOT}.graph_fallback true to fall back"
            )
    tried_text = "; ".join(f"{a.backend}: {a.reason}" for a in trail)
    raise BackendUnavailableError(
        f"{ROOT}.graph_backend: no backend in the chain {[b.name for b in chain]} can serve here ({tried_text}); "
        "allowed: a chain that ends with 'eager'"
    )


def check_named(request: GraphRequest, registry: BackendRegistry | None = None) -> None:
    """Check the backends the user named, and the options given them, against the registered backends,
    probing nothing: the bad input a selection would reject (`GraphConfigError`), for a caller that
    will not select."""
    registry = registry or get_registry()
    _with_validated_options(request, registry)
    _named(request, registry)


def _named(request: GraphRequest, registry: BackendRegistry) -> list[GraphBackend]:
    """The backends `graph_backend` names, in order (none for "auto")."""
    key = f"{ROOT}.graph_backend"
    if isinstance(request.graph_backend, tuple):
        return [registry.get(name, key=f"{key}[{i}]") for i, name in enumerate(request.graph_backend)]
    return [] if request.graph_backend == AUTO else [registry.get(request.graph_backend, key=key)]


def _with_validated_options(
    request: GraphRequest, registry: BackendRegistry
) -> tuple[GraphRequest, dict[str, str], list[str]]:
    """Every backend validates its `graph_backend_options` entry (or its defaults, when none is given).

    Returns the request with the validated options, the backends whose validation failed (with the
    reason: they are skipped) and a note for each of them.
    """
    key = f"{ROOT}.graph_backend_options"
    given = {registry.get(name, key=key, auto=False).name: options
             for name, options in request.graph_backend_options.items()}
    validated: dict[str, Mapping[str, Any]] = {}
    broken: dict[str, str] = {}
    for entry in registry.entries():
        name = entry.backend.name
        try:
            validated[name] = registry.validate_options(entry.backend, given.get(name))
        except PluginError as exc:
            broken[name] = str(exc)
    notes = [f"backend {name!r} cannot be used: {reason}" for name, reason in broken.items()]
    return request.replace(graph_backend_options=validated), broken, notes


def _on_platform(request: GraphRequest, environment: Environment) -> tuple[GraphRequest, list[str]]:
    """Where vLLM's platform captures no graphs (its CPU build), every backend sees mode NONE, as inside vLLM."""
    if environment.captures_graphs:
        return request, []
    why = f"vLLM's {environment.device} platform captures no graphs"
    mode = request.cudagraph_mode or DEFAULT_MODE
    note = why if mode is CUDAGraphMode.NONE else f"cudagraph_mode {mode.name} -> NONE: {why}"
    return request.replace(cudagraph_mode=CUDAGraphMode.NONE), [note]


def _within_platform(plan: Plan, environment: Environment) -> Plan:
    """A plan never asks a platform without static graphs for graphs, whatever its backend planned."""
    if environment.captures_graphs or plan.cudagraph_mode is CUDAGraphMode.NONE:
        return plan
    note = (f"cudagraph_mode {plan.cudagraph_mode.name} -> NONE: vLLM's {environment.device} platform captures "
            "no graphs")
    return plan.replace(cudagraph_mode=CUDAGraphMode.NONE, capture_sizes=(), npugraph_ex=False, static_kernel=False,
                        notes=(*plan.notes, note))


def _chain(
    request: GraphRequest, registry: BackendRegistry, model: ModelInfo, environment: Environment
) -> tuple[list[GraphBackend], list[str]]:
    """The backends to try, in order, and a note on where the chain came from."""
    named = _named(request, registry)
    if isinstance(request.graph_backend, tuple):
        return named, [f"graph_backend lists the chain: {' -> '.join(b.name for b in named)} (no other fallback)"]
    if named:
        starts, notes = [named[0].name], []
    elif request.xlite_graph_config.enabled:
        starts, notes = ["xlite"], ["XliteGraph was asked for by xlite_graph_config.enabled=true"]
    else:
        preferred = registry.preferences(model, environment)
        notes = [f"plugins prefer {', '.join(preferred)} for {model.family} models here"] if preferred else []
        starts = [*preferred, "aclgraph"]

    chain: list[GraphBackend] = []

    def follow(name: str) -> None:
        try:
            backend = registry.get(name)
        except GraphConfigError as exc:
            notes.append(f"fallback {name!r} skipped: {exc}")
            return
        if backend not in chain:
            chain.append(backend)
            for fallback in backend.fallback:
                follow(fallback)

    for start in starts:
        follow(start)
    if request.graph_fallback and len(chain) > 1:
        notes.append(f"fallback chain: {' -> '.join(b.name for b in chain)}")
    return chain, notes
