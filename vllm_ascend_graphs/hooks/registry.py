"""The backend registry: builtins and entry-point plugins, each plugin and each backend in isolation.

Whatever one plugin does wrong marks only that plugin, or that one backend, as left out, with
its origin and the reason, and the host goes on with the rest: an import that fails (even with
`SystemExit`), a hook that raises, a return value that is not a backend, a backend whose `name`
or other class attributes are missing or bad, or a name another backend claims too. Builtins
keep their names: a plugin backend that claims one is left out. Two plugin backends that claim
one name both lose it, and asking for it is an error naming both. Entry points left out by
`ASCEND_GRAPHS_PLUGINS` are listed as disabled.

The registry also calls backends for the selector (`probe`, `plan`, `validate_options`), so that
a backend failing there is a refusal with a reason, never a crash; see `isolation`.
"""

from __future__ import annotations

import _thread  # its lock is threading.Lock, without importing `threading` on the decision path
import contextlib
import os
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, NamedTuple

import pluggy

from ..probes import distributions
from ..backends.base import GraphBackend, Plan, Probe, checked_name
from ..rules.config import AUTO, GraphRequest, normalise_name
from ..probes.distributions import EntryPoint
from ..probes.environment import Environment
from ..errors import GraphConfigError, did_you_mean, show
from ..rules.models import ModelInfo
from . import specs
from .isolation import PLUGIN_ERRORS, PROBE_TIMEOUT_VAR, Deadlines, PluginError, logger, one_line, output_to_stderr, \
    probe_timeout

ALLOW_LIST_VAR = "ASCEND_GRAPHS_PLUGINS"
FAILED, CONFLICT, DISABLED = "failed", "conflict", "disabled"


class Origin(NamedTuple):
    """Who provided a backend: the builtins, or an entry point of an installed distribution."""

    plugin: str
    distribution: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        if self.distribution is None:
            return self.plugin
        return f"{self.distribution} {self.version} (entry point {self.plugin!r})"


