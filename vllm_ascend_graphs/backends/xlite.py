"""XliteGraph: runs the model through the separate `xlite` runtime for selected families.

Selection (probe, plan) and the run-time adapter (`XliteRunner`): xlite runs the batches the
plan routes to it (pure-decode batches in decode-only mode, every batch in full mode); the other
batches take the ACLGraph path, whose compile/capture/replay duties this backend shares.
xlite is imported only inside `XliteRunner`; the adapter follows the interface of xlite
`SUPPORTED_XLITE` as its stub, `xlite/_C.pyi`, declares it.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..rules.config import GraphRequest
from ..probes.environment import Environment
from ..errors import GraphConfigError
from ..rules.models import ModelInfo
from ..rules.modes import CUDAGraphMode, resolve
from .aclgraph import AclGraphRuntime, compile_options, graph_path_refusal
from .base import GraphBackend, Plan, Probe

if TYPE_CHECKING:
    from ..runtime.devices import DeviceGraphs

# The xlite release whose interface (`xlite/_C.pyi`) the run-time adapter follows.
SUPPORTED_XLITE = "0.2.0rc4"
INSTALL_HINT = (f"install it with `pip install --pre xlite` (it is published as pre-releases only; this adapter "
                f"follows xlite {SUPPORTED_XLITE})")


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
        notes = (f"cudagraph_mode {requested.name} -> {mode.name}: {why}",) if requested is not mode else (why,)
        if request.cudagraph_mode is CUDAGraphMode.NONE and mode is not CUDAGraphMode.NONE:
            notes += ("beside xlite, vLLM Ascend sets the mode itself: to run without graphs, use enforce_eager=True "
                      "or turn xlite off",)
        settings = resolve(request, environment, model, mode=mode)
        options = {"xlite_mode": "full" if full_mode else "decode_only",
                   **compile_options(request, environment, settings)}
        return Plan.from_settings(self.name, settings, options=options, notes=notes)


# -- run time: the adapter over xlite's API (xlite._C) ------------------------------------------

# The dense architectures whose layout `dense_weights` reads (the reference's Llama adapter).
DENSE_ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM")
REQUIRED_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                   "rms_norm_eps")
DEFAULT_ROPE_THETA = 10000.0


class XliteLimits(NamedTuple):
    """vLLM's scheduler and cache limits, which size xlite's buffers."""

    max_num_seqs: int
    max_model_len: int
    max_num_batched_tokens: int
    block_size: int = 128


class XliteBatch(NamedTuple):
    """One model step as xlite reads it; requests are ordered decodes first, then prefills.

    `block_tables` are host lists (one list of KV block ids per request, e.g. vLLM's CPU block
    table `.tolist()`): xlite's V1 metadata takes them on the host and derives the slots itself.
    """

    input_ids: Any
    positions: Any
    query_lens: Sequence[int]
    seq_lens: Sequence[int]
    num_decodes: int
    block_tables: Sequence[Sequence[int]]
    inputs_embeds: Any = None

    @property
    def pure_decode(self) -> bool:
        return self.num_decodes == len(self.query_lens)


def xlite_model_config(xlite: Any, hf_config: Mapping[str, Any], limits: XliteLimits, *, full_mode: bool,
                       tp_size: int, dp_size: int, qkv_bias: bool, qk_norm: bool, weight_nz: bool = False) -> Any:
    """xlite's `ModelConfig` for a dense model, from its Hugging Face config fields.

    Sized as vLLM Ascend's xlite path sizes it: xlite's token buffers (`max_m`) hold one token per
    sequence in decode-only mode and `max_num_batched_tokens` rounded up to a multiple of the TP
    size in full mode; `def_dp_size` is the data-parallel size.
    """
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
    max_m = (math.ceil(limits.max_num_batched_tokens / tp_size) * tp_size if full_mode else limits.max_num_seqs)
    fields = {
        "vocab_size": hf_config["vocab_size"],
        "hidden_size": hf_config["hidden_size"],
        "n_layers": hf_config["num_hidden_layers"],
        "n_dense_layers": hf_config["num_hidden_layers"],
        "n_heads": heads,
        "n_kv_heads": hf_config.get("num_key_value_heads") or heads,
        "head_dim": head_dim,
        "rope_head_dim": head_dim,
        "rope_theta": _rope_theta(hf_config),
        "softmax_scale": head_dim ** -0.5,
        "norm_eps": float(hf_config["rms_norm_eps"]),
        "intermediate_size": hf_config["intermediate_size"],
        "attn_type": xlite.AttnMHA,
        "qkv_bias": qkv_bias,
        "qk_norm": qk_norm,
        "weight_nz": weight_nz,
        "def_tp_size": tp_size,
        "def_dp_size": dp_size,
        "moe_tp_size": 1,
        "moe_ep_size": 1,
        "max_m": max_m,
        "max_batch_size": limits.max_num_seqs,
        "max_seq_len": limits.max_model_len,
        "block_size": limits.block_size,
    }
    config = xlite.ModelConfig()
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def _rope_theta(hf_config: Mapping[str, Any]) -> float:
    """`rope_theta`, or `rope_parameters.rope_theta` where newer configs keep it."""
    theta = hf_config.get("rope_theta")
    if theta is None:
        theta = (hf_config.get("rope_parameters") or {}).get("rope_theta")
    return float(DEFAULT_ROPE_THETA if theta is None else theta)


def dense_weights(model: Any) -> dict[str, Any]:
    """xlite `Model` fields from a vLLM Llama / Qwen dense module (tied embeddings allowed).

    vLLM's parallel layers hold this rank's shards in the layouts xlite documents: embedding and
    head `[vocab/tp, hidden]`, fused `qkv_proj` `[(heads + 2 * kv_heads) / tp * head_dim, hidden]`,
    `o_proj` `[hidden, heads / tp * head_dim]`, `gate_up_proj` `[2 * intermediate / tp, hidden]`,
    `down_proj` `[hidden, intermediate / tp]`, norms `[hidden]` and q/k norms `[head_dim]`.
    """
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

    Set-up: `Runtime(devid, size, rank, tp_size, dp_size)`, `Model()` with its weights,
    `Model.init(config, rank)`, then a tensor pool of `Model.get_tensor_pool_size()` MB.

    Each step uses xlite's V1 forward path: `AttnMeta` with host `lens`, `cached_lens` and
    `block_tables_cpu`, and `Model.forward`. The V2 path (`AttnMetaV2`, `forward_v2`) takes the
    same metadata as pre-built int32 device tensors (with a `query_start_loc` of shape `[batch]`,
    unlike vLLM's `[batch + 1]`) to save xlite a host computation and a copy per step. V1 is the
    path vLLM Ascend's xlite integration runs, so it is the one exercised on hardware, and its
    host lists are what vLLM's CPU-side metadata already holds; V2's device layouts have no
    reference user to check them against. xlite launches on the stream passed as `curr_stream`:
    the current stream, so its work queues behind ours without a synchronisation.
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
        self._runtime = xlite.Runtime(devid=local_rank, size=0, rank=rank, tp_size=tp_size, dp_size=dp_size)
        config = xlite_model_config(xlite, hf_config, limits, full_mode=self.full_mode, tp_size=tp_size,
                                    dp_size=dp_size, qkv_bias="mha_qkv_bias" in weights,
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
        self._rope = _rope_cache(torch, config.rope_head_dim, config.max_seq_len, config.rope_theta, embed)

    def __call__(self, batch: XliteBatch) -> Any:
        """Hidden states for the batch's tokens, from xlite or from `fallback`."""
        if not (self.full_mode or batch.pure_decode):
            return self._fallback(batch)
        import torch

        meta = self._xlite.AttnMeta()
        meta.lens = [int(query) for query in batch.query_lens]
        meta.cached_lens = [int(seq) - int(query) for seq, query in zip(batch.seq_lens, batch.query_lens)]
        meta.block_tables_cpu = [[int(block) for block in row] for row in batch.block_tables]
        meta.positions = batch.positions
        hidden = torch.empty(sum(meta.lens), self._hidden_size, dtype=self._dtype, device=batch.positions.device)
        stream = self._device.api.current_stream().npu_stream
        if batch.inputs_embeds is None:
            self._model.forward(self._runtime, batch.input_ids, meta, self._kv_caches, self._rope, hidden,
                                curr_stream=stream)
        else:
            self._model.forward_with_inputs_embeds(self._runtime, batch.inputs_embeds, meta, self._kv_caches,
                                                   self._rope, hidden, curr_stream=stream)
        return hidden


def _rope_cache(torch: Any, head_dim: int, max_len: int, theta: float, like: Any) -> Any:
    """cos and sin of every position, side by side: [max_len, head_dim]."""
    inverse = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(max_len, dtype=torch.float32), inverse)
    return torch.cat((angles.cos(), angles.sin()), dim=-1).to(dtype=like.dtype, device=like.device)
