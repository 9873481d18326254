"""Installed distributions: versions and entry points, read straight from `*.dist-info` folders.

`importlib.metadata` costs about 20 ms to import on a small machine (it pulls in `email`,
`zipfile`, `csv`), which alone would eat half of the budget of a first `select()`. Reading the
standard metadata files ourselves costs a couple of milliseconds and needs no import at all.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from typing import NamedTuple


class Distribution(NamedTuple):
    name: str  # canonical (PEP 503) form
    version: str
    path: str  # the .dist-info / .egg-info folder


class EntryPoint(NamedTuple):
    """`name = module:attribute` in group `group` of distribution `dist`."""

    name: str
    value: str
    group: str
    dist: Distribution

    def load(self) -> object:
        module, _, attribute = self.value.partition(":")
        target: object = importlib.import_module(module.strip())
        for part in filter(None, attribute.strip().split(".")):
            target = getattr(target, part)
        return target


_SEPARATORS = re.compile(r"[-_.]+")


def canonical(name: str) -> str:
    """PEP 503 normalisation: `Foo_Bar.baz` and `foo-bar-baz` are one project."""
    return _SEPARATORS.sub("-", name).lower()


def distributions() -> list[Distribution]:
    """Every distribution on `sys.path`, first occurrence of each name winning (as imports do)."""
    return list(_scan(tuple(sys.path)).values())


def version(name: str) -> str | None:
    """The installed version of distribution `name`, or None."""
    dist = _scan(tuple(sys.path)).get(canonical(name))
    return dist.version if dist else None


def entry_points(group: str) -> list[EntryPoint]:
    """The entry points of `group` across all installed distributions."""
    found: list[EntryPoint] = []
    header = f"[{group}]".encode()
    for dist in distributions():
        try:
            with open(os.path.join(dist.path, "entry_points.txt"), "rb") as fh:  # bytes: no decoder to set up
                data = fh.read()
        except OSError:
            continue
        if header in data:  # most files name other groups only: skip decoding and parsing them
            text = data.decode("utf-8", errors="replace")
            found.extend(EntryPoint(name, value, group, dist) for name, value in _parse_group(text, group))
    return found


def _parse_group(text: str, group: str) -> list[tuple[str, str]]:
    entries, current = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif current == group and "=" in line:
            name, _, value = line.partition("=")
            entries.append((name.strip(), value.strip()))
    return entries


@functools.lru_cache(maxsize=4)
def _scan(paths: tuple[str, ...]) -> dict[str, Distribution]:
    found: dict[str, Distribution] = {}
    for directory in paths:
        try:
            names = os.listdir(directory or ".")
        except OSError:
            continue
        for entry in names:
            if not entry.endswith((".dist-info", ".egg-info")):
                continue
            dist = _read(directory or ".", entry)
            if dist and dist.name not in found:
                found[dist.name] = dist
    return found


def _read(directory: str, entry: str) -> Distribution | None:
    """Name and version from the folder name (`name-version.dist-info`); PKG-INFO when it lacks one."""
    path = os.path.join(directory, entry)
    name, _, rest = entry.rsplit(".", 1)[0].partition("-")
    dist_version = rest.split("-", 1)[0]
    if not dist_version:
        try:
            with open(os.path.join(path, "PKG-INFO"), encoding="utf-8", errors="replace") as fh:
                match = re.search(r"^Version:\s*(\S+)", fh.read(4096), re.MULTILINE)
        except OSError:
            match = None
        dist_version = match.group(1) if match else "?"
    return Distribution(canonical(name), dist_version, path) if name else None


def clear_cache() -> None:
    """Forget what was scanned (after installing into a running process, and in tests)."""
    _scan.cache_clear()
