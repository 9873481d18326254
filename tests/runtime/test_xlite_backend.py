"""The XliteGraph adapter against a fake xlite: configuration fields, set-up order and batch routing."""

from __future__ import annotations

import types

import pytest
import torch

from vllm_ascend_graphs.backends.xlite import (
    XliteBackend,
    XliteBatch,
    XliteLimits,
    XliteRunner,
    dense_weights,
)
from vllm_ascend_graphs.config import GraphRequest
from vllm_ascend_graphs.environment import Environment
from vllm_ascend_graphs.errors import GraphConfigError
from vllm_ascend_graphs.models import ModelInfo
from vllm_ascend_graphs.selection import select

from .fakes import xlite as fake_xlite

QWEN3 = {
    "architectures": ["Qwen3ForCausalLM"], "vocab_size": 151936, "hidden_size": 1024, "num_hidden_layers": 28,
    "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "intermediate_size": 3072,
    "rms_norm_eps": 1e-6, "rope_theta": 1000000,
}
LIMITS = XliteLimits(max_num_seqs=64, max_model_len=4096, max_num_batched_tokens=8192, block_size=128)
EXPECTED_FIELDS = {
    "vocab_size": 151936, "hidden_size": 1024, "n_layers": 28, "n_dense_layers": 28, "n_heads": 16, "n_kv_heads": 8,
    "head_dim": 128, "rope_head_dim": 128, "rope_theta": 1000000.0, "softmax_scale": 128 ** -0.5, "norm_eps": 1e-6,
    "intermediate_size": 3072, "attn_type": "AttnMHA", "qkv_bias": False, "qk_norm": True, "weight_nz": False,
    "def_tp_size": 2, "def_dp_size": 1, "moe_tp_size": 1, "moe_ep_size": 1, "max_m": 8192, "max_batch_size": 64,
    "max_seq_len": 4096, "block_size": 128,
}
XLITE_NPU = Environment(device="npu", soc="910B", torch_npu="2.13.0", xlite="0.2.0", npugraph_ex=True, tp=2)


def plan(full_mode: bool):
    request = GraphRequest.parse({"xlite_graph_config": {"enabled": True, "full_mode": full_mode}})
    selection = select(request, environment=XLITE_NPU, model=ModelInfo.from_architecture("Qwen3ForCausalLM"))
    assert isinstance(selection.backend, XliteBackend)
    return selection.plan


def qwen3_module(layers: int = 2, hidden: int = 8) -> types.SimpleNamespace:
    """The parameter layout of vLLM's Qwen3ForCausalLM (q/k norms, no qkv bias), tiny."""

    def linear(out: int, bias: bool = False):
        return torch.nn.Linear(hidden, out, bias=bias)

    def layer():
        attention = torch.nn.Module()
        attention.qkv_proj, attention.o_proj = linear(3 * hidden), linear(hidden)
        attention.q_norm, attention.k_norm = torch.nn.LayerNorm(hidden), torch.nn.LayerNorm(hidden)
        mlp = torch.nn.Module()
        mlp.gate_up_proj, mlp.down_proj = linear(4 * hidden), linear(hidden)
        block = torch.nn.Module()
        block.self_attn, block.mlp = attention, mlp
        block.input_layernorm, block.post_attention_layernorm = torch.nn.LayerNorm(hidden), torch.nn.LayerNorm(hidden)
        return block

    model = torch.nn.Module()
    model.model = torch.nn.Module()
    model.model.embed_tokens = torch.nn.Embedding(32, hidden)
    model.model.layers = torch.nn.ModuleList(layer() for _ in range(layers))
    model.model.norm = torch.nn.LayerNorm(hidden)
    model.lm_head = torch.nn.Linear(hidden, 32, bias=False)
    return model


def make_runner(monkeypatch, sim, graphs, full_mode, fallback=None, pool_status=0):
    fake_xlite.install(monkeypatch, sim.events, pool_status=pool_status)
    fallback = fallback or (lambda batch: ("fallback", batch))
    return XliteRunner(plan(full_mode), QWEN3, dense_weights(qwen3_module()), "kv-caches", fallback=fallback,
                       limits=LIMITS, device=graphs, rank=1, local_rank=3, tp_size=2)


