"""Run-time hooks: on static-graph platforms the selected backend supplies wrapper and compiler.

vLLM's CPU build has no static graphs, so the platform part runs with `support_static_graph_mode`
switched on for the test, and the wrapper captures and replays on the simulated device. The whole
path inside a real `LLM` runs in `test_sim_backend.py`, on the example's platform.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import pytest
import torch

from vllm_ascend_graphs import GraphBackend, GraphCaptureError, Plan, Probe, hookimpl
from vllm_ascend_graphs.hooks.registry import BackendRegistry, reset_registry
from vllm_ascend_graphs.integrations import vllm as plugin
from vllm_ascend_graphs.integrations.vllm import adapter, patching, runtime_hooks
from vllm_ascend_graphs.integrations.vllm.decision import RECORD_KEY
from vllm_ascend_graphs.rules.modes import CUDAGraphMode

STACK_207008 = ("capture_begin: AclmdlRICaptureBegin(capture_stream_, capture_mode), error code is 207008\n"
                "[Error]: Stream resources are insufficient. Insufficient_Stream_Resources(EL0009)")


class BatchDescriptor(NamedTuple):  # the fields of vLLM's frozen BatchDescriptor that the wrapper reads
    num_tokens: int
    uniform: bool


class SimGraphBackend(GraphBackend):
    """A backend whose graphs live on the simulated device: our wrapper and compiler must run it."""

    name = "simgraph"
    device = "sim"

    def __init__(self):
        self.compiled: list[Plan] = []

    def probe(self, request, environment, model):
        return Probe.ok("always")

    def plan(self, request, environment, model):
        return Plan(backend=self.name, cudagraph_mode=CUDAGraphMode.FULL)

    def compile(self, graph_module, example_inputs, plan):
        self.compiled.append(plan)
        return graph_module

    def capture(self, graphs, fn, static_inputs, *, pool, mode):
        return graphs.capture(fn, static_inputs, pool=pool)


@pytest.fixture
def backend(monkeypatch):
    sim = SimGraphBackend()

    class Plugin:
        @hookimpl
        def graph_backends(self):
            return [sim]

    registry = BackendRegistry(entry_points=[]).load()
    registry.register(Plugin(), "test-sim")
    reset_registry(registry)
    monkeypatch.setattr(runtime_hooks, "_devices", {})
    yield sim
    reset_registry(None)


def config_for(backend: str, **additional) -> SimpleNamespace:
    """A vLLM config as far as the hooks read it: the recorded decision in additional_config."""
    record = Plan(backend=backend, cudagraph_mode=CUDAGraphMode.FULL, capture_sizes=(1, 2)).to_dict()
    return SimpleNamespace(additional_config={**additional, RECORD_KEY: record})


def test_the_cpu_build_hooks_no_runtime():
    plugin.register()
    platform = adapter.platform_class()
    assert not adapter.supports_static_graphs()
    assert not patching.is_patched(platform, "get_static_graph_wrapper_cls")
    assert not patching.is_patched(platform, "get_compile_backend")


PLATFORM_WRAPPER = f"{__name__}.PlatformWrapper"


class PlatformWrapper:
    """Stands for a platform's own static-graph wrapper: keeps what vLLM passed."""

    def __init__(self, runnable, vllm_config, runtime_mode, **options):
        self.runnable, self.vllm_config, self.runtime_mode, self.options = runnable, vllm_config, runtime_mode, options


@pytest.fixture
def static_platform(monkeypatch):
    """The active platform, claiming static-graph support with a wrapper of its own (`PlatformWrapper`),
    with our hooks registered afresh."""
    platform = adapter.platform_class()
    plugin.unregister()
    monkeypatch.setattr(platform, "support_static_graph_mode", classmethod(lambda cls: True))
    monkeypatch.setattr(platform, "get_static_graph_wrapper_cls", classmethod(lambda cls: PLATFORM_WRAPPER))
    plugin.register()
    yield platform
    plugin.unregister()
    monkeypatch.undo()
    plugin.register()


def test_the_wrapper_hook_names_our_chooser_and_keeps_the_platforms_own_answer(static_platform):
    """On vLLM's CPU platform ACLGraph and XliteGraph (device npu) would be ours to run: our chooser is named,
    before any decision too."""
    assert static_platform.get_static_graph_wrapper_cls() == runtime_hooks.WRAPPER
    assert patching.unpatched(static_platform, "get_static_graph_wrapper_cls")() == PLATFORM_WRAPPER


