"""The eager backend: no compilation and no capture; it serves everywhere."""

from __future__ import annotations

from ..probes.environment import Environment
from ..rules.config import GraphRequest
from ..rules.models import ModelInfo
from ..rules.modes import CUDAGraphMode
from .base import GraphBackend, Plan, Probe


class EagerBackend(GraphBackend):
    name = "eager"
    description = "Eager execution: no graph capture; always available"
    fallback = ()

    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        return Probe.ok("eager execution runs everywhere")

    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        notes = []
        if request.cudagraph_mode not in (None, CUDAGraphMode.NONE):
            notes.append(f"cudagraph_mode {request.cudagraph_mode.name} -> NONE: the eager backend captures no graphs")
        return Plan(backend=self.name, cudagraph_mode=CUDAGraphMode.NONE, notes=tuple(notes))
