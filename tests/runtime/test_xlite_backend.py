"""The XliteGraph adapter against a fake `xlite._C` built from the installed xlite's stub.

The fake accepts only what the stub declares (fields, signatures, value types), so a drift
between `XliteRunner` and xlite's real interface fails here. The tiny model is sharded as
vLLM's parallel layers hold rank 1 of TP 2, and every weight is checked against the shape the
stub documents for it.
"""

from __future__ import annotations

import ast
import math
import re

import pytest
import torch

import real_packages
from vllm_ascend_graphs.backends.xlite import (
    SUPPORTED_XLITE,
    XliteBackend,
    XliteBatch,
    XliteLimits,
    XliteRunner,
    dense_weights,
)
from vllm_ascend_graphs.rules.config import GraphRequest
from vllm_ascend_graphs.probes.environment import Environment
from vllm_ascend_graphs.errors import GraphConfigError
from vllm_ascend_graphs.rules.models import ModelInfo
from vllm_ascend_graphs.runtime.devices.npu import npu_graphs
from vllm_ascend_graphs.selection.selector import select

from .fakes import torch_npu as fake_torch_npu
from .fakes import xlite as fake_xlite

TP, DP = 2, 2
QWEN3 = {
    "architectures": ["Qwen3ForCausalLM"], "vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 4, "intermediate_size": 24,
    "rms_norm_eps": 1e-6, "rope_theta": 1000000,
}
LIMITS = XliteLimits(max_num_seqs=64, max_model_len=256, max_num_batched_tokens=8191, block_size=16)
EXPECTED_FIELDS = {
    "vocab_size": 64, "hidden_size": 16, "n_layers": 2, "n_dense_layers": 2, "n_heads": 4, "n_kv_heads": 2,
    "head_dim": 4, "rope_head_dim": 4, "rope_theta": 1000000.0, "softmax_scale": 4 ** -0.5, "norm_eps": 1e-6,
    "intermediate_size": 24, "qkv_bias": False, "qk_norm": True, "weight_nz": False, "def_tp_size": TP,
    "def_dp_size": DP, "moe_tp_size": 1, "moe_ep_size": 1, "max_m": 64, "max_batch_size": 64,
    "max_seq_len": 256, "block_size": 16,
}
XLITE_NPU = Environment(device="npu", soc="910B", torch_npu="2.13.0", xlite=SUPPORTED_XLITE, npugraph_ex=True,
                        tp=TP, dp=DP)
MARKER = 7.0
POOL_MB = 96


def plan(full_mode: bool):
    request = GraphRequest.parse({"xlite_graph_config": {"enabled": True, "full_mode": full_mode}})
    selection = select(request, environment=XLITE_NPU, model=ModelInfo.from_architecture("Qwen3ForCausalLM"))
    assert isinstance(selection.backend, XliteBackend)
    return selection.plan


