"""The backend registry: loads the builtins and the entry-point plugins, serves backends by name, and
says why any plugin or backend is left out.

Whatever one plugin does wrong leaves out only that plugin, or that one backend, with its origin
and the reason, and the host goes on with the rest: an import that fails (even with `SystemExit`),
a hook that raises, a returned object that is not a valid backend (`checks`), or a name it cannot
hold (`names`, settled once after loading). Entry points left out by `ASCEND_GRAPHS_PLUGINS` are
listed as disabled (`discovery`). The selector calls backends through the registry (`calls`), so
that a backend failing there is a refusal with a reason.
"""

from __future__ import annotations

import _thread  # its lock is threading.Lock, without importing `threading` on the decision path
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, NamedTuple

import pluggy

from ..backends.base import GraphBackend, Plan, Probe
from ..errors import GraphConfigError, did_you_mean, one_line, show
from ..probes.distributions import EntryPoint
from ..probes.environment import Environment
from ..rules.config import AUTO, GraphRequest, normalise_name
from ..rules.models import ModelInfo
from . import calls, specs
from .checks import checked_backend, names_of, returned_items, valid_name_of
from .discovery import ALLOW_LIST_VAR, BUILTIN, Origin, allow_list_from_environ, discover, origin_of
from .isolation import PLUGIN_ERRORS, Deadlines, current_traceback, logger, output_to_stderr
from .names import Claim, Settled, settle

FAILED, CONFLICT, DISABLED = "failed", "conflict", "disabled"


class LeftOut(NamedTuple):
    """A plugin, or one backend of a plugin, that the registry does not serve, and why."""

    name: str  # the backend's name when known, else the entry point's
    origin: Origin
    status: str  # FAILED, CONFLICT or DISABLED
    reason: str  # one line
    traceback: str = ""  # for FAILED: shown by `-v` and at DEBUG level


class Registered(NamedTuple):
    backend: GraphBackend
    origin: Origin