def test_where_the_platform_runs_every_registered_backend_itself_it_names_its_own_wrapper(static_platform,
                                                                                           monkeypatch):
    """vLLM Ascend's NPU platform with only the builtins: aclgraph and xlite capture on `npu`, native and eager
    have no device, so its own wrapper is the answer (its own unit tests ask for it by name)."""
    monkeypatch.setattr(adapter, "platform_device_type", lambda: "npu")
    assert not runtime_hooks.any_ours()
    assert static_platform.get_static_graph_wrapper_cls() == PLATFORM_WRAPPER


@pytest.mark.parametrize(
    ("backend_name", "platform_device", "ours"),
    [
        ("simgraph", "cpu", True),  # a device the platform does not drive: ours
        ("simgraph", "sim", False),  # the platform's own device: the platform's own wrapper
        ("eager", "cpu", False),  # no device: nothing of ours to run
    ],
)
def test_each_piece_is_wrapped_from_the_decision_in_the_config_vllm_passes(static_platform, backend, monkeypatch,
                                                                           backend_name, platform_device, ours):
    """vLLM names the wrapper when it compiles, where a worker may hold no current config (vLLM's CPU
    worker, vLLM Ascend's NPU worker): the choice reads the config each piece is built with."""
    from vllm.utils.import_utils import resolve_obj_by_qualname  # as vLLM resolves the answer

    monkeypatch.setattr(adapter, "platform_device_type", lambda: platform_device)
    assert adapter.current_vllm_config() is None
    config, options = config_for(backend_name), {"cudagraph_options": object()}
    make = resolve_obj_by_qualname(static_platform.get_static_graph_wrapper_cls())
    wrapper = make(runnable=piece, vllm_config=config, runtime_mode="PIECEWISE", **options)
    if ours:
        assert isinstance(wrapper, runtime_hooks.GraphWrapper) and wrapper.runnable is piece
    else:
        assert isinstance(wrapper, PlatformWrapper)
        assert (wrapper.runnable, wrapper.vllm_config, wrapper.runtime_mode, wrapper.options) == (
            piece, config, "PIECEWISE", options)


@pytest.mark.parametrize(("backend_name", "platform_device", "ours"),
                         [("simgraph", "cpu", True), ("simgraph", "sim", False), ("eager", "cpu", False)])
def test_the_compiler_hook_answers_from_the_config_the_model_is_built_with(static_platform, backend, monkeypatch,
                                                                          backend_name, platform_device, ours):
    monkeypatch.setattr(adapter, "current_vllm_config", lambda: config_for(backend_name))
    monkeypatch.setattr(adapter, "platform_device_type", lambda: platform_device)
    assert static_platform.get_compile_backend() == (runtime_hooks.COMPILER if ours else "inductor")
    monkeypatch.setattr(adapter, "current_vllm_config", lambda: None)  # before any decision: vLLM's own
    assert static_platform.get_compile_backend() == "inductor"


