"""What the registry tells users about plugins: warnings, left-out reasons and lookup errors, whole.

The plugins are entry points of made-up distributions whose modules live in `sys.modules`, so each
message names a real origin (distribution, version, entry point) as it would for an installed one.
"""

from __future__ import annotations

import logging

import pytest
from plugins import Flaky, boom, entry_point, logged, plugin_module, register

from vllm_ascend_graphs import (
    CUDAGraphMode,
    Environment,
    GraphBackend,
    GraphConfigError,
    ModelInfo,
    Plan,
    Probe,
    select,
)
from vllm_ascend_graphs.hooks.registry import BackendRegistry

CHOICES = "auto, aclgraph, eager, native, xlite"


class Backend(GraphBackend):
    name = "cudagraph"
    aliases = ("CudaGraph", "cg")  # its own name in display case, as plugin authors write it

    def probe(self, request, environment, model):
        return Probe.ok("ready")

    def plan(self, request, environment, model):
        return Plan(self.name, CUDAGraphMode.NONE)


class Rival(Backend):
    name = "other"
    aliases = ("cudagraph",)


def warnings_and_debug(caplog):
    return logged(caplog, logging.WARNING), logged(caplog, logging.DEBUG)


# -- preferences ---------------------------------------------------------------------------------

def test_each_preference_is_judged_alone_and_the_bad_ones_are_named(monkeypatch, caplog):
    preferences = {
        "raises": lambda model: 1 / 0,
        "nothing": lambda model: None,
        "number": lambda model: 3,
        "unknown": lambda model: "nope",
        "alias": lambda model, environment: "NPUGraph" if environment.device == "npu" else None,
    }
    registry = BackendRegistry(entry_points=[
        entry_point(name, plugin_module(monkeypatch, f"fake_{name}", graph_backend_preference=function))
        for name, function in preferences.items()]).load()
    with caplog.at_level(logging.DEBUG, logger="vllm_ascend_graphs"):
        assert registry.preferences(ModelInfo(), Environment(device="npu")) == ["aclgraph"]
    warnings, debug = warnings_and_debug(caplog)
    assert warnings == [
        "graph backend plugin fake-raises 1.0 (entry point 'raises'): graph_backend_preference raised "
        "ZeroDivisionError: division by zero; ignored",
        "graph backend plugin fake-number 1.0 (entry point 'number') prefers 3 (int), which is not a registered "
        "backend; ignored",
        "graph backend plugin fake-unknown 1.0 (entry point 'unknown') prefers 'nope', which is not a registered "
        "backend; ignored",
    ]
    [trace] = debug
    assert trace.startswith("traceback:\nTraceback (most recent call last):") and "ZeroDivisionError" in trace


# -- backends failing while the selector calls them ----------------------------------------------

def rejects(options):
    raise GraphConfigError("no defaults here")


@pytest.mark.parametrize(("validate", "reason", "traced"), [
    (rejects, "its validate_options rejected its own defaults ({}); plugin flaky-plugin", "GraphConfigError"),
    (boom, "its validate_options raised RuntimeError: boom; plugin flaky-plugin", "RuntimeError: boom"),
    (lambda options: 3, "its validate_options returned 3 (int), not a mapping; plugin flaky-plugin", None),
])
def test_options_a_plugin_cannot_validate(builtins_only, npu, caplog, validate, reason, traced):
    register(builtins_only, Flaky(options=validate))
    with caplog.at_level(logging.DEBUG, logger="vllm_ascend_graphs"):
        selection = select(None, environment=npu, model=ModelInfo())
    assert selection.notes == ("fallback chain: aclgraph -> native -> eager",
                               f"backend 'flaky' cannot be used: {reason}")
    traces = [m for m in warnings_and_debug(caplog)[1] if m.startswith("validate_options of flaky raised:\n")]
    if traced:
        [trace] = traces
        assert trace.startswith("validate_options of flaky raised:\nTraceback (most recent call last):")
        assert traced in trace
    else:
        assert traces == []


def test_a_plan_that_raises_is_traced_at_debug_level(builtins_only, cpu, caplog):
    register(builtins_only, Flaky(plan=boom))
    with caplog.at_level(logging.DEBUG, logger="vllm_ascend_graphs"):
        selection = select({"graph_backend": "flaky"}, environment=cpu, model=ModelInfo())
    assert selection.trail[0].reason == "its plan raised RuntimeError: boom; plugin flaky-plugin"
    [trace] = [m for m in warnings_and_debug(caplog)[1] if m.startswith("plan of ")]
    assert trace.startswith("plan of flaky raised:\nTraceback (most recent call last):") and "RuntimeError" in trace


# -- left out: clashes, failures, disabled plugins -------------------------------------------------

def test_a_clash_names_every_claimant_and_suggests_no_lost_name(monkeypatch):
    registry = BackendRegistry(entry_points=[
        entry_point("a", plugin_module(monkeypatch, "fake_a", graph_backends=lambda: [Backend()])),
        entry_point("b", plugin_module(monkeypatch, "fake_b", graph_backends=lambda: [Rival()])),
    ]).load()
    assert registry.names() == ["aclgraph", "eager", "native", "xlite"]
    with pytest.raises(GraphConfigError) as info:
        registry.get("CG")
    assert str(info.value) == (
        "additional_config.graph_backend: backend 'CG' is left out: the name 'cudagraph' is claimed by backend "
        "'cudagraph' from fake-a 1.0 (entry point 'a') and backend 'other' from fake-b 1.0 (entry point 'b'), so "
        "none of them is loaded; allowed: uninstall all but one, or leave the others out with ASCEND_GRAPHS_PLUGINS")
    with pytest.raises(GraphConfigError) as info:
        registry.get("cgx")  # close to the lost alias 'cg', which is no longer offered
    assert str(info.value) == (
        f"additional_config.graph_backend: unknown graph backend 'cgx'; allowed: {CHOICES} (left out because they "
        "failed or clash: cudagraph, other)")


def test_an_unknown_name_lists_what_was_left_out(monkeypatch):
    registry = BackendRegistry(entry_points=[
        entry_point("bad-a", "no_such_module_a"), entry_point("bad-b", "no_such_module_b"),
        entry_point("off-c", "fake_c"), entry_point("off-d", "fake_d"),
    ], allow="bad-a,bad-b").load()
    with pytest.raises(GraphConfigError) as info:
        registry.get("nope")
    assert str(info.value) == (
        f"additional_config.graph_backend: unknown graph backend 'nope'; allowed: {CHOICES} (left out because they "
        "failed or clash: bad-a, bad-b; installed but not in ASCEND_GRAPHS_PLUGINS: off-c, off-d)")
    with pytest.raises(GraphConfigError) as info:
        registry.get("bad-a")
    assert str(info.value) == (
        "additional_config.graph_backend: backend 'bad-a' comes from plugin fake-bad-a 1.0 (entry point 'bad-a'), "
        "which failed to load: ModuleNotFoundError: No module named 'no_such_module_a'; allowed: fix or uninstall "
        "the plugin (-v shows the traceback)")


class BadDescription(Backend):
    name = "described"
    aliases = ()

    def __init__(self):
        self.description = 3


def test_a_bad_backend_is_left_out_under_its_own_name(builtins_only):
    register(builtins_only, BadDescription())
    [entry] = builtins_only.left_out
    assert (entry.name, entry.status) == ("described", "failed")
    assert entry.reason == "TypeError: BadDescription.description: got 3 (int); allowed: a string"
