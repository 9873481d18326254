"""The backend registry: builtins and entry-point plugins, each plugin loaded in isolation.

A plugin that fails to import, whose hook raises, or that returns something other than backends
is recorded and skipped with one warning; asking for its backend later reports that failure.
Two providers claiming one name is an error naming both.
"""

from __future__ import annotations

import logging
import os
import threading
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType


import pluggy

from .. import distributions
from ..backends.base import GraphBackend
from ..config import AUTO, normalise_name
from ..distributions import EntryPoint
from ..environment import Environment
from ..errors import BackendConflictError, GraphConfigError, did_you_mean
from ..models import ModelInfo
from . import specs

ALLOW_LIST_VAR = "VLLM_ASCEND_GRAPHS_PLUGINS"
logger = logging.getLogger("vllm_ascend_graphs")


@dataclass(frozen=True)
class Origin:
    """Who provided a backend: the builtins, or an entry point of an installed distribution."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        if self.distribution is None:
            return self.plugin
        return f"{self.distribution} {self.version} (entry point {self.plugin!r})"


BUILTIN = Origin("builtin")


@dataclass(frozen=True)
class PluginFailure:
    origin: Origin
    error: str
    traceback: str


@dataclass(frozen=True)
class Registered:
    backend: GraphBackend
    origin: Origin


class BackendRegistry:
    """Backends by name. `entry_points` and `allow` are injectable so tests see no installed plugin."""

    def __init__(self, entry_points: Iterable[EntryPoint] | None = None, allow: str | None = None):
        self._entry_points = entry_points
        self._allow = os.environ.get(ALLOW_LIST_VAR) if allow is None and entry_points is None else allow
        self._pm = pluggy.PluginManager(specs.PROJECT)
        self._pm.add_hookspecs(specs)
        self._by_name: dict[str, Registered] = {}
        self._aliases: dict[str, str] = {}
        self.failures: dict[str, PluginFailure] = {}
        self._loaded = False

    def load(self) -> BackendRegistry:
        """Register the builtins, then every allowed entry point. A second call does nothing."""
        if self._loaded:
            return self
        from ..backends import builtin

        self._register(builtin, BUILTIN, isolate=False)
        for entry_point in self._discover():
            self._load_entry_point(entry_point)
        self._loaded = True
        return self

    def register(self, plugin: ModuleType | object, name: str) -> None:
        """Register a plugin object directly (tests, embedding applications)."""
        self._register(plugin, Origin(name), isolate=True)

    # -- lookup -------------------------------------------------------------------------------

    def get(self, name: str, key: str = "additional_config.graph_backend") -> GraphBackend:
        """The backend called `name` (or an alias); errors say what is allowed or what failed."""
        wanted = normalise_name(name)
        canonical = self._aliases.get(wanted, wanted)
        if canonical in self._by_name:
            return self._by_name[canonical].backend
        failure = self.failures.get(wanted)
        if failure:
            raise GraphConfigError(
                f"{key}: backend {name!r} comes from plugin {failure.origin}, which failed to load: {failure.error}"
            )
        choices = [AUTO, *self.names()]
        broken = f" (plugins that failed to load: {', '.join(self.failures)})" if self.failures else ""
        raise GraphConfigError(
            f"{key}: unknown graph backend {name!r};{did_you_mean(wanted, [*choices, *self._aliases])} "
            f"allowed: {', '.join(choices)}{broken}"
        )

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def entries(self) -> list[Registered]:
        return [self._by_name[n] for n in self.names()]

    def origin(self, name: str) -> Origin:
        return self._by_name[self.get(name).name].origin

    def preferences(self, model: ModelInfo, environment: Environment) -> list[str]:
        """Backends plugins prefer for this model and environment, in registration order."""
        preferred: list[str] = []
        for impl in self._pm.hook.graph_backend_preference.get_hookimpls():
            arguments = {"model": model, "environment": environment}
            try:
                choice = impl.function(*(arguments[a] for a in impl.argnames))
            except Exception as exc:  # a broken plugin never takes the host down
                logger.warning("graph backend plugin %r: graph_backend_preference raised %s; ignored",
                               impl.plugin_name, _one_line(exc))
                logger.debug("traceback:\n%s", traceback.format_exc())
                continue
            if choice is None:
                continue
            if not isinstance(choice, str) or normalise_name(self._aliases.get(normalise_name(choice), choice)) not in self._by_name:
                logger.warning("graph backend plugin %r prefers %r, which is not a registered backend; ignored",
                               impl.plugin_name, choice)
                continue
            preferred.append(self.get(choice).name)
        return preferred

    # -- loading ------------------------------------------------------------------------------

    def _discover(self) -> list[EntryPoint]:
        found = self._entry_points
        if found is None:
            found = distributions.entry_points(specs.ENTRY_POINT_GROUP)
        unique = {(ep.name, ep.value): ep for ep in found}.values()
        if self._allow is None:
            return list(unique)
        allowed = {normalise_name(n) for n in self._allow.split(",") if n.strip()}
        return [ep for ep in unique if normalise_name(ep.name) in allowed]

    def _load_entry_point(self, entry_point: EntryPoint) -> None:
        origin = Origin(normalise_name(entry_point.name), entry_point.dist.name, entry_point.dist.version)
        try:
            plugin = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's, not ours
            self._fail(origin, exc)
            return
        self._register(plugin, origin, isolate=True)

    def _register(self, plugin: object, origin: Origin, *, isolate: bool) -> None:
        try:
            self._pm.register(plugin, name=origin.plugin)
            self._pm.check_pending()
            if not self._pm.get_hookcallers(plugin):
                raise TypeError("it implements no hook; mark its functions with @vllm_ascend_graphs.hookimpl")
            backends = self._collect(plugin)
        except Exception as exc:
            if not isolate:
                raise
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            self._fail(origin, exc)
            return
        for backend in backends:
            self._claim(backend, origin)

    def _collect(self, plugin: object) -> list[GraphBackend]:
        backends: list[GraphBackend] = []
        for impl in self._pm.hook.graph_backends.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            returned = impl.function()
            items = returned if isinstance(returned, (list, tuple)) else [returned]
            for item in items:
                if not isinstance(item, GraphBackend):
                    raise TypeError(f"graph_backends() returned {item!r}, which is not a GraphBackend instance")
                backends.append(item)
        return backends

    def _claim(self, backend: GraphBackend, origin: Origin) -> None:
        for claimed in (backend.name, *backend.aliases):
            holder = self._by_name.get(self._aliases.get(claimed, claimed))
            if holder is not None and holder.backend is not backend:
                raise BackendConflictError(
                    f"graph backend name {claimed!r} is claimed by both {holder.origin} and {origin}; "
                    f"uninstall one, or leave one out with {ALLOW_LIST_VAR}"
                )
        self._by_name[backend.name] = Registered(backend, origin)
        self._aliases.update({alias: backend.name for alias in backend.aliases})

    def _fail(self, origin: Origin, exc: BaseException) -> None:
        self.failures[origin.plugin] = PluginFailure(origin, _one_line(exc), traceback.format_exc())
        logger.warning("graph backend plugin %s failed to load and is skipped: %s (debug logging shows the traceback)",
                       origin, _one_line(exc))
        logger.debug("traceback of plugin %s:\n%s", origin, self.failures[origin.plugin].traceback)


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


_default: BackendRegistry | None = None
_lock = threading.Lock()


def get_registry() -> BackendRegistry:
    """The process-wide registry, loaded once (vLLM loads plugins in several processes)."""
    global _default
    with _lock:
        if _default is None:
            _default = BackendRegistry().load()
        return _default


def reset_registry(registry: BackendRegistry | None = None) -> None:
    """Replace the process-wide registry (tests); `None` makes the next call load afresh."""
    global _default
    with _lock:
        _default = registry
