"""Decision-layer speed: `select()` warm and cold, the import of the CLI, and what the package import adds.

Targets (issues 2 and 10): warm select < 1 ms, also with a plugin backend (whose probe runs under
the probe deadline, on a thread of its own); the first select() in a fresh interpreter < 25 ms;
`import vllm_ascend_graphs.entrypoints.cli` < 30 ms; `import vllm_ascend_graphs` adds < 30 ms to a bare
interpreter.

Fresh interpreters run with bytecode caching on, as after `pip install` (which byte-compiles);
the first run writes the caches. The cold figures are timed inside each interpreter, so its own
start-up is not counted. These machines are shared and noisy: each cold figure is the
min / median / max of `RUNS` interpreters.

    python benchmarks/selection.py [--baseline DIR]

`--baseline DIR` also measures the package in another checkout DIR (say, the main branch) in the
same run, alternating with this one, and prints the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

RUNS = 21
FIRST_SELECT = (  # after the (separately measured) package import, which is lazy
    "import time, vllm_ascend_graphs as g; t=time.perf_counter(); "
    "g.select(None, model=g.ModelInfo.from_architecture('Qwen3ForCausalLM')); "
    "print((time.perf_counter()-t)*1e3)"
)
CLI_IMPORT = ("import time; t=time.perf_counter(); import vllm_ascend_graphs.entrypoints.cli; "
              "print((time.perf_counter()-t)*1e3)")


def fresh_ms(code: str, checkout: str | None = None) -> float:
    """A figure the code prints, in a fresh interpreter with bytecode caching on (the package of `checkout`)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if checkout:
        env["PYTHONPATH"] = checkout
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                          cwd=checkout or None)
    return float(done.stdout)


def interpreter_ms(code: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return (time.perf_counter() - start) * 1e3


def warm_us(select, *args, **kwargs) -> list[float]:
    select(*args, **kwargs)
    times = []
    for _ in range(2000):
        start = time.perf_counter()
        select(*args, **kwargs)
        times.append((time.perf_counter() - start) * 1e6)
    return times


def with_plugin_backend():
    """A builtins-only registry plus one plugin backend that `auto` prefers, as an entry point would add."""
    import vllm_ascend_graphs as graphs
    from vllm_ascend_graphs.hooks.registry import BackendRegistry

    class Preferred(graphs.GraphBackend):
        name = "preferred"

        def probe(self, request, environment, model):
            return graphs.Probe.refuse("measures the deadline thread only")

        def plan(self, request, environment, model):
            raise AssertionError("never planned")

    class Plugin:
        @graphs.hookimpl
        def graph_backends(self):
            return [Preferred()]

        @graphs.hookimpl
        def graph_backend_preference(self):
            return "preferred"

    registry = BackendRegistry(entry_points=[]).load()
    registry.register(Plugin(), "preferred")
    return registry


def spread(values: list[float], unit: str) -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="DIR", help="a checkout whose package to measure alongside, e.g. main")
    args = parser.parse_args()
    import vllm_ascend_graphs as graphs

    model = graphs.ModelInfo.from_architecture("Qwen3ForCausalLM")
    builtins = warm_us(graphs.select, None, model=model)
    plugin = warm_us(graphs.select, None, model=model, registry=with_plugin_backend())

    checkouts = [None, *([os.path.abspath(args.baseline)] if args.baseline else [])]
    for checkout in checkouts:
        fresh_ms(FIRST_SELECT, checkout)  # writes the bytecode caches
    first: dict[str | None, list[float]] = {c: [] for c in checkouts}
    cli: dict[str | None, list[float]] = {c: [] for c in checkouts}
    for _ in range(RUNS):  # alternating, so that load on the machine hits all alike
        for checkout in checkouts:
            first[checkout].append(fresh_ms(FIRST_SELECT, checkout))
            cli[checkout].append(fresh_ms(CLI_IMPORT, checkout))
    bare = [interpreter_ms("pass") for _ in range(RUNS)]
    imported = [interpreter_ms("import vllm_ascend_graphs") for _ in range(RUNS)]
    import_cost = statistics.median(imported) - statistics.median(bare)

    print(f"Decision-layer speed on {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} (shared machine); bytecode cached")
    print()
    rows = [
        ("select() warm, builtins, median", f"{statistics.median(builtins):.1f} us", "< 1000 us"),
        ("select() warm, builtins, p99", f"{sorted(builtins)[int(len(builtins) * 0.99)]:.1f} us", ""),
        ("select() warm, + plugin backend, median", f"{statistics.median(plugin):.1f} us", "< 1000 us"),
        ("select() warm, + plugin backend, p99", f"{sorted(plugin)[int(len(plugin) * 0.99)]:.1f} us", ""),
        (f"first select(), min / median / max of {RUNS}", spread(first[None], "ms"), "< 25 ms"),
        (f"import vllm_ascend_graphs.entrypoints.cli, min / median / max of {RUNS}", spread(cli[None], "ms"),
         "< 30 ms"),
        ("import vllm_ascend_graphs (added, medians)", f"{import_cost:.1f} ms", "< 30 ms"),
    ]
    if args.baseline:
        base = checkouts[1]
        rows += [
            ("baseline: first select()", spread(first[base], "ms"), ""),
            ("baseline: import vllm_ascend_graphs.entrypoints.cli", spread(cli[base], "ms"), ""),
            ("this / baseline, first select(), medians",
             f"{statistics.median(first[None]) / statistics.median(first[base]):.2f}x", ""),
            ("this / baseline, import of the CLI, medians",
             f"{statistics.median(cli[None]) / statistics.median(cli[base]):.2f}x", ""),
        ]
    width = max(len(name) for name, _, _ in rows)
    print(f"{'measure':<{width}}  {'value':>24}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>24}  {target}")


if __name__ == "__main__":
    main()
