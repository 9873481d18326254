"""Finding plugins: the entry points of our group, who provides each, and the allow-list."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple

from ..probes import distributions
from ..probes.distributions import EntryPoint
from ..rules.config import normalise_name
from . import specs
from .isolation import logger

ALLOW_LIST_VAR = "ASCEND_GRAPHS_PLUGINS"


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


def origin_of(entry_point: EntryPoint) -> Origin:
    return Origin(normalise_name(entry_point.name), entry_point.dist.name, entry_point.dist.version)


def allow_list_from_environ() -> str | None:
    """`ASCEND_GRAPHS_PLUGINS` as set (None: every installed plugin loads; empty: none does)."""
    return os.environ.get(ALLOW_LIST_VAR)


def discover(entry_points: Iterable[EntryPoint] | None, allow: str | None) -> list[tuple[EntryPoint, bool]]:
    """Each entry point of our group once (the installed ones when `entry_points` is None), with whether
    the allow-list `allow` lets it load. An allowed name no installed plugin provides is one warning."""
    found = distributions.entry_points(specs.ENTRY_POINT_GROUP) if entry_points is None else entry_points
    unique = list({(ep.name, ep.value): ep for ep in found}.values())
    if allow is None:
        return [(ep, True) for ep in unique]
    allowed = {normalise_name(n) for n in allow.split(",") if n.strip()}
    unknown = sorted(allowed - {normalise_name(ep.name) for ep in unique})
    if unknown:
        installed = ", ".join(sorted(normalise_name(ep.name) for ep in unique)) or "none"
        logger().warning("%s names %s, which no installed plugin provides (installed entry points: %s)",
                         ALLOW_LIST_VAR, ", ".join(map(repr, unknown)), installed)
    return [(ep, normalise_name(ep.name) in allowed) for ep in unique]
