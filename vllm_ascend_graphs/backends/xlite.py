"""XliteGraph: the separate `xlite` runtime for the families vLLM Ascend has xlite adapters for.

This backend decides (probe, plan); it does not run xlite. Inside vLLM, the plan turns
`xlite_graph_config.enabled` on and vLLM Ascend's own `XliteWorker` and model runner run xlite for
the batches its mode routes there (pure-decode batches in decode-only mode, every batch in full
mode) and ACLGraph for the rest. Outside vLLM (`capture()`), a callable has no xlite model to
run, so this backend captures it on the ACLGraph path that the plan puts beside xlite, with the
ACLGraph duties it shares.
"""

from __future__ import annotations

from ..probes.environment import Environment
from ..rules.config import GraphRequest
from ..rules.models import ModelInfo
from ..rules.modes import CUDAGraphMode, resolve
from .aclgraph import AclGraphRuntime, compile_options, graph_path_refusal
from .base import GraphBackend, Plan, Probe

INSTALL_HINT = "install it with `pip install --pre xlite` (it is published as pre-releases only)"


class XliteBackend(AclGraphRuntime, GraphBackend):
    name = "xlite"
    aliases = ("xlitegraph",)
    description = "XliteGraph: the xlite runtime for Llama, Qwen dense/MoE and Qwen3-VL (optional, needs xlite)"
    fallback = ("aclgraph",)
    assumes = ("device", "soc", "torch_npu", "xlite", "launch_blocking", "vllm_ascend")  # ACLGraph's and xlite

    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        if not request.wants_xlite:
            return Probe.refuse("not requested (XliteGraph is optional: set xlite_graph_config.enabled)")
        if environment.xlite is None:
            return Probe.refuse(f"xlite is not installed: {INSTALL_HINT}")
        if environment.xlite_problem:
            return Probe.refuse(environment.xlite_problem)
        refusal = graph_path_refusal(request, environment)
        if refusal:
            return Probe.refuse(refusal)
        facts = environment.vllm_ascend_facts
        if not facts.xlite_worker:
            return Probe.refuse(f"{facts.source} has no XliteGraph path (no xlite worker)")  # read where installed
        adapters = facts.source_of("xlite_architectures")
        if model.architecture not in facts.xlite_architectures:
            return Probe.refuse(f"{model.architecture} has no xlite adapter in {adapters}; "
                                f"supported: {', '.join(sorted(facts.xlite_architectures)) or 'none'}")
        if environment.pp > 1:
            return Probe.refuse(f"xlite does not support pipeline parallelism (pp={environment.pp})")
        if environment.spec_tokens > 1:
            return Probe.refuse(f"xlite supports at most 1 speculative token (got {environment.spec_tokens})")
        return Probe.ok(f"xlite {environment.xlite} supports {model.architecture} on npu with {adapters}")

    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        """The mode vLLM Ascend's xlite path sets beside xlite, whatever `cudagraph_mode` says: with
        xlite on, its platform pass overwrites the mode (an explicit NONE included)."""
        full_mode = request.xlite_graph_config.full_mode
        if full_mode and environment.spec_tokens == 0:
            mode, why = CUDAGraphMode.NONE, "xlite full mode runs prefill and decode itself, so ACLGraph is off"
        else:
            mode = CUDAGraphMode.FULL_DECODE_ONLY
            why = ("xlite decode-only mode runs pure-decode batches; ACLGraph runs FULL_DECODE_ONLY" if not full_mode
                   else "xlite full mode with speculative decoding keeps ACLGraph FULL_DECODE_ONLY for the draft steps")
        requested = request.cudagraph_mode or mode
        notes: tuple[str, ...] = (f"cudagraph_mode {requested.name} -> {mode.name}: {why}",) if requested is not mode \
            else (why,)
        if request.cudagraph_mode is CUDAGraphMode.NONE and mode is not CUDAGraphMode.NONE:
            notes += ("beside xlite, vLLM Ascend sets the mode itself: to run without graphs, use enforce_eager=True "
                      "or turn xlite off",)
        settings = resolve(request, environment, model, mode=mode, backend=self.name)
        options = {"xlite_mode": "full" if full_mode else "decode_only",
                   **compile_options(request, environment, settings)}
        return Plan.from_settings(self.name, settings, options=options, notes=notes)
