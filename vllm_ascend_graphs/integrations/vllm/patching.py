"""Replacing a class's attribute with a wrapper, and undoing it: the plugin's only way into vLLM,
which has no hook for a general plugin to take part in its configuration (`adapter` names what is
wrapped). A patch is made once; a class in a module not imported yet is patched right after its
first import, so a process that never imports it never pays for it.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

_MISSING = object()
_patches: dict[tuple[type, str], object] = {}


def patch(cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace `cls.name` by `make(original)`, once; keeps classmethods classmethods."""
    if (cls, name) in _patches:
        return
    raw = cls.__dict__.get(name, _MISSING)
    current = getattr(cls, name)
    if getattr(current, "__self__", None) is cls:  # a classmethod, bound to the class
        setattr(cls, name, classmethod(make(current.__func__)))
    else:
        setattr(cls, name, make(current))
    _patches[(cls, name)] = raw


def patch_after_import(module_name: str, class_name: str, name: str,
                      make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """`patch` a class of `module_name` now if it is imported, else right after its first import."""
    module = sys.modules.get(module_name)
    if module is not None:
        patch(getattr(module, class_name), name, make)
    elif not any(isinstance(finder, _AfterImport) and finder.name == module_name for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(module_name,
                                             lambda loaded: patch(getattr(loaded, class_name), name, make)))


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `then(module)` right after the module `name` is first executed, and then steps aside."""

    def __init__(self, name: str, then: Callable[[ModuleType], None]):
        self.name, self.then = name, then

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # the parent package is imported by now
        if spec is None or spec.loader is None:
            return spec
        execute, then = spec.loader.exec_module, self.then

        def exec_module(module: ModuleType) -> None:
            execute(module)
            then(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def unpatch_all() -> None:
    """Undo every patch, restoring what the classes had before (inherited or their own)."""
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _AfterImport)]
    for (cls, name), raw in reversed(list(_patches.items())):
        if raw is _MISSING:
            delattr(cls, name)
        else:
            setattr(cls, name, raw)
    _patches.clear()


def is_patched(cls: type, name: str) -> bool:
    return (cls, name) in _patches


def unpatched(cls: type, name: str) -> Any:
    """`cls.name` as it was before our patch (bound, for a classmethod)."""
    if (cls, name) not in _patches:
        return getattr(cls, name)
    raw = _patches[(cls, name)]
    if raw is _MISSING:  # inherited: what the next class in the MRO has
        return getattr(super(cls, cls), name)
    return raw.__get__(None, cls) if hasattr(raw, "__get__") else raw
