"""Loading plugins: what is logged, what is left out under which name, and the claims on names.

Each test pins whole what a user reads (a warning, a left-out reason, a lookup error), for
plugins that are entry points of made-up distributions whose modules live in `sys.modules`.
"""

from __future__ import annotations

import logging
import threading

import pytest
from plugins import entry_point, logged, plugin_module, plugin_returning, register

from vllm_ascend_graphs import (
    CUDAGraphMode,
    Environment,
    GraphBackend,
    GraphConfigError,
    GraphRequest,
    ModelInfo,
    Plan,
    Probe,
    hookimpl,
    select,
)
from vllm_ascend_graphs.hooks import builtins as builtin
from vllm_ascend_graphs.hooks.registry import BackendRegistry

INVALID_NAME = "letters, digits, '_', '-', '.' (case-insensitive, not 'auto')"


def backend(name: str, aliases: tuple[str, ...] = (), reason: str = "ready") -> GraphBackend:
    """An instance of a fresh backend class called `name`."""
    def probe(self, request, environment, model):
        return Probe.ok(reason)

    def plan(self, request, environment, model):
        return Plan(self.name, CUDAGraphMode.NONE)

    cls = type(name.title().replace("-", ""), (GraphBackend,), {"name": name, "aliases": aliases, "probe": probe,
                                                                 "plan": plan})
    return cls()


def load(monkeypatch, caplog=None, **plugins) -> BackendRegistry:
    """A registry of entry points `name -> graph_backends()` result, loaded in that order."""
    entry_points = [entry_point(name, plugin_module(monkeypatch, f"fake_{name}", graph_backends=lambda r=returned: r))
                    for name, returned in plugins.items()]
    if caplog is None:
        return BackendRegistry(entry_points=entry_points).load()
    with caplog.at_level(logging.DEBUG, logger="vllm_ascend_graphs"):
        return BackendRegistry(entry_points=entry_points).load()


# -- what loading logs ---------------------------------------------------------------------------

def test_a_plugin_that_fails_to_load_is_one_warning_and_a_traceback_at_debug_level(caplog):
    with caplog.at_level(logging.DEBUG, logger="vllm_ascend_graphs"):
        BackendRegistry(entry_points=[entry_point("gone", "no_such_module_gone")]).load()
    assert logged(caplog, logging.WARNING) == [
        "graph backend plugin fake-gone 1.0 (entry point 'gone') failed to load and is left out: "
        "ModuleNotFoundError: No module named 'no_such_module_gone' (-v or debug logging shows the traceback)"]
    [trace] = logged(caplog, logging.DEBUG)
    assert trace.startswith("traceback of plugin fake-gone 1.0 (entry point 'gone'):\nTraceback (most recent call")


def test_a_clash_is_one_warning_naming_every_claimant_without_a_traceback(monkeypatch, caplog):
    load(monkeypatch, caplog, a=[backend("cudagraph", ("cg",))], b=[backend("other", ("cudagraph",))])
    assert logged(caplog, logging.WARNING) == [
        "graph backend plugins clash: the name 'cudagraph' is claimed by backend 'cudagraph' from fake-a 1.0 "
        "(entry point 'a') and backend 'other' from fake-b 1.0 (entry point 'b'), so none of them is loaded; "
        "allowed: uninstall all but one, or leave the others out with ASCEND_GRAPHS_PLUGINS",
    ]
    assert logged(caplog, logging.DEBUG) == []


@pytest.mark.parametrize(("installed", "allow", "warning"), [
    (["one", "two"], "one,three,four",
     "ASCEND_GRAPHS_PLUGINS names 'four', 'three', which no installed plugin provides (installed entry points: one, "
     "two)"),
    ([], "three", "ASCEND_GRAPHS_PLUGINS names 'three', which no installed plugin provides (installed entry points: "
                  "none)"),
])
def test_an_allow_list_naming_what_is_not_installed(monkeypatch, caplog, installed, allow, warning):
    entry_points = [entry_point(name, plugin_module(monkeypatch, f"fake_{name}", graph_backends=lambda: []))
                    for name in installed]
    with caplog.at_level(logging.WARNING, logger="vllm_ascend_graphs"):
        BackendRegistry(entry_points=entry_points, allow=allow).load()
    assert logged(caplog, logging.WARNING) == [warning]


def test_the_allow_list_variable_applies_to_installed_entry_points_only(monkeypatch):
    monkeypatch.setenv("ASCEND_GRAPHS_PLUGINS", "")
    given = [entry_point("mine", plugin_module(monkeypatch, "fake_mine", graph_backends=lambda: [backend("mine")]))]
    assert "mine" in BackendRegistry(entry_points=given).load().names(), "injected entry points are not filtered"
    assert [e.status for e in BackendRegistry(entry_points=given, allow="").load().left_out] == ["disabled"]