def batch(query_lens, num_decodes):
    tokens = sum(query_lens)
    return XliteBatch(input_ids=torch.arange(tokens), positions=torch.arange(tokens), query_lens=query_lens,
                      seq_lens=[q + 10 for q in query_lens], num_decodes=num_decodes, block_tables="blocks",
                      slot_mapping="slots")


def test_set_up_builds_the_config_from_the_model_config_in_xlites_order(monkeypatch, sim, graphs):
    make_runner(monkeypatch, sim, graphs, full_mode=False)
    names = [event[0] for event in sim.events]
    assert names == ["Runtime", "Model", "Model.init", "get_tensor_pool_size", "init_tensor_pool"]
    assert sim.events[0] == ("Runtime", 3, 0, 1, 2, 1)
    _, fields, rank, weights = sim.events[2]
    assert fields == EXPECTED_FIELDS and rank == 1
    assert {"embed", "head", "mha_qkv", "mha_q_norm", "mha_k_norm", "mlp_up_gate"} <= set(weights)
    assert "mha_qkv_bias" not in weights
    assert sim.events[4] == ("init_tensor_pool", 96)


def test_decode_only_mode_sends_pure_decode_batches_to_xlite_after_a_sync(monkeypatch, sim, graphs):
    runner = make_runner(monkeypatch, sim, graphs, full_mode=False)
    assert not runner.full_mode
    set_up = len(sim.events)
    hidden = runner(batch([1, 1, 1], num_decodes=3))
    assert hidden.shape == (3, QWEN3["hidden_size"]) and (hidden == fake_xlite.MARKER).all()
    sync, forward = sim.events[set_up:]
    assert sync == "sync" and forward[0] == "forward"
    _, input_ids, meta, kv_caches, rope_shape = forward
    assert meta["lens"] == [1, 1, 1] and meta["cached_lens"] == [10, 10, 10]
    assert meta["is_prefills"] == [False, False, False] and meta["block_tables"] == "blocks"
    assert kv_caches == "kv-caches" and rope_shape == (LIMITS.max_model_len, QWEN3["head_dim"])


def test_decode_only_mode_sends_batches_with_prefills_to_the_aclgraph_path(monkeypatch, sim, graphs):
    runner = make_runner(monkeypatch, sim, graphs, full_mode=False)
    set_up = len(sim.events)
    mixed = batch([1, 5], num_decodes=1)
    assert runner(mixed) == ("fallback", mixed)
    assert sim.events[set_up:] == []


def test_full_mode_sends_every_batch_to_xlite(monkeypatch, sim, graphs):
    runner = make_runner(monkeypatch, sim, graphs, full_mode=True, fallback=lambda b: pytest.fail("fallback used"))
    assert runner.full_mode
    hidden = runner(batch([1, 4, 3], num_decodes=1))
    assert hidden.shape == (8, QWEN3["hidden_size"])
    _, _, meta, _, _ = sim.events[-1]
    assert meta["is_prefills"] == [False, True, True] and meta["cached_lens"] == [10, 10, 10]


def test_a_failed_tensor_pool_is_an_error(monkeypatch, sim, graphs):
    with pytest.raises(RuntimeError, match=r"init_tensor_pool\(96 MB\) failed on device 3"):
        make_runner(monkeypatch, sim, graphs, full_mode=False, pool_status=1)


@pytest.mark.parametrize(("change", "message"), [
    ({"architectures": ["Qwen3MoeForCausalLM"]}, r"'Qwen3MoeForCausalLM' has no adapter here; allowed: LlamaForCausalLM"),
    ({"rms_norm_eps": None}, r"lacks rms_norm_eps; allowed: a config with vocab_size"),
])
def test_configs_the_adapter_cannot_build_are_clear_errors(monkeypatch, sim, graphs, change, message):
    fake_xlite.install(monkeypatch, sim.events)
    with pytest.raises(GraphConfigError, match=message):
        XliteRunner(plan(False), {**QWEN3, **change}, dense_weights(qwen3_module()), None, fallback=print,
                    limits=LIMITS, device=graphs)


def test_xlite_shares_the_aclgraph_runtime_duties():
    backend = XliteBackend()
    assert backend.device == "npu" and plan(False).cudagraph_mode.name == "FULL_DECODE_ONLY"
