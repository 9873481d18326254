"""ACLGraph: run-time capture/replay through torch.npu.NPUGraph, with the Npugraph_ex compile layer."""

from __future__ import annotations

from ..assumptions import ASSUMED
from ..config import GraphRequest
from ..environment import Environment
from ..models import ModelInfo
from ..modes import CUDAGraphMode, resolve
from .base import GraphBackend, Plan, Probe


def graph_path_refusal(request: GraphRequest, environment: Environment) -> str | None:
    """Why no ACLGraph-based path can run here, or None; shared by ACLGraph and XliteGraph."""
    if request.enforce_eager:
        return "enforce_eager=True turns graph capture off"
    if environment.device != "npu":
        return f"no Ascend NPU here (device: {environment.device})"
    if environment.torch_npu is None:
        return "torch_npu is not installed (pip install torch-npu, matching your torch and CANN)"
    if environment.torch_npu_error:
        return environment.torch_npu_error
    if environment.launch_blocking:
        return "ACL graphs are incompatible with ASCEND_LAUNCH_BLOCKING=1; unset it to use graphs"
    return None


class AclGraphBackend(GraphBackend):
    name = "aclgraph"
    aliases = ("acl", "npugraph")
    description = "ACLGraph capture/replay (torch.npu.NPUGraph) with the Npugraph_ex compile-time layer"
    fallback = ("eager",)

    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        refusal = graph_path_refusal(request, environment)
        if refusal:
            return Probe.refuse(refusal)
        if request.cudagraph_mode is CUDAGraphMode.NONE:
            return Probe.refuse("cudagraph_mode NONE asks for no graphs")
        settings = resolve(request, environment, model)
        if settings.cudagraph_mode is CUDAGraphMode.NONE:
            return Probe.refuse(f"no graph mode is left for this model: {settings.notes[-1]}")
        soc = f" {environment.soc}" if environment.soc else ""
        version = "(assumed)" if environment.torch_npu == ASSUMED else environment.torch_npu
        return Probe.ok(f"torch_npu {version} with the NPU graph API on npu{soc}")

    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        return Plan.from_settings(self.name, resolve(request, environment, model))
