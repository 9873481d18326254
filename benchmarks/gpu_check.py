"""The graph runtime on a real GPU: parity and decode-step latency, in well under 5 minutes.

    python benchmarks/gpu_check.py

1. The runner on the `cuda` device: the reference decoder captured at a few sizes, replay vs eager
   at every size, padded sizes and above the largest (the `check` command's comparison).
2. The ACLGraph backend's own code with `torch.npu` mapped onto `torch.cuda` (a `torch_npu` shim):
   its fusion pass and capture/replay duties, in FULL_DECODE_ONLY (sync before replay) and
   PIECEWISE, vs eager.
3. Per-step latency of a batch-1 (and batch-8) decode step: eager, our runner, and a bare
   `torch.cuda.CUDAGraph` replay of the same decoder (targets: replay >= 3x faster than eager,
   runner within 1.1x of the bare replay).

On a machine with a GPU the output is also written to benchmarks/results/gpu_check.txt. Without
CUDA it says so and exits 0, writing nothing.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
import types
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "gpu_check.txt"
SIZES = (1, 2, 4, 8, 16, 32)
TOLERANCE = 1e-3  # largest difference, relative to the largest eager output
STEPS = 300


def map_torch_npu_onto_cuda() -> None:
    """A `torch_npu` whose `torch.npu` is `torch.cuda`, with `npu_add_rms_norm` in plain torch."""

    def npu_add_rms_norm(x1, x2, gamma, epsilon=1e-6):
        summed = x1 + x2
        rstd = torch.rsqrt(summed.float().pow(2).mean(-1, keepdim=True) + epsilon)
        return (summed.float() * rstd * gamma.float()).to(summed.dtype), rstd, summed

    cuda = torch.cuda
    npu = types.SimpleNamespace(NPUGraph=cuda.CUDAGraph, graph=cuda.graph, graph_pool_handle=cuda.graph_pool_handle,
                                Stream=cuda.Stream, current_stream=cuda.current_stream, synchronize=cuda.synchronize,
                                set_compile_mode=lambda *, jit_compile: None)
    module = types.ModuleType("torch_npu")
    module.npu, module.npu_add_rms_norm = npu, npu_add_rms_norm
    sys.modules["torch_npu"] = module
    torch.npu = npu


def parity_lines(title: str, runner, decoder, sizes) -> tuple[list[str], bool]:
    from vllm_ascend_graphs.entrypoints.check import probe_sizes

    lines, ok = [title, f"{'tokens':>6}  {'path':<8}  {'max abs diff':>12}  {'max rel diff':>12}"], True
    with torch.no_grad():
        for n in probe_sizes(sizes):
            for uniform in (True, False):
                inputs = decoder.inputs(n, seed=n)
                expected, got = decoder(*inputs), runner(*inputs, uniform_decode=uniform)
                max_abs = (got - expected).abs().max().item()
                max_rel = max_abs / max(expected.abs().max().item(), 1e-12)
                ok &= max_rel <= TOLERANCE
                padded = runner.padded_size(n, uniform)
                path = "eager" if padded is None else f"graph {padded}"
                lines.append(f"{n:>6}  {path:<8}  {max_abs:>12.3e}  {max_rel:>12.3e}  "
                             f"{'uniform' if uniform else 'mixed':<8} {'ok' if max_rel <= TOLERANCE else 'MISMATCH'}")
    return lines, ok


def aclgraph_runner(decoder, mode: str):
    from vllm_ascend_graphs.probes.environment import Environment
    from vllm_ascend_graphs.rules.config import GraphRequest
    from vllm_ascend_graphs.rules.models import ModelInfo
    from vllm_ascend_graphs.runtime.runner import GraphRunner, RunnerOptions
    from vllm_ascend_graphs.selection.selector import select

    request = GraphRequest.parse({"graph_backend": "aclgraph", "graph_fallback": False,
                                  "ascend_compilation_config": {"enable_npugraph_ex": False}},
                                 cudagraph_mode=mode, capture_sizes=list(SIZES))
    ascend = Environment(device="npu", torch_npu="cuda-shim")
    selection = select(request, environment=ascend, model=ModelInfo.from_architecture("Qwen3ForCausalLM"))
    backend, plan = selection.backend, selection.plan
    example = decoder.inputs(2, seed=0)
    compiled = backend.compile(decoder, example, plan)
    runner = GraphRunner(compiled, plan.capture_sizes, RunnerOptions(mode=plan.cudagraph_mode), backend=backend)
    return runner.capture(example)


def step_us(step) -> float:
    """Median latency of one step, synchronised, over STEPS steps after a warm-up."""
    for _ in range(20):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(STEPS):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


def latency_lines(decoder) -> list[str]:
    from vllm_ascend_graphs.runtime.runner import GraphRunner, RunnerOptions

    lines = ["Per-step decode latency (median of %d synchronised steps)" % STEPS,
             f"{'tokens':>6}  {'eager us':>9}  {'runner us':>9}  {'zero-copy us':>12}  {'bare replay us':>14}  "
             f"{'eager/runner':>12}  {'runner/bare':>11}"]
    runner = GraphRunner(decoder, SIZES, RunnerOptions(device="cuda")).capture(decoder.inputs(2, seed=0))
    zero_copy = GraphRunner(decoder, SIZES, RunnerOptions(device="cuda", zero_copy_outputs=True)).capture(
        decoder.inputs(2, seed=0))
    for n in (1, 8):
        inputs = decoder.inputs(n, seed=n)
        static = [x.clone() for x in inputs]
        with torch.no_grad():
            decoder(*static)  # warm-up before capture, as the runner does
            bare = torch.cuda.CUDAGraph()
            with torch.cuda.graph(bare):
                decoder(*static)
            eager_us = step_us(functools.partial(decoder, *inputs))
        runner_us = step_us(functools.partial(runner, *inputs))
        zero_us = step_us(functools.partial(zero_copy, *inputs))
        bare_us = step_us(bare.replay)
        lines.append(f"{n:>6}  {eager_us:>9.1f}  {runner_us:>9.1f}  {zero_us:>12.1f}  {bare_us:>14.1f}  "
                     f"{eager_us / runner_us:>11.2f}x  {runner_us / bare_us:>10.2f}x")
    lines.append("targets: eager/runner >= 3x at batch 1; runner/bare <= 1.1x (the runner also copies the inputs in "
                 "and, unless zero-copy, the output out)")
    return lines


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing measured, "
              "no results written")
        return 0
    from vllm_ascend_graphs.runtime.reference_decoder import ReferenceDecoder
    from vllm_ascend_graphs.runtime.runner import GraphRunner, RunnerOptions

    started = time.perf_counter()
    decoder = ReferenceDecoder().to("cuda")
    lines = [f"gpu_check on {torch.cuda.get_device_name()} (torch {torch.__version__}, CUDA {torch.version.cuda})", ""]
    runner = GraphRunner(decoder, SIZES, RunnerOptions(device="cuda", mode="FULL")).capture(decoder.inputs(2, seed=0))
    section, all_ok = parity_lines("1. Runner on the cuda device (FULL: uniform and mixed keys)", runner, decoder,
                                   SIZES)
    lines += [*section, ""]
    map_torch_npu_onto_cuda()
    for mode in ("FULL_DECODE_ONLY", "PIECEWISE"):
        section, ok = parity_lines(f"2. ACLGraph backend, {mode}, torch.npu -> torch.cuda",
                                   aclgraph_runner(decoder, mode),
                                   decoder, SIZES)
        lines += [*section, ""]
        all_ok &= ok
    lines += latency_lines(decoder)
    lines += ["", f"parity: {'all sizes match' if all_ok else 'MISMATCH'}; took {time.perf_counter() - started:.0f} s"]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n", encoding="utf-8")
    print(f"\nwritten to benchmarks/results/{RESULTS.name}")
    return 0 if all_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
