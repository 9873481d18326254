"""Decision-layer speed: `select()` warm and cold, and what `import vllm_ascend_graphs` adds.

Targets (issue 2): warm select < 1 ms; first call with the environment probe < 50 ms on a machine
without an NPU; the import adds < 30 ms to a bare interpreter. Prints one table; medians of
repeated runs in this same process/session, since these machines are shared and noisy.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 15
COLD_SELECT = (  # the first call in a fresh interpreter, after the (separately measured) package import
    "import time, vllm_ascend_graphs as g; t=time.perf_counter(); "
    "g.select(None, model=g.ModelInfo.from_architecture('Qwen3ForCausalLM')); "
    "print((time.perf_counter()-t)*1e3)"
)


def interpreter_ms(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    import vllm_ascend_graphs as graphs

    model = graphs.ModelInfo.from_architecture("Qwen3ForCausalLM")
    graphs.select(None, model=model)
    warm = []
    for _ in range(2000):
        start = time.perf_counter()
        graphs.select(None, model=model)
        warm.append((time.perf_counter() - start) * 1e6)

    cold = [float(subprocess.run([sys.executable, "-c", COLD_SELECT], capture_output=True, text=True, check=True)
                  .stdout) for _ in range(RUNS)]
    bare = [interpreter_ms("pass") for _ in range(RUNS)]
    imported = [interpreter_ms("import vllm_ascend_graphs") for _ in range(RUNS)]
    import_cost = statistics.median(imported) - statistics.median(bare)

    rows = [
        ("select() warm, median", f"{statistics.median(warm):.1f} us", "< 1000 us"),
        ("select() warm, p99", f"{sorted(warm)[int(len(warm) * 0.99)]:.1f} us", ""),
        ("first select() incl. environment probe", f"{statistics.median(cold):.1f} ms", "< 50 ms"),
        ("import vllm_ascend_graphs (added)", f"{import_cost:.1f} ms", "< 30 ms"),
    ]
    print(f"{'measure':<38} {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<38} {value:>12}  {target}")


if __name__ == "__main__":
    main()
