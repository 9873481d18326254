"""Decode batches that run eagerly, and graphs captured: our capture plan against vLLM Ascend alone.

For max_num_seqs 1 to 512 and K = 0 to 3 speculative tokens, in FULL_AND_PIECEWISE and
FULL_DECODE_ONLY, each cell is computed with vLLM's and vLLM Ascend's own code:

- vLLM Ascend alone: its platform's default largest size
  (`NPUPlatform._get_default_max_cudagraph_capture_size`, from vllm-ascend 0.23.0.post1's source)
  and vLLM's `VllmConfig._set_cudagraph_sizes` make the list;
- ours: `capture_plan.plan_capture_sizes`, the list our plugin writes;
- then, for both, what the model runner does at start: vLLM's
  `resolve_cudagraph_mode_and_sizes` (which rounds for speculative decoding) and its
  `CudagraphDispatcher` (graph keys), and `dispatch(b x (1 + K), uniform_decode=True)` for every
  decode batch of b = 1 to max_num_seqs requests.

A cell counts the decode batch sizes that replay no graph, and the graphs captured (one per
dispatcher key, FULL and PIECEWISE together). The token budget is 8192, enough for every decode
batch here. Targets (issue 13): 0 eager decode batch sizes in every cell, at most 1 extra capture
size per cell.

The second table is the speculative-decoding drafter on the V1 model runner (issue 17), for K = 1
to 3: an EAGLE / MTP drafter, whose first pass has the target's 1 + K tokens per request, and a
draft model, whose first pass has one more. The drafter captures a graph on each of the model
runner's keys and dispatches each decode batch's draft through the model runner's own dispatcher
with its first pass's token count, flagged uniform decode (vllm-ascend's `_propose`; the contract
tier's worker stage runs that code on all three tested releases): a cell counts the decode batch
sizes whose draft replays no graph, and the drafter's graphs. Target: 0 eager draft decode batch
sizes wherever a graph can hold them (FULL_DECODE_ONLY has no graph above its uniform decode keys,
max_num_seqs x (1 + K) tokens, for a draft model's longer first pass: those stay eager, and the plan
says so).

Run it in the contract tier's environment for vLLM 0.23.0 (`make test` creates it); it downloads
vllm-ascend 0.23.0.post1's source:

    .venv-ascend/vllm-0.23.0/bin/python benchmarks/capture_plan.py [--out benchmarks/results/cpu-capture-plan.txt]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("FULL_AND_PIECEWISE", "FULL_DECODE_ONLY")
SPEC = (0, 1, 2, 3)
MAX_NUM_SEQS = range(1, 513)  # --quick: every 16th
BUDGET = 8192
DRAFTERS = {"eagle/mtp": 0, "draft_model": 1}  # extra first-pass tokens per request, beyond the target's 1 + K
VLLM_ASCEND = "0.23.0.post1"
TORCH_NPU = "2.10.0.post4"


def load_vllm_ascend() -> type:
    """vllm-ascend's platform class, from its sdist, with the contract tier's stand-ins for native pieces."""
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "ascend")]
    from real_packages import torch_npu_source, vllm_ascend_source

    source = vllm_ascend_source(VLLM_ASCEND)
    sys.path.insert(0, str(source))
    import standins

    standins.install(torch_npu_source(TORCH_NPU), source, "910B")
    from vllm_ascend.platform import NPUPlatform

    return NPUPlatform


def vllm_config(max_num_seqs: int, spec: int):
    from vllm.config import SchedulerConfig, SpeculativeConfig, VllmConfig

    config = VllmConfig(scheduler_config=SchedulerConfig(max_num_seqs=max_num_seqs, max_num_batched_tokens=BUDGET,
                                                         max_model_len=BUDGET, is_encoder_decoder=False))
    if spec:
        config.speculative_config = SpeculativeConfig(method="ngram", num_speculative_tokens=spec, prompt_lookup_max=3)
    return config


class ModelCfg:
    """What `_set_cudagraph_sizes` reads of a model config: a graph mode is on, eager is off."""

    enforce_eager = False


def vllm_ascend_alone(platform_cls: type, config, mode) -> list[int]:
    """The list vLLM Ascend's platform pass leaves for a user who set no sizes."""
    compilation = config.compilation_config
    compilation.cudagraph_mode, compilation.cudagraph_capture_sizes = mode, None
    compilation.max_cudagraph_capture_size = None  # as the user left it
    compilation.max_cudagraph_capture_size = platform_cls._get_default_max_cudagraph_capture_size(config)
    model_config, config.model_config = config.model_config, ModelCfg()
    try:
        config._set_cudagraph_sizes()
    finally:
        config.model_config = model_config
    return list(compilation.cudagraph_capture_sizes)


