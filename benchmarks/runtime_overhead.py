"""Host overhead of GraphRunner over a bare replay, and capture time per size, on the sim device.

    python benchmarks/runtime_overhead.py [--calls N] [--repeats R]

Targets (issue 3): a runner call costs at most 10 us more than the bare replay call, and at most
1.2x it, at a decode-size input of the reference decoder. Each time is the best of R rounds of N
calls, measured alternately in the same run. The runner's own cost ("overhead") is measured
directly, with the same runner over a graph API whose replay does nothing: subtracting two
~700 us sim replays could not resolve a few microseconds. The tiny graph (one matmul) shows
the overhead next to a replay that itself costs little.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import time
from collections.abc import Callable

import torch

from vllm_ascend_graphs.rules.capture_plan import MAX_DEFAULT_CAPTURE_SIZE, default_capture_sizes
from vllm_ascend_graphs.runtime.devices import DeviceGraphs
from vllm_ascend_graphs.runtime.reference_decoder import ReferenceDecoder
from vllm_ascend_graphs.runtime.runner import GraphRunner, RunnerOptions

DECODE_SIZES = (1, 8)
OVERHEAD_LIMIT_US, RATIO_LIMIT = 10.0, 1.2


class _NoGraph:
    def replay(self) -> None:
        pass


class NoReplayApi:
    """A graph API whose capture just runs the code once and whose replay does nothing."""

    def graph(self, graph: _NoGraph, *, pool: object, stream: object) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def graph_pool_handle(self) -> None:
        return None


def best_us(calls: int, repeats: int, *functions: Callable[[], object]) -> list[float]:
    """Per-call time of each function in microseconds: the best round, rounds interleaved."""
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            for _ in range(calls):
                function()
            best[index] = min(best[index], (time.perf_counter() - start) / calls * 1e6)
    return best


def overhead_rows(calls: int, repeats: int) -> list[tuple]:
    decoder = ReferenceDecoder()
    weight = torch.randn(64, 64)
    graphs = {
        "reference decoder": (decoder, decoder.inputs(2, seed=0), lambda n: decoder.inputs(n, seed=n)),
        "tiny (one matmul)": (lambda x: x @ weight, [torch.randn(2, 64)], lambda n: (torch.randn(n, 64),)),
    }
    no_replay = DeviceGraphs("no-replay", NoReplayApi(), _NoGraph, object)
    rows = []
    for name, (fn, example, make_inputs) in graphs.items():
        runner = GraphRunner(fn, DECODE_SIZES, RunnerOptions(device="sim")).capture(example)
        own = GraphRunner(fn, DECODE_SIZES, RunnerOptions(device=no_replay)).capture(example)
        own_zero_copy = GraphRunner(fn, DECODE_SIZES, RunnerOptions(device=no_replay, zero_copy_outputs=True)).capture(
            example)
        for n in DECODE_SIZES:
            inputs = make_inputs(n)
            bare = runner.captured[(n, True)].recording.graph.replay
            bare_us, runner_us, overhead_us, zero_copy_us = best_us(
                calls, repeats, bare, functools.partial(runner, *inputs), functools.partial(own, *inputs),
                functools.partial(own_zero_copy, *inputs))
            rows.append((name, n, bare_us, runner_us, overhead_us, (bare_us + overhead_us) / bare_us, zero_copy_us))
    return rows


def capture_rows(sizes: tuple[int, ...]) -> tuple[list[tuple[int, float]], float]:
    decoder = ReferenceDecoder()
    start = time.perf_counter()
    runner = GraphRunner(decoder, sizes, RunnerOptions(device="sim")).capture(decoder.inputs(2, seed=0))
    total = time.perf_counter() - start
    return [(size, runner.capture_seconds[(size, True)]) for size in sorted(sizes)], total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per round (300)")
    parser.add_argument("--repeats", type=int, default=7, help="rounds; the best counts (7)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print(f"GraphRunner host overhead per call on the sim device (best of {args.repeats} x {args.calls} calls; "
          f"torch {torch.__version__}, 1 thread)\n")
    print(f"{'graph':<18} {'tokens':>6} {'bare replay us':>14} {'runner us':>10} {'overhead us':>11} {'ratio':>6} "
          f"{'zero-copy overhead us':>21}  target (<= {OVERHEAD_LIMIT_US:g} us and <= {RATIO_LIMIT}x)")
    print(f"{'':<18} {'':>6} {'':>14} {'':>10} {'':>11} {'(a)':>6}")
    for name, n, bare, runner, overhead, ratio, zero_overhead in overhead_rows(args.calls, args.repeats):
        verdict = "met" if overhead <= OVERHEAD_LIMIT_US and ratio <= RATIO_LIMIT else "not met"
        target = verdict if name == "reference decoder" else "(fixed cost only)"
        print(f"{name:<18} {n:>6} {bare:>14.1f} {runner:>10.1f} {overhead:>11.1f} {ratio:>6.3f} "
              f"{zero_overhead:>21.1f}  {target}")

    print("(a) (bare replay + overhead) / bare replay")

    sizes = default_capture_sizes(MAX_DEFAULT_CAPTURE_SIZE)
    rows, total = capture_rows(sizes)
    print(f"\nCapture time per size, reference decoder on the sim device, default size list ({len(sizes)} sizes, "
          f"1 warm-up each)\n")
    width = 4
    for start in range(0, len(rows), width):
        print("   ".join(f"{size:>4}: {seconds * 1e3:6.1f} ms" for size, seconds in rows[start:start + width]))
    captured = sum(seconds for _, seconds in rows)
    print(f"\ncapture only: {captured:.2f} s; total with warm-ups and set-up: {total:.2f} s")


if __name__ == "__main__":
    main()
