"""Standalone use: `vllm_ascend_graphs.capture` and `vllm-ascend-graphs check`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

import vllm_ascend_graphs
from vllm_ascend_graphs import CUDAGraphMode, GraphBackend, GraphCaptureError, GraphConfigError, Plan, Probe, hookimpl
from vllm_ascend_graphs.entrypoints.cli import main
from vllm_ascend_graphs.errors import BackendUnavailableError
from vllm_ascend_graphs.hooks.registry import BackendRegistry, reset_registry
from vllm_ascend_graphs.runtime.runner import GraphRunner

from .parity import assert_parity


def test_capture_on_the_sim_device_serves_the_function_by_replay(decoder):
    runner = vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), sizes=[1, 4], device="sim")
    assert isinstance(runner, GraphRunner) and sorted(size for size, _ in runner.captured) == [1, 4]
    assert_parity(runner, decoder, [1, 3, 4, 5])
    assert runner.graphs.api.events.count("replay") == 3


def test_capture_with_auto_here_serves_eagerly_when_the_selector_picks_eager(decoder, monkeypatch):
    monkeypatch.setenv("ASCEND_GRAPHS_ASSUME", "device=cpu")
    runner = vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), sizes=[1, 4])
    assert runner.graphs is None and not runner.captured
    assert_parity(runner, decoder, [1, 3])


def test_capture_with_a_backend_that_cannot_serve_here_says_why(decoder, monkeypatch):
    monkeypatch.setenv("ASCEND_GRAPHS_ASSUME", "device=cpu")
    with pytest.raises(BackendUnavailableError, match="backend 'aclgraph' cannot serve here: no Ascend NPU here"):
        vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), sizes=[1], backend="aclgraph")


def test_check_prints_a_row_per_size_and_exits_0_when_replay_matches(capsys):
    assert main(["check", "--device", "sim", "--sizes", "1,2", "8"]) == 0
    out = capsys.readouterr().out
    assert "graphs at [1, 2, 8]" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[-1:] in (["ok"], ["MISMATCH"])}
    assert sorted(map(int, rows)) == [1, 2, 5, 8, 9]
    assert "graph 8 (padded from 5)" in rows["5"] and "eager" in rows["9"]
    assert all(line.endswith("ok") for line in rows.values())
    assert "5 of 5 sizes match" in out


def test_check_exits_1_on_a_mismatch(capsys, monkeypatch):
    monkeypatch.setattr(GraphRunner, "_load", lambda self, views, inputs: None)  # inputs never reach the graphs
    assert main(["check", "--device", "sim", "--sizes", "2", "4"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "sizes match; " in out


def test_check_rejects_bad_sizes_with_a_one_line_error(capsys):
    assert main(["check", "--device", "sim", "--sizes", "4,x"]) == 2
    assert "--sizes: got '4,x'; allowed: positive integers up to 8192" in capsys.readouterr().err


def test_the_check_command_runs_from_the_shell():
    done = subprocess.run([sys.executable, "-m", "vllm_ascend_graphs", "check", "--device", "sim", "--sizes", "1", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "max abs diff" in done.stdout and "3 of 3 sizes match" in done.stdout


def test_importing_the_package_and_its_cli_imports_no_torch():
    code = ("import sys, vllm_ascend_graphs, vllm_ascend_graphs.entrypoints.cli; vllm_ascend_graphs.GraphCaptureError; "
            "import vllm_ascend_graphs.hooks.builtins; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_runtime_outputs_are_plain_tensors(decoder):
    runner = vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), sizes=[2], device="sim")
    out = runner(*decoder.inputs(2, seed=3))
    assert type(out) is torch.Tensor and not out.requires_grad


# -- bad input to check: one line and exit code 2, never a traceback ----------------------------


@pytest.mark.parametrize(("argv", "words"), [
    (["--sizes", "²"], "--sizes: got '²'; allowed: positive integers up to 8192"),
    (["--sizes", "1", "9" * 5000], "--sizes: got '1 9999"),
    (["--sizes", "100000"], "--sizes: got '100000'; allowed: positive integers up to 8192"),
    (["--sizes", ","], "--sizes: got ','"),
    (["--additional-config", "[" * 3000], "--additional-config: JSON nested too deeply"),
    (["--additional-config", '{"graph_capture_policy": "retry"}'], "graph_capture_policy: got 'retry'"),
    (["--backend", "eager", "--additional-config", '{"graph_backend": "aclgraph"}'],
     "capture backend: got 'eager' while additional_config.graph_backend is 'aclgraph'"),
    (["--backend", "nonesuch"], "unknown graph backend 'nonesuch'"),
])
def test_check_rejects_bad_input_with_one_line(capsys, argv, words):
    assert main(["check", "--device", "sim", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and words in err


@pytest.mark.parametrize("device", ["cuda", "npu"])
def test_check_on_an_absent_device_is_one_line(capsys, device):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert main(["check", "--device", device, "--sizes", "1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"vllm-ascend-graphs: error: graph device: got '{device}', but ")


class Capped(GraphBackend):
    """A sim-device backend with one option, as docs/writing-a-backend.md builds it."""

    name = "capped"
    device = "sim"

    def validate_options(self, options):
        unknown = sorted(set(options) - {"max_size"})
        if unknown:
            raise GraphConfigError(f"additional_config.graph_backend_options.capped: got keys {unknown}; "
                                   "allowed: max_size")
        return {"max_size": 4, **options}

    def probe(self, request, environment, model):
        return Probe.ok("the simulated device runs anywhere")

    def plan(self, request, environment, model):
        size = request.graph_backend_options[self.name]["max_size"]
        return Plan(self.name, CUDAGraphMode.FULL_DECODE_ONLY,
                    capture_sizes=tuple(s for s in (1, 2, 4, 8) if s <= size))

    def capture(self, graphs, fn, static_inputs, *, pool, mode):
        return graphs.capture(fn, static_inputs, pool=pool)


@pytest.fixture
def capped_registry():
    class Plugin:
        @hookimpl
        def graph_backends(self):
            return [Capped()]

    registry = BackendRegistry(entry_points=[]).load()
    registry.register(Plugin(), "capped")
    reset_registry(registry)
    yield registry
    reset_registry(None)


def test_backend_options_reach_capture_and_check(capped_registry, decoder, capsys):
    runner = vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), backend="capped",
                                        additional_config={"graph_backend_options": {"capped": {"max_size": 2}}})
    assert sorted(size for size, _ in runner.captured) == [1, 2]
    assert_parity(runner, decoder, [1, 2, 3])
    config = json.dumps({"graph_backend": "capped", "graph_backend_options": {"CAPPED": {"max_size": 8}}})
    assert main(["check", "--device", "sim", "--additional-config", config]) == 0
    assert "backend capped, device sim, mode FULL_DECODE_ONLY, graphs at [1, 2, 4, 8]" in capsys.readouterr().out
    assert main(["check", "--device", "sim", "--backend", "capped", "--additional-config",
                 '{"graph_backend_options": {"capped": {"max": 8}}}']) == 2
    assert "graph_backend_options.capped: got keys ['max']; allowed: max_size" in capsys.readouterr().err


class Uncompilable(Capped):
    name = "uncompilable"

    def compile(self, graph_module, example_inputs, plan):
        raise TypeError("cannot trace this")


class Uncapturable(Capped):
    name = "uncapturable"

    def capture(self, graphs, fn, static_inputs, *, pool, mode):
        raise KeyError("pool")


@pytest.fixture
def broken_registry(capped_registry):
    class Plugin:
        @hookimpl
        def graph_backends(self):
            return [Uncompilable(), Uncapturable()]

    capped_registry.register(Plugin(), "broken-runtime")
    return capped_registry


def test_a_backend_failing_to_compile_follows_the_capture_policy(broken_registry, decoder, caplog):
    with pytest.raises(GraphCaptureError, match="backend 'uncompilable' failed to compile the callable: TypeError: "
                                                "cannot trace this"):
        vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), backend="uncompilable")
    runner = vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), backend="uncompilable", policy="eager")
    assert not runner.captured
    assert_parity(runner, decoder, [1, 3])
    assert "every batch runs eagerly" in caplog.text


def test_a_backend_failing_to_capture_follows_the_capture_policy(broken_registry, decoder):
    with pytest.raises(GraphCaptureError, match=r"graph capture failed for 4 tokens \(uniform decode batch\) on sim: "
                                                r"KeyError: 'pool'"):
        vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), backend="uncapturable")
    runner = vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), backend="uncapturable", policy="shrink")
    assert not runner.captured and len(runner.dropped) == 3
    assert_parity(runner, decoder, [1, 3])
