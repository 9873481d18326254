"""The contract tier: our plugin against vllm-ascend 0.23.0.post1's real Python source, on vLLM 0.23.0.

It runs in its own environment, `.venv-ascend/` (`make test` sets it up), because vllm-ascend
0.23 pairs with vLLM 0.23.0 while the rest of the suite runs on vLLM 0.32.0. vllm-ascend's sdist
and the torch-npu wheel whose names the stand-ins take are downloaded once into the git-ignored
`.cache/real-packages/`; neither is installed or built.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from real_packages import torch_npu_source, vllm_ascend_source

HERE = Path(__file__).resolve().parent
VLLM_VERSION = "0.23.0"
VLLM_ASCEND_VERSION = "0.23.0.post1"
TORCH_NPU_VERSION = "2.10.0.post4"  # what vllm-ascend 0.23.0 pairs with


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import vllm

    if vllm.__version__ != VLLM_VERSION:
        skip = pytest.mark.skip(reason=f"the contract tier runs on vLLM {VLLM_VERSION} in .venv-ascend/ "
                                       f"(this is vLLM {vllm.__version__}); `make test` runs it")
        for item in items:
            if HERE in Path(item.fspath).parents:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from tiny_configs import write_configs

    return write_configs(tmp_path_factory.mktemp("contract-models"))


@pytest.fixture(scope="session")
def contract(models: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case's result, from one run of `run_cases.py` (a forked process per case)."""
    from cases import CASES

    work = tmp_path_factory.mktemp("contract")
    setup = {"vllm_ascend": str(vllm_ascend_source(VLLM_ASCEND_VERSION)),
             "torch_npu": str(torch_npu_source(TORCH_NPU_VERSION)), "models": models}
    (work / "setup.json").write_text(json.dumps(setup))
    out = work / "results"
    out.mkdir()
    run = subprocess.run([sys.executable, str(HERE / "run_cases.py"), str(work / "setup.json"), str(out),
                          *(case.id for case in CASES)], capture_output=True, text=True, timeout=1800)
    results = {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}
    if len(results) != len(CASES):
        missing = sorted({case.id for case in CASES} - set(results))
        pytest.fail(f"the contract run produced no result for {missing}:\n{run.stderr[-4000:]}")
    return results
