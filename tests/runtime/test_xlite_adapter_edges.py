"""The XliteGraph adapter's other model layouts, its defaults and its numbers, against the stub-built fake.

test_xlite_backend.py runs the Qwen3 layout; here: a Llama layout (qkv bias, no q/k norms, tied
embeddings, no `head_dim` in the config), a `head_dim` that differs from hidden / heads, the
runner's defaults, the dtype and device of what it returns, and the rope table's values.
"""

from __future__ import annotations

import math

import pytest
import torch

from vllm_ascend_graphs.backends.xlite import XliteRunner, _rope_cache, dense_weights, xlite_model_config
from vllm_ascend_graphs.errors import GraphConfigError
from vllm_ascend_graphs.runtime.devices.npu import npu_graphs

from . import test_xlite_backend as qwen3
from .fakes import torch_npu as fake_torch_npu
from .fakes import xlite as fake_xlite

LLAMA = {key: value for key, value in qwen3.QWEN3.items() if key not in ("head_dim", "num_key_value_heads")}
LLAMA["architectures"] = ["LlamaForCausalLM"]


@pytest.fixture
def npu(monkeypatch, sim):
    fake_torch_npu.install(monkeypatch, sim)
    return npu_graphs()


def llama_shard() -> torch.nn.Module:
    """vLLM's Llama layout on one rank: a biased fused qkv, no q/k norms, the head tied to the embedding."""
    model = qwen3.qwen3_shard()
    for layer in model.model.layers:
        attention = layer.self_attn
        del attention.q_norm, attention.k_norm
        proj = attention.qkv_proj
        attention.qkv_proj = torch.nn.Linear(proj.in_features, proj.out_features, bias=True)
    del model.lm_head
    return model


def runner_for(monkeypatch, stub, model, hf_config, **arguments):
    calls: list = []
    fake_xlite.install(monkeypatch, stub, calls, qwen3.BEHAVIOUR)
    runner = XliteRunner(qwen3.plan(False), hf_config, dense_weights(model), qwen3.kv_caches(),
                         fallback=lambda batch: None, limits=qwen3.LIMITS, **arguments)
    return runner, calls


def test_an_untied_head_is_the_models_own():
    model = qwen3.qwen3_shard()
    weights = dense_weights(model)
    assert weights["head"] is model.lm_head.weight and weights["embed"] is model.model.embed_tokens.weight


def test_the_llama_layout(monkeypatch, xlite_stub, npu):
    model = llama_shard()
    weights = dense_weights(model)
    assert "mha_q_norm" not in weights and "mha_k_norm" not in weights
    assert weights["head"] is weights["embed"] is model.model.embed_tokens.weight
    assert [bias is layer.self_attn.qkv_proj.bias for bias, layer in zip(weights["mha_qkv_bias"], model.model.layers)] \
        == [True, True]
    _, calls = runner_for(monkeypatch, xlite_stub, model, LLAMA, device=npu, rank=1, tp_size=qwen3.TP)
    config = fake_xlite.values(calls[1][1]["config"])
    assert (config["qkv_bias"], config["qk_norm"]) == (True, False)
    assert (config["head_dim"], config["n_kv_heads"]) == (4, 4)  # hidden / heads; kv heads default to the heads
    assert isinstance(config["head_dim"], int)


def test_a_head_dim_of_its_own(monkeypatch, xlite_stub):
    xlite = fake_xlite.install(monkeypatch, xlite_stub, [], qwen3.BEHAVIOUR)
    config = xlite_model_config(xlite, {**qwen3.QWEN3, "head_dim": 8}, qwen3.LIMITS, full_mode=False, tp_size=1,
                                dp_size=1, qkv_bias=False, qk_norm=True)
    fields = fake_xlite.values(config)
    assert (fields["head_dim"], fields["rope_head_dim"], fields["softmax_scale"]) == (8, 8, 8 ** -0.5)


