"""Graph backends: the strategy interface and the builtin ACLGraph, XliteGraph and eager paths."""

from .base import GraphBackend, Plan, Probe

__all__ = ["GraphBackend", "Plan", "Probe"]
