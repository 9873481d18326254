"""Installs the contract tier's stand-ins at the start of every Python process of a case.

vLLM runs some work in subprocesses of its own (its model inspection, for one); they import vLLM,
which resolves vllm-ascend's platform and so imports torch_npu. `run_cases.py` puts this folder on
`PYTHONPATH` and describes the stand-ins in `CONTRACT_STANDINS`; elsewhere this does nothing.
"""

import json
import os
import sys
from pathlib import Path

_described = os.environ.get("CONTRACT_STANDINS")
if _described:
    _setup = json.loads(_described)
    sys.path[:0] = _setup["paths"]
    import standins

    standins.install(Path(_setup["torch_npu"]), Path(_setup["vllm_ascend"]), _setup["soc"])
