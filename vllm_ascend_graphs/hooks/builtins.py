"""The builtin backends, registered through the same hook third-party plugins use."""

from __future__ import annotations

from ..backends.aclgraph import AclGraphBackend
from ..backends.base import GraphBackend
from ..backends.eager import EagerBackend
from ..backends.native import NativeBackend
from ..backends.xlite import XliteBackend
from .specs import hookimpl


@hookimpl
def graph_backends() -> list[GraphBackend]:
    return [AclGraphBackend(), XliteBackend(), NativeBackend(), EagerBackend()]
