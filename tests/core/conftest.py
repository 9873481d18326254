"""Core tests run against a builtins-only registry: no installed plugin leaks in.

They need nothing but the package, pluggy and the `core-test` extra (pytest, hypothesis), and must
not depend on what else is installed: `make test` runs them in `.venv-core`, which holds just that.
"""

from __future__ import annotations

import logging

import pytest

from vllm_ascend_graphs import Environment
from vllm_ascend_graphs.hooks.registry import BackendRegistry, reset_registry


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ASCEND_GRAPHS_ASSUME", raising=False)
    monkeypatch.delenv("ASCEND_GRAPHS_PLUGINS", raising=False)
    registry = BackendRegistry(entry_points=[]).load()
    reset_registry(registry)
    yield registry
    reset_registry(None)


@pytest.fixture
def npu() -> Environment:
    """An Ascend 910B machine with torch_npu, as `--assume device=npu,soc=910B` describes it."""
    return Environment(device="npu", soc="910B", torch_npu="2.10.0")


@pytest.fixture
def cpu() -> Environment:
    return Environment(device="cpu")


@pytest.fixture(autouse=True)
def package_logger_restored():
    """`main([..., "--verbose"])` adds a stderr handler to the package logger, bound to the stderr of that
    moment (a test's capture). It must not outlive the test: a later test, or a second pytest run in the
    same process (mutmut's), would log into a closed stream and see "--- Logging error ---"."""
    logger = logging.getLogger("vllm_ascend_graphs")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
