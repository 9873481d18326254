"""vllm-ascend's own platform unit tests (`tests/ut/test_platform.py` of this environment's release) pass with
this package's plugin loaded through its entry point exactly as they pass without it.

Those tests call `NPUPlatform.check_and_update_config` with partial configs (MagicMock fields, `None`
where a count belongs). The plugin must not stop a pass that vllm-ascend alone would run: where it
cannot read a value of vLLM's own config it steps aside with one WARNING (`platform_ut.py` runs both).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def runs(vllm_ascend, tmp_path_factory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("platform-ut") / "runs.json"
    run = subprocess.run([sys.executable, str(HERE / "platform_ut.py"), str(vllm_ascend.source()),
                          str(vllm_ascend.platform_tests()), str(out)], capture_output=True, text=True, timeout=900)
    if not out.is_file():
        pytest.fail(f"vllm-ascend {vllm_ascend.name}: its platform tests did not run:\n{run.stdout[-3000:]}"
                    f"{run.stderr[-3000:]}")
    return json.loads(out.read_text())


def test_they_pass_without_the_plugin(runs, vllm_ascend):
    without = runs["without"]
    assert without["calls"] == 0 and without["logged"] == []
    failed = sorted(test for test, outcome in without["outcomes"].items() if outcome not in ("passed", "skipped"))
    assert (without["exit"], failed) == (0, []), f"vllm-ascend {vllm_ascend.name} alone"
    assert list(without["outcomes"].values()).count("passed") >= 50


def test_they_pass_with_the_plugin_as_without_it(runs, vllm_ascend):
    alone = runs["without"]["outcomes"]
    differ = {test: (outcome, alone.get(test)) for test, outcome in runs["with"]["outcomes"].items()
              if outcome != alone.get(test)}
    assert (runs["with"]["exit"], differ) == (0, {}), f"vllm-ascend {vllm_ascend.name} with the plugin"
    assert runs["with"]["outcomes"].keys() == runs["without"]["outcomes"].keys()


def test_the_plugin_ran_in_them_and_stepped_aside_where_it_could_not_read_vllms_config(runs):
    """Each of the platform's passes went through the plugin; wherever a field of the partial config was not
    readable, one WARNING names it and the platform's pass ran alone; nothing else was logged above DEBUG."""
    with_plugin = runs["with"]
    warnings = [message for level, message in with_plugin["logged"] if level == "WARNING"]
    assert with_plugin["calls"] >= len(warnings) > 0
    assert all(message.startswith("graph backend: the plugin steps aside: it cannot read vLLM's own ")
               and message.endswith("; the config is left untouched and the platform decides the graph settings "
                                    "alone") for message in warnings)
    assert [level for level, _ in with_plugin["logged"] if level not in ("WARNING", "DEBUG")] == []
