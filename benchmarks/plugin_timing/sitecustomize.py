"""Time our own work inside vLLM's start-up, in every process: for `benchmarks/vllm_plugin.py` only.

Put this folder on PYTHONPATH and name an output folder in `VAG_TIMINGS_DIR`; every Python process
started with them (vLLM's front end, engine core and workers alike) then records, timed inside
the process:

- `import`: executing the plugin module `vllm_ascend_graphs.integrations.vllm` (and whatever of our
  package it imports), when vLLM loads the entry point;
- `register`: the call of its `register()`;
- for each hook `register()` installs on vLLM's platform class or on `EngineArgs`: the time spent
  in our code only, that is the installed function's time less the time of the function it
  wraps. The platform's `check_and_update_config` is where the decision is made.

It learns which hooks were installed by comparing the candidate attributes before and after
`register()`; it reads nothing inside the plugin package. Each process writes `<pid>.json` after
every event, so a process that vLLM ends abruptly still leaves its figures.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import inspect
import json
import os
import sys
import threading
import time
from typing import Any

OUTPUT = os.environ.get("VAG_TIMINGS_DIR")
PLUGIN_MODULE = "vllm_ascend_graphs.integrations.vllm"
# The vLLM attributes a general plugin can hook: (class getter, attribute names).
PLATFORM_HOOKS = ("check_and_update_config", "get_static_graph_wrapper_cls", "get_compile_backend")
ENGINE_ARGS_HOOKS = ("create_engine_config",)

_record: dict[str, Any] = {}
_frames = threading.local()  # per thread: the inner time spent under each running outer call


def _save(kind: str, name: str, milliseconds: float) -> None:
    global _record
    if _record.get("pid") != os.getpid():  # a forked child starts its own record
        _record = {"pid": os.getpid(), "process": _process_name(), "events": []}
    _record["events"].append({"kind": kind, "name": name, "ms": milliseconds})
    with open(os.path.join(OUTPUT, f"{os.getpid()}.json"), "w", encoding="utf-8") as fh:
        json.dump(_record, fh)


def _process_name() -> str:
    import multiprocessing

    return multiprocessing.current_process().name


def _replace(cls: type, name: str, make: Any) -> None:
    """Set `cls.name` to `make(function)`, keeping a classmethod a classmethod."""
    raw = inspect.getattr_static(cls, name)
    if isinstance(raw, classmethod):
        setattr(cls, name, classmethod(make(raw.__func__)))
    elif isinstance(raw, staticmethod):
        setattr(cls, name, staticmethod(make(raw.__func__)))
    else:
        setattr(cls, name, make(raw))


def _inner(function: Any) -> Any:
    """vLLM's own function: its time is subtracted from the outer call that wraps it."""

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            stack = getattr(_frames, "stack", None)
            if stack:
                stack[-1] += time.perf_counter() - start

    return timed


def _outer(name: str, function: Any) -> Any:
    """The function our plugin installed: its time less the inner time is ours."""

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        stack = _frames.__dict__.setdefault("stack", [])
        stack.append(0.0)
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - start
            inner = stack.pop()
            _save("hook", name, (elapsed - inner) * 1e3)

    return timed


def _candidates() -> list[tuple[type, str]]:
    from vllm.engine.arg_utils import EngineArgs
    from vllm.platforms import current_platform

    platform = type(current_platform)
    found = [(platform, name) for name in PLATFORM_HOOKS if hasattr(platform, name)]
    return found + [(EngineArgs, name) for name in ENGINE_ARGS_HOOKS if hasattr(EngineArgs, name)]


_prepared = False


def _timed_register(register: Any) -> Any:
    @functools.wraps(register)
    def timed() -> Any:
        global _prepared
        candidates = [] if _prepared else _candidates()
        before = {}
        for cls, name in candidates:
            _replace(cls, name, _inner)
            before[(cls, name)] = inspect.getattr_static(cls, name)
        start = time.perf_counter()
        try:
            return register()
        finally:
            _save("register", "register", (time.perf_counter() - start) * 1e3)
            for (cls, name), raw in before.items():
                if inspect.getattr_static(cls, name) is not raw:  # installed by register()
                    _replace(cls, name, functools.partial(_outer, f"{cls.__name__}.{name}"))
            _prepared = True

    return timed


class _TimedLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader):
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        start = time.perf_counter()
        self._loader.exec_module(module)
        _save("import", PLUGIN_MODULE, (time.perf_counter() - start) * 1e3)
        module.register = _timed_register(module.register)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the plugin module as usual, and times its execution."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != PLUGIN_MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                spec.loader = _TimedLoader(spec.loader)
                return spec
        return None


if OUTPUT:
    sys.meta_path.insert(0, _Finder())
