"""The pluggy registry: builtins through the public hook, entry points loaded in isolation."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from pathlib import Path

import pytest
from plugins import register

from vllm_ascend_graphs import Environment, GraphConfigError, ModelInfo, select
from vllm_ascend_graphs.entrypoints.cli import main
from vllm_ascend_graphs.hooks.registry import BUILTIN, BackendRegistry, reset_registry

BACKEND_MODULE = """
from vllm_ascend_graphs import GraphBackend, Plan, Probe, hookimpl
from vllm_ascend_graphs.rules.modes import CUDAGraphMode


class {cls}(GraphBackend):
    name = {name!r}
    aliases = {aliases!r}
    description = "a test backend"

    def probe(self, request, environment, model):
        return Probe.ok("always") if environment.device == "cuda" else Probe.refuse("needs cuda")

    def plan(self, request, environment, model):
        return Plan(backend=self.name, cudagraph_mode=CUDAGraphMode.FULL)


@hookimpl
def graph_backends():
    return [{cls}()]
"""


def make_distribution(root: Path, dist: str, version: str, entry_points: dict[str, str],
                      modules: dict[str, str]) -> None:
    """A real installed distribution on sys.path: dist-info with entry_points.txt, plus its modules."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[vllm_ascend_graphs]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path holding fake distributions, and an allow-list naming only them."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ASCEND_GRAPHS_PLUGINS", "cudagraph,broken,raising,weird,clash")
    yield tmp_path
    for module in [m for m in sys.modules if m.startswith("fake_")]:
        del sys.modules[module]  # each test writes its own version of these modules


def test_builtins_register_through_the_public_hook(builtins_only):
    assert builtins_only.names() == ["aclgraph", "eager", "native", "xlite"]
    assert str(builtins_only.origin("ACLGraph")) == "builtin"
    assert builtins_only.get("NPUGraph").name == "aclgraph"  # aliases, any case


def test_a_third_party_backend_from_a_real_entry_point(site):
    make_distribution(site, "fake-cudagraph", "1.2", {"cudagraph": "fake_cudagraph"},
                      {"fake_cudagraph": BACKEND_MODULE.format(cls="Cuda", name="CudaGraph", aliases=("cg",))})
    registry = BackendRegistry().load()
    assert registry.names() == ["aclgraph", "cudagraph", "eager", "native", "xlite"]
    assert str(registry.origin("cg")) == "fake-cudagraph 1.2 (entry point 'cudagraph')"
    selection = select({"graph_backend": "CUDAGRAPH"}, environment=Environment(device="cuda"), model=ModelInfo(),
                       registry=registry)
    assert selection.plan.backend == "cudagraph"
    fallback = select({"graph_backend": "cudagraph"}, environment=Environment(), model=ModelInfo(), registry=registry)
    assert [(a.backend, a.selected, a.reason) for a in fallback.trail] == [
        ("cudagraph", False, "needs cuda"), ("eager", True, "eager execution runs everywhere")]


def test_broken_plugins_are_isolated_and_remembered(site, caplog):
    make_distribution(site, "fake-cudagraph", "1.2", {"cudagraph": "fake_cudagraph"},
                      {"fake_cudagraph": BACKEND_MODULE.format(cls="Cuda", name="cudagraph", aliases=())})
    make_distribution(site, "fake-broken", "0.1", {"broken": "fake_broken"},
                      {"fake_broken": "import does_not_exist_anywhere\n"})
    make_distribution(site, "fake-raising", "0.2", {"raising": "fake_raising"},
                      {"fake_raising": """
                          from vllm_ascend_graphs import hookimpl

                          @hookimpl
                          def graph_backends():
                              raise RuntimeError("backend table is corrupt")
                          """})
    make_distribution(site, "fake-weird", "0.3", {"weird": "fake_weird"},
                      {"fake_weird": """
                          from vllm_ascend_graphs import hookimpl

                          @hookimpl
                          def graph_backends():
                              return ["not a backend"]
                          """})
    with caplog.at_level(logging.DEBUG, logger="vllm_ascend_graphs"):
        registry = BackendRegistry().load()
    assert registry.names() == ["aclgraph", "cudagraph", "eager", "native", "xlite"]
    assert {(e.name, e.status) for e in registry.left_out} == {("broken", "failed"), ("raising", "failed"),
                                                               ("weird", "failed")}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "left out" in r.getMessage()]
    assert len(warnings) == 3
    assert any("fake-broken 0.1" in w and "ModuleNotFoundError" in w for w in warnings)
    assert any("RuntimeError: backend table is corrupt" in w for w in warnings)
    assert any("is not a GraphBackend instance" in w for w in warnings)
    assert any("Traceback" in r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)

    with pytest.raises(GraphConfigError) as info:
        select({"graph_backend": "broken"}, environment=Environment(), model=ModelInfo(), registry=registry)
    assert "comes from plugin fake-broken 0.1 (entry point 'broken'), which failed to load" in str(info.value)
    assert "No module named 'does_not_exist_anywhere'" in str(info.value)
    with pytest.raises(GraphConfigError, match="left out because they failed or clash: "):
        registry.get("unheard-of")


