"""Standalone use: `vllm_ascend_graphs.capture` and `vllm-ascend-graphs check`."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import vllm_ascend_graphs
from vllm_ascend_graphs.cli import main
from vllm_ascend_graphs.errors import BackendUnavailableError
from vllm_ascend_graphs.runtime.runner import GraphRunner

from .parity import assert_parity


def test_capture_on_the_sim_device_serves_the_function_by_replay(decoder):
    runner = vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), sizes=[1, 4], device="sim")
    assert isinstance(runner, GraphRunner) and sorted(size for size, _ in runner.captured) == [1, 4]
    assert_parity(runner, decoder, [1, 3, 4, 5])
    assert runner.graphs.api.events.count("replay") == 3


def test_capture_with_auto_here_serves_eagerly_when_the_selector_picks_eager(decoder, monkeypatch):
    monkeypatch.setenv("VLLM_ASCEND_GRAPHS_ASSUME", "device=cpu")
    runner = vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), sizes=[1, 4])
    assert runner.graphs is None and not runner.captured
    assert_parity(runner, decoder, [1, 3])


def test_capture_with_a_backend_that_cannot_serve_here_says_why(decoder, monkeypatch):
    monkeypatch.setenv("VLLM_ASCEND_GRAPHS_ASSUME", "device=cpu")
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
    assert "--sizes: got '4,x'; allowed: positive integers" in capsys.readouterr().err


def test_the_check_command_runs_from_the_shell():
    done = subprocess.run([sys.executable, "-m", "vllm_ascend_graphs", "check", "--device", "sim", "--sizes", "1", "2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "max abs diff" in done.stdout and "3 of 3 sizes match" in done.stdout


def test_importing_the_package_and_its_cli_imports_no_torch():
    code = ("import sys, vllm_ascend_graphs, vllm_ascend_graphs.cli; vllm_ascend_graphs.GraphCaptureError; "
            "import vllm_ascend_graphs.backends.builtin; print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_runtime_outputs_are_plain_tensors(decoder):
    runner = vllm_ascend_graphs.capture(decoder, decoder.inputs(2, seed=0), sizes=[2], device="sim")
    out = runner(*decoder.inputs(2, seed=3))
    assert type(out) is torch.Tensor and not out.requires_grad
