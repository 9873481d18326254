"""Our use of torch_npu, and the fakes and sim device that stand in for it, against the real source.

For each torch-npu wheel (the one vllm-ascend 0.23.0 pairs with, and the newest) the source is
read with `ast`, never imported: every torch_npu / `torch.npu` / Npugraph_ex call in
`vllm_ascend_graphs/` must bind the real signature, every attribute we read must exist, every
fake function must accept nothing the real one rejects, and our Npugraph_ex / torchair options
go through the real `CompilerConfig` classes.
"""

from __future__ import annotations

import ast
import inspect
import operator

import pytest
import real_packages
import torch
from runtime.fakes import npugraph_ex as fake_npugraph_ex
from runtime.fakes import torch_npu as fake_torch_npu

from vllm_ascend_graphs.backends import aclgraph
from vllm_ascend_graphs.backends.aclgraph import AclGraphBackend
from vllm_ascend_graphs.backends.fusion import fuse_add_rms_norm
from vllm_ascend_graphs.probes.environment import Environment
from vllm_ascend_graphs.rules.config import GraphRequest
from vllm_ascend_graphs.rules.models import ModelInfo
from vllm_ascend_graphs.runtime.devices.npu import npu_graphs
from vllm_ascend_graphs.runtime.devices.sim import SimDevice, SimGraph, SimStream
from vllm_ascend_graphs.selection.selector import select

from .project_calls import uses
from .torch_npu_api import Missing, RealApi, conformance_problems

# What our code uses; the scan must find at least these (so it cannot pass by finding nothing).
EXPECTED_USES = {
    "torch_npu.npu.set_compile_mode", "npugraph_ex.CompilerConfig", "npugraph_ex.get_npu_backend",
    "torchair.CompilerConfig", "torchair.get_npu_backend", "torch_npu.npu_add_rms_norm",
    "torch_npu.npu.get_device_name", "torch_npu.npu.graph_pool_handle", "torch_npu.npu.graph",
    "torch_npu.npu.NPUGraph", "torch_npu.npu.Stream", "torch_npu.npu.current_stream",
    "torch_npu.npu.Stream.synchronize",
}
# SimGraph methods with no NPUGraph counterpart, and why they may exist.
SIM_ONLY = {"abort": "drops a capture whose body raised; torch.npu.graph does this inside its __exit__"}


