"""XliteGraph: runs the model through the separate `xlite` runtime for selected families.

Selection (probe, plan) and the run-time adapter (`XliteRunner`): xlite runs the batches the
plan routes to it (pure-decode batches in decode-only mode, every batch in full mode); the other
batches take the ACLGraph path, whose compile/capture/replay duties this backend shares.
xlite is imported only inside `XliteRunner`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..config import GraphRequest
from ..environment import Environment
from ..errors import GraphConfigError
from ..models import ModelInfo
from ..modes import CUDAGraphMode, resolve
from .aclgraph import AclGraphRuntime, fusion_options, graph_path_refusal
from .base import GraphBackend, Plan, Probe

if TYPE_CHECKING:
    from ..runtime.devices import DeviceGraphs

# Architectures with an xlite model adapter in the reference implementation.
SUPPORTED_ARCHITECTURES = frozenset({
    "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM",
    "Qwen3VLForConditionalGeneration", "Qwen3VLMoeForConditionalGeneration", "Glm4MoeForCausalLM",
    "DeepseekV3ForCausalLM", "DeepseekV32ForCausalLM", "GlmMoeDsaForCausalLM", "MiniMaxM2ForCausalLM",
})
INSTALL_HINT = "install it with `pip install xlite` from Ascend's package index (it is not on PyPI); see the Xlite README"


class XliteBackend(AclGraphRuntime, GraphBackend):
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
        if request.cudagraph_mode is CUDAGraphMode.NONE:
            mode, why = CUDAGraphMode.NONE, "cudagraph_mode NONE keeps ACLGraph off; xlite still runs its batches"
        elif full_mode and environment.spec_tokens == 0:
            mode, why = CUDAGraphMode.NONE, "xlite full mode runs prefill and decode itself, so ACLGraph is off"
        else:
            mode = CUDAGraphMode.FULL_DECODE_ONLY
            why = ("xlite decode-only mode runs pure-decode batches; ACLGraph runs FULL_DECODE_ONLY" if not full_mode
                   else "xlite full mode with speculative decoding keeps ACLGraph FULL_DECODE_ONLY for the draft steps")
        requested = request.cudagraph_mode or mode
        notes = (f"cudagraph_mode {requested.name} -> {mode.name}: {why}",) if requested is not mode else (why,)
        settings = resolve(request, environment, model, mode=mode)
        options = {"xlite_mode": "full" if full_mode else "decode_only", **fusion_options(request)}
        return Plan.from_settings(self.name, settings, options=options, notes=notes)


# -- run time: the adapter over xlite's API (xlite._C) ------------------------------------------

# The dense architectures whose layout `dense_weights` reads (the reference's Llama adapter).
DENSE_ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM")
REQUIRED_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                   "rms_norm_eps")


class XliteLimits(NamedTuple):
    """vLLM's scheduler and cache limits, which size xlite's buffers."""

    max_num_seqs: int
    max_model_len: int
    max_num_batched_tokens: int
    block_size: int = 128


class XliteBatch(NamedTuple):
    """One model step as xlite reads it; requests are ordered decodes first, then prefills."""

    input_ids: Any
    positions: Any
    query_lens: Sequence[int]
    seq_lens: Sequence[int]
    num_decodes: int
    block_tables: Any
    slot_mapping: Any
    inputs_embeds: Any = None

    @property
    def pure_decode(self) -> bool:
        return self.num_decodes == len(self.query_lens)


def xlite_model_config(xlite: Any, hf_config: Mapping[str, Any], limits: XliteLimits, *, tp_size: int,
                       qkv_bias: bool, qk_norm: bool, weight_nz: bool = False) -> Any:
    """xlite's `ModelConfig` for a dense model, from its Hugging Face config fields."""
    architectures = hf_config.get("architectures") or ["unknown"]
    if architectures[0] not in DENSE_ARCHITECTURES:
        raise GraphConfigError(f"xlite adapter: architecture {architectures[0]!r} has no adapter here; "
                               f"allowed: {', '.join(DENSE_ARCHITECTURES)}")
    missing = [name for name in REQUIRED_FIELDS if hf_config.get(name) is None]
    if missing:
        raise GraphConfigError(f"xlite adapter: the model config lacks {', '.join(missing)}; "
                               f"allowed: a config with {', '.join(REQUIRED_FIELDS)}")
    heads = hf_config["num_attention_heads"]
    head_dim = hf_config.get("head_dim") or hf_config["hidden_size"] // heads
    fields = {
        "vocab_size": hf_config["vocab_size"],
        "hidden_size": hf_config["hidden_size"],
        "n_layers": hf_config["num_hidden_layers"],
        "n_dense_layers": hf_config["num_hidden_layers"],
        "n_heads": heads,
        "n_kv_heads": hf_config.get("num_key_value_heads") or heads,
        "head_dim": head_dim,
        "rope_head_dim": head_dim,
        "rope_theta": float(hf_config.get("rope_theta") or 10000.0),
        "softmax_scale": head_dim ** -0.5,
        "norm_eps": hf_config["rms_norm_eps"],
        "intermediate_size": hf_config["intermediate_size"],
        "attn_type": xlite.AttnMHA,
        "qkv_bias": qkv_bias,
        "qk_norm": qk_norm,
        "weight_nz": weight_nz,
        "def_tp_size": tp_size,
        "def_dp_size": 1,
        "moe_tp_size": 1,
        "moe_ep_size": 1,
        "max_m": limits.max_num_batched_tokens,
        "max_batch_size": limits.max_num_seqs,
        "max_seq_len": limits.max_model_len,
        "block_size": limits.block_size,
    }
    config = xlite.ModelConfig()
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def dense_weights(model: Any) -> dict[str, Any]:
    """xlite `Model` fields from a vLLM Llama / Qwen dense module (tied embeddings allowed)."""
    params = dict(model.named_parameters())
    layers = list(model.model.layers)
    embed = params["model.embed_tokens.weight"]
    weights: dict[str, Any] = {
        "embed": embed,
        "norm": params["model.norm.weight"],
        "head": params.get("lm_head.weight", embed),
        "attn_norm": [layer.input_layernorm.weight for layer in layers],
        "mha_qkv": [layer.self_attn.qkv_proj.weight for layer in layers],
        "attn_out": [layer.self_attn.o_proj.weight for layer in layers],
        "mlp_norm": [layer.post_attention_layernorm.weight for layer in layers],
        "mlp_up_gate": [layer.mlp.gate_up_proj.weight for layer in layers],
        "mlp_down": [layer.mlp.down_proj.weight for layer in layers],
    }
    optional = {
        "mha_qkv_bias": [getattr(layer.self_attn.qkv_proj, "bias", None) for layer in layers],
        "mha_q_norm": [getattr(getattr(layer.self_attn, "q_norm", None), "weight", None) for layer in layers],
        "mha_k_norm": [getattr(getattr(layer.self_attn, "k_norm", None), "weight", None) for layer in layers],
    }
    weights.update({name: values for name, values in optional.items() if all(v is not None for v in values)})
    return weights


