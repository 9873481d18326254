"""The contract tier: our plugin against vllm-ascend's real Python source, on the vLLM it pairs with.

Each vllm-ascend version (`versions.py`) runs on its own vLLM, so the tier runs once per
environment, `.venv-ascend/vllm-VERSION/` (`make test` sets them up and runs each); the vLLM
installed says which vllm-ascend a run checks, and the run's summary names both. vllm-ascend's
source (a release's sdist, or a source archive of its repository) and the torch-npu wheel its
requirements.txt pins, whose names the stand-ins take, are unpacked once into the git-ignored
`.cache/real-packages/`; neither is installed or built.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from real_packages import torch_npu_source
from versions import VERSIONS, VllmAscend, installed, pinned

HERE = Path(__file__).resolve().parent
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


def installed_vllm() -> str:
    import vllm

    return str(vllm.__version__)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if installed() is None:
        pairs = ", ".join(f"{v.name} on vLLM {v.vllm}" for v in VERSIONS)
        skip = pytest.mark.skip(reason=f"the contract tier runs vllm-ascend {pairs}, each in "
                                       f".venv-ascend/vllm-VERSION/ (this is vLLM {installed_vllm()}); "
                                       "`make test` runs it")
        for item in items:
            if HERE in Path(item.fspath).parents:
                item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the versions this run checked, right under its results: each run is one version."""
    version = installed()
    if version is not None:
        counts = ", ".join(f"{len(terminalreporter.stats[key])} {key}" for key in OUTCOMES
                           if terminalreporter.stats.get(key))
        terminalreporter.write_line(f"contract tier: vllm-ascend {version.name} on vLLM {installed_vllm()}: {counts}")


@pytest.fixture(scope="session")
def vllm_ascend() -> VllmAscend:
    """The vllm-ascend this run checks: the one that pairs with the installed vLLM."""
    version = installed()
    assert version is not None
    return version


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from tiny_configs import write_configs

    return write_configs(tmp_path_factory.mktemp("contract-models"))


@pytest.fixture(scope="session")
def contract(models: dict[str, str], vllm_ascend: VllmAscend,
             tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case's result, from one run of `run_cases.py` (a forked process per case)."""
    from cases import CASES

    work = tmp_path_factory.mktemp("contract")
    source = vllm_ascend.source()
    torch_npu = torch_npu_source(pinned(source, "requirements.txt", "torch-npu"))  # the one it pairs with
    setup = {"vllm_ascend": str(source), "torch_npu": str(torch_npu), "models": models}
    (work / "setup.json").write_text(json.dumps(setup))
    out = work / "results"
    out.mkdir()
    run = subprocess.run([sys.executable, str(HERE / "run_cases.py"), str(work / "setup.json"), str(out),
                          *(case.id for case in CASES)], capture_output=True, text=True, timeout=1800)
    results = {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}
    if len(results) != len(CASES):
        missing = sorted({case.id for case in CASES} - set(results))
        pytest.fail(f"vllm-ascend {vllm_ascend.name} on vLLM {installed_vllm()}: the contract run produced no result "
                    f"for {missing}:\n{run.stderr[-4000:]}")
    return results
