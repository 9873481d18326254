"""examples/standalone_capture.py: plain PyTorch through the runtime, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import standalone_capture
import torch

from vllm_ascend_graphs.runtime.runner import GraphRunner

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "standalone_capture.py"


def rows(out: str) -> dict[int, str]:
    return {int(line.split()[0]): line for line in out.splitlines() if line.split()[-1:] in (["ok"], ["MISMATCH"])}


def test_it_prints_a_parity_table_on_the_sim_device():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sim: graphs at batch sizes [1, 2, 4, 8] (FULL_DECODE_ONLY)")
    table = rows(done.stdout)
    assert sorted(table) == [1, 2, 3, 4, 5, 8, 9]
    assert "graph 4 (padded from 3)" in table[3] and "graph 8 (padded from 5)" in table[5]
    assert "eager" in table[9]
    assert all(line.endswith(" ok") for line in table.values())


def test_a_replay_that_reads_stale_inputs_is_a_mismatch(monkeypatch, capsys):
    monkeypatch.setattr(GraphRunner, "_load", lambda self, views, inputs: None)  # inputs never reach the graphs
    assert standalone_capture.main(["--sizes", "2", "4"]) == 1
    table = rows(capsys.readouterr().out)
    assert [n for n, line in table.items() if line.endswith("MISMATCH")] == [2, 3, 4]
    assert table[5].endswith(" ok"), "eager batches are unaffected"


def test_bad_sizes_are_a_one_line_error(capsys):
    assert standalone_capture.main(["--sizes", "0", "2"]) == 2
    assert capsys.readouterr().err == "error: capture sizes: got [0, 2] (list); allowed: positive integers\n"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_an_absent_device_is_a_one_line_error(capsys):
    assert standalone_capture.main(["--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: graph device: got 'cuda', but torch sees no CUDA device here")
    assert err.count("\n") == 1
