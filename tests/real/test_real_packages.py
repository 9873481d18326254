"""The download cache: reused across runs; an unreachable index skips with a reason, anything else fails."""

from __future__ import annotations

import subprocess

import pytest
import real_packages


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(real_packages, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(real_packages, "_skipped", {})
    return tmp_path / "cache"


def test_a_cached_wheel_is_reused_without_pip(monkeypatch):
    real_packages.torch_npu_source(real_packages.PAIRED_TORCH_NPU)  # cached by now, or fetched once here

    def no_pip(*args, **kwargs):
        raise AssertionError("pip ran although the wheel is cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    source = real_packages.torch_npu_source(real_packages.PAIRED_TORCH_NPU)
    assert (source / "torch_npu" / "npu" / "graphs.py").is_file()
    assert not list(source.rglob("*.so")), "only the Python files are unpacked"


def test_an_unreachable_index_skips_with_the_reason_once(monkeypatch, empty_cache):
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # no mirrors or local wheel folders from pip's config
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")
    with pytest.raises(pytest.skip.Exception, match=r"the package index cannot be reached \(http://127.0.0.1:9/"):
        real_packages.torch_npu_source("2.14.0")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip ran twice"))
    with pytest.raises(pytest.skip.Exception, match="torch-npu==2.14.0 could not be downloaded"):
        real_packages.torch_npu_source("2.14.0")


def test_a_failed_download_from_a_reachable_index_fails(empty_cache):
    with pytest.raises(pytest.fail.Exception, match="pip download torch-npu==0.0.0.404 failed although the index"):
        real_packages.torch_npu_source("0.0.0.404")
