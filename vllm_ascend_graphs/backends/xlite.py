"""XliteGraph: runs the model through the separate `xlite` runtime for selected families."""

from __future__ import annotations

from ..config import GraphRequest
from ..environment import Environment
from ..models import ModelInfo
from ..modes import CUDAGraphMode, resolve
from .aclgraph import graph_path_refusal
from .base import GraphBackend, Plan, Probe

# Architectures with an xlite model adapter in the reference implementation.
SUPPORTED_ARCHITECTURES = frozenset({
    "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM",
    "Qwen3VLForConditionalGeneration", "Qwen3VLMoeForConditionalGeneration", "Glm4MoeForCausalLM",
    "DeepseekV3ForCausalLM", "DeepseekV32ForCausalLM", "GlmMoeDsaForCausalLM", "MiniMaxM2ForCausalLM",
})
INSTALL_HINT = "install it with `pip install xlite` from Ascend's package index (it is not on PyPI); see the Xlite README"


class XliteBackend(GraphBackend):
    name = "xlite"
    aliases = ("xlitegraph",)
    description = "XliteGraph: the xlite runtime for Llama, Qwen dense/MoE and Qwen3-VL (optional, needs xlite)"
    fallback = ("aclgraph",)

    def probe(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Probe:
        if not request.wants_xlite:
            return Probe.refuse("not requested (XliteGraph is optional: set xlite_graph_config.enabled)")
        if environment.xlite is None:
            return Probe.refuse(f"xlite is not installed: {INSTALL_HINT}")
        if environment.xlite_error:
            return Probe.refuse(environment.xlite_error)
        refusal = graph_path_refusal(request, environment)
        if refusal:
            return Probe.refuse(refusal)
        if model.architecture not in SUPPORTED_ARCHITECTURES:
            return Probe.refuse(
                f"{model.architecture} has no xlite adapter; supported: {', '.join(sorted(SUPPORTED_ARCHITECTURES))}"
            )
        if environment.pp > 1:
            return Probe.refuse(f"xlite does not support pipeline parallelism (pp={environment.pp})")
        if environment.spec_tokens > 1:
            return Probe.refuse(f"xlite supports at most 1 speculative token (got {environment.spec_tokens})")
        return Probe.ok(f"xlite {environment.xlite} supports {model.architecture} on npu")

    def plan(self, request: GraphRequest, environment: Environment, model: ModelInfo) -> Plan:
        full_mode = request.xlite_graph_config.full_mode
        if full_mode and environment.spec_tokens == 0:
            mode, why = CUDAGraphMode.NONE, "xlite full mode runs prefill and decode itself, so ACLGraph is off"
        else:
            mode = CUDAGraphMode.FULL_DECODE_ONLY
            why = ("xlite decode-only mode runs pure-decode batches; ACLGraph runs FULL_DECODE_ONLY" if not full_mode
                   else "xlite full mode with speculative decoding keeps ACLGraph FULL_DECODE_ONLY for the draft steps")
        requested = request.cudagraph_mode or mode
        notes = (f"cudagraph_mode {requested.name} -> {mode.name}: {why}",) if requested is not mode else (why,)
        settings = resolve(request, environment, model, mode=mode)
        options = {"xlite_mode": "full" if full_mode else "decode_only"}
        return Plan.from_settings(self.name, settings, options=options, notes=notes)
