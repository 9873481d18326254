"""Entry points of made-up distributions whose plugin modules live in `sys.modules`, so that
registry messages name a real origin (distribution, version, entry point) without installing one."""

from __future__ import annotations

import sys
import types

from vllm_ascend_graphs import hookimpl
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
