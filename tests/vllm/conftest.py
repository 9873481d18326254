"""Real vLLM (the CPU build) with a tiny model built locally; the engine stays in-process."""

from __future__ import annotations

import logging
import os

import pytest

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

from tiny_model import build_tiny_model  # noqa: E402  (examples/ is on sys.path, see tests/conftest.py)

from vllm_ascend_graphs.integrations.vllm.adapter import LOGGER_NAME  # noqa: E402

LLM_DEFAULTS = dict(dtype="float32", max_model_len=256, kv_cache_memory_bytes=64 << 20, enforce_eager=True)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama"))


@pytest.fixture(scope="session")
def sim_platform(tiny_model, tmp_path_factory) -> dict:
    """Every scenario of `on_sim_platform.SCENARIOS`, run once on the example sim platform, by name."""
    from on_sim_platform import run  # tests/vllm is on sys.path: pytest's rootdir-relative import

    return run(tiny_model, tmp_path_factory.mktemp("sim-platform"))


@pytest.fixture
def make_llm(tiny_model):
    """`make_llm(**kwargs)` builds an offline LLM on the tiny model and frees it afterwards."""
    from vllm import LLM

    made = []

    def make(**kwargs):
        llm = LLM(model=tiny_model, **{**LLM_DEFAULTS, **kwargs})
        made.append(llm)
        return llm

    yield make
    for llm in made:
        llm.llm_engine.engine_core.shutdown()


@pytest.fixture
def plugin_log(caplog):
    """`plugin_log(level)`: the messages our plugin logged at `level`."""
    caplog.set_level(logging.DEBUG, logger=LOGGER_NAME)
    return lambda level: [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME and r.levelno == level]
