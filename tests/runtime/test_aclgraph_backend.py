"""The ACLGraph backend's own code, end to end, against a fake torch_npu whose torch.npu is the sim.

Plans come from the real selector for an assumed Ascend machine; compile goes through the fake
Npugraph_ex with torch_npu's real `CompilerConfig` (or the fusion pass), capture and replay
through `devices/npu.py` on `torch.npu`.
"""

from __future__ import annotations

import sys

import pytest
import torch

from vllm_ascend_graphs.backends.aclgraph import AclGraphBackend
from vllm_ascend_graphs.probes.environment import Environment
from vllm_ascend_graphs.rules.config import GraphRequest
from vllm_ascend_graphs.rules.models import ModelInfo
from vllm_ascend_graphs.runtime.runner import GraphRunner, RunnerOptions
from vllm_ascend_graphs.selection.selector import select

from .fakes import npugraph_ex as fake_npugraph_ex
from .fakes import torch_npu as fake_torch_npu
from .parity import assert_parity

ASCEND = Environment(device="npu", soc="910B", torch_npu="2.13.0")
SIZES = [1, 2, 4, 8]
REQUESTS = [1, 3, 4, 6, 8, 9, 2]
# What our compile stage sets, as the real CompilerConfig reports it (changed from its defaults;
# clone_output is False by default, so setting it changes nothing).
NPUGRAPH_EX_OPTIONS = {"force_eager": True, "inplace_pass": False, "clone_input": False}


@pytest.fixture
def torch_npu(monkeypatch, sim):
    return fake_torch_npu.install(monkeypatch, sim)


def selected(mode, sizes=SIZES, max_num_seqs=256, environment=ASCEND, **compilation):
    request = GraphRequest.parse({"graph_backend": "aclgraph", "graph_fallback": False,
                                  "ascend_compilation_config": compilation},
                                 cudagraph_mode=mode, capture_sizes=sizes, max_num_seqs=max_num_seqs)
    selection = select(request, environment=environment, model=ModelInfo.from_architecture("Qwen3ForCausalLM"))
    assert isinstance(selection.backend, AclGraphBackend)
    return selection.backend, selection.plan


def serve(backend, plan, decoder):
    compiled = backend.compile(decoder, decoder.inputs(2, seed=0), plan)
    runner = GraphRunner(compiled, plan.capture_sizes, RunnerOptions(mode=plan.cudagraph_mode), backend=backend)
    return runner.capture(decoder.inputs(2, seed=0))


def fused_ops(module):
    return [node for node in module.graph.nodes if node.target is fake_torch_npu.npu_add_rms_norm]


@pytest.mark.parametrize("static_kernel", [False, True])
def test_full_decode_only_compiles_with_npugraph_ex_and_replays_after_a_sync(monkeypatch, torch_npu, sim, decoder,
                                                                              compiler_configs, static_kernel):
    npugraph_ex = fake_npugraph_ex.install_npugraph_ex(monkeypatch, compiler_configs)
    backend, plan = selected("FULL_DECODE_ONLY", enable_static_kernel=static_kernel)
    assert plan.npugraph_ex and plan.static_kernel is static_kernel

    runner = serve(backend, plan, decoder)

    [(config, graph_module, _)] = npugraph_ex.compiled
    assert isinstance(config, compiler_configs.npugraph_ex)
    expected = dict(NPUGRAPH_EX_OPTIONS)
    if static_kernel:
        expected |= {"static_kernel_compile": True, "_vllm_aclnn_static_kernel_sym_range": SIZES}
    assert fake_npugraph_ex.changed_options(config) == expected
    assert torch_npu.npu.compile_modes == [False]
    assert not fused_ops(graph_module), "with Npugraph_ex on, its passes fuse, not ours"
    assert runner.graphs.api is torch_npu.npu and sorted(size for size, _ in runner.captured) == SIZES

    events_before = len(sim.events)
    assert_parity(runner, decoder, REQUESTS)
    replays = sim.events[events_before:]
    assert replays == ["sync", "replay"] * (len(REQUESTS) - 1), "FULL graphs synchronise before each replay"


def test_torchair_is_the_fallback_when_npugraph_ex_is_absent(monkeypatch, torch_npu, decoder, compiler_configs):
    torchair = fake_npugraph_ex.install_torchair_only(monkeypatch, compiler_configs)
    backend, plan = selected("FULL", enable_static_kernel=True)
    runner = serve(backend, plan, decoder)
    [(config, _, _)] = torchair.compiled
    assert isinstance(config, compiler_configs.torchair)
    assert fake_npugraph_ex.changed_options(config) == {  # torchair reports booleans as "1"/"0"
        "mode": "reduce-overhead",
        "debug.run_eagerly": "1",
        "debug.aclgraph.disable_reinplace_inplaceable_ops_pass": "1",
        "experimental_config.aclgraph._aclnn_static_shape_kernel": "1",
        "experimental_config.aclgraph._aclnn_static_shape_kernel_sym_value_range": SIZES,
    }
    assert_parity(runner, decoder, REQUESTS, uniform_decode=False)


