"""pluggy hooks: the specs, the marker plugins use, and the registry that loads them."""

from .specs import ENTRY_POINT_GROUP, hookimpl, hookspec

__all__ = ["ENTRY_POINT_GROUP", "hookimpl", "hookspec"]
