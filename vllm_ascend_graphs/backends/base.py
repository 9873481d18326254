"""The graph-backend strategy interface that builtin and third-party backends implement."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..config import BACKEND_NAME, GraphRequest, normalise_name
from ..environment import Environment
from ..errors import GraphConfigError
from ..models import ModelInfo
from ..modes import CUDAGraphMode, GraphSettings


@dataclass(frozen=True)
class Probe:
    """Whether a backend can serve a model here, and why (shown to users as is)."""

    can_serve: bool
    reason: str

    @classmethod
    def ok(cls, reason: str) -> Probe:
        return cls(True, reason)

    @classmethod
    def refuse(cls, reason: str) -> Probe:
        return cls(False, reason)


@dataclass(frozen=True)
class Plan:
    """The effective settings a chosen backend runs with; every adjustment is a note."""

    backend: str
    cudagraph_mode: CUDAGraphMode
    npugraph_ex: bool = False
    static_kernel: bool = False
    capture_sizes: tuple[int, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls, backend: str, settings: GraphSettings, *, options: Mapping[str, Any] | None = None, notes: tuple[str, ...] = ()
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
    """A graph path: probes whether it can serve, then plans its effective settings.

    Subclasses set `name` (case-insensitive, stored lower-case), optional `aliases`, a one-line
    `description`, and `fallback`: the backends tried next when this one cannot serve and the
    user named it alone.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    fallback: ClassVar[tuple[str, ...]] = ("eager",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            cls.name = _checked_name(cls, cls.name)
        cls.aliases = tuple(_checked_name(cls, alias) for alias in cls.aliases)
        cls.fallback = tuple(normalise_name(f) for f in cls.fallback)

    @abc.abstractmethod
    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        """Can this backend serve `model` here? Cheap, no side effects; never imports torch off an NPU."""

    @abc.abstractmethod
    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        """The effective settings, called only after a successful probe."""

    def validate_options(self, options: Mapping[str, Any]) -> Mapping[str, Any]:
        """Check `additional_config.graph_backend_options.<name>`; this default accepts none."""
        if options:
            raise GraphConfigError(
                f"additional_config.graph_backend_options.{self.name}: got keys {sorted(map(str, options))}; "
                f"allowed: none (backend {self.name!r} takes no options)"
            )
        return {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _checked_name(cls: type, name: object) -> str:
    if not isinstance(name, str) or not BACKEND_NAME.match(normalise_name(name)) or normalise_name(name) == "auto":
        raise TypeError(
            f"{cls.__qualname__}: backend name {name!r} is invalid; allowed: letters, digits, '_', '-', '.' "
            "(case-insensitive, not 'auto')"
        )
    return normalise_name(name)
