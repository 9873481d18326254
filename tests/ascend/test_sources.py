"""The contract tier's inputs are the real packages: vllm-ascend's source as its own build would install
it, and stand-ins that hold what the real build and wheel hold, for the version of this environment."""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import importlib.util
import logging
import os
import re
import shutil
import types
from pathlib import Path

import pytest
import real_packages
import standins
from cases import CASES, DIFFERENCES
from versions import V0_23, VERSIONS, VllmAscend, pinned


def entry_points(info: Path) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names keep their case
    parser.read_string((info / "entry_points.txt").read_text(encoding="utf-8"))
    return {group: dict(parser[group]) for group in parser.sections()}


def test_the_egg_info_made_from_setup_py_is_the_one_setuptools_writes(tmp_path):
    """vllm-ascend 0.23.0.post1's sdist carries the egg-info setuptools wrote; ours, read from the same
    setup.py with `ast`, has the same name and entry points (its version is setup.py's own fallback)."""
    sdist = V0_23.source()
    shutil.copy(sdist / "setup.py", tmp_path / "setup.py")
    ours = real_packages.egg_info(tmp_path)
    assert ours.name == "vllm_ascend.egg-info"
    assert entry_points(ours) == entry_points(sdist / "vllm_ascend.egg-info")
    assert "Name: vllm_ascend\n" in (ours / "PKG-INFO").read_text()
    assert "Version: 0.0.0\n" in (ours / "PKG-INFO").read_text()  # setup.py: `except LookupError: VERSION = "0.0.0"`


def test_vllm_finds_this_versions_platform_plugin_through_its_entry_points(vllm_ascend: VllmAscend):
    source = vllm_ascend.source()
    assert (source / "vllm_ascend" / "__init__.py").is_file()
    (dist,) = importlib.metadata.distributions(path=[str(source)])
    plugins = {ep.name: ep.value for ep in dist.entry_points if ep.group == "vllm.platform_plugins"}
    assert plugins == {"ascend": "vllm_ascend:register"}
    general = {ep.value for ep in dist.entry_points if ep.group == "vllm.general_plugins"}
    assert "vllm_ascend:register_model" in general


def test_a_missing_archive_fails_and_names_where_it_was_looked_for(monkeypatch, tmp_path):
    monkeypatch.setattr(real_packages, "CACHE", tmp_path / "cache")
    monkeypatch.setenv(real_packages.ARCHIVES_VAR, str(tmp_path / "nowhere"))
    expected = f"vllm-ascend-x-0.tar.gz is not in {tmp_path / 'nowhere'}: .* {real_packages.ARCHIVES_VAR} names"
    with pytest.raises(pytest.fail.Exception, match=re.escape(expected).replace(re.escape(".*"), ".*")):
        real_packages.vllm_ascend_archive("vllm-ascend-x-0")


def test_the_torch_npu_wheel_is_the_one_this_version_pins(vllm_ascend: VllmAscend):
    version = pinned(vllm_ascend.source(), "requirements.txt", "torch-npu")
    source = real_packages.torch_npu_source(version)
    assert f"__version__ = '{version}'" in (source / "torch_npu" / "version.py").read_text()


@pytest.mark.parametrize("soc", sorted(standins.DEVICE_TYPES))
def test_the_build_info_stand_in_is_what_this_versions_build_writes(vllm_ascend: VllmAscend, soc, tmp_path):
    """Run the real `gen_build_info` of this version's setup.py for the SoC, and read what it wrote."""
    source = vllm_ascend.source()
    tree = ast.parse((source / "setup.py").read_text(encoding="utf-8"))
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "gen_build_info"]
    hardware_file = source / "vllm_ascend" / "device" / "hardware.py"  # main's setup.py loads it, stdlib only
    namespace = {"os": os, "logging": logging, "ROOT_DIR": str(tmp_path),
                 "envs": types.SimpleNamespace(SOC_VERSION=standins.DEVICE_TYPES[soc][1].lower())}
    if hardware_file.is_file():
        spec = importlib.util.spec_from_file_location("vllm_ascend_hardware", hardware_file)
        namespace["hardware"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    exec(compile(ast.Module([function], []), str(source / "setup.py"), "exec"), namespace)
    (tmp_path / "vllm_ascend").mkdir()
    namespace["gen_build_info"]()
    written: dict[str, object] = {}
    exec((tmp_path / "vllm_ascend" / "_build_info.py").read_text(), written)
    assert standins.build_info(source, soc) == {k: v for k, v in written.items() if k != "__builtins__"}


def test_make_test_runs_this_tier_on_the_vllm_of_every_version():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    (line,) = [line for line in makefile.splitlines() if line.startswith("ASCEND_VLLMS")]
    assert line.split(":=")[1].split() == [version.vllm for version in VERSIONS]


def test_every_version_difference_is_named_by_a_case_and_in_the_docs():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "ascend.md").read_text(encoding="utf-8")
    named = {d.name for case in CASES for d in case.differs}
    assert named == {d.name for d in DIFFERENCES}
    for difference in DIFFERENCES:  # each source line it cites (`platform.py:974-979`, `... / 491-496`) is in the docs
        text = difference.why
        cited = [(file, lines) for file, refs in re.findall(r"(\w+\.py):([\d ,/-]*\d)", text)
                 for lines in re.split(r"[ ,/]+", refs)]
        assert cited and [c for c in cited if f"{c[0]}:{c[1]}" not in docs and f"{c[1]}`" not in docs] == [], (
            difference.name, cited)