def qwen3_shard(config=QWEN3, tp=TP) -> torch.nn.Module:
    """vLLM's Qwen3ForCausalLM parameter layout on one rank of `tp` (q/k norms, no qkv bias), tiny."""
    hidden, head_dim = config["hidden_size"], config["head_dim"]
    heads, kv_heads = config["num_attention_heads"] // tp, config["num_key_value_heads"] // tp
    intermediate = config["intermediate_size"] // tp

    def linear(inputs: int, outputs: int) -> torch.nn.Linear:
        return torch.nn.Linear(inputs, outputs, bias=False)

    def layer() -> torch.nn.Module:
        attention = torch.nn.Module()
        attention.qkv_proj = linear(hidden, (heads + 2 * kv_heads) * head_dim)
        attention.o_proj = linear(heads * head_dim, hidden)
        attention.q_norm, attention.k_norm = torch.nn.RMSNorm(head_dim), torch.nn.RMSNorm(head_dim)
        mlp = torch.nn.Module()
        mlp.gate_up_proj, mlp.down_proj = linear(hidden, 2 * intermediate), linear(intermediate, hidden)
        block = torch.nn.Module()
        block.self_attn, block.mlp = attention, mlp
        block.input_layernorm, block.post_attention_layernorm = torch.nn.RMSNorm(hidden), torch.nn.RMSNorm(hidden)
        return block

    model = torch.nn.Module()
    model.model = torch.nn.Module()
    model.model.embed_tokens = torch.nn.Embedding(config["vocab_size"] // tp, hidden)
    model.model.layers = torch.nn.ModuleList(layer() for _ in range(config["num_hidden_layers"]))
    model.model.norm = torch.nn.RMSNorm(hidden)
    model.lm_head = linear(hidden, config["vocab_size"] // tp)
    return model


def kv_caches(blocks: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per layer (k, v), in the paged MHA layout `Model.forward` documents."""
    shape = (blocks, LIMITS.block_size, QWEN3["num_key_value_heads"] // TP, QWEN3["head_dim"])
    return [(torch.zeros(shape), torch.zeros(shape)) for _ in range(QWEN3["num_hidden_layers"])]


def fill_output(model, *, output, **arguments):
    output.fill_(MARKER)


BEHAVIOUR = {
    "Model.get_tensor_pool_size": lambda model, **arguments: POOL_MB,
    "Runtime.init_tensor_pool": lambda runtime, size: 0,
    "Model.forward": fill_output,
    "Model.forward_with_inputs_embeds": fill_output,
}


@pytest.fixture
def npu(monkeypatch, sim):
    fake_torch_npu.install(monkeypatch, sim)
    return npu_graphs()


def make_runner(monkeypatch, stub, npu, *, full_mode=False, hf_config=QWEN3, behaviour=BEHAVIOUR, fallback=None):
    calls: list = []
    fake_xlite.install(monkeypatch, stub, calls, behaviour)
    fallback = fallback or (lambda batch: ("fallback", batch))
    runner = XliteRunner(plan(full_mode), hf_config, dense_weights(qwen3_shard()), kv_caches(), fallback=fallback,
                         limits=LIMITS, device=npu, rank=1, local_rank=3, tp_size=TP, dp_size=DP)
    return runner, calls


def batch(query_lens, num_decodes, inputs_embeds=None):
    tokens = sum(query_lens)
    return XliteBatch(input_ids=torch.arange(tokens), positions=torch.arange(tokens), query_lens=query_lens,
                      seq_lens=[q + 10 for q in query_lens], num_decodes=num_decodes,
                      block_tables=[[index, index + 4] for index in range(len(query_lens))],
                      inputs_embeds=inputs_embeds)


def test_the_installed_xlite_is_the_supported_one():
    import xlite

    assert xlite.__version__ == SUPPORTED_XLITE == real_packages.XLITE_VERSION


def test_set_up_builds_runtime_model_and_pool_as_the_stub_declares(monkeypatch, xlite_stub, npu):
    runner, calls = make_runner(monkeypatch, xlite_stub, npu)
    assert [name for name, _ in calls] == ["Runtime.__init__", "Model.init", "Model.get_tensor_pool_size",
                                           "Runtime.init_tensor_pool"]
    assert calls[0][1] == {"devid": 3, "size": 0, "rank": 1, "tp_size": TP, "dp_size": DP}
    config = calls[1][1]["config"]
    assert calls[1][1]["rank"] == 1
    fields = fake_xlite.values(config)
    assert fields.pop("attn_type") is runner._xlite.AttnType.AttnMHA
    assert fields == EXPECTED_FIELDS
    assert calls[3][1] == {"size": POOL_MB}


@pytest.mark.parametrize(("change", "field", "value"), [
    ({"rope_theta": None, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}, "rope_theta", 500000.0),
    ({"rope_theta": None}, "rope_theta", 10000.0),
])
def test_rope_theta_is_read_from_rope_parameters_too(monkeypatch, xlite_stub, npu, change, field, value):
    _, calls = make_runner(monkeypatch, xlite_stub, npu, hf_config={**QWEN3, **change})
    assert fake_xlite.values(calls[1][1]["config"])[field] == value


@pytest.mark.parametrize(("full_mode", "max_m"), [
    (False, LIMITS.max_num_seqs),  # decode-only: one token per sequence
    (True, math.ceil(LIMITS.max_num_batched_tokens / TP) * TP),  # 8191 rounded up to a multiple of TP: 8192
])
def test_xlite_buffers_are_sized_as_vllm_ascend_sizes_them(monkeypatch, xlite_stub, npu, full_mode, max_m):
    _, calls = make_runner(monkeypatch, xlite_stub, npu, full_mode=full_mode)
    assert fake_xlite.values(calls[1][1]["config"])["max_m"] == max_m == (64 if not full_mode else 8192)


def test_every_weight_has_the_shape_the_stub_documents(monkeypatch, xlite_stub, npu):
    runner, calls = make_runner(monkeypatch, xlite_stub, npu)
    config = fake_xlite.values(calls[1][1]["config"])
    names = {**config, "n_local_heads": config["n_heads"] // TP, "n_local_kv_heads": config["n_kv_heads"] // TP,
             "local_intermediate_size": config["intermediate_size"] // TP}
    weights = fake_xlite.values(runner._model)
    assert {"embed", "head", "norm", "attn_norm", "mha_qkv", "attn_out", "mha_q_norm", "mha_k_norm", "mlp_norm",
            "mlp_up_gate", "mlp_down"} == set(weights)
    for name, value in weights.items():
        documented = xlite_stub.documented_shape("Model", name)
        assert documented, f"the stub documents no shape for Model.{name}"
        expected = tuple(int(size) for size in _evaluate(documented, names))
        for tensor in value if isinstance(value, list) else [value]:
            assert tuple(tensor.shape) == expected, f"Model.{name}: {tuple(tensor.shape)}, documented [{documented}]"


def _evaluate(shape: str, names: dict) -> list:
    """`[vocab_size/def_tp_size, hidden_size]` with the config's values; `(+ ... if flag)` parts dropped."""
    text = re.sub(r"\(\+[^)]*\)", "", shape)
    tree = ast.parse(f"[{text}]", mode="eval")
    return eval(compile(tree, "<shape>", "eval"), {"__builtins__": {}}, names)  # noqa: S307


def test_a_decode_step_runs_through_xlite_on_the_current_stream(monkeypatch, xlite_stub, npu, sim):
    runner, calls = make_runner(monkeypatch, xlite_stub, npu)
    assert not runner.full_mode
    set_up = len(calls)
    hidden = runner(batch([1, 1, 1], num_decodes=3))
    assert hidden.shape == (3, QWEN3["hidden_size"]) and (hidden == MARKER).all()
    [(name, arguments)] = calls[set_up:]
    assert name == "Model.forward" and arguments["curr_stream"] == id(sim.default_stream)
    assert "aux_outputs" not in arguments and "sync" not in sim.events, "xlite queues on our stream: no sync"
    meta = fake_xlite.values(arguments["attn_meta"])
    assert meta.pop("positions").tolist() == [0, 1, 2]
    assert meta == {"lens": [1, 1, 1], "cached_lens": [10, 10, 10], "block_tables_cpu": [[0, 4], [1, 5], [2, 6]]}
    assert tuple(arguments["freqs_cis"].shape) == (LIMITS.max_model_len, QWEN3["head_dim"])
    assert arguments["kv_cache"] is runner._kv_caches and arguments["output"] is hidden


def test_decode_only_mode_sends_a_mixed_batch_to_the_aclgraph_path(monkeypatch, xlite_stub, npu):
    runner, calls = make_runner(monkeypatch, xlite_stub, npu)
    set_up = len(calls)
    mixed = batch([1, 5], num_decodes=1)
    assert runner(mixed) == ("fallback", mixed)
    assert calls[set_up:] == []


def test_full_mode_runs_a_mixed_batch_through_xlite(monkeypatch, xlite_stub, npu):
    runner, calls = make_runner(monkeypatch, xlite_stub, npu, full_mode=True,
                                fallback=lambda b: pytest.fail("fallback used"))
    assert runner.full_mode
    hidden = runner(batch([1, 4, 3], num_decodes=1))
    assert hidden.shape == (8, QWEN3["hidden_size"]) and (hidden == MARKER).all()
    name, arguments = calls[-1]
    meta = fake_xlite.values(arguments["attn_meta"])
    assert name == "Model.forward" and meta["lens"] == [1, 4, 3] and meta["cached_lens"] == [10, 10, 10]


def test_input_embeddings_go_through_forward_with_inputs_embeds(monkeypatch, xlite_stub, npu):
    runner, calls = make_runner(monkeypatch, xlite_stub, npu)
    embeds = torch.ones(2, QWEN3["hidden_size"])
    hidden = runner(batch([1, 1], num_decodes=2, inputs_embeds=embeds))
    name, arguments = calls[-1]
    assert name == "Model.forward_with_inputs_embeds" and arguments["input"] is embeds and (hidden == MARKER).all()


def test_a_failed_tensor_pool_is_an_error(monkeypatch, xlite_stub, npu):
    failing = {**BEHAVIOUR, "Runtime.init_tensor_pool": lambda runtime, size: 1}
    with pytest.raises(RuntimeError, match=r"init_tensor_pool\(96 MB\) failed on device 3"):
        make_runner(monkeypatch, xlite_stub, npu, behaviour=failing)


@pytest.mark.parametrize(("change", "message"), [
    ({"architectures": ["Qwen3MoeForCausalLM"]}, r"'Qwen3MoeForCausalLM' has no adapter here; allowed: LlamaForCausalLM"),
    ({"rms_norm_eps": None}, r"lacks rms_norm_eps; allowed: a config with vocab_size"),
])
def test_configs_the_adapter_cannot_build_are_clear_errors(monkeypatch, xlite_stub, npu, change, message):
    with pytest.raises(GraphConfigError, match=message):
        make_runner(monkeypatch, xlite_stub, npu, hf_config={**QWEN3, **change})


def test_the_fake_is_as_strict_as_pybind11(monkeypatch, xlite_stub):
    xlite = fake_xlite.install(monkeypatch, xlite_stub, [], BEHAVIOUR)
    meta = xlite.AttnMeta()
    with pytest.raises(AttributeError, match="has no attribute 'is_prefills'"):
        meta.is_prefills = [False]  # the field the adapter used to set: V1 AttnMeta does not declare it
    with pytest.raises(TypeError, match=r"AttnMeta.block_tables_cpu: .*expected List\[List\[int\]\]"):
        meta.block_tables_cpu = torch.zeros(2, 3, dtype=torch.int32)
    runtime = xlite.Runtime(0)
    with pytest.raises(TypeError, match=r"argument 'aux_outputs'"):  # a stream passed where 0.2 expects aux_outputs
        xlite.Model().forward(runtime, torch.arange(2), meta, [], torch.ones(1), torch.ones(1), 12345)
    with pytest.raises(TypeError, match="unexpected keyword argument 'stream'"):
        xlite.Model().forward(runtime, torch.arange(2), meta, [], torch.ones(1), torch.ones(1), stream=12345)


def test_a_field_missing_from_the_stub_fails_the_decode_step(monkeypatch, npu, tmp_path):
    """What a drift between the adapter and xlite looks like: here xlite no longer declares a field we set."""
    text = real_packages.xlite_stub().read_text(encoding="utf-8")
    declaration = '''    block_tables_cpu: List[List[int]] = ...
    """Per-sample block tables on host."""
'''
    assert text.count(declaration) == 1
    drifted = tmp_path / "_C.pyi"
    drifted.write_text(text.replace(declaration, ""), encoding="utf-8")
    runner, _ = make_runner(monkeypatch, fake_xlite.parse_stub(drifted), npu)
    with pytest.raises(AttributeError, match="'xlite._C.AttnMeta' object has no attribute 'block_tables_cpu'"):
        runner(batch([1], num_decodes=1))


def test_xlite_shares_the_aclgraph_runtime_duties():
    backend = XliteBackend()
    assert backend.device == "npu" and plan(False).cudagraph_mode.name == "FULL_DECODE_ONLY"