def model_runner(config, mode, sizes: list[int], spec: int,
                 per_request: int | None = None) -> tuple[int, int, set[int]] | None:
    """(eager decode batch sizes, graphs, capture sizes) after the model runner's start; None where it
    fails to start. With `per_request`, the eager sizes are those of the drafter's first pass, which has
    that many tokens per request."""
    from vllm.config.compilation import CompilationMode
    from vllm.v1.attention.backend import AttentionCGSupport
    from vllm.v1.cudagraph_dispatcher import CudagraphDispatcher

    compilation = config.compilation_config
    compilation.mode = CompilationMode.VLLM_COMPILE
    compilation.cudagraph_mode = mode
    compilation.splitting_ops = list(compilation._attention_ops) if mode.requires_piecewise_compilation() else []
    compilation.cudagraph_capture_sizes, compilation.max_cudagraph_capture_size = list(sizes), max(sizes)
    dispatcher = CudagraphDispatcher(config)
    query_len, max_num_seqs = 1 + spec, config.scheduler_config.max_num_seqs
    try:
        resolved = compilation.resolve_cudagraph_mode_and_sizes(
            AttentionCGSupport.ALWAYS, "AscendAttentionBackend", uniform_decode_query_len=query_len,
            max_num_reqs=max_num_seqs)
    except ValueError:  # e.g. no size left after rounding for speculative decoding
        return None
    dispatcher.initialize_cudagraph_keys(resolved, query_len)
    graphs = sum(len(descriptors) for _, descriptors in dispatcher.get_capture_descs())
    eager = sum(dispatcher.dispatch(n * (per_request or query_len), uniform_decode=True)[0].name == "NONE"
                for n in range(1, max_num_seqs + 1))
    return eager, graphs, set(compilation.cudagraph_capture_sizes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--quick", action="store_true", help="every 16th max_num_seqs only (a smoke run)")
    args = parser.parse_args()
    seqs = MAX_NUM_SEQS[::16] if args.quick else MAX_NUM_SEQS
    platform_cls = load_vllm_ascend()
    import vllm
    from vllm.config import CUDAGraphMode

    from vllm_ascend_graphs.enums import CUDAGraphMode as OurMode
    from vllm_ascend_graphs.rules.capture_plan import DecodeShape, plan_capture_sizes

    start = time.perf_counter()
    totals: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for spec in SPEC:
        for max_num_seqs in seqs:
            config = vllm_config(max_num_seqs, spec)
            for name in MODES:
                mode = CUDAGraphMode[name]
                cell = totals[(name, spec)]
                alone_sizes = vllm_ascend_alone(platform_cls, config, mode)
                ours_sizes = list(plan_capture_sizes(OurMode[name], DecodeShape(max_num_seqs, spec, BUDGET)).sizes)
                alone = model_runner(config, mode, alone_sizes, spec)
                ours = model_runner(config, mode, ours_sizes, spec)
                assert ours is not None, (name, spec, max_num_seqs)
                cell["cells"] += 1
                if alone is None:
                    cell["alone_fails"] += 1
                else:
                    cell["alone_eager"] += alone[0]
                    cell["alone_eager_cells"] += alone[0] > 0
                    cell["alone_graphs"] += alone[1]
                    cell["max_extra_graphs"] = max(cell["max_extra_graphs"], ours[1] - alone[1])
                cell["ours_eager"] += ours[0]
                cell["ours_eager_cells"] += ours[0] > 0
                cell["ours_graphs"] += ours[1]
                if alone is not None:
                    cell["max_extra_sizes"] = max(cell["max_extra_sizes"], len(ours[2] - alone[2]))
    drafters = drafter_cells(platform_cls, seqs)
    seconds = time.perf_counter() - start
    table = render(totals, vllm.__version__, seconds, seqs) + "\n\n" + render_drafters(drafters)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


def drafter_cells(platform_cls: type, seqs: range) -> dict[tuple[str, int, str], dict[str, int]]:
    """The drafter's eager decode batch sizes and graphs, per mode, K and kind of drafter."""
    from vllm.config import CUDAGraphMode

    from vllm_ascend_graphs.enums import CUDAGraphMode as OurMode
    from vllm_ascend_graphs.rules.capture_plan import DecodeShape, plan_capture_sizes

    totals: dict[tuple[str, int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for spec in SPEC[1:]:
        for max_num_seqs in seqs:
            config = vllm_config(max_num_seqs, spec)
            for name in MODES:
                mode = CUDAGraphMode[name]
                alone_sizes = vllm_ascend_alone(platform_cls, config, mode)
                for drafter, extra in DRAFTERS.items():
                    per_request = 1 + spec + extra
                    shape = DecodeShape(max_num_seqs, spec, BUDGET, per_request if extra else None)
                    ours_sizes = list(plan_capture_sizes(OurMode[name], shape).sizes)
                    alone = model_runner(config, mode, alone_sizes, spec, per_request)
                    ours = model_runner(config, mode, ours_sizes, spec, per_request)
                    assert ours is not None, (name, spec, max_num_seqs, drafter)
                    cell = totals[(name, spec, drafter)]
                    cell["cells"] += 1
                    if alone is None:
                        cell["alone_fails"] += 1
                    else:
                        cell["alone_eager"] += alone[0]
                        cell["alone_graphs"] += alone[1]
                    cell["ours_eager"] += ours[0]
                    cell["ours_eager_cells"] += ours[0] > 0
                    cell["ours_graphs"] += ours[1]
    return totals


def render_drafters(totals: dict[tuple[str, int, str], dict[str, int]]) -> str:
    head = ("Drafters on the V1 model runner: eager draft decode batch sizes (its first pass replays no graph) and the "
            "drafter's graphs (one per model-runner key)\n")
    columns = ("mode", "K", "drafter", "cells", "eager draft sizes alone", "ours", "cells with eager ours",
               "fails to start alone", "drafter graphs alone", "ours")
    rows = [columns]
    grand: dict[str, int] = defaultdict(int)
    for (name, spec, drafter), cell in sorted(totals.items()):
        rows.append((name, str(spec), drafter, str(cell["cells"]), str(cell["alone_eager"]), str(cell["ours_eager"]),
                     str(cell["ours_eager_cells"]), str(cell["alone_fails"]), str(cell["alone_graphs"]),
                     str(cell["ours_graphs"])))
        for key, value in cell.items():
            grand[key] += value
    rows.append(("all", "", "", str(grand["cells"]), str(grand["alone_eager"]), str(grand["ours_eager"]),
                 str(grand["ours_eager_cells"]), str(grand["alone_fails"]), str(grand["alone_graphs"]),
                 str(grand["ours_graphs"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    return head + "\n".join("  ".join(value.rjust(width) for value, width in zip(row, widths, strict=True))
                            for row in rows)


def render(totals, vllm_version: str, seconds: float, seqs: range) -> str:
    head = (f"python benchmarks/capture_plan.py  (vLLM {vllm_version}, vllm-ascend {VLLM_ASCEND}'s platform default; "
            f"{platform.machine()}, Python {platform.python_version()}; {seconds:.0f} s)\n"
            f"max_num_seqs {seqs.start} to {seqs[-1]} (step {seqs.step}) per row; decode batches of 1 to max_num_seqs "
            f"requests; token budget {BUDGET}\n")
    columns = ("mode", "K", "cells", "eager sizes alone", "ours", "cells with eager alone", "ours",
               "fails to start alone", "ours", "graphs alone", "ours", "ratio", "max extra graphs/cell",
               "max extra sizes/cell")
    rows = [columns]
    grand: dict[str, int] = defaultdict(int)
    for (name, spec), cell in sorted(totals.items()):
        rows.append((name, str(spec), str(cell["cells"]), str(cell["alone_eager"]), str(cell["ours_eager"]),
                     str(cell["alone_eager_cells"]), str(cell["ours_eager_cells"]), str(cell["alone_fails"]), "0",
                     str(cell["alone_graphs"]), str(cell["ours_graphs"]),
                     f"{cell['ours_graphs'] / cell['alone_graphs']:.3f}", str(cell["max_extra_graphs"]),
                     str(cell["max_extra_sizes"])))
        for key, value in cell.items():
            grand[key] = max(grand[key], value) if key.startswith("max_") else grand[key] + value
    rows.append(("all", "", str(grand["cells"]), str(grand["alone_eager"]), str(grand["ours_eager"]),
                 str(grand["alone_eager_cells"]), str(grand["ours_eager_cells"]), str(grand["alone_fails"]), "0",
                 str(grand["alone_graphs"]), str(grand["ours_graphs"]),
                 f"{grand['ours_graphs'] / grand['alone_graphs']:.3f}", str(grand["max_extra_graphs"]),
                 str(grand["max_extra_sizes"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(value.rjust(width) for value, width in zip(row, widths, strict=True)) for row in rows]
    return head + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