@pytest.fixture(scope="module", params=real_packages.TORCH_NPU_VERSIONS)
def version(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def api(version) -> RealApi:
    return RealApi(real_packages.torch_npu_source(version))


@pytest.fixture(scope="module")
def configs(version) -> fake_npugraph_ex.CompilerConfigs:
    return fake_npugraph_ex.real_compiler_configs(real_packages.torch_npu_source(version))


def use_problems(api: RealApi) -> list[str]:
    """Each of our uses that the real source does not define, or a call that does not bind."""
    problems = []
    for use in uses():
        if use.call is None:
            if not api.exists(use.real):
                problems.append(f"{use.where}: {use.real} does not exist")
            continue
        if any(isinstance(arg, ast.Starred) for arg in use.call.args) or any(k.arg is None for k in use.call.keywords):
            problems.append(f"{use.where}: {use.real}(*args / **kwargs) cannot be checked statically")
            continue
        try:
            signature = api.signature(use.real)
            signature.bind(*[object()] * len(use.call.args), **{k.arg: object() for k in use.call.keywords})
        except Missing as exc:
            problems.append(f"{use.where}: {exc}")
        except TypeError as exc:
            problems.append(f"{use.where}: {use.real}{signature}: {exc}")
    return problems


def test_every_torch_npu_use_of_ours_exists_and_binds_the_real_signature(api):
    assert EXPECTED_USES <= {use.real for use in uses()}
    assert use_problems(api) == []


def test_npu_graphs_gives_device_graphs_torch_npus_graph_and_stream_classes(monkeypatch):
    """What `project_calls.CALLABLES` assumes: DeviceGraphs' callables on the npu device are these."""
    module = fake_torch_npu.install(monkeypatch, SimDevice())
    graphs = npu_graphs()
    assert graphs.api is module.npu and graphs._new_graph is module.npu.NPUGraph
    assert isinstance(graphs._capture_stream, SimStream)


def test_the_fused_node_binds_npu_add_rms_norm(api):
    """The add + rms_norm pass writes calls to `torch_npu.npu_add_rms_norm` into the graph."""

    def layer(x, residual, weight):
        return torch.nn.functional.rms_norm(x + residual, (4,), weight, 1e-6) * 2

    def stand_in(*args, **kwargs):
        raise AssertionError("never run")

    gm = torch.fx.symbolic_trace(layer)
    assert fuse_add_rms_norm(gm, stand_in) == 1
    [node] = [node for node in gm.graph.nodes if node.target is stand_in]
    bound = api.signature("torch_npu.npu_add_rms_norm").bind(*node.args, **node.kwargs)
    assert list(bound.arguments) == ["x1", "x2", "gamma", "epsilon"]
    assert {user.args[1] for user in node.users if user.target is operator.getitem} == {0, 2}


def fake_problems(api: RealApi, monkeypatch) -> dict[str, list[str]]:
    """For each fake function and sim method that stands in for a real one: why it is more lenient."""
    module = fake_torch_npu.install(monkeypatch, SimDevice())
    stand_ins = {f"torch_npu.npu.{name}": value for name, value in vars(module.npu).items() if callable(value)}
    stand_ins["torch_npu.npu_add_rms_norm"] = module.npu_add_rms_norm
    stream = module.npu.current_stream()
    stand_ins["torch_npu.npu.Stream.synchronize"] = stream.synchronize
    stand_ins["torch_npu.npu.Stream.synchronize (sim)"] = SimStream(SimDevice(), "s").synchronize
    graph = SimGraph(SimDevice())
    for name, method in inspect.getmembers(graph, inspect.ismethod):
        if not name.startswith("_") and name not in SIM_ONLY:
            stand_ins[f"torch_npu.npu.NPUGraph.{name}"] = method
    npugraph_ex = fake_npugraph_ex.install_npugraph_ex(monkeypatch, fake_npugraph_ex.CompilerConfigs(object, object))
    torchair = fake_npugraph_ex.install_torchair_only(monkeypatch, fake_npugraph_ex.CompilerConfigs(object, object))
    stand_ins["npugraph_ex.get_npu_backend"] = npugraph_ex.get_npu_backend
    stand_ins["torchair.get_npu_backend"] = torchair.get_npu_backend
    problems = {}
    for real, fake in stand_ins.items():
        real = real.split(" ")[0]
        try:
            problems[real] = problems.get(real, []) + conformance_problems(inspect.signature(fake), api.signature(real))
        except Missing as exc:
            problems[real] = [str(exc)]
    extra = {name for name in vars(stream) if not name.startswith("_") and not api.has_attribute("torch_npu.npu.Stream",
                                                                                                    name)}
    if extra:
        problems["torch_npu.npu.Stream"] = [f"the fake Stream has {sorted(extra)}, the real one does not"]
    return problems


def test_the_fakes_and_the_sim_accept_nothing_the_real_torch_npu_rejects(api, monkeypatch):
    problems = fake_problems(api, monkeypatch)
    assert {"torch_npu.npu.graph", "torch_npu.npu.NPUGraph", "torch_npu.npu.NPUGraph.capture_begin",
            "torch_npu.npu.NPUGraph.replay", "torch_npu.npu.set_compile_mode", "torch_npu.npu_add_rms_norm",
            "npugraph_ex.get_npu_backend"} <= set(problems)
    assert {name: found for name, found in problems.items() if found} == {}


def plan(static_kernel: bool):
    request = GraphRequest.parse({"graph_backend": "aclgraph", "ascend_compilation_config": {
        "enable_static_kernel": static_kernel}}, cudagraph_mode="FULL_DECODE_ONLY", capture_sizes=[1, 2, 4, 8])
    environment = Environment(device="npu", soc="910B", torch_npu="2.10.0")
    return select(request, environment=environment, model=ModelInfo.from_architecture("Qwen3ForCausalLM")).plan


@pytest.mark.parametrize("front_door", ["npugraph_ex", "torchair"])
@pytest.mark.parametrize("static_kernel", [False, True])
def test_our_npugraph_ex_options_pass_the_real_compiler_config(monkeypatch, configs, front_door, static_kernel):
    fake_torch_npu.install(monkeypatch, SimDevice())
    install = (fake_npugraph_ex.install_npugraph_ex if front_door == "npugraph_ex"
               else fake_npugraph_ex.install_torchair_only)
    module = install(monkeypatch, configs)
    compiled = AclGraphBackend().compile(lambda x: x * 2, [torch.ones(2)], plan(static_kernel))
    torch.testing.assert_close(compiled(torch.ones(2)), torch.full((2,), 2.0))
    [(config, _, _)] = module.compiled
    options = fake_npugraph_ex.changed_options(config)
    assert ("_vllm_aclnn_static_kernel_sym_range" in options
            or "experimental_config.aclgraph._aclnn_static_shape_kernel_sym_value_range" in options) is static_kernel


# -- the checks themselves catch drift -------------------------------------------------------


def test_a_misspelt_npugraph_ex_option_fails(monkeypatch, configs):
    fake_torch_npu.install(monkeypatch, SimDevice())
    fake_npugraph_ex.install_npugraph_ex(monkeypatch, configs)
    monkeypatch.setattr(aclgraph, "NPUGRAPH_EX_OPTIONS", {**aclgraph.NPUGRAPH_EX_OPTIONS, "clone_inputs": False})
    with pytest.raises(ValueError, match="CompilerConfig has no option clone_inputs"):
        AclGraphBackend().compile(lambda x: x * 2, [torch.ones(2)], plan(False))


def test_a_renamed_torch_npu_parameter_fails_the_use_and_the_fake_checks(version, monkeypatch):
    source = real_packages.torch_npu_source(version)
    path = "torch_npu/npu/npu_config.py"
    text = (source / path).read_text(encoding="utf-8")
    assert text.count("def set_compile_mode(jit_compile=False):") == 1
    renamed = RealApi(source, {path: text.replace("def set_compile_mode(jit_compile=False):",
                                                  "def set_compile_mode(jit_mode=False):")})
    assert any("set_compile_mode" in problem and "jit_compile" in problem for problem in use_problems(renamed))
    assert fake_problems(renamed, monkeypatch)["torch_npu.npu.set_compile_mode"]