@pytest.mark.parametrize(("change", "message"), [
    ({"architectures": None},
     "xlite adapter: architecture 'unknown' has no adapter here; allowed: LlamaForCausalLM, Qwen2ForCausalLM, "
     "Qwen3ForCausalLM"),
    ({"vocab_size": None, "rms_norm_eps": None},
     "xlite adapter: the model config lacks vocab_size, rms_norm_eps; allowed: a config with vocab_size, hidden_size, "
     "num_hidden_layers, num_attention_heads, intermediate_size, rms_norm_eps"),
])
def test_configs_the_adapter_cannot_build(monkeypatch, xlite_stub, change, message):
    xlite = fake_xlite.install(monkeypatch, xlite_stub, [], qwen3.BEHAVIOUR)
    with pytest.raises(GraphConfigError) as info:
        xlite_model_config(xlite, {**qwen3.QWEN3, **change}, qwen3.LIMITS, full_mode=False, tp_size=1, dp_size=1,
                           qkv_bias=False, qk_norm=True)
    assert str(info.value) == message


def test_the_defaults_are_one_rank_on_device_0_and_the_npu_graph_api(monkeypatch, xlite_stub, sim):
    fake_torch_npu.install(monkeypatch, sim)
    runner, calls = runner_for(monkeypatch, xlite_stub, qwen3.qwen3_shard(tp=1), qwen3.QWEN3)
    assert calls[0][1] == {"devid": 0, "size": 0, "rank": 0, "tp_size": 1, "dp_size": 1}
    assert calls[1][1]["rank"] == 0
    config = fake_xlite.values(calls[1][1]["config"])
    assert (config["def_tp_size"], config["def_dp_size"]) == (1, 1)
    runner(qwen3.batch([1], num_decodes=1))
    assert calls[-1][1]["curr_stream"] == id(sim.default_stream)


def test_a_failed_tensor_pool_says_what_to_change(monkeypatch, xlite_stub, npu):
    failing = {**qwen3.BEHAVIOUR, "Runtime.init_tensor_pool": lambda runtime, size: 1}
    with pytest.raises(RuntimeError) as info:
        qwen3.make_runner(monkeypatch, xlite_stub, npu, behaviour=failing)
    assert str(info.value) == ("xlite: init_tensor_pool(96 MB) failed on device 3; free device memory or lower "
                               "max_num_batched_tokens / max_model_len")


def test_hidden_states_take_the_model_dtype_and_the_batch_device(monkeypatch, xlite_stub, npu, sim):
    runner, calls = runner_for(monkeypatch, xlite_stub, qwen3.qwen3_shard().to(torch.bfloat16), qwen3.QWEN3,
                               device=npu, tp_size=qwen3.TP)
    hidden = runner(qwen3.batch([1, 1], num_decodes=2))
    assert hidden.dtype is torch.bfloat16 and calls[-1][1]["freqs_cis"].dtype is torch.bfloat16
    on_meta = qwen3.batch([1, 1], num_decodes=2)._replace(positions=torch.arange(2, device="meta"))
    assert runner(on_meta).device.type == "meta"
    embeds = runner(qwen3.batch([1], num_decodes=1, inputs_embeds=torch.ones(1, 16)))
    assert embeds.dtype is torch.bfloat16 and calls[-1][1]["curr_stream"] == id(sim.default_stream)


def test_the_rope_table_holds_cos_then_sin_of_each_position_and_frequency():
    theta, head_dim, positions = 1e6, 4, 3
    table = _rope_cache(torch, head_dim, positions, theta, torch.empty(0, dtype=torch.float64))
    inverse = [theta ** (-2 * i / head_dim) for i in range(head_dim // 2)]  # 1 and 1e-3
    expected = [[math.cos(p * f) for f in inverse] + [math.sin(p * f) for f in inverse] for p in range(positions)]
    assert table.dtype is torch.float64 and table.shape == (positions, head_dim)
    assert torch.allclose(table, torch.tensor(expected, dtype=torch.float64), atol=1e-6)
    on_meta = _rope_cache(torch, head_dim, positions, theta, torch.empty(0, dtype=torch.bfloat16, device="meta"))
    assert (on_meta.device.type, on_meta.dtype) == ("meta", torch.bfloat16)