# -- what is left out, and why ----------------------------------------------------------------------

def test_a_builtin_that_fails_is_our_bug_and_raises(monkeypatch):
    def broken():
        raise RuntimeError("a bug in a builtin")

    monkeypatch.setattr(builtin, "graph_backends", hookimpl(broken, specname="graph_backends"))
    with pytest.raises(RuntimeError, match="a bug in a builtin"):
        BackendRegistry(entry_points=[]).load()


def test_a_plugin_without_hooks_is_named_with_what_to_do(builtins_only):
    builtins_only.register(object(), "hookless")
    [entry] = builtins_only.left_out
    assert (entry.name, entry.reason) == (
        "hookless", "TypeError: it implements no hook; mark its functions with @vllm_ascend_graphs.hookimpl")


def test_a_plugin_that_fails_leaves_no_hook_behind(builtins_only, npu):
    class HalfBroken:
        @hookimpl
        def graph_backends(self):
            raise RuntimeError("no table")

        @hookimpl
        def graph_backend_preference(self):
            return "eager"

    builtins_only.register(HalfBroken(), "half")
    assert builtins_only.preferences(ModelInfo(), npu) == []
    assert select(None, environment=npu, model=ModelInfo()).plan.backend == "aclgraph"


def test_a_string_returned_for_backends_is_one_bad_item(builtins_only):
    builtins_only.register(plugin_returning("eager"), "stringy")
    assert [(e.name, e.reason) for e in builtins_only.left_out] == [
        ("stringy", "TypeError: graph_backends() returned 'eager', which is not a GraphBackend instance")]


FACTS = "device, soc, torch_npu, xlite, launch_blocking, vllm_ascend"


@pytest.mark.parametrize(("attributes", "reason"), [
    ({"name": "bad name"}, f"TypeError: Odd: backend name 'bad name' is invalid; allowed: {INVALID_NAME}"),
    ({"name": "Upper"}, "TypeError: Odd: backend name 'Upper' is not in normal form; allowed: a class attribute, "
                        "which is normalised to lower case"),
    ({"aliases": ("fine", "bad alias")},
     f"TypeError: Odd: backend name 'bad alias' is invalid; allowed: {INVALID_NAME}"),
    ({"device": 3}, "TypeError: Odd.device: got 3 (int); allowed: None or a device name such as 'npu', 'cuda' or "
                    "'sim'"),
    ({"assumes": ("soc", "gpu")}, f"TypeError: Odd.assumes: got ('soc', 'gpu') (tuple); allowed: a tuple of {FACTS}"),
    ({"assumes": "soc"}, f"TypeError: Odd.assumes: got 'soc'; allowed: a tuple of {FACTS}"),
])
def test_bad_attributes_are_named_exactly(builtins_only, attributes, reason):
    instance = type("Odd", (GraphBackend,), {"name": "odd", "probe": None, "plan": None})()
    for attribute, value in attributes.items():
        setattr(instance, attribute, value)  # on the instance: class definitions check their own

    register(builtins_only, instance, name="odd-plugin")
    [entry] = builtins_only.left_out
    assert entry.reason == reason


# -- claims on names ------------------------------------------------------------------------------

def test_an_alias_claimed_twice_loses_both_backends(monkeypatch):
    registry = load(monkeypatch, a=[backend("alpha", ("shared",))], b=[backend("beta", ("shared",))])
    assert registry.names() == ["aclgraph", "eager", "native", "xlite"]


def test_one_backend_claiming_two_registered_names_takes_both_down(monkeypatch):
    registry = load(monkeypatch, a=[backend("xa")], b=[backend("ya")], c=[backend("z", ("xa", "ya"))])
    assert registry.names() == ["aclgraph", "eager", "native", "xlite"]
    assert sorted(e.name for e in registry.left_out) == ["xa", "ya", "z"]


def test_a_third_claimant_joins_the_clash_it_claims_a_name_of(monkeypatch, caplog):
    registry = load(monkeypatch, caplog, a=[backend("cudagraph", ("cg",))], b=[backend("other", ("cudagraph",))],
                    c=[backend("third", ("cg",))])
    origins = {name: f"fake-{name} 1.0 (entry point '{name}')" for name in "abc"}
    third = next(e for e in registry.left_out if e.name == "third")
    assert third.reason == (f"its name 'cg' is also claimed by backend 'cudagraph' from {origins['a']} and backend "
                            f"'other' from {origins['b']}")
    first = next(e for e in registry.left_out if e.name == "cudagraph")
    assert first.reason == (f"its names 'cg', 'cudagraph' are also claimed by backend 'other' from {origins['b']} "
                            f"and backend 'third' from {origins['c']}")
    clash = (f"the names 'cg', 'cudagraph' are claimed by backend 'cudagraph' from {origins['a']} and backend 'other' "
             f"from {origins['b']} and backend 'third' from {origins['c']}, so none of them is loaded")
    assert logged(caplog, logging.WARNING) == [
        f"graph backend plugins clash: {clash}; allowed: uninstall all but one, or leave the others out with "
        "ASCEND_GRAPHS_PLUGINS"]
    for name in ("third", "cg", "other"):
        with pytest.raises(GraphConfigError) as info:
            registry.get(name)
        assert str(info.value) == (
            f"additional_config.graph_backend: backend '{name}' is left out: {clash}; allowed: uninstall all but one, "
            "or leave the others out with ASCEND_GRAPHS_PLUGINS")


