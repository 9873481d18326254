"""Calling a backend for the selector, so that its failure is a refusal with a reason, never a crash.

A `GraphConfigError` is bad input and reaches the caller; anything else a backend raises or returns
wrongly becomes a refusal (probe) or a `PluginError` (plan, options) whose reason names the plugin.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from ..backends.base import GraphBackend, Plan, Probe
from ..errors import GraphConfigError, one_line, show
from ..probes.environment import Environment
from ..rules.config import GraphRequest
from ..rules.models import ModelInfo
from .discovery import BUILTIN, Origin
from .isolation import (
    PLUGIN_ERRORS,
    PROBE_TIMEOUT_VAR,
    Deadlines,
    PluginError,
    current_traceback,
    logger,
    output_to_stderr,
    probe_timeout,
)


def probe(backend: GraphBackend, origin: Origin, deadlines: Deadlines, request: GraphRequest,
          environment: Environment, model: ModelInfo) -> Probe:
    """`backend.probe(...)`, or a refusal saying what went wrong: an exception, a value that is not a
    `Probe`, or, for a plugin's backend, no answer within `ASCEND_GRAPHS_PROBE_TIMEOUT` seconds."""
    try:
        if origin is BUILTIN:  # builtin probes only read their arguments, and print nothing
            found = backend.probe(request, environment, model)
        else:
            with output_to_stderr():
                found = deadlines.call(backend, lambda: backend.probe(request, environment, model), probe_timeout())
    except GraphConfigError:
        raise
    except TimeoutError as exc:
        return Probe.refuse(f"{exc} ({PROBE_TIMEOUT_VAR}), so it counts as refusing{_by(origin)}")
    except PLUGIN_ERRORS as exc:
        return Probe.refuse(_raised(backend, "probe", exc, origin))
    if not isinstance(found, Probe):
        return Probe.refuse(f"its probe returned {show(found)}, not a Probe{_by(origin)}")
    return found


def plan(backend: GraphBackend, origin: Origin, request: GraphRequest, environment: Environment,
         model: ModelInfo) -> Plan:
    """`backend.plan(...)`; anything but a `Plan` or a `GraphConfigError` is a `PluginError`."""
    try:
        with _quiet(origin):
            found = backend.plan(request, environment, model)
    except GraphConfigError:
        raise
    except PLUGIN_ERRORS as exc:
        raise PluginError(_raised(backend, "plan", exc, origin)) from exc
    if not isinstance(found, Plan):
        raise PluginError(f"its plan returned {show(found)}, not a Plan{_by(origin)}")
    return found


def validate_options(backend: GraphBackend, origin: Origin, options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`backend.validate_options(options or {})`. A `GraphConfigError` about options the user gave
    reaches the caller; any other failure, or any failure on the defaults, is a `PluginError`."""
    try:
        with _quiet(origin):
            validated = backend.validate_options({} if options is None else options)
    except GraphConfigError:
        if options is not None:
            raise
        logger().debug("validate_options of %s raised:\n%s", backend.name, current_traceback())
        raise PluginError(f"its validate_options rejected its own defaults ({{}}){_by(origin)}") from None
    except PLUGIN_ERRORS as exc:
        raise PluginError(_raised(backend, "validate_options", exc, origin)) from exc
    if not isinstance(validated, Mapping):
        raise PluginError(f"its validate_options returned {show(validated)}, not a mapping{_by(origin)}")
    return validated


def _raised(backend: GraphBackend, method: str, exc: BaseException, origin: Origin) -> str:
    """The reason for a backend method that raised; its traceback goes to the DEBUG log."""
    logger().debug("%s of %s raised:\n%s", method, backend.name, current_traceback())
    return f"its {method} raised {one_line(exc)}{_by(origin)}"


def _quiet(origin: Origin) -> contextlib.AbstractContextManager[None]:
    """Plugin code prints to stderr; builtins print nothing, and the warm select() saves the swap."""
    return contextlib.nullcontext() if origin is BUILTIN else output_to_stderr()


def _by(origin: Origin) -> str:
    """The suffix naming a plugin's origin in a reason; builtins need none."""
    return "" if origin is BUILTIN else f"; plugin {origin}"