class XliteRunner:
    """Runs model steps through xlite; in decode-only mode batches with prefills go to `fallback`.

    Set-up order, as xlite needs it: `Runtime(device, 0, rank, tp, dp)`, `Model()` with its
    weights, `Model.init(config, rank)`, then a tensor pool of `Model.get_tensor_pool_size()` MB.
    """

    def __init__(self, plan: Plan, hf_config: Mapping[str, Any], weights: Mapping[str, Any], kv_caches: Any, *,
                 fallback: Callable[[XliteBatch], Any], limits: XliteLimits, device: DeviceGraphs | None = None,
                 rank: int = 0, local_rank: int = 0, tp_size: int = 1, dp_size: int = 1):
        import torch

        from ..runtime.devices import get_device

        xlite = importlib.import_module("xlite._C")
        self._xlite = xlite
        self.full_mode = plan.options.get("xlite_mode") == "full"
        self._fallback = fallback
        self._kv_caches = kv_caches
        self._device = device or get_device("npu")
        self._runtime = xlite.Runtime(local_rank, 0, rank, tp_size, dp_size)
        config = xlite_model_config(xlite, hf_config, limits, tp_size=tp_size, qkv_bias="mha_qkv_bias" in weights,
                                    qk_norm="mha_q_norm" in weights)
        self._model = xlite.Model()
        for name, value in weights.items():
            setattr(self._model, name, value)
        self._model.init(config, rank)
        pool_mb = self._model.get_tensor_pool_size()
        if self._runtime.init_tensor_pool(pool_mb) != 0:
            raise RuntimeError(f"xlite: init_tensor_pool({pool_mb} MB) failed on device {local_rank}; "
                               "free device memory or lower max_num_batched_tokens / max_model_len")
        embed = weights["embed"]
        self._hidden_size, self._dtype = config.hidden_size, embed.dtype
        self._rope = _rope_cache(torch, config.head_dim, limits.max_model_len, config.rope_theta, embed)

    def __call__(self, batch: XliteBatch) -> Any:
        """Hidden states for the batch's tokens, from xlite or from `fallback`."""
        if not (self.full_mode or batch.pure_decode):
            return self._fallback(batch)
        import torch

        meta = self._xlite.AttnMeta()
        meta.lens = list(batch.query_lens)
        meta.cached_lens = [seq - query for seq, query in zip(batch.seq_lens, batch.query_lens)]
        meta.is_prefills = [index >= batch.num_decodes for index in range(len(batch.query_lens))]
        meta.block_tables = batch.block_tables
        meta.slot_mapping = batch.slot_mapping
        meta.positions = batch.positions
        hidden = torch.empty(sum(batch.query_lens), self._hidden_size, dtype=self._dtype, device=batch.positions.device)
        self._device.synchronize()  # xlite launches on its own stream: our queued work must be done
        if batch.inputs_embeds is None:
            self._model.forward(self._runtime, batch.input_ids, meta, self._kv_caches, self._rope, hidden)
        else:
            self._model.forward_with_inputs_embeds(self._runtime, batch.inputs_embeds, meta, self._kv_caches,
                                                   self._rope, hidden)
        return hidden


def _rope_cache(torch: Any, head_dim: int, max_len: int, theta: float, like: Any) -> Any:
    """cos and sin of every position, side by side: [max_len, head_dim]."""
    inverse = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inverse)
    return torch.cat((angles.cos(), angles.sin()), dim=-1).to(dtype=like.dtype, device=like.device)