def test_system_exit_at_import_is_a_failed_plugin(site, monkeypatch):
    make_distribution(site, "fake-quitter", "0.4", {"quitter": "fake_quitter"},
                      {"fake_quitter": "import sys\nsys.exit('no licence')\n"})
    make_distribution(site, "fake-cudagraph", "1.2", {"cudagraph": "fake_cudagraph"},
                      {"fake_cudagraph": BACKEND_MODULE.format(cls="Cuda", name="cudagraph", aliases=())})
    monkeypatch.setenv("ASCEND_GRAPHS_PLUGINS", "quitter,cudagraph")
    registry = BackendRegistry().load()
    assert "cudagraph" in registry.names()
    [entry] = registry.left_out
    assert (entry.name, entry.status, entry.reason) == ("quitter", "failed", "SystemExit: no licence")
    assert str(entry.origin) == "fake-quitter 0.4 (entry point 'quitter')"


def test_what_a_plugin_prints_while_loading_goes_to_stderr(site, monkeypatch, capsys):
    make_distribution(site, "fake-chatty", "0.5", {"chatty": "fake_chatty"},
                      {"fake_chatty": """
                          print("chatty: importing")
                          from vllm_ascend_graphs import hookimpl
                          from fake_cudagraph_base import Cuda

                          @hookimpl
                          def graph_backends():
                              print("chatty: registering")
                              return [Cuda()]
                          """,
                       "fake_cudagraph_base": BACKEND_MODULE.format(cls="Cuda", name="chatty", aliases=())})
    monkeypatch.setenv("ASCEND_GRAPHS_PLUGINS", "chatty")
    registry = BackendRegistry().load()
    out, err = capsys.readouterr()
    assert "chatty" in registry.names()
    assert out == "" and "chatty: importing" in err and "chatty: registering" in err


NAMELESS = """
from vllm_ascend_graphs import GraphBackend, Plan, Probe, hookimpl
from fake_cudagraph_base import Cuda


class Nameless(GraphBackend):
    description = "forgot its name"

    def probe(self, request, environment, model):
        return Probe.ok("x")

    def plan(self, request, environment, model):
        raise AssertionError("never planned")


@hookimpl
def graph_backends():
    return [Nameless(), Cuda()]
"""


def test_a_backend_without_a_name_fails_alone(site, monkeypatch):
    make_distribution(site, "fake-nameless", "0.6", {"nameless": "fake_nameless"},
                      {"fake_nameless": NAMELESS,
                       "fake_cudagraph_base": BACKEND_MODULE.format(cls="Cuda", name="sibling", aliases=())})
    monkeypatch.setenv("ASCEND_GRAPHS_PLUGINS", "nameless")
    registry = BackendRegistry().load()
    assert "sibling" in registry.names(), "the plugin's other backend is served"
    [entry] = registry.left_out
    assert entry.status == "failed" and entry.name == "nameless"
    assert "backend class Nameless sets no name; allowed: a class attribute such as name = 'mybackend'" in entry.reason


@pytest.mark.parametrize(("attributes", "words"), [
    ({"name": "ok-name", "aliases": ["list-not-tuple"]}, "aliases: got ['list-not-tuple'] (list); allowed: a tuple"),
    ({"name": "ok-name", "description": 3}, "description: got 3 (int); allowed: a string"),
    ({"name": "ok-name", "device": 3}, "device: got 3 (int); allowed: None or a device name"),
    ({"name": "ok-name", "fallback": "eager"}, "fallback: got 'eager'; allowed: a tuple of backend names"),
])
def test_backends_with_bad_class_attributes_fail_alone(builtins_only, attributes, words):
    from vllm_ascend_graphs import GraphBackend

    cls = type("Odd", (GraphBackend,), {"probe": lambda *a: None, "plan": lambda *a: None})
    instance = cls()
    for attribute, value in attributes.items():
        setattr(instance, attribute, value)  # set on the instance: class definitions check their own

    register(builtins_only, instance, name="odd")
    assert builtins_only.names() == ["aclgraph", "eager", "native", "xlite"]
    [entry] = builtins_only.left_out
    assert entry.status == "failed" and words in entry.reason


