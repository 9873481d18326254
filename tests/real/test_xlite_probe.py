"""The xlite probe on the real, installed xlite wheel: "installed" is not "ready".

`import xlite` works anywhere; its native `xlite._C` links torch and CANN's runtime. The probe
reads the ELF files of `xlite._C` and of the libraries bundled with it, and names every library
the dynamic loader would not find, without importing xlite or torch.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import real_packages

from vllm_ascend_graphs.backends.xlite import XliteBackend
from vllm_ascend_graphs.probes import shared_libraries
from vllm_ascend_graphs.probes.environment import Environment, probe_environment, xlite_readiness
from vllm_ascend_graphs.rules.assumptions import Assumptions
from vllm_ascend_graphs.rules.config import GraphRequest
from vllm_ascend_graphs.rules.models import ModelInfo

# What xlite 0.2.0rc4's libxlite.so links from CANN (readelf -d), a subset the probe must name.
CANN_LIBRARIES = ("libascendcl.so", "libhccl.so", "libruntime.so")


@pytest.fixture(scope="module")
def package() -> Path:
    return real_packages.xlite_folder().resolve()


def test_the_real_extension_links_torch_and_bundled_libraries(package):
    [extension] = package.glob("_C*.so")
    needed, search = shared_libraries.dynamic_section(extension)
    assert {"libxlite.so", "libtorch.so", "libc10.so"} <= set(needed)
    assert str(package) in search and str(package / "lib") in search, "$ORIGIN is expanded"


@pytest.fixture(autouse=True)
def fresh_readiness():
    """The readiness check is cached per process; these tests change what it reads."""
    xlite_readiness.cache_clear()
    yield
    xlite_readiness.cache_clear()


def test_without_cann_the_installed_xlite_is_not_ready_and_the_reason_names_the_libraries(monkeypatch):
    monkeypatch.delenv("LD_LIBRARY_PATH", raising=False)
    reason = xlite_readiness(real_packages.XLITE_VERSION)
    assert reason.startswith(f"xlite {real_packages.XLITE_VERSION} is installed but not ready: xlite._C needs ")
    assert all(library in reason for library in CANN_LIBRARIES) and "libtorch.so" not in reason
    assert "source its set_env.sh" in reason


def test_with_every_library_on_the_loader_path_xlite_is_ready(monkeypatch, tmp_path, package):
    [extension] = package.glob("_C*.so")
    missing = shared_libraries.missing_libraries(extension, package)
    assert set(CANN_LIBRARIES) <= set(missing)
    for library in missing:  # presence is what the probe checks: empty files named like CANN's
        (tmp_path / library).touch()
    monkeypatch.setenv("LD_LIBRARY_PATH", f"/nonexistent:{tmp_path}")
    assert xlite_readiness(real_packages.XLITE_VERSION) is None


def test_an_install_without_its_native_library_is_refused(monkeypatch, tmp_path, package):
    broken = tmp_path / "xlite"
    shutil.copytree(package, broken, ignore=shutil.ignore_patterns("_C*.so"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "xlite", raising=False)
    monkeypatch.delitem(sys.modules, "xlite._C", raising=False)
    importlib.invalidate_caches()
    reason = xlite_readiness("0.2.0rc4")
    assert "its native library xlite._C is missing from" in reason and "pip install --pre xlite" in reason


def test_a_native_library_that_is_not_elf_is_a_clear_error(tmp_path):
    (tmp_path / "_C.so").write_bytes(b"not an ELF file")
    with pytest.raises(ValueError, match="is not an ELF file"):
        shared_libraries.dynamic_section(tmp_path / "_C.so")


def test_the_environment_probe_records_the_reason_and_the_xlite_backend_refuses_with_it():
    probed = probe_environment.__wrapped__()  # uncached: this machine, as it is now
    assert probed.xlite == real_packages.XLITE_VERSION and probed.xlite_unchecked and probed.xlite_error is None
    assert "libascendcl.so" in probed.xlite_problem  # read from its files when first asked
    npu = Environment(device="npu", soc="910B", torch_npu="2.10.0", xlite=probed.xlite,
                      xlite_unchecked=True)
    request = GraphRequest.parse({"xlite_graph_config": {"enabled": True}})
    qwen = ModelInfo.from_architecture("Qwen3ForCausalLM")
    probe = XliteBackend().probe(request, npu, qwen)
    assert not probe.can_serve and probe.reason == probed.xlite_problem
    planned = Assumptions.parse([f"xlite={probed.xlite}"]).apply_to_environment(npu)
    assert XliteBackend().probe(request, planned, qwen).can_serve, "--assume xlite=VERSION plans around it"


def test_the_probe_imports_neither_xlite_nor_torch():
    code = ("import sys; from vllm_ascend_graphs.probes.environment import probe_environment; "
            "env = probe_environment(); assert env.xlite_problem, env; "
            "print(sorted(name for name in ('torch', 'xlite', 'xlite._C') if name in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
