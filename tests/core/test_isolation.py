"""Plugin code that fails while the selector calls it: only that backend is skipped, with its reason.

Each plugin here is registered on the builtins-only registry, as an installed entry point would be,
so the registry knows its origin and names it in the reason.
"""

from __future__ import annotations

import json
import time

import pytest
from plugins import Flaky, boom, leave, register

from vllm_ascend_graphs import (
    BackendUnavailableError,
    GraphConfigError,
    ModelInfo,
    Probe,
    hookimpl,
    select,
)
from vllm_ascend_graphs.entrypoints.cli import main


def register_flaky(registry, **misbehaviour) -> None:
    register(registry, Flaky(**misbehaviour))


@pytest.mark.parametrize(("misbehaviour", "reason"), [
    ({"plan": boom}, "its plan raised RuntimeError: boom; plugin flaky-plugin"),
    ({"plan": leave}, "its plan raised SystemExit: 3; plugin flaky-plugin"),
    ({"plan": lambda: "a plan"}, "its plan returned 'a plan', not a Plan; plugin flaky-plugin"),
    ({"probe": boom}, "its probe raised RuntimeError: boom; plugin flaky-plugin"),
    ({"probe": lambda: True}, "its probe returned True (bool), not a Probe; plugin flaky-plugin"),
])
def test_a_failing_backend_is_skipped_with_its_reason(builtins_only, cpu, misbehaviour, reason):
    register_flaky(builtins_only, **misbehaviour)
    selection = select({"graph_backend": "flaky"}, environment=cpu, model=ModelInfo())
    assert [(a.backend, a.selected, a.reason) for a in selection.trail] == [
        ("flaky", False, reason), ("eager", True, "eager execution runs everywhere")]
    with pytest.raises(BackendUnavailableError) as info:
        select({"graph_backend": "flaky", "graph_fallback": False}, environment=cpu, model=ModelInfo())
    assert f"backend 'flaky' cannot serve here: {reason}; allowed:" in str(info.value)


@pytest.mark.parametrize("options", [boom, lambda options: "not a mapping",
                                     lambda options: (_ for _ in ()).throw(GraphConfigError("own defaults"))])
def test_options_a_plugin_cannot_validate_skip_only_that_backend(builtins_only, npu, options):
    register_flaky(builtins_only, options=options)
    selection = select(None, environment=npu, model=ModelInfo())  # the user asked for another backend
    assert selection.plan.backend == "aclgraph"
    assert any(note.startswith("backend 'flaky' cannot be used: its validate_options") for note in selection.notes)
    skipped = select({"graph_backend": "flaky"}, environment=npu, model=ModelInfo())
    assert skipped.trail[0].backend == "flaky" and "its validate_options" in skipped.trail[0].reason


def test_bad_options_the_user_gave_stay_a_config_error(builtins_only, cpu):
    def strict(options):
        if options:
            raise GraphConfigError("additional_config.graph_backend_options.flaky: got keys ['x']; allowed: none")
        return {}

    register_flaky(builtins_only, options=strict)
    with pytest.raises(GraphConfigError, match=r"flaky: got keys \['x'\]"):
        select({"graph_backend_options": {"flaky": {"x": 1}}}, environment=cpu, model=ModelInfo())


def test_auto_is_not_offered_as_a_backend_options_key(cpu):
    with pytest.raises(GraphConfigError) as info:
        select({"graph_backend_options": {"auto": {}}}, environment=cpu, model=ModelInfo())
    assert str(info.value) == ("additional_config.graph_backend_options: 'auto' is not a backend here; "
                               "allowed: aclgraph, eager, native, xlite")
    with pytest.raises(GraphConfigError) as info:
        select({"graph_backend_options": {"eagr": {}}}, environment=cpu, model=ModelInfo())
    assert "allowed: aclgraph, eager, native, xlite" in str(info.value) and "auto" not in str(info.value)


def test_a_probe_that_hangs_is_a_refusal_after_the_deadline(builtins_only, cpu, monkeypatch):
    monkeypatch.setenv("ASCEND_GRAPHS_PROBE_TIMEOUT", "0.2")
    register_flaky(builtins_only, probe=lambda: time.sleep(3))
    start = time.monotonic()
    selection = select({"graph_backend": "flaky"}, environment=cpu, model=ModelInfo())
    first = time.monotonic() - start
    assert selection.plan.backend == "eager"
    assert selection.trail[0].reason == (
        "it did not answer within 0.2 s (ASCEND_GRAPHS_PROBE_TIMEOUT), so it counts as refusing; "
        "plugin flaky-plugin")
    start = time.monotonic()
    again = select({"graph_backend": "flaky"}, environment=cpu, model=ModelInfo())
    assert time.monotonic() - start < 0.2 <= first, "a probe still running is not waited for twice"
    assert again.trail[0].reason.startswith("its earlier call has not returned after ")


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf", "1" * 400])
def test_a_bad_probe_deadline_is_a_config_error(builtins_only, cpu, monkeypatch, value):
    monkeypatch.setenv("ASCEND_GRAPHS_PROBE_TIMEOUT", value)
    register_flaky(builtins_only)
    with pytest.raises(GraphConfigError, match="ASCEND_GRAPHS_PROBE_TIMEOUT: got .*; allowed: a positive number"):
        select({"graph_backend": "flaky"}, environment=cpu, model=ModelInfo())


def test_a_preference_hook_that_exits_is_ignored(builtins_only, cpu):
    class Leaving:
        @hookimpl
        def graph_backend_preference(self, model):
            raise SystemExit("bye")

    builtins_only.register(Leaving(), "leaving")
    assert select(None, environment=cpu, model=ModelInfo()).plan.backend == "eager"


def test_what_backends_print_never_reaches_stdout(builtins_only, capsys):
    class Chatty(Flaky):
        name = "chatty"

        def probe(self, request, environment, model):
            print("chatty probe")
            return Probe.ok("ready")

        def plan(self, request, environment, model):
            print("chatty plan")
            return super().plan(request, environment, model)

    register(builtins_only, Chatty(), name="chatty")
    assert main(["explain", "--json", "--additional-config", '{"graph_backend": "chatty"}']) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["backend"] == "chatty"
    assert "chatty probe" in err and "chatty plan" in err


def test_list_and_explain_survive_every_broken_backend(builtins_only, capsys):
    register_flaky(builtins_only, probe=boom, plan=boom, options=boom)
    assert main(["list", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["backends"]}
    assert rows["flaky"]["reason"] == "its probe raised RuntimeError: boom; plugin flaky-plugin"
    assert main(["explain", "--additional-config", '{"graph_backend": "flaky"}']) == 0
    assert "Backend:        eager" in capsys.readouterr().out
