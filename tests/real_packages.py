"""The real packages our fakes are derived from, fetched with pip into a git-ignored cache.

- xlite is installed in the test environment (`scripts/setup-venv.sh`): its Python package
  imports anywhere, only its native `xlite._C` needs an NPU. `xlite_folder()` is where it is installed.
- torch-npu is never installed (without CANN it breaks `import torch`): `torch_npu_source()`
  downloads its wheel once into `.cache/real-packages/` and unpacks its Python files there.
- vllm-ascend is never installed or built: `vllm_ascend_source()` downloads a release's sdist once
  and unpacks it there; `vllm_ascend_archive()` unpacks a source archive of its repository (CI
  reaches no code host, so they lie in `../shared/vendor/vllm-ascend/` next to the checkout, or in
  the folder `CONTRACT_VLLM_ASCEND_ARCHIVES` names). Either folder goes on `sys.path` in the
  contract tier (`tests/ascend/`).

A download that fails because the package index cannot be reached skips the test that needs it,
with a reason that `-ra` shows in the run's summary; any other failure fails the test.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
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
ARCHIVES_VAR = "CONTRACT_VLLM_ASCEND_ARCHIVES"  # the folder holding vllm-ascend's source archives
DEFAULT_ARCHIVES = ROOT.parent / "shared" / "vendor" / "vllm-ascend"
_skipped: dict[str, str] = {}  # requirement -> why it could not be downloaded in this run (tried once)


def xlite_folder() -> Path:
    """The installed xlite's package folder (found without importing xlite)."""
    spec = importlib.util.find_spec("xlite")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"xlite is not installed here: the test set-up installs it "
                    f"(pip install --pre xlite=={XLITE_VERSION})")
    return Path(next(iter(spec.submodule_search_locations)))


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


def vllm_ascend_source(version: str) -> Path:
    """The unpacked sdist of vllm-ascend `version`: its `vllm_ascend/` package and `vllm_ascend.egg-info/`
    (whose entry points make vLLM load it as it loads an installed vllm-ascend)."""
    target = CACHE / f"vllm_ascend-{version}"
    if (target / "vllm_ascend").is_dir():
        return target
    # pip reads the sdist's metadata through its setup.py, which needs setuptools_scm and, without
    # building anything, a SoC name; nothing is compiled.
    sdist = _download(f"vllm-ascend=={version}", "--no-binary=:all:", "--no-build-isolation", suffix=".tar.gz",
                      env={"SOC_VERSION": "ascend910b1", "COMPILE_CUSTOM_KERNELS": "0", **_setuptools_scm()})
    return _unpacked(sdist, f"vllm_ascend-{version}", target)


SETUPTOOLS_SCM = ("setuptools-scm==10.3.4", "vcs-versioning==2.6.0")  # pure Python wheels


def _setuptools_scm() -> dict[str, str]:
    """Where this environment lacks setuptools_scm (the main test environment does): its wheels on pip's
    PYTHONPATH, so that pip can read the sdist's metadata; nothing is installed."""
    if importlib.util.find_spec("setuptools_scm") is not None:
        return {}
    wheels = [str(_download(requirement)) for requirement in SETUPTOOLS_SCM]
    return {"PYTHONPATH": os.pathsep.join([*wheels, *filter(None, [os.environ.get("PYTHONPATH")])])}


# vllm-ascend's newer refs, as source archives of its repository.
ARCHIVE_0_26 = "vllm-ascend-v0.26.0rc-cf0baa38"  # releases/v0.26.0rc
ARCHIVE_MAIN = "vllm-ascend-main-182b75ea"
# The version an install from a clone of its repository carries: setuptools_scm reads the clone's
# tags, which an archive lacks. The release branch's, with the commit as local label; main keeps
# setup.py's own fallback, 0.0.0, as a checkout without tags has it. The plugin maps a version to
# the release whose rules it follows (vllm_ascend_support.release_of).
ARCHIVE_VERSIONS = {ARCHIVE_0_26: "0.26.0rc0+gcf0baa38"}


def vllm_ascend_archive(name: str) -> Path:
    """The unpacked source archive `name.tar.gz` of vllm-ascend's repository (its top folder is `name`),
    with a `vllm_ascend.egg-info/` made from its own `setup.py` (see `egg_info`), so that vLLM loads it
    through its entry points as it loads the sdist or an installed vllm-ascend."""
    target = CACHE / name
    info = target / "vllm_ascend.egg-info" / "PKG-INFO"
    if info.is_file() and f"Version: {ARCHIVE_VERSIONS.get(name, '0.0.0')}\n" in info.read_text(encoding="utf-8"):
        return target
    shutil.rmtree(target, ignore_errors=True)  # unpacked by an older set-up: made afresh
    return _unpacked(_vendored(f"{name}.tar.gz"), name, target,
                     prepare=lambda tree: egg_info(tree, ARCHIVE_VERSIONS.get(name)))


