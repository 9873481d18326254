"""Stand-in plugins the core tests share: plugin objects and made-up installed entry points, a backend
that misbehaves on demand, and what the package logged.

Entry points belong to made-up distributions whose modules live in `sys.modules`, so registry messages
name a real origin (distribution, version, entry point) without installing anything.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

from vllm_ascend_graphs import CUDAGraphMode, GraphBackend, Plan, Probe, hookimpl
from vllm_ascend_graphs.probes.distributions import Distribution, EntryPoint


def entry_point(name: str, module: str) -> EntryPoint:
    """Entry point `name = module` of distribution `fake-<name>` 1.0."""
    return EntryPoint(name, module, "vllm_ascend_graphs", Distribution(f"fake-{name}", "1.0", "nowhere"))


def plugin_module(monkeypatch, name: str, **hooks) -> str:
    """A module `name` in `sys.modules` (for this test) whose functions are the given hook implementations."""
    module = types.ModuleType(name)
    for hook, function in hooks.items():
        setattr(module, hook, hookimpl(function, specname=hook))
    monkeypatch.setitem(sys.modules, name, module)
    return name


def plugin_returning(returned: Any) -> object:
    """A plugin object whose `graph_backends()` returns `returned` as it is (a list of backends, or anything)."""

    class Plugin:
        @hookimpl
        def graph_backends(self):
            return returned

    return Plugin()


def register(registry, *backends: GraphBackend, name: str = "flaky-plugin") -> None:
    """Register `backends` on `registry` as one plugin called `name`, isolated as an entry point is."""
    registry.register(plugin_returning(list(backends)), name)


class Flaky(GraphBackend):
    """A backend whose probe, plan and options check each do what it is told (by default: serve)."""

    name = "flaky"
    fallback = ("eager",)

    def __init__(self, *, probe: Callable[[], Any] | None = None, plan: Callable[[], Any] | None = None,
                 options: Callable[[Any], Any] | None = None):
        self._probe, self._plan, self._options = probe, plan, options

    def probe(self, request, environment, model):
        return self._probe() if self._probe else Probe.ok("ready")

    def plan(self, request, environment, model):
        return self._plan() if self._plan else Plan(backend=self.name, cudagraph_mode=CUDAGraphMode.NONE)

    def validate_options(self, options):
        return self._options(options) if self._options else dict(options)


def boom(*arguments: Any) -> Any:
    raise RuntimeError("boom")


def leave(*arguments: Any) -> Any:
    raise SystemExit(3)


def logged(caplog, level: int) -> list[str]:
    """The package's messages at exactly `level`, in order."""
    return [record.getMessage() for record in caplog.records if record.levelno == level]

