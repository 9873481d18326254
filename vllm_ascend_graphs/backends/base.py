"""The graph-backend strategy interface that builtin and third-party backends implement."""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ..enums import CUDAGraphMode
from ..errors import GraphConfigError, show
from ..probes.environment import Environment
from ..rules.config import BACKEND_NAME, GraphRequest, normalise_name
from ..rules.models import ModelInfo
from ..rules.modes import GraphSettings

if TYPE_CHECKING:
    from ..runtime.devices import DeviceGraphs, Recording


class Probe(NamedTuple):
    """Whether a backend can serve a model here, and why (shown to users as is)."""

    can_serve: bool
    reason: str

    @classmethod
    def ok(cls, reason: str) -> Probe:
        return cls(True, reason)

    @classmethod
    def refuse(cls, reason: str) -> Probe:
        return cls(False, reason)


class Plan(NamedTuple):  # not a dataclass: docs/architecture.md, "Rules of the house"
    """The effective settings a chosen backend runs with; every adjustment is a note."""

    backend: str
    cudagraph_mode: CUDAGraphMode
    npugraph_ex: bool = False
    static_kernel: bool = False
    capture_sizes: tuple[int, ...] = ()
    options: Mapping[str, Any] = MappingProxyType({})
    notes: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls, backend: str, settings: GraphSettings, *, options: Mapping[str, Any] | None = None,
        notes: tuple[str, ...] = (),
    ) -> Plan:
        return cls(
            backend=backend,
            cudagraph_mode=settings.cudagraph_mode,
            npugraph_ex=settings.npugraph_ex,
            static_kernel=settings.static_kernel,
            capture_sizes=settings.capture_sizes,
            options=dict(options or {}),
            notes=(*notes, *settings.notes),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        """The inverse of `to_dict` (extra keys, such as a selection's trail, are ignored)."""
        return cls(
            backend=str(data["backend"]),
            cudagraph_mode=CUDAGraphMode.parse(data["cudagraph_mode"], "plan.cudagraph_mode"),
            npugraph_ex=bool(data["npugraph_ex"]),
            static_kernel=bool(data["static_kernel"]),
            capture_sizes=tuple(int(size) for size in data["capture_sizes"]),
            options=dict(data.get("options") or {}),
            notes=tuple(str(note) for note in data.get("notes") or ()),
        )

    def replace(self, **changes: Any) -> Plan:
        return self._replace(**changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable form (it travels inside vLLM's `additional_config`)."""
        return {
            "backend": self.backend,
            "cudagraph_mode": self.cudagraph_mode.name,
            "npugraph_ex": self.npugraph_ex,
            "static_kernel": self.static_kernel,
            "capture_sizes": list(self.capture_sizes),
            "options": dict(self.options),
            "notes": list(self.notes),
        }


class GraphBackend(abc.ABC):
    """A graph path: probes whether it can serve and plans its settings (selection), then compiles,
    captures and replays (run time).

    Subclasses set `name` (case-insensitive, stored lower-case), optional `aliases`, a one-line
    `description`, `fallback`: the backends tried next when this one cannot serve and the user
    named it alone, `device`: the `runtime.devices` graph API it captures on, and `assumes`: the
    facts of the environment its plans depend on (`environment.PLAN_FACTS`), which a plan records
    so that a vLLM worker whose own facts differ refuses to start with it. The run-time defaults
    are eager: compile returns the module unchanged and nothing is captured, so a backend that
    implements only selection is safe to run.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    fallback: ClassVar[tuple[str, ...]] = ("eager",)
    device: ClassVar[str | None] = None
    assumes: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            cls.name = checked_name(cls, cls.name)
        cls.aliases = tuple(checked_name(cls, alias) for alias in cls.aliases)
        cls.fallback = tuple(normalise_name(f) for f in cls.fallback)

    @abc.abstractmethod
    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        """Can this backend serve `model` here? Cheap, no side effects; never imports torch off an NPU."""

    @abc.abstractmethod
    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        """The effective settings, called only after a successful probe."""

    def validate_options(self, options: Mapping[str, Any]) -> Mapping[str, Any]:
        """Check `additional_config.graph_backend_options.<name>` and return it with defaults filled in.

        Called for every registered backend on every selection (with `{}` when the user gave
        none); `plan` reads the result from `request.graph_backend_options[self.name]`. Raise
        `GraphConfigError` naming the key for bad options. This default accepts none.
        """
        if options:
            raise GraphConfigError(
                f"additional_config.graph_backend_options.{self.name}: got keys {sorted(map(str, options))}; "
                f"allowed: none (backend {self.name!r} takes no options)"
            )
        return {}

    # -- run time -----------------------------------------------------------------------------

    def compile(self, graph_module: Callable[..., Any], example_inputs: Sequence[Any],
                plan: Plan) -> Callable[..., Any]:
        """Compile-time stage on an FX graph module: returns the callable to capture."""
        return graph_module

    def capture(self, graphs: DeviceGraphs, fn: Callable[..., Any], static_inputs: Sequence[Any], *,
                pool: object, mode: CUDAGraphMode) -> Recording | None:
        """Record `fn(*static_inputs)` into one graph of `pool` for a batch key run in `mode` (FULL or
        PIECEWISE). None: nothing captured, and the runner calls `fn` eagerly for that key."""
        return None

    def replay(self, graphs: DeviceGraphs, recording: Recording, mode: CUDAGraphMode) -> None:
        """Run one captured graph; it rewrites `recording.outputs`."""
        recording.graph.replay()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def checked_name(cls: type, name: object) -> str:
    if not isinstance(name, str) or not BACKEND_NAME.match(normalise_name(name)) or normalise_name(name) == "auto":
        raise TypeError(
            f"{cls.__qualname__}: backend name {show(name)} is invalid; allowed: letters, digits, '_', '-', '.' "
            "(case-insensitive, not 'auto')"
        )
    return normalise_name(name)