class BackendRegistry:
    """Backends by name. `entry_points` and `allow` are injectable so tests see no installed plugin."""

    def __init__(self, entry_points: Iterable[EntryPoint] | None = None, allow: str | None = None):
        self._entry_points = entry_points
        self._allow = allow_list_from_environ() if allow is None and entry_points is None else allow
        self._pm = pluggy.PluginManager(specs.PROJECT)
        self._pm.add_hookspecs(specs)
        self._origins: dict[str, Origin] = {}  # by pluggy plugin name
        self._builtins: list[Claim] = []
        self._claims: list[Claim] = []  # every plugin backend that passed its checks, in load order
        self._settled = Settled({}, {}, [], [])
        self._reported: set[tuple[int, ...]] = set()  # refusals and clashes already warned about
        self._failures: list[LeftOut] = []  # FAILED and DISABLED, as they happen
        self._deadlines = Deadlines()
        self._loaded = False

    def load(self) -> BackendRegistry:
        """Register the builtins, then every allowed entry point, then settle the names. A second call
        does nothing."""
        if self._loaded:
            return self
        from . import builtins

        self._register(builtins, BUILTIN, isolate=False)
        for entry_point, allowed in discover(self._entry_points, self._allow):
            if allowed:
                self._load_entry_point(entry_point)
            else:
                self._failures.append(LeftOut(normalise_name(entry_point.name), origin_of(entry_point), DISABLED,
                                              f"not in {ALLOW_LIST_VAR}={self._allow!r}"))
        self._settle()
        self._loaded = True
        return self

    def register(self, plugin: ModuleType | object, name: str) -> None:
        """Register a plugin object directly (tests, embedding applications), isolated as an entry point is."""
        self._register(plugin, Origin(name), isolate=True)
        self._settle()

    @property
    def left_out(self) -> list[LeftOut]:
        """Every plugin or backend not served: failures and disabled entry points, then name conflicts."""
        conflicts = [LeftOut(claim.backend.name, claim.origin, CONFLICT, reason)
                     for claim, reason in self._settled.refused]
        conflicts += [LeftOut(claim.backend.name, claim.origin, CONFLICT, clash.reason_for(claim))
                      for clash in self._settled.clashes for claim in clash.claimants]
        return [*self._failures, *conflicts]

    # -- lookup -------------------------------------------------------------------------------

    def get(self, name: str, key: str = "additional_config.graph_backend", *, auto: bool = True) -> GraphBackend:
        """The backend called `name` (or an alias); errors say what is allowed, or why it is left out.

        `auto`: whether "auto" is a valid answer where `key` is used (not among backend options).
        """
        wanted = normalise_name(name)
        canonical = self._settled.aliases.get(wanted, wanted)
        if canonical in self._settled.served:
            return self._settled.served[canonical].backend
        clash = self._settled.clash_of(wanted)
        if clash is not None:
            raise GraphConfigError(f"{key}: backend {show(name)} is left out: {clash.text()}; allowed: uninstall all "
                                   f"but one, or leave the others out with {ALLOW_LIST_VAR}")
        for entry in self.left_out:
            if entry.name == wanted:
                raise GraphConfigError(f"{key}: backend {show(name)} {_why_left_out(entry)}")
        choices = [AUTO, *self.names()] if auto else self.names()
        if wanted == AUTO:
            raise GraphConfigError(f"{key}: 'auto' is not a backend here; allowed: {', '.join(choices)}")
        raise GraphConfigError(
            f"{key}: unknown graph backend {show(name)};{did_you_mean(wanted, [*choices, *self._settled.aliases])} "
            f"allowed: {', '.join(choices)}{self._left_out_summary()}"
        )

    def names(self) -> list[str]:
        return sorted(self._settled.served)

    def entries(self) -> list[Registered]:
        return [Registered(claim.backend, claim.origin) for claim in map(self._settled.served.get, self.names())
                if claim is not None]

    def origin(self, name: str) -> Origin:
        return self._settled.served[self.get(name).name].origin

    def preferences(self, model: ModelInfo, environment: Environment) -> list[str]:
        """Backends plugins prefer for this model and environment, in registration order."""
        preferred: list[str] = []
        for impl in self._pm.hook.graph_backend_preference.get_hookimpls():
            origin = self._origins[impl.plugin_name]  # every plugin comes in through _register, which records it
            arguments = {"model": model, "environment": environment}
            try:
                with output_to_stderr():
                    choice = impl.function(*(arguments[a] for a in impl.argnames))
            except PLUGIN_ERRORS as exc:  # a broken plugin never takes the host down
                logger().warning("graph backend plugin %s: graph_backend_preference raised %s; ignored",
                                 origin, one_line(exc))
                logger().debug("traceback:\n%s", current_traceback())
                continue
            if choice is None:
                continue
            if not isinstance(choice, str) or self._settled.aliases.get(
                    normalise_name(choice), normalise_name(choice)) not in self._settled.served:
                logger().warning("graph backend plugin %s prefers %s, which is not a registered backend; ignored",
                                 origin, show(choice))
                continue
            preferred.append(self.get(choice).name)
        return preferred

    # -- calling backends for the selector, isolated (see `calls`) ----------------------------

    def probe(self, backend: GraphBackend, request: GraphRequest, environment: Environment,
              model: ModelInfo) -> Probe:
        return calls.probe(backend, self._origin_of(backend), self._deadlines, request, environment, model)

    def plan(self, backend: GraphBackend, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        return calls.plan(backend, self._origin_of(backend), request, environment, model)

    def validate_options(self, backend: GraphBackend, options: Mapping[str, Any] | None) -> Mapping[str, Any]:
        return calls.validate_options(backend, self._origin_of(backend), options)

    def _origin_of(self, backend: GraphBackend) -> Origin:
        claim = self._settled.served.get(backend.name)
        return claim.origin if claim is not None and claim.backend is backend else Origin("unregistered")

    # -- loading ------------------------------------------------------------------------------

    def _load_entry_point(self, entry_point: EntryPoint) -> None:
        origin = origin_of(entry_point)
        try:
            with output_to_stderr():
                plugin = entry_point.load()
        except PLUGIN_ERRORS as exc:  # any failure at import is the plugin's, not ours
            self._fail(origin.plugin, origin, exc)
            return
        self._register(plugin, origin, isolate=True)

    def _register(self, plugin: object, origin: Origin, *, isolate: bool) -> None:
        """Register `plugin` with pluggy and keep each valid backend it returns as a claim on its names."""
        try:
            with output_to_stderr():
                self._pm.register(plugin, name=origin.plugin)
                self._origins[origin.plugin] = origin
                self._pm.check_pending()
                if not self._pm.get_hookcallers(plugin):
                    raise TypeError("it implements no hook; mark its functions with @vllm_ascend_graphs.hookimpl")
                returned = [item for impl in self._pm.hook.graph_backends.get_hookimpls() if impl.plugin is plugin
                            for item in returned_items(impl.function())]
        except PLUGIN_ERRORS as exc:
            if not isolate:
                raise
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            self._fail(origin.plugin, origin, exc)
            return
        for item in returned:
            try:
                backend = checked_backend(item)
            except PLUGIN_ERRORS as exc:  # a bad object is left out alone
                if not isolate:
                    raise
                self._fail(valid_name_of(item) or origin.plugin, origin, exc)
                continue
            claim = Claim(backend, origin, names_of(backend))
            (self._claims if isolate else self._builtins).append(claim)

    def _settle(self) -> None:
        """Settle who holds each name; warn once about each refusal and each clash."""
        self._settled = settle(self._builtins, self._claims)
        for claim, reason in self._settled.refused:
            if self._first_report(claim):
                self._warn_left_out(claim.backend.name, claim.origin, reason)
        for clash in self._settled.clashes:
            if self._first_report(*clash.claimants):
                logger().warning("graph backend plugins clash: %s; allowed: uninstall all but one, or leave the "
                                 "others out with %s", clash.text(), ALLOW_LIST_VAR)

    def _first_report(self, *claims: Claim) -> bool:
        key = tuple(id(claim.backend) for claim in claims)
        first = key not in self._reported
        self._reported.add(key)
        return first

    def _fail(self, name: str, origin: Origin, exc: BaseException) -> None:
        trace = current_traceback()
        self._failures.append(LeftOut(name, origin, FAILED, one_line(exc), trace))
        self._warn_left_out(name, origin, one_line(exc), trace)

    def _warn_left_out(self, name: str, origin: Origin, reason: str, trace: str = "") -> None:
        subject = (f"graph backend plugin {origin}" if name == origin.plugin
                   else f"graph backend {name!r} of plugin {origin}")
        failed = " failed to load and" if trace else ""
        logger().warning("%s%s is left out: %s%s", subject, failed, reason,
                         " (-v or debug logging shows the traceback)" if trace else "")
        if trace:
            logger().debug("traceback of plugin %s:\n%s", origin, trace)

    def _left_out_summary(self) -> str:
        """What an unknown-name error adds: the plugins that failed, clashed, or were left out."""
        parts = []
        failed = [e.name for e in self.left_out if e.status != DISABLED]
        if failed:
            parts.append(f"left out because they failed or clash: {', '.join(failed)}")
        disabled = [e.name for e in self.left_out if e.status == DISABLED]
        if disabled:
            parts.append(f"installed but not in {ALLOW_LIST_VAR}: {', '.join(disabled)}")
        return f" ({'; '.join(parts)})" if parts else ""


def _why_left_out(entry: LeftOut) -> str:
    """The end of a one-line error for a backend that is left out: why, and what to do."""
    if entry.status == DISABLED:
        return (f"comes from plugin {entry.origin}, which is disabled ({entry.reason}); "
                f"allowed: add {entry.name!r} to {ALLOW_LIST_VAR}")
    if entry.status == CONFLICT:
        return f"from plugin {entry.origin} is left out: {entry.reason}; allowed: uninstall one of the plugins"
    return (f"comes from plugin {entry.origin}, which failed to load: {entry.reason}; "
            "allowed: fix or uninstall the plugin (-v shows the traceback)")


_default: BackendRegistry | None = None
_lock = _thread.allocate_lock()


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