def piece(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.relu(x @ w) + 1


@pytest.fixture
def step(monkeypatch):
    """`step.state` is what the forward context says: (runtime mode, batch descriptor) or None."""
    holder = SimpleNamespace(state=None)
    monkeypatch.setattr(adapter, "forward_state", lambda: holder.state)
    return holder


def test_wrapper_captures_once_per_descriptor_then_replays(backend, step):
    wrapper = runtime_hooks.GraphWrapper(piece, config_for("simgraph"), runtime_mode="FULL")
    x, w = torch.randn(4, 8), torch.randn(8, 8)  # vLLM's persistent buffers: same tensors every step
    step.state = ("FULL", "4 tokens")
    first = wrapper(x, w)
    torch.testing.assert_close(first, piece(x, w))
    x.copy_(torch.randn(4, 8))  # the next step's inputs, written into the same buffer
    second = wrapper(x, w)
    assert second is first  # the graph's own output, rewritten by the replay
    torch.testing.assert_close(second, piece(x, w))
    assert wrapper.graphs.api.events.count("capture") == 1
    assert wrapper.graphs.api.events.count("replay") == 2  # right after the capture, then this step

    step.state = ("PIECEWISE", "4 tokens")  # another runtime mode: not this wrapper's, run the piece
    assert wrapper(x, w) is not first
    step.state = None  # no forward context (e.g. profiling): run the piece
    torch.testing.assert_close(wrapper(x, w), piece(x, w))
    assert wrapper.graphs.api.events.count("replay") == 2


@pytest.mark.parametrize("policy", ["shrink", "eager"])
def test_capture_failure_policies_keep_serving(backend, step, policy):
    wrapper = runtime_hooks.GraphWrapper(piece, config_for("simgraph", graph_capture_policy=policy.upper()), "FULL")
    wrapper.graphs.api.inject_capture_failure(STACK_207008, captures={0})
    x, w = torch.randn(2, 8), torch.randn(8, 8)
    step.state = ("FULL", "2 tokens")
    torch.testing.assert_close(wrapper(x, w), piece(x, w))  # the failed capture still answers, eagerly
    torch.testing.assert_close(wrapper(x, w), piece(x, w))
    step.state = ("FULL", "1 token")
    y = torch.randn(1, 8)
    torch.testing.assert_close(wrapper(y, w), piece(y, w))
    captured = wrapper.graphs.api.events.count("capture")
    assert captured == (1 if policy == "shrink" else 0)  # shrink keeps capturing other sizes; eager stops


def test_capture_failure_raises_with_guidance_by_default(backend, step):
    wrapper = runtime_hooks.GraphWrapper(piece, config_for("simgraph"), "FULL")
    wrapper.graphs.api.inject_capture_failure(STACK_207008)
    step.state = ("FULL", BatchDescriptor(num_tokens=2, uniform=True))
    with pytest.raises(GraphCaptureError) as info:
        wrapper(torch.randn(2, 8), torch.randn(8, 8))
    assert "cudagraph_capture_sizes" in str(info.value) and "207008" in str(info.value.__cause__)


def test_a_backends_own_capture_bug_follows_the_policy_as_in_the_runner(backend, step, monkeypatch):
    """Not only a device's RuntimeError: any failure of the backend's capture code is a capture failure."""
    def broken(graphs, fn, static_inputs, *, pool, mode):
        raise KeyError("the backend's own bug")

    monkeypatch.setattr(backend, "capture", broken)
    step.state = ("FULL", BatchDescriptor(num_tokens=2, uniform=True))
    x, w = torch.randn(2, 8), torch.randn(8, 8)
    with pytest.raises(GraphCaptureError, match="KeyError: .the backend's own bug"):
        runtime_hooks.GraphWrapper(piece, config_for("simgraph"), "FULL")(x, w)
    shrinking = runtime_hooks.GraphWrapper(piece, config_for("simgraph", graph_capture_policy="shrink"), "FULL")
    torch.testing.assert_close(shrinking(x, w), piece(x, w))
    assert shrinking.eager == {step.state[1]}


def test_debug_catches_inputs_that_moved_since_capture(backend, step):
    wrapper = runtime_hooks.GraphWrapper(piece, config_for("simgraph"), runtime_mode="FULL")
    wrapper.debug = True  # as with vLLM's logging at DEBUG
    w = torch.randn(8, 8)
    step.state = ("FULL", "4 tokens")
    wrapper(torch.randn(4, 8), w)
    with pytest.raises(RuntimeError, match=r"GraphWrapper for 4 tokens \(debug\): input 0 is at 0x[0-9a-f]+, but "
                                           r"the graph reads it from 0x[0-9a-f]+"):
        wrapper(torch.randn(4, 8), w)  # a new tensor, not vLLM's persistent buffer


def test_compiler_runs_the_backend_compile_stage_chosen_when_vllm_made_it(backend, monkeypatch):
    config = config_for("simgraph")
    monkeypatch.setattr(adapter, "current_vllm_config", lambda: config)  # vLLM makes it while building the model
    compiler = runtime_hooks.GraphCompiler()
    monkeypatch.setattr(adapter, "current_vllm_config", lambda: None)  # and compiles later, maybe without one
    graph = torch.fx.symbolic_trace(piece)
    compiled, handle = compiler.compile(graph, [torch.randn(2, 8), torch.randn(8, 8)], {}, None)
    assert compiled is graph and handle is None
    assert backend.compiled == [runtime_hooks.chosen(config)[1]]
    assert compiler.compute_hash(config) == "simgraph:FULL"


def test_a_graph_plan_on_a_platform_without_static_graphs_captures_nothing(backend):
    from vllm_ascend_graphs import Environment, ModelInfo, select

    assert select({"graph_backend": "simgraph"}, environment=Environment(device="sim"),
                  model=ModelInfo()).plan.cudagraph_mode is CUDAGraphMode.FULL
    plan = select({"graph_backend": "simgraph"}, environment=Environment(), model=ModelInfo()).plan
    assert (plan.cudagraph_mode, plan.capture_sizes) == (CUDAGraphMode.NONE, ())
    assert plan.notes[-1] == "cudagraph_mode FULL -> NONE: vLLM's cpu platform captures no graphs"
