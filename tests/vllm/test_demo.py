"""`make demo`'s program: the decision, then generated text, from the tiny model."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "offline_inference.py"


def run_demo(tiny_model: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    return subprocess.run([sys.executable, str(EXAMPLE), "--model", tiny_model, "--max-tokens", "4", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_demo_prints_the_decision_and_text(tiny_model):
    result = run_demo(tiny_model, "--backend", "xlite")
    assert result.returncode == 0, result.stderr[-3000:]
    # The test set-up installs xlite, whose native library needs CANN: installed, but not ready here.
    assert re.search(r"graph backend: xlite was asked for, eager runs instead, cudagraph_mode NONE \(xlite: xlite \S+ "
                     r"is installed but not ready", result.stdout)
    assert result.stdout.count("generated: ") == 2
    assert "enforce_eager=True: vLLM's CPU platform captures no graphs" in result.stdout


@pytest.mark.parametrize(("cpu", "eager"), [(True, True), (False, False)])
def test_demo_enforces_eager_only_on_the_cpu_platform(monkeypatch, capsys, tiny_model, cpu, eager):
    """Anywhere but vLLM's CPU platform, enforce_eager would turn every graph backend off."""
    import offline_inference
    import vllm
    from vllm.platforms import current_platform

    built = {}

    def engine(**kwargs):
        built.update(kwargs)
        raise SystemExit(0)  # stop before the engine starts

    monkeypatch.setattr(type(current_platform), "is_cpu", lambda self: cpu)
    monkeypatch.setattr(vllm, "LLM", engine)
    monkeypatch.setattr(sys, "argv", ["offline_inference.py", "--model", tiny_model, "--backend", "aclgraph"])
    with pytest.raises(SystemExit):
        offline_inference.main()
    assert built["enforce_eager"] is eager and built["additional_config"] == {"graph_backend": "aclgraph"}
    assert ("enforce_eager=True" in capsys.readouterr().out) is eager


def test_demo_reports_bad_input_in_one_line(tiny_model):
    result = run_demo(tiny_model, "--additional-config", '{"graph_fallback": "maybe"}')
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: additional_config.graph_fallback: got 'maybe'; allowed: true or false")
