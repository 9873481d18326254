"""The real packages our fakes are derived from, fetched with pip into a git-ignored cache.

- xlite is installed in the test environment (`scripts/setup-venv.sh`): its Python package
  imports anywhere, only its native `xlite._C` needs an NPU. `xlite_stub()` is its `_C.pyi`.
- torch-npu is never installed (without CANN it breaks `import torch`): `torch_npu_source()`
  downloads its wheel once into `.cache/real-packages/` and unpacks its Python files there.

A download that fails because the package index cannot be reached skips the test that needs it,
with a reason that `-ra` shows in the run's summary; any other failure fails the test.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "real-packages"
XLITE_VERSION = "0.2.0rc4"
# The torch-npu that vllm-ascend 0.23.0 pairs with, and the newest release.
TORCH_NPU_VERSIONS = ("2.10.0.post4", "2.14.0")
PAIRED_TORCH_NPU = TORCH_NPU_VERSIONS[0]
DEFAULT_INDEX = "https://pypi.org/simple/"
_skipped: dict[str, str] = {}  # requirement -> why it could not be downloaded in this run (tried once)


def xlite_stub() -> Path:
    """`xlite/_C.pyi` of the installed xlite (found without importing xlite)."""
    spec = importlib.util.find_spec("xlite")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"xlite is not installed here: the test set-up installs it (pip install --pre xlite=={XLITE_VERSION})")
    return Path(next(iter(spec.submodule_search_locations))) / "_C.pyi"


def torch_npu_source(version: str) -> Path:
    """A folder holding the Python files of the torch-npu `version` wheel (its `torch_npu/` tree)."""
    target = CACHE / f"torch_npu-{version}"
    if (target / "torch_npu").is_dir():
        return target
    wheel = _download(f"torch-npu=={version}", "--only-binary=:all:", "--python-version", "3.11",
                      "--platform", "manylinux_2_28_x86_64")
    unpacking = target.with_name(target.name + ".partial")
    shutil.rmtree(unpacking, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacking, [name for name in archive.namelist() if name.endswith((".py", ".pyi"))])
    unpacking.rename(target)  # whole or absent: an interrupted run leaves only the .partial folder
    return target


def wheel_module(folder: Path, alias: str, module: str) -> ModuleType:
    """Import `module` from the wheel's `folder`, which its own absolute imports call `alias`.

    torch_npu installs `torch_npu/dynamo/npugraph_ex` as the top-level module `npugraph_ex` (and
    `torchair` likewise), and their modules import each other by those names. Only the files the
    import needs run: no package `__init__`, so nothing pulls in the native torch_npu. The alias
    is removed from `sys.modules` afterwards; the module and its classes stay usable.
    """
    with _aliased(alias, folder):
        return importlib.import_module(f"{alias}.{module}")


@contextlib.contextmanager
def _aliased(alias: str, folder: Path) -> Iterator[None]:
    def ours(name: str) -> bool:
        return name == alias or name.startswith(alias + ".")

    saved = {name: sys.modules.pop(name) for name in [name for name in sys.modules if ours(name)]}
    finder = _FolderFinder(alias, folder)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in [name for name in sys.modules if ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved)


class _FolderFinder(importlib.abc.MetaPathFinder):
    """`alias.a.b` is `folder/a/b.py`; folders are packages whose `__init__` is not run."""

    def __init__(self, alias: str, folder: Path):
        self.alias, self.folder = alias, folder

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name != self.alias and not name.startswith(self.alias + "."):
            return None
        location = self.folder.joinpath(*name.split(".")[1:])
        if location.is_dir():
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(location)]
            return spec
        if location.with_suffix(".py").is_file():
            return importlib.util.spec_from_file_location(name, location.with_suffix(".py"))
        return None


def _download(requirement: str, *options: str) -> Path:
    """The wheel for `requirement` in the cache, downloaded with pip when it is not there yet."""
    wheels = CACHE / "wheels"
    name, _, version = requirement.partition("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = sorted(wheels.glob(f"{stem}*.whl"))
    if found:
        return found[0]
    if requirement in _skipped:
        pytest.skip(_skipped[requirement])
    wheels.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--retries", "2",
                             *options, requirement, "-d", str(wheels)], capture_output=True, text=True, timeout=900)
    found = sorted(wheels.glob(f"{stem}*.whl"))
    if result.returncode == 0 and found:
        return found[0]
    unreachable = _index_unreachable(name)
    if unreachable:
        _skipped[requirement] = (f"real-package check skipped: the package index cannot be reached ({unreachable}), "
                                 f"so {requirement} could not be downloaded")
        pytest.skip(_skipped[requirement])
    pytest.fail(f"pip download {requirement} failed although the index is reachable:\n{result.stderr[-2000:]}")


def _index_unreachable(project: str) -> str | None:
    """Why the package index cannot be reached, or None when it answers."""
    index = os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/{project}/", timeout=20):
            return None
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError) as exc:
        return f"{index}: {exc}"
