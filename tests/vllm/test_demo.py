"""`make demo`'s program: the decision, then generated text, from the tiny model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "offline_inference.py"


def run_demo(tiny_model: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    return subprocess.run([sys.executable, str(EXAMPLE), "--model", tiny_model, "--max-tokens", "4", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_demo_prints_the_decision_and_text(tiny_model):
    result = run_demo(tiny_model, "--backend", "xlite")
    assert result.returncode == 0, result.stderr[-3000:]
    # The test set-up installs xlite, whose native library needs CANN: installed, but not ready here.
    assert re.search(r"graph backend: eager, cudagraph_mode NONE \(xlite: xlite \S+ is installed but not ready",
                     result.stdout)
    assert result.stdout.count("generated: ") == 2


def test_demo_reports_bad_input_in_one_line(tiny_model):
    result = run_demo(tiny_model, "--additional-config", '{"graph_fallback": "maybe"}')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: additional_config.graph_fallback: got 'maybe'; allowed: true or false")
