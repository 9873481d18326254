"""Start vLLM's CPU engine with tensor parallel 2 on its multiprocessing executor, for a plan its workers
cannot carry.

    python tp_workers.py MODEL_DIR

The plan is made for an Ascend 910B with xlite (`ASCEND_GRAPHS_ASSUME`, as `--assume` plans a
deployment elsewhere); the two workers are spawned without that assumption, so each one probes this
machine, which has neither. The engine is built in this process; the last line printed is JSON:
whether it started, its error, and the seconds the start took. vLLM's log, the workers' included,
goes to stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time

PLANNED_ELSEWHERE = "device=npu,soc=910B,xlite=0.2.0rc4"


def start(model: str) -> dict[str, object]:
    from vllm.engine.arg_utils import EngineArgs
    from vllm.v1.engine.llm_engine import LLMEngine

    os.environ["ASCEND_GRAPHS_ASSUME"] = PLANNED_ELSEWHERE
    config = EngineArgs(model=model, dtype="float32", max_model_len=256, kv_cache_memory_bytes=64 << 20,
                        tensor_parallel_size=2, distributed_executor_backend="mp",
                        additional_config={"xlite_graph_config": {"enabled": True}}).create_engine_config()
    os.environ.pop("ASCEND_GRAPHS_ASSUME")  # the workers start with this machine's own environment
    started = time.monotonic()
    try:
        engine = LLMEngine.from_vllm_config(config)
    except Exception as exc:  # noqa: BLE001 - the caller reads what failed
        return {"started": False, "error": f"{type(exc).__name__}: {exc}", "seconds": time.monotonic() - started}
    engine.engine_core.shutdown()
    return {"started": True, "error": None, "seconds": time.monotonic() - started}


if __name__ == "__main__":
    print(json.dumps(start(sys.argv[1])), flush=True)
