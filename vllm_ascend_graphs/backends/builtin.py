"""The builtin backends, registered through the same hook third-party plugins use."""

from __future__ import annotations

from ..hooks.specs import hookimpl
from .aclgraph import AclGraphBackend
from .base import GraphBackend
from .eager import EagerBackend
from .native import NativeBackend
from .xlite import XliteBackend


@hookimpl
def graph_backends() -> list[GraphBackend]:
    return [AclGraphBackend(), XliteBackend(), NativeBackend(), EagerBackend()]
