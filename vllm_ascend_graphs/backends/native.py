"""The platform's own graph path: where nothing here captures (CUDA, ROCm, XPU, ...), keep vLLM's settings.

Installing this package next to vLLM on an NVIDIA GPU must not cost anyone their CUDA graphs. In
the `auto` chain this backend comes after ACLGraph: on a platform with static graphs other than
Ascend it is selected, and its plan is the platform's own (the requested mode, vLLM's capture
sizes). Inside vLLM the plugin then changes nothing and records what vLLM set.
"""

from __future__ import annotations

from ..probes.environment import Environment
from ..rules.capture_plan import MAX_DEFAULT_CAPTURE_SIZE, default_capture_sizes
from ..rules.config import GraphRequest
from ..rules.models import ModelInfo
from ..rules.modes import DEFAULT_MODE, CUDAGraphMode
from .base import GraphBackend, Plan, Probe

NATIVE = "native"


class NativeBackend(GraphBackend):
    name = NATIVE
    aliases = ("platform",)
    description = "The platform's own graph path, with vLLM's graph settings kept as they are (CUDA, ROCm, XPU, ...)"
    fallback = ("eager",)
    assumes = ("device",)  # its probe: which platform's own graphs these are

    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        if environment.device == "npu":
            return Probe.refuse("on Ascend the graph path is one of this package's backends (aclgraph, xlite)")
        if not environment.captures_graphs:
            return Probe.refuse(f"vLLM's {environment.device} platform captures no graphs")
        return Probe.ok(f"vLLM's {environment.device} platform captures its own graphs; its settings are kept")

    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        note = f"the {environment.device} platform's own graph settings, as vLLM sets them"
        if request.enforce_eager:
            return Plan(self.name, CUDAGraphMode.NONE, notes=(f"{note}: enforce_eager=True turns graphs off",))
        mode = request.cudagraph_mode or DEFAULT_MODE
        if mode is CUDAGraphMode.NONE:
            return Plan(self.name, mode, notes=(note,))
        sizes = request.capture_sizes or default_capture_sizes(
            request.max_capture_size or vllm_default_max_size(request.max_num_seqs, environment.spec_tokens))
        return Plan(self.name, mode, capture_sizes=tuple(sorted(set(sizes))), notes=(note,))


def vllm_default_max_size(max_num_seqs: int, spec_tokens: int) -> int:
    """vLLM's own default largest capture size (Ascend drops the factor 2)."""
    return min(max_num_seqs * (1 + spec_tokens) * 2, MAX_DEFAULT_CAPTURE_SIZE)
