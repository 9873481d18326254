"""Start vLLM's CPU engine with tensor parallel 2 on its multiprocessing executor, twice, in this process.

    python tp_workers.py MODEL_DIR

First (`differ`) the plan is made for an Ascend 910B with xlite (`ASCEND_GRAPHS_ASSUME`, as `--assume`
plans a deployment elsewhere) and the two workers are spawned without that assumption, so each one
probes this machine, which has neither; then (`carry`) the plan is made here and the workers start
with it. Before each start a line `case NAME` is printed, after it one JSON line: whether the engine
started, its error, and the seconds the start took. vLLM's log, the workers' included, goes to stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time

PLANNED_ELSEWHERE = "device=npu,soc=910B,xlite=0.2.0rc4"


def start(model: str, case: str) -> dict[str, object]:
    from vllm.engine.arg_utils import EngineArgs
    from vllm.v1.engine.llm_engine import LLMEngine

    additional = {}
    if case == "differ":
        os.environ["ASCEND_GRAPHS_ASSUME"] = PLANNED_ELSEWHERE
        additional = {"xlite_graph_config": {"enabled": True}}
    config = EngineArgs(model=model, dtype="float32", max_model_len=256, kv_cache_memory_bytes=64 << 20,
                        enforce_eager=case == "carry", tensor_parallel_size=2, distributed_executor_backend="mp",
                        additional_config=additional).create_engine_config()
    os.environ.pop("ASCEND_GRAPHS_ASSUME", None)  # the workers start with this machine's own environment
    started = time.monotonic()
    try:
        engine = LLMEngine.from_vllm_config(config)
    except Exception as exc:  # noqa: BLE001 - the caller reads what failed
        return {"started": False, "error": f"{type(exc).__name__}: {exc}", "seconds": time.monotonic() - started}
    seconds = time.monotonic() - started
    engine.engine_core.shutdown()
    return {"started": True, "error": None, "seconds": seconds}


if __name__ == "__main__":
    for name in ("differ", "carry"):
        print(f"case {name}", flush=True)
        print(json.dumps(start(sys.argv[1], name)), flush=True)