@pytest.mark.parametrize(("spec_tokens", "planned", "decode_sizes"), [
    (0, [1, 2, 4, 8, 16, 32], [1, 2, 4, 8]),  # 16 and 32 tokens only in batches with prefills
    (1, [2, 4, 8, 16, 32], [2, 4, 8, 16]),  # 2 tokens per request: sizes rounded to even, 32 too large
])
def test_static_kernels_are_built_for_the_decode_capture_sizes_only(monkeypatch, torch_npu, decoder, compiler_configs,
                                                                    spec_tokens, planned, decode_sizes):
    npugraph_ex = fake_npugraph_ex.install_npugraph_ex(monkeypatch, compiler_configs)
    backend, plan = selected("FULL_DECODE_ONLY", sizes=[1, 2, 4, 8, 16, 32], max_num_seqs=8,
                             environment=ASCEND.replace(spec_tokens=spec_tokens), enable_static_kernel=True)
    assert list(plan.capture_sizes) == planned and plan.options == {"static_kernel_sizes": decode_sizes}
    backend.compile(decoder, decoder.inputs(2, seed=0), plan)
    [(config, _, _)] = npugraph_ex.compiled
    assert fake_npugraph_ex.changed_options(config)["_vllm_aclnn_static_kernel_sym_range"] == decode_sizes


def test_without_npugraph_ex_or_torchair_the_error_says_how_to_proceed(monkeypatch, torch_npu, decoder):
    monkeypatch.setitem(sys.modules, "npugraph_ex", None)
    monkeypatch.setitem(sys.modules, "torchair", None)
    backend, plan = selected("FULL")
    with pytest.raises(Exception, match="neither npugraph_ex nor torchair; allowed: .*enable_npugraph_ex false"):
        backend.compile(decoder, decoder.inputs(2, seed=0), plan)


def test_piecewise_fuses_add_rms_norm_into_the_npu_kernel_and_replays_without_a_sync(torch_npu, sim, decoder):
    backend, plan = selected("PIECEWISE")
    assert not plan.npugraph_ex
    compiled = backend.compile(decoder, decoder.inputs(2, seed=0), plan)
    assert len(fused_ops(compiled)) == 4  # two per layer: after attention and after the MLP
    assert not [node for node in compiled.graph.nodes if node.target is torch.nn.functional.rms_norm
                and node.args[0].target is not torch.nn.functional.embedding]

    runner = GraphRunner(compiled, plan.capture_sizes, RunnerOptions(mode=plan.cudagraph_mode), backend=backend)
    runner.capture(decoder.inputs(2, seed=0))
    events_before = len(sim.events)
    assert_parity(runner, decoder, REQUESTS, atol=1e-4)
    assert_parity(runner, decoder, REQUESTS, uniform_decode=False, atol=1e-4)
    assert "sync" not in sim.events[events_before:], "PIECEWISE graphs replay without a sync"


def test_the_fuse_add_rms_norm_toggle_turns_the_fusion_off(torch_npu, decoder):
    backend, plan = selected("PIECEWISE", fuse_add_rms_norm=False)
    assert plan.options == {"fuse_add_rms_norm": False}
    compiled = backend.compile(decoder, decoder.inputs(2, seed=0), plan)
    assert not fused_ops(compiled)


def test_vllm_ascends_fuse_norm_quant_is_not_our_add_rms_norm_pass(torch_npu, decoder):
    backend, plan = selected("PIECEWISE", fuse_norm_quant=False)
    assert plan.options == {}, "fuse_norm_quant (add_rms_norm + quant) belongs to vLLM Ascend's compiler"
    assert len(fused_ops(backend.compile(decoder, decoder.inputs(2, seed=0), plan))) == 4


def test_a_single_output_graph_is_handed_to_npugraph_ex_as_a_tuple_and_unwrapped(monkeypatch, torch_npu,
                                                                                  compiler_configs):
    fake_npugraph_ex.install_npugraph_ex(monkeypatch, compiler_configs)
    backend, plan = selected("FULL")
    compiled = backend.compile(lambda x: x * 2, [torch.ones(2)], plan)
    torch.testing.assert_close(compiled(torch.ones(2)), torch.full((2,), 2.0))


def test_xlite_captures_a_callable_on_the_aclgraph_path_its_plan_puts_beside_xlite(monkeypatch, torch_npu, sim,
                                                                                   decoder, compiler_configs):
    """Outside vLLM a callable has no xlite model: the xlite backend serves it with the ACLGraph duties, in
    the FULL_DECODE_ONLY mode vLLM Ascend keeps beside xlite's decode-only path."""
    from vllm_ascend_graphs.backends.xlite import XliteBackend

    fake_npugraph_ex.install_npugraph_ex(monkeypatch, compiler_configs)
    request = GraphRequest.parse({"xlite_graph_config": {"enabled": True}}, capture_sizes=SIZES)
    selection = select(request, environment=ASCEND.replace(xlite="0.2.0rc4"),
                       model=ModelInfo.from_architecture("Qwen3ForCausalLM"))
    assert isinstance(selection.backend, XliteBackend)
    assert selection.plan.cudagraph_mode.name == "FULL_DECODE_ONLY" and selection.plan.options["xlite_mode"] == \
        "decode_only"

    runner = serve(selection.backend, selection.plan, decoder)
    assert runner.graphs.api is torch_npu.npu and sorted(size for size, _ in runner.captured) == SIZES
    events_before = len(sim.events)
    assert_parity(runner, decoder, REQUESTS)
    assert sim.events[events_before:] == ["sync", "replay"] * (len(REQUESTS) - 1)