def vllm_ascend_platform_tests(name: str) -> Path:
    """The platform unit tests of vllm-ascend's source archive `name`, unpacked from the archive beside it,
    `name-tests-ut-platform.tar.gz` (`tests/ut/test_platform.py` with the conftest and base it imports): the
    folder holding `tests/`. vllm-ascend 0.23.0.post1's sdist carries its tests itself."""
    target = CACHE / f"{name}-tests-ut-platform"
    if (target / "tests" / "ut" / "test_platform.py").is_file():
        return target
    return _unpacked(_vendored(f"{name}-tests-ut-platform.tar.gz"), name, target)


def _vendored(file_name: str) -> Path:
    """An archive of vllm-ascend's repository in the vendor folder."""
    folder = Path(os.environ.get(ARCHIVES_VAR) or DEFAULT_ARCHIVES)
    if not (folder / file_name).is_file():
        pytest.fail(f"vllm-ascend's archive {file_name} is not in {folder}: the contract tier reads it from "
                    f"../shared/vendor/vllm-ascend/ next to the checkout, or from the folder {ARCHIVES_VAR} names")
    return folder / file_name


def _unpacked(archive: Path, top: str, target: Path, prepare: Callable[[Path], object] | None = None) -> Path:
    """`target`: the folder `top` of the tar `archive`, unpacked (and `prepare`d) beside it first, so that it
    is whole or absent: an interrupted run leaves only the .partial folder."""
    unpacking = target.with_name(target.name + ".partial")
    shutil.rmtree(unpacking, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(unpacking, filter="data")
    if prepare is not None:
        prepare(unpacking / top)
    (unpacking / top).rename(target)
    shutil.rmtree(unpacking)
    return target


def egg_info(source: Path, version: str | None = None) -> Path:
    """Write `source/<name>.egg-info/` (PKG-INFO and entry_points.txt) from the `setup(...)` call of
    `source/setup.py`, read with `ast`: what `pip install` of that tree would record, nothing built.
    `version` replaces what setup.py computes (see ARCHIVE_VERSIONS)."""
    tree = ast.parse((source / "setup.py").read_text(encoding="utf-8"))
    (call,) = [node for node in ast.walk(tree)
               if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setup"]
    arguments = {keyword.arg: keyword.value for keyword in call.keywords}
    name = ast.literal_eval(arguments["name"])
    groups: dict[str, list[str]] = ast.literal_eval(arguments["entry_points"])
    info = source / f"{name}.egg-info"
    info.mkdir()
    version = version or _setup_version(tree, arguments["version"])
    (info / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{line}\n" for line in lines) + "\n" for group, lines in groups.items()))
    return info


def _setup_version(tree: ast.Module, value: ast.expr) -> str:
    """`setup(version=...)`: a literal, or the one literal its module assigns to that name. vllm-ascend
    asks setuptools_scm for the version and falls back to "0.0.0" outside a git checkout, as here."""
    if isinstance(value, ast.Constant):
        return str(value.value)
    assert isinstance(value, ast.Name), ast.dump(value)
    (literal,) = {node.value.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                  and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                  and any(isinstance(t, ast.Name) and t.id == value.id for t in node.targets)}
    return literal


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


def _download(requirement: str, *options: str, suffix: str = ".whl", env: dict[str, str] | None = None) -> Path:
    """The file for `requirement` (a wheel, or an sdist by `suffix`) in the cache, downloaded with pip
    when it is not there yet."""
    wheels = CACHE / "wheels"
    name, _, version = requirement.partition("==")
    pattern = f"{name.replace('-', '_')}-{version}{'-*' if suffix == '.whl' else ''}{suffix}"
    found = sorted(wheels.glob(pattern))
    if found:
        return found[0]
    if requirement in _skipped:
        pytest.skip(_skipped[requirement])
    wheels.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--retries", "2",
                             *options, requirement, "-d", str(wheels)], capture_output=True, text=True, timeout=900,
                            env={**os.environ, **(env or {})})
    found = sorted(wheels.glob(pattern))
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