def test_two_plugins_claiming_one_name_both_lose_it(site, capsys):
    make_distribution(site, "fake-cudagraph", "1.2", {"cudagraph": "fake_cudagraph"},
                      {"fake_cudagraph": BACKEND_MODULE.format(cls="Cuda", name="cudagraph", aliases=())})
    make_distribution(site, "fake-clash", "9.9", {"clash": "fake_clash"},
                      {"fake_clash": BACKEND_MODULE.format(cls="Other", name="other", aliases=("CudaGraph",))})
    registry = BackendRegistry().load()
    assert registry.names() == ["aclgraph", "eager", "native", "xlite"], "neither is served, and the host goes on"
    assert sorted((e.name, e.status) for e in registry.left_out) == [("cudagraph", "conflict"), ("other", "conflict")]
    for name in ("cudagraph", "other"):
        with pytest.raises(GraphConfigError) as info:
            registry.get(name)
        message = str(info.value)
        assert "\n" not in message
        assert "the name 'cudagraph' is claimed by backend 'cudagraph' from fake-cudagraph 1.2" in message
        assert "backend 'other' from fake-clash 9.9" in message and "ASCEND_GRAPHS_PLUGINS" in message
    assert select(None, environment=Environment(), model=ModelInfo(), registry=registry).plan.backend == "eager"
    reset_registry(registry)
    assert main(["list", "--json"]) == 1, "a clash fails CI"
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["backends"]}
    assert rows["cudagraph"]["status"] == ("conflict: its name 'cudagraph' is also claimed by backend 'other' from "
                                           "fake-clash 9.9 (entry point 'clash')")
    assert rows["other"]["status"] == ("conflict: its name 'cudagraph' is also claimed by backend 'cudagraph' from "
                                       "fake-cudagraph 1.2 (entry point 'cudagraph')")


def test_a_builtin_name_cannot_be_taken(site):
    make_distribution(site, "fake-clash", "9.9", {"clash": "fake_clash"},
                      {"fake_clash": BACKEND_MODULE.format(cls="Acl", name="mine", aliases=("eager",))})
    registry = BackendRegistry().load()
    assert registry.get("eager").name == "eager" and registry.origin("eager") == BUILTIN
    [entry] = registry.left_out
    assert (entry.name, entry.status) == ("mine", "conflict")
    assert entry.reason == "its name 'eager' belongs to the builtin backend 'eager'"
    with pytest.raises(GraphConfigError, match="backend 'mine' from plugin fake-clash 9.9 .* is left out: its name "):
        registry.get("mine")


def test_allow_list(site, monkeypatch, caplog):
    make_distribution(site, "fake-cudagraph", "1.2", {"cudagraph": "fake_cudagraph"},
                      {"fake_cudagraph": BACKEND_MODULE.format(cls="Cuda", name="cudagraph", aliases=())})
    monkeypatch.setenv("ASCEND_GRAPHS_PLUGINS", "")
    registry = BackendRegistry().load()
    assert "cudagraph" not in registry.names()
    assert [(e.name, e.status) for e in registry.left_out] == [("cudagraph", "disabled")]
    with pytest.raises(GraphConfigError) as info:
        registry.get("cudagraph")
    assert str(info.value) == (
        "additional_config.graph_backend: backend 'cudagraph' comes from plugin fake-cudagraph 1.2 (entry point "
        "'cudagraph'), which is disabled (not in ASCEND_GRAPHS_PLUGINS=''); allowed: add 'cudagraph' to "
        "ASCEND_GRAPHS_PLUGINS")
    with pytest.raises(GraphConfigError, match=r"\(installed but not in ASCEND_GRAPHS_PLUGINS: cudagraph\)"):
        registry.get("cudagrap")
    monkeypatch.setenv("ASCEND_GRAPHS_PLUGINS", "something-else, CUDAGRAPH")
    with caplog.at_level(logging.WARNING, logger="vllm_ascend_graphs"):
        registry = BackendRegistry().load()
    assert "cudagraph" in registry.names() and not registry.left_out
    assert [r.getMessage() for r in caplog.records] == [
        "ASCEND_GRAPHS_PLUGINS names 'something-else', which no installed plugin provides "
        "(installed entry points: cudagraph)"]


def test_loading_twice_is_a_no_op(site):
    make_distribution(site, "fake-cudagraph", "1.2", {"cudagraph": "fake_cudagraph"},
                      {"fake_cudagraph": BACKEND_MODULE.format(cls="Cuda", name="cudagraph", aliases=())})
    registry = BackendRegistry().load()
    first = registry.get("cudagraph")
    assert registry.load() is registry and registry.get("cudagraph") is first


