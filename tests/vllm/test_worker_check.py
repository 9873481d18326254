"""Each worker checks at its start that its own process can carry the recorded plan: on vLLM's own
config here, and with tensor parallel 2 through vLLM's real multiprocessing start (CPU build)."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vllm_ascend_graphs import WorkerEnvironmentError
from vllm_ascend_graphs.integrations.vllm import adapter, decision
from vllm_ascend_graphs.integrations.vllm.worker_check import check_worker
from vllm_ascend_graphs.probes.vllm_ascend import BUILTIN

HOST = socket.gethostname()
WORKER = f"graph backend: worker rank {{}} (data-parallel rank 0) on host {HOST}"  # .format(rank)
RULES_0_23 = {"source": "vllm-ascend 0.23.0.post1 (built-in table)", "rules": BUILTIN["0.23.0.post1"].rules}
ON_A_910B = {"host": "node-a", "device": "npu", "soc": "910B", "torch_npu": "2.10.0", "launch_blocking": False,
             "vllm_ascend": RULES_0_23}


def worker_config(environment: dict | None, backend: str | None = "aclgraph", mode: str = "FULL_DECODE_ONLY",
                  **record):
    """A `VllmConfig` as a worker receives it, with the front end's record (`environment`: what it assumed)."""
    from vllm.config import VllmConfig

    config = VllmConfig()
    entry = {"backend": backend, "cudagraph_mode": mode, "summary": f"graph backend: {backend}", **record}
    if environment is not None:
        entry["environment"] = environment
    config.additional_config = {decision.RECORD_KEY: entry}
    return config


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.DEBUG, logger=adapter.LOGGER_NAME)
    return lambda: [(r.levelname, r.getMessage()) for r in caplog.records if r.name == adapter.LOGGER_NAME]


def test_a_worker_that_cannot_carry_the_plan_fails_with_one_line_naming_host_rank_and_differences(logged):
    text = (f"{WORKER.format(3)} cannot carry the plan made on host node-a (aclgraph, "
            "cudagraph_mode FULL_DECODE_ONLY): device cpu here, the plan assumed device npu; SoC unknown here, the "
            "plan assumed SoC 910B; torch_npu is not installed (the plan assumed torch_npu 2.10.0)")
    with pytest.raises(WorkerEnvironmentError) as info:
        check_worker(worker_config(ON_A_910B), rank=3, dp_rank=0)
    assert str(info.value) == text
    assert logged() == [("ERROR", text)]


def test_the_line_names_the_data_parallel_rank_the_worker_serves():
    with pytest.raises(WorkerEnvironmentError, match=rf"^graph backend: worker rank 0 \(data-parallel rank 1\) on "
                                                     rf"host {HOST} cannot carry"):
        check_worker(worker_config(ON_A_910B), rank=0, dp_rank=1)


def test_a_worker_that_holds_the_plan_says_so_at_debug(logged):
    check_worker(worker_config({"host": "node-a", "device": "cpu"}, backend="native", mode="NONE"), rank=1, dp_rank=0)
    assert logged() == [("DEBUG", f"{WORKER.format(1)} holds the plan made on host node-a "
                                  "(native, cudagraph_mode NONE; assumed of the environment: device cpu)")]


def test_the_worker_applies_its_own_assumptions_as_the_front_end_did(logged, monkeypatch):
    monkeypatch.setenv("ASCEND_GRAPHS_ASSUME", "device=npu,soc=910B,torch_npu=2.10.0")
    check_worker(worker_config(ON_A_910B), rank=0, dp_rank=0)
    assert logged() == [("DEBUG", f"{WORKER.format(0)} holds the plan made on host node-a "
                                  "(aclgraph, cudagraph_mode FULL_DECODE_ONLY; assumed of the environment: device npu, "
                                  "soc 910B, torch_npu 2.10.0, launch_blocking False, vllm_ascend vllm-ascend "
                                  "0.23.0.post1 (built-in table))")]


def test_a_backend_this_worker_has_no_plugin_for_cannot_be_carried():
    with pytest.raises(WorkerEnvironmentError, match=r"\(tpugraph, cudagraph_mode FULL\): no backend 'tpugraph' "
                                                     r"is registered here \(registered: aclgraph, eager, native, "
                                                     r"xlite\)$"):
        check_worker(worker_config({"host": "node-a"}, backend="tpugraph", mode="FULL"), rank=0, dp_rank=0)


@pytest.mark.parametrize("record", [{"backend": None, "stepped_aside": "max_num_seqs: got None", "summary": "..."},
                                    None], ids=["stepped-aside", "no-record"])
def test_nothing_is_checked_without_a_plan(logged, record):
    from vllm.config import VllmConfig

    config = VllmConfig()
    config.additional_config = {} if record is None else {decision.RECORD_KEY: record}
    check_worker(config, rank=0, dp_rank=0)
    assert logged() == []


# -- tensor parallel 2 through vLLM's multiprocessing executor -----------------------------------------------
# (A plan the two workers hold: `tests/vllm/test_plugin.py`, the multiprocess engine.)


def ours(lines: list[str], level: str) -> list[str]:
    """The text of our worker-check lines at `level`, as vLLM prints them (`(VllmWorker-N pid=...) LEVEL ...`)."""
    marker = "[worker_check.py:"
    return [line.split("] ", 1)[1] for line in lines if f" {level} " in line and marker in line]


def test_tp2_a_worker_whose_environment_cannot_carry_the_plan_fails_before_starting_its_device(tiny_model):
    """`tp_workers.py`: the plan was made for a 910B with xlite; the spawned workers probe this machine. Each
    one that gets to its check says why in one line; none starts its device (vLLM's distributed set-up) or
    loads the model, and the engine does not start."""
    from vllm_ascend_graphs.probes.environment import probe_environment

    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_OMP_THREADS_BIND": "0|1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                       os.environ.get("PYTHONPATH")]))}
    env.pop("ASCEND_GRAPHS_ASSUME", None)
    run = subprocess.run([sys.executable, str(Path(__file__).with_name("tp_workers.py")), tiny_model], env=env,
                         capture_output=True, text=True, timeout=600)
    lines = run.stdout.splitlines()
    outcome = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    assert outcome.get("started") is False, run.stdout[-3000:] + run.stderr[-3000:]
    assert "WorkerProc initialization failed" in outcome["error"]
    expected = {f"{WORKER.format(rank)} cannot carry the plan made on host {HOST} (xlite, "
                "cudagraph_mode FULL_DECODE_ONLY): device cpu here, the plan assumed device npu; SoC unknown here, the "
                "plan assumed SoC 910B; torch_npu is not installed (the plan assumed torch_npu (assumed)); "
                f"{probe_environment().xlite_problem} (the plan assumed xlite 0.2.0rc4)" for rank in (0, 1)}
    errors = ours(lines, "ERROR")
    assert errors and set(errors) <= expected, "\n".join(lines[-40:])
    assert not [line for line in lines if "world_size=2 rank=" in line or "Loading weights" in line]
