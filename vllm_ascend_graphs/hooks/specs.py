"""Hook specifications: the one contract between this package and every backend provider."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ..backends.base import GraphBackend
    from ..probes.environment import Environment
    from ..rules.models import ModelInfo

PROJECT = "vllm_ascend_graphs"
ENTRY_POINT_GROUP = "vllm_ascend_graphs"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def graph_backends() -> Iterable[GraphBackend]:  # type: ignore[empty-body]  # a spec: pluggy never calls it
    """Return the graph backends this plugin provides, as `GraphBackend` instances."""


@hookspec
def graph_backend_preference(model: ModelInfo, environment: Environment) -> str | None:
    """Name a backend for `graph_backend: "auto"` to try first for this model and environment.

    Return None to state no preference. Preferred backends are tried before the default chain
    (`aclgraph` -> `eager`), each followed by its own fallback chain.
    """