def test_preference_hook_puts_a_backend_first_for_auto(builtins_only):
    from vllm_ascend_graphs import GraphBackend, Plan, Probe, hookimpl
    from vllm_ascend_graphs.rules.modes import CUDAGraphMode

    class Turbo(GraphBackend):
        name = "turbo"
        fallback = ("aclgraph",)

        def probe(self, request, environment, model):
            return Probe.ok("turbo runs Qwen here")

        def plan(self, request, environment, model):
            return Plan(backend=self.name, cudagraph_mode=CUDAGraphMode.FULL_DECODE_ONLY)

    class Plugin:
        @hookimpl
        def graph_backends(self):
            return [Turbo()]

        @hookimpl
        def graph_backend_preference(self, model):  # a subset of the spec's arguments is allowed
            return "turbo" if model.family == "qwen-dense" else None

    class Broken:
        @hookimpl
        def graph_backend_preference(self, model, environment):
            raise ValueError("boom")

    builtins_only.register(Plugin(), "turbo-plugin")
    builtins_only.register(Broken(), "broken-preference")
    qwen = ModelInfo.from_architecture("Qwen3ForCausalLM")
    chosen = select(None, environment=Environment(), model=qwen)
    assert chosen.plan.backend == "turbo"
    assert "plugins prefer turbo for qwen-dense models here" in chosen.notes
    llama = select(None, environment=Environment(), model=ModelInfo.from_architecture("LlamaForCausalLM"))
    assert [a.backend for a in llama.trail] == ["aclgraph", "native", "eager"]


def test_a_plugin_with_an_unknown_hook_is_rejected(builtins_only):
    from vllm_ascend_graphs import hookimpl

    class Misspelt:
        @hookimpl
        def graph_backendz(self):
            return []

    builtins_only.register(Misspelt(), "misspelt")
    [entry] = builtins_only.left_out
    assert entry.name == "misspelt" and "unknown hook" in entry.reason


def test_backend_names_are_validated_and_normalised():
    from vllm_ascend_graphs import GraphBackend

    class Mixed(GraphBackend):
        name = "  MiXed "
        aliases = ("ALIAS",)

        def probe(self, request, environment, model): ...

        def plan(self, request, environment, model): ...

    assert (Mixed.name, Mixed.aliases) == ("mixed", ("alias",))
    with pytest.raises(TypeError, match="'auto'"):
        type("Auto", (GraphBackend,), {"name": "auto", "probe": None, "plan": None})
    with pytest.raises(TypeError, match="invalid"):
        type("Spaces", (GraphBackend,), {"name": "two words", "probe": None, "plan": None})


def test_a_plugin_that_forgot_hookimpl_is_reported(builtins_only):
    class Unmarked:
        def graph_backends(self):  # no @hookimpl: pluggy would silently see nothing
            return []

    builtins_only.register(Unmarked(), "unmarked")
    [entry] = builtins_only.left_out
    assert "implements no hook; mark its functions with @vllm_ascend_graphs.hookimpl" in entry.reason


def test_graph_backends_may_return_any_iterable_or_one_backend(builtins_only):
    from vllm_ascend_graphs import GraphBackend, Plan, Probe, hookimpl
    from vllm_ascend_graphs.rules.modes import CUDAGraphMode

    def backend(backend_name):
        return type(backend_name.title(), (GraphBackend,), {
            "name": backend_name, "probe": lambda self, *a: Probe.ok("ok"),
            "plan": lambda self, *a: Plan(self.name, CUDAGraphMode.NONE)})()

    class Generating:
        @hookimpl
        def graph_backends(self):
            yield backend("generated")

    class Single:
        @hookimpl
        def graph_backends(self):
            return backend("single")

    builtins_only.register(Generating(), "generating")
    builtins_only.register(Single(), "single")
    assert {"generated", "single"} <= set(builtins_only.names()) and not builtins_only.left_out


def test_list_json_stays_parseable_when_an_installed_plugin_prints_and_exits(site):
    """End to end, as a user runs it: one plugin prints at import, another calls sys.exit() there."""
    import os
    import subprocess

    make_distribution(site, "fake-chatty", "0.5", {"chatty": "fake_chatty"},
                      {"fake_chatty": "print('chatty: hello from the import')\n"
                                      + BACKEND_MODULE.format(cls="Chatty", name="chatty", aliases=())})
    make_distribution(site, "fake-quitter", "0.4", {"quitter": "fake_quitter"},
                      {"fake_quitter": "import sys\nsys.exit(7)\n"})
    env = {**os.environ, "PYTHONPATH": str(site), "ASCEND_GRAPHS_PLUGINS": "chatty,quitter"}
    done = subprocess.run([sys.executable, "-m", "vllm_ascend_graphs", "list", "--json"], capture_output=True,
                          text=True, env=env, timeout=60)
    rows = {row["name"]: row for row in json.loads(done.stdout)["backends"]}
    assert done.returncode == 1, "the quitter failed: a CI failure, not an exit of the host"
    assert rows["chatty"]["status"] == "loaded" and rows["quitter"]["status"] == "failed: SystemExit: 7"
    assert "chatty: hello from the import" in done.stderr and "Traceback" not in done.stderr