def test_who_holds_a_name_does_not_depend_on_the_load_order(monkeypatch):
    """Settled once after loading: the same plugins in any order leave the same backends served."""
    plugins = {"a": [backend("alpha", ("shared",))], "b": [backend("beta")], "c": [backend("gamma", ("shared",))],
               "d": [backend("delta", ("beta",))]}
    orders = [dict(plugins), dict(reversed(plugins.items()))]
    outcomes = []
    for order in orders:
        registry = load(monkeypatch, **order)
        outcomes.append((registry.names(), sorted(e.name for e in registry.left_out)))
    assert outcomes[0] == outcomes[1] == (["aclgraph", "eager", "native", "xlite"],
                                          ["alpha", "beta", "delta", "gamma"])


def test_a_backend_returned_twice_is_one_claim(monkeypatch):
    shared = backend("twice")
    registry = load(monkeypatch, a=[shared, shared], b=[shared])
    assert "twice" in registry.names() and registry.left_out == []


# -- calling plugin probes --------------------------------------------------------------------------

class Watcher(GraphBackend):
    """A plugin backend whose probe answers with what it was given, or waits until released."""

    name = "watcher"

    def __init__(self, name: str, release: threading.Event | None = None):
        self.name, self._release = name, release

    def probe(self, request, environment, model):
        if self._release is not None:
            self._release.wait(5)
        return Probe.ok(f"{model.architecture} on {environment.device}")

    def plan(self, request, environment, model):
        return Plan(self.name, CUDAGraphMode.NONE)


def test_a_plugin_probe_gets_the_model_and_a_hung_one_holds_up_only_itself(builtins_only, cpu, monkeypatch):
    monkeypatch.setenv("ASCEND_GRAPHS_PROBE_TIMEOUT", "0.5")  # ample for "quick", even on a loaded machine
    release = threading.Event()

    register(builtins_only, Watcher("hung", release), Watcher("quick"), name="watchers")
    try:
        chain = {"graph_backend": ["hung", "quick"]}
        model = ModelInfo.from_architecture("Qwen3ForCausalLM")
        selection = select(chain, environment=cpu, model=model)
        assert [(a.backend, a.selected) for a in selection.trail] == [("hung", False), ("quick", True)]
        assert selection.trail[1].reason == "Qwen3ForCausalLM on cpu"
        again = select(chain, environment=cpu, model=model)  # "hung" is still running: refused at once
        assert again.trail[0].reason.startswith("its earlier call has not returned") and again.trail[1].selected
    finally:
        release.set()


def test_a_probe_that_raises_is_traced_at_debug_level(builtins_only, cpu, caplog):
    class Raising(Watcher):
        def probe(self, request, environment, model):
            raise RuntimeError("probe broke")

    register(builtins_only, Raising("raising"), name="raising-plugin")
    with caplog.at_level(logging.DEBUG, logger="vllm_ascend_graphs"):
        selection = select({"graph_backend": "raising"}, environment=cpu, model=ModelInfo())
    assert selection.trail[0].reason == "its probe raised RuntimeError: probe broke; plugin raising-plugin"
    [trace] = [m for m in logged(caplog, logging.DEBUG) if m.startswith("probe of")]
    assert trace.startswith("probe of raising raised:\nTraceback (most recent call last):") and "probe broke" in trace


def test_a_backend_the_registry_does_not_hold_is_called_as_an_unregistered_plugin(builtins_only, cpu):
    class Stranger(Watcher):
        def probe(self, request, environment, model):
            raise RuntimeError("who am I")

    request = GraphRequest()
    for stranger in (Stranger("stranger"), Stranger("eager")):  # unknown, or an impostor of a registered name
        probe = builtins_only.probe(stranger, request, cpu, ModelInfo())
        assert probe == Probe.refuse("its probe raised RuntimeError: who am I; plugin unregistered")
    assert builtins_only.probe(backend("eager2", reason="fine"), request, Environment(), ModelInfo()).can_serve
