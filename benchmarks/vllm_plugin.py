"""The vLLM plugin's cost: LLM(...) start-up and generation throughput, plugin active vs disabled.

Each measurement runs in a fresh interpreter (vLLM loads plugins once per process), alternating
active (VLLM_PLUGINS unset) and disabled (VLLM_PLUGINS="") runs so drift hits both alike.
Targets (issue 4): throughput ratio >= 0.98, start-up overhead < 100 ms. Prints one table.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROUNDS = 3
WORKER = """
import json, os, sys, time
if __name__ == "__main__":
    from vllm import LLM, SamplingParams
    start = time.perf_counter()
    llm = LLM(model=sys.argv[1], dtype="float32", max_model_len=256, kv_cache_memory_bytes=64 << 20,
              enforce_eager=True, additional_config={"graph_backend": "auto"})
    startup = time.perf_counter() - start
    prompts = [{"prompt_token_ids": [1, 10 + i, 20 + i, 30 + i]} for i in range(8)]
    params = SamplingParams(temperature=0, max_tokens=64, ignore_eos=True)
    llm.generate(prompts[:1], SamplingParams(max_tokens=4), use_tqdm=False)  # warm-up
    start = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    elapsed = time.perf_counter() - start
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    print("RESULT " + json.dumps({"startup": startup, "tps": tokens / elapsed}))
"""


def run(model: str, plugin: bool) -> dict[str, float]:
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
    if plugin:
        env.pop("VLLM_PLUGINS", None)
    else:
        env["VLLM_PLUGINS"] = ""
    out = subprocess.run([sys.executable, "-c", WORKER, model], env=env, capture_output=True, text=True, check=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
    from tiny_model import build_tiny_model

    model = str(build_tiny_model(Path(".bench-model")))
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(ROUNDS):
        for plugin in (True, False):
            results[plugin].append(run(model, plugin))

    def median(plugin: bool, key: str) -> float:
        return statistics.median(r[key] for r in results[plugin])

    startup_on, startup_off = median(True, "startup"), median(False, "startup")
    tps_on, tps_off = median(True, "tps"), median(False, "tps")
    print(f"{'measure (median of ' + str(ROUNDS) + ')':<28} {'plugin on':>10} {'plugin off':>11} {'on vs off':>14}  target")
    print(f"{'LLM(...) start-up':<28} {startup_on * 1e3:>8.0f}ms {startup_off * 1e3:>9.0f}ms "
          f"{(startup_on - startup_off) * 1e3:>+12.0f}ms  < +100 ms")
    print(f"{'generation tokens/s':<28} {tps_on:>10.0f} {tps_off:>11.0f} {tps_on / tps_off:>13.3f}x  >= 0.98x")


if __name__ == "__main__":
    main()