BUILTIN = Origin("builtin")


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
        self._allow = os.environ.get(ALLOW_LIST_VAR) if allow is None and entry_points is None else allow
        self._pm = pluggy.PluginManager(specs.PROJECT)
        self._pm.add_hookspecs(specs)
        self._by_name: dict[str, Registered] = {}
        self._aliases: dict[str, str] = {}
        self._origins: dict[str, Origin] = {}  # by pluggy plugin name
        self._lost: dict[str, str] = {}  # every name of a backend lost in a clash -> the name that clashed
        self._claimants: dict[str, list[tuple[str, Origin]]] = {}  # clashed name -> (backend, origin) of each
        self._deadlines = Deadlines()
        self.left_out: list[LeftOut] = []
        self._loaded = False

    def load(self) -> BackendRegistry:
        """Register the builtins, then every allowed entry point. A second call does nothing."""
        if self._loaded:
            return self
        from . import builtins as builtin

        self._register(builtin, BUILTIN, isolate=False)
        for entry_point, allowed in self._discover():
            if allowed:
                self._load_entry_point(entry_point)
            else:
                self.left_out.append(LeftOut(normalise_name(entry_point.name), _origin(entry_point), DISABLED,
                                             f"not in {ALLOW_LIST_VAR}={self._allow!r}"))
        self._loaded = True
        return self

    def register(self, plugin: ModuleType | object, name: str) -> None:
        """Register a plugin object directly (tests, embedding applications), isolated as an entry point is."""
        self._register(plugin, Origin(name), isolate=True)

    # -- lookup -------------------------------------------------------------------------------

    def get(self, name: str, key: str = "additional_config.graph_backend", *, auto: bool = True) -> GraphBackend:
        """The backend called `name` (or an alias); errors say what is allowed, or why it is left out.

        `auto`: whether "auto" is a valid answer where `key` is used (not among backend options).
        """
        wanted = normalise_name(name)
        canonical = self._aliases.get(wanted, wanted)
        if canonical in self._by_name:
            return self._by_name[canonical].backend
        if wanted in self._lost:
            clashed = self._lost[wanted]
            claimants = " and ".join(f"backend {b!r} from {o}" for b, o in self._claimants[clashed])
            raise GraphConfigError(
                f"{key}: backend {show(name)} is left out: the name {clashed!r} is claimed by {claimants}, so none of "
                f"them is loaded; allowed: uninstall all but one, or leave the others out with {ALLOW_LIST_VAR}"
            )
        for entry in self.left_out:
            if entry.name == wanted:
                raise GraphConfigError(f"{key}: backend {show(name)} {_why_left_out(entry)}")
        choices = [AUTO, *self.names()] if auto else self.names()
        if wanted == AUTO:
            raise GraphConfigError(f"{key}: 'auto' is not a backend here; allowed: {', '.join(choices)}")
        raise GraphConfigError(
            f"{key}: unknown graph backend {show(name)};{did_you_mean(wanted, [*choices, *self._aliases])} "
            f"allowed: {', '.join(choices)}{self._left_out_summary()}"
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
            origin = self._origins[impl.plugin_name]  # every plugin comes in through _register, which records it
            arguments = {"model": model, "environment": environment}
            try:
                with output_to_stderr():
                    choice = impl.function(*(arguments[a] for a in impl.argnames))
            except PLUGIN_ERRORS as exc:  # a broken plugin never takes the host down
                logger().warning("graph backend plugin %s: graph_backend_preference raised %s; ignored",
                                 origin, one_line(exc))
                logger().debug("traceback:\n%s", _traceback())
                continue
            if choice is None:
                continue
            if not isinstance(choice, str) or self._aliases.get(normalise_name(choice),
                                                                normalise_name(choice)) not in self._by_name:
                logger().warning("graph backend plugin %s prefers %s, which is not a registered backend; ignored",
                                 origin, show(choice))
                continue
            preferred.append(self.get(choice).name)
        return preferred

    # -- calling backends for the selector, isolated --------------------------------------------

    def probe(self, backend: GraphBackend, request: GraphRequest, environment: Environment,
              model: ModelInfo) -> Probe:
        """`backend.probe(...)`, or a refusal saying what went wrong: an exception, a value that is not a
        `Probe`, or, for a plugin's backend, no answer within `ASCEND_GRAPHS_PROBE_TIMEOUT` seconds.
        A `GraphConfigError` is bad input and reaches the caller."""
        origin = self._origin_of(backend)
        try:
            if origin is BUILTIN:  # builtin probes only read their arguments, and print nothing
                probe = backend.probe(request, environment, model)
            else:
                with output_to_stderr():
                    probe = self._deadlines.call(backend, lambda: backend.probe(request, environment, model),
                                                 probe_timeout())
        except GraphConfigError:
            raise
        except TimeoutError as exc:
            return Probe.refuse(f"{exc} ({PROBE_TIMEOUT_VAR}), so it counts as refusing{_by(origin)}")
        except PLUGIN_ERRORS as exc:
            logger().debug("probe of %s raised:\n%s", backend.name, _traceback())
            return Probe.refuse(f"its probe raised {one_line(exc)}{_by(origin)}")
        if not isinstance(probe, Probe):
            return Probe.refuse(f"its probe returned {show(probe)}, not a Probe{_by(origin)}")
        return probe

    def plan(self, backend: GraphBackend, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        """`backend.plan(...)`; anything but a `Plan` or a `GraphConfigError` is a `PluginError`."""
        origin = self._origin_of(backend)
        try:
            with _quiet(origin):
                plan = backend.plan(request, environment, model)
        except GraphConfigError:
            raise
        except PLUGIN_ERRORS as exc:
            logger().debug("plan of %s raised:\n%s", backend.name, _traceback())
            raise PluginError(f"its plan raised {one_line(exc)}{_by(origin)}") from exc
        if not isinstance(plan, Plan):
            raise PluginError(f"its plan returned {show(plan)}, not a Plan{_by(origin)}")
        return plan

    def validate_options(self, backend: GraphBackend, options: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """`backend.validate_options(options or {})`. A `GraphConfigError` about options the user gave
        reaches the caller; any other failure, or any failure on the defaults, is a `PluginError`."""
        origin = self._origin_of(backend)
        try:
            with _quiet(origin):
                validated = backend.validate_options({} if options is None else options)
        except GraphConfigError:
            if options is not None:
                raise
            logger().debug("validate_options of %s raised:\n%s", backend.name, _traceback())
            raise PluginError(f"its validate_options rejected its own defaults ({{}}){_by(origin)}") from None
        except PLUGIN_ERRORS as exc:
            logger().debug("validate_options of %s raised:\n%s", backend.name, _traceback())
            raise PluginError(f"its validate_options raised {one_line(exc)}{_by(origin)}") from exc
        if not isinstance(validated, Mapping):
            raise PluginError(f"its validate_options returned {show(validated)}, not a mapping{_by(origin)}")
        return validated

    def _origin_of(self, backend: GraphBackend) -> Origin:
        registered = self._by_name.get(backend.name)
        return registered.origin if registered is not None and registered.backend is backend else Origin("unregistered")

    # -- loading ------------------------------------------------------------------------------

    def _discover(self) -> list[tuple[EntryPoint, bool]]:
        """Each entry point of our group once, with whether the allow-list lets it load."""
        found = self._entry_points
        if found is None:
            found = distributions.entry_points(specs.ENTRY_POINT_GROUP)
        unique = list({(ep.name, ep.value): ep for ep in found}.values())
        if self._allow is None:
            return [(ep, True) for ep in unique]
        allowed = {normalise_name(n) for n in self._allow.split(",") if n.strip()}
        unknown = sorted(allowed - {normalise_name(ep.name) for ep in unique})
        if unknown:
            installed = ", ".join(sorted(normalise_name(ep.name) for ep in unique)) or "none"
            logger().warning("%s names %s, which no installed plugin provides (installed entry points: %s)",
                             ALLOW_LIST_VAR, ", ".join(map(repr, unknown)), installed)
        return [(ep, normalise_name(ep.name) in allowed) for ep in unique]

    def _load_entry_point(self, entry_point: EntryPoint) -> None:
        origin = _origin(entry_point)
        try:
            with output_to_stderr():
                plugin = entry_point.load()
        except PLUGIN_ERRORS as exc:  # any failure at import is the plugin's, not ours
            self._fail(origin.plugin, origin, exc)
            return
        self._register(plugin, origin, isolate=True)

    def _register(self, plugin: object, origin: Origin, *, isolate: bool) -> None:
        try:
            with output_to_stderr():
                self._pm.register(plugin, name=origin.plugin)
                self._origins[origin.plugin] = origin
                self._pm.check_pending()
                if not self._pm.get_hookcallers(plugin):
                    raise TypeError("it implements no hook; mark its functions with @vllm_ascend_graphs.hookimpl")
                returned = [item for impl in self._pm.hook.graph_backends.get_hookimpls() if impl.plugin is plugin
                            for item in _items(impl.function())]
        except PLUGIN_ERRORS as exc:
            if not isolate:
                raise
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            self._fail(origin.plugin, origin, exc)
            return
        for item in returned:
            self._add(item, origin, isolate=isolate)

    def _add(self, item: object, origin: Origin, *, isolate: bool) -> None:
        """Check one returned backend and claim its names; a bad one is left out alone."""
        try:
            backend, names = _checked_backend(item)
        except PLUGIN_ERRORS as exc:
            if not isolate:
                raise
            self._fail(_name_of(item) or origin.plugin, origin, exc)
            return
        self._claim(backend, names, origin)

    def _claim(self, backend: GraphBackend, names: tuple[str, ...], origin: Origin) -> None:
        """Register `backend` under `names`, unless a builtin holds one, or another plugin claims one too."""
        holders = [self._holder(n) for n in names]
        if any(h is not None and h.backend is backend for h in holders):
            return  # the same object, returned again
        for claimed, holder in zip(names, holders):
            if holder is not None and holder.origin is BUILTIN:
                self._leave_out(backend.name, origin, CONFLICT,
                                f"its name {claimed!r} belongs to the builtin backend {holder.backend.name!r}")
                return
        contested = next((n for n, h in zip(names, holders) if h is not None or n in self._lost), None)
        if contested is None:
            self._by_name[backend.name] = Registered(backend, origin)
            self._aliases.update({alias: backend.name for alias in names[1:]})
            return
        clash = self._lost.get(contested, contested)  # a clash this joins is known by its first contested name
        claimants = self._claimants.setdefault(clash, [])
        rivals = {id(h.backend): (n, h) for n, h in zip(names, holders) if h is not None}
        for claimed, holder in rivals.values():  # registered rivals lose every name they had
            self._drop(holder)
            claimants.append((holder.backend.name, holder.origin))
            self._lost.update(dict.fromkeys(_names(holder.backend), clash))
            self._leave_out(holder.backend.name, holder.origin, CONFLICT,
                            f"its name {claimed!r} is also claimed by backend {backend.name!r} from {origin}")
        others = " and ".join(f"{b!r} from {o}" for b, o in claimants)
        claimants.append((backend.name, origin))
        self._lost.update(dict.fromkeys(names, clash))
        self._leave_out(backend.name, origin, CONFLICT, f"its name {contested!r} is also claimed by backend {others}")

    def _holder(self, name: str) -> Registered | None:
        return self._by_name.get(self._aliases.get(name, name))

    def _drop(self, holder: Registered) -> None:
        del self._by_name[holder.backend.name]
        for alias in holder.backend.aliases:
            self._aliases.pop(alias, None)

    def _fail(self, name: str, origin: Origin, exc: BaseException) -> None:
        self._leave_out(name, origin, FAILED, one_line(exc), _traceback())

    def _leave_out(self, name: str, origin: Origin, status: str, reason: str, trace: str = "") -> None:
        self.left_out.append(LeftOut(name, origin, status, reason, trace))
        subject = (f"graph backend plugin {origin}" if name == origin.plugin
                   else f"graph backend {name!r} of plugin {origin}")
        failed = " failed to load and" if status == FAILED else ""
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


def _origin(entry_point: EntryPoint) -> Origin:
    return Origin(normalise_name(entry_point.name), entry_point.dist.name, entry_point.dist.version)


def _quiet(origin: Origin) -> contextlib.AbstractContextManager[None]:
    """Plugin code prints to stderr; builtins print nothing, and the warm select() saves the swap."""
    return contextlib.nullcontext() if origin is BUILTIN else output_to_stderr()


def _by(origin: Origin) -> str:
    """The suffix naming a plugin's origin in a reason; builtins need none."""
    return "" if origin is BUILTIN else f"; plugin {origin}"


def _why_left_out(entry: LeftOut) -> str:
    """The end of a one-line error for a backend that is left out: why, and what to do."""
    if entry.status == DISABLED:
        return (f"comes from plugin {entry.origin}, which is disabled ({entry.reason}); "
                f"allowed: add {entry.name!r} to {ALLOW_LIST_VAR}")
    if entry.status == CONFLICT:
        return f"from plugin {entry.origin} is left out: {entry.reason}; allowed: uninstall one of the plugins"
    return (f"comes from plugin {entry.origin}, which failed to load: {entry.reason}; "
            "allowed: fix or uninstall the plugin (-v shows the traceback)")


def _items(returned: object) -> list[object]:
    """What one `graph_backends()` call returned, as a list: any iterable of backends, or one alone."""
    if isinstance(returned, (GraphBackend, str, bytes)) or not isinstance(returned, Iterable):
        return [returned]
    return list(returned)


def _names(backend: GraphBackend) -> tuple[str, ...]:
    return tuple(dict.fromkeys((backend.name, *backend.aliases)))


def _name_of(item: object) -> str | None:
    """The backend name of a returned object, when it has a valid one (for the left-out entry)."""
    try:
        return checked_name(type(item), item.name)  # type: ignore[attr-defined]
    except PLUGIN_ERRORS:
        return None


def _checked_backend(item: object) -> tuple[GraphBackend, tuple[str, ...]]:
    """The backend and its names, after checking every class attribute the registry and selector read."""
    if not isinstance(item, GraphBackend):
        raise TypeError(f"graph_backends() returned {show(item)}, which is not a GraphBackend instance")
    cls = type(item)
    try:
        name = item.name
    except AttributeError:
        raise TypeError(f"backend class {cls.__qualname__} sets no name; allowed: a class attribute such as "
                        f"name = 'mybackend'") from None
    if checked_name(cls, name) != name:
        raise TypeError(f"{cls.__qualname__}: backend name {show(name)} is not in normal form; allowed: a class "
                        "attribute, which is normalised to lower case")
    aliases, fallback = item.aliases, item.fallback
    for attribute, value in (("aliases", aliases), ("fallback", fallback)):
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"{cls.__qualname__}.{attribute}: got {show(value)}; allowed: a tuple of backend names")
    for alias in aliases:
        checked_name(cls, alias)
    if not isinstance(item.description, str):
        raise TypeError(f"{cls.__qualname__}.description: got {show(item.description)}; allowed: a string")
    if item.device is not None and not isinstance(item.device, str):  # the runtime checks the name when it captures
        raise TypeError(f"{cls.__qualname__}.device: got {show(item.device)}; allowed: None or a device name "
                        "such as 'npu', 'cuda' or 'sim'")
    return item, _names(item)


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


def _traceback() -> str:
    """The traceback being handled, formatted; `traceback` is imported only when something failed."""
    import traceback

    return traceback.format_exc()
