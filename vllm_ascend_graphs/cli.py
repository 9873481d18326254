"""`vllm-ascend-graphs`: list the backends, explain a choice. Bad input is one line, no traceback."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from .assumptions import Assumptions
from .config import GraphRequest
from .environment import Environment, probe_environment
from .errors import BackendConflictError, GraphConfigError
from .hooks.registry import BackendRegistry, get_registry
from .models import ModelInfo
from .modes import NPUGRAPH_EX_MODES, CUDAGraphMode
from .runtime.check import add_check_arguments, run_check
from .selection import Selection, select

PROG = "vllm-ascend-graphs"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (GraphConfigError, BackendConflictError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Decide and explain the graph path for vLLM on Ascend.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="every backend, where it comes from, and whether it can serve here")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    _add_assume(listing)
    listing.set_defaults(run=_run_list)

    explain = commands.add_parser("explain", help="which backend and settings a model would get here, and why")
    source = explain.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="DIR", help="a local model directory with config.json")
    source.add_argument("--architecture", metavar="NAME", help="an architecture name, e.g. Qwen3ForCausalLM")
    explain.add_argument("--additional-config", metavar="JSON", default="{}", help="vLLM's additional_config as JSON")
    explain.add_argument("--cudagraph-mode", metavar="MODE", help=f"one of {', '.join(CUDAGraphMode.__members__)}")
    explain.add_argument("--enforce-eager", action="store_true", help="as vLLM's enforce_eager=True")
    explain.add_argument("--capture-sizes", metavar="N,N,...", help="cudagraph_capture_sizes, comma-separated")
    explain.add_argument("--max-num-seqs", metavar="N", type=int, default=256, help="vLLM's max_num_seqs (256)")
    explain.add_argument("--json", action="store_true", help="print one JSON object")
    _add_assume(explain)
    explain.set_defaults(run=_run_explain)

    check = commands.add_parser("check", help="capture a built-in small decoder and compare graph replay with eager")
    add_check_arguments(check)
    check.set_defaults(run=run_check)
    return parser


def _add_assume(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--assume", metavar="KEY=VALUE", action="append", default=[],
        help="override a probed fact (repeatable or comma-separated), e.g. device=npu,soc=910B",
    )


# -- list -------------------------------------------------------------------------------------


def _assumptions(args: argparse.Namespace) -> Assumptions:
    """`VLLM_ASCEND_GRAPHS_ASSUME`, then `--assume` on top."""
    return Assumptions.from_environ().merged(Assumptions.parse(args.assume))


def _run_list(args: argparse.Namespace) -> int:
    assumptions = _assumptions(args)
    environment = assumptions.apply_to_environment(probe_environment())
    model = assumptions.apply_to_model(ModelInfo())
    rows = _list_rows(get_registry(), environment, model)
    if args.json:
        print(json.dumps({"environment": environment.describe(), "backends": rows}, indent=2))
        return 0
    print(f"Environment: {environment.describe()}")
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        aliases = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
        print(f"\n{row['name']:<{width}}  {row['description']}{aliases}")
        print(f"{'':<{width}}  origin: {row['origin']}; status: {row['status']}")
        verdict = "can serve here" if row["can_serve"] else "cannot serve here"
        print(f"{'':<{width}}  {verdict}: {row['reason']}")
    return 0


def _list_rows(registry: BackendRegistry, environment: Environment, model: ModelInfo) -> list[dict[str, Any]]:
    request = GraphRequest()
    rows = []
    for entry in registry.entries():
        backend = entry.backend
        try:
            probe = backend.probe(request, environment, model)
            can_serve, reason = probe.can_serve, probe.reason
        except Exception as exc:  # a broken third-party probe is shown, not fatal
            can_serve, reason = False, f"its probe raised {type(exc).__name__}: {exc}"
        rows.append({
            "name": backend.name, "aliases": list(backend.aliases), "description": backend.description,
            "origin": str(entry.origin), "status": "loaded", "can_serve": can_serve, "reason": reason,
        })
    for failure in registry.failures.values():
        rows.append({
            "name": failure.origin.plugin, "aliases": [], "description": "(plugin failed to load)",
            "origin": str(failure.origin), "status": f"failed: {failure.error}", "can_serve": False,
            "reason": "its plugin failed to load",
        })
    return rows


# -- explain ----------------------------------------------------------------------------------


def _run_explain(args: argparse.Namespace) -> int:
    assumptions = _assumptions(args)
    if args.model:
        model = ModelInfo.from_directory(args.model)
    elif args.architecture:
        model = ModelInfo.from_architecture(args.architecture)
    else:
        model = ModelInfo()
    model = assumptions.apply_to_model(model)
    environment = assumptions.apply_to_environment(probe_environment())
    request = GraphRequest.parse(
        _json_object("--additional-config", args.additional_config),
        cudagraph_mode=args.cudagraph_mode,
        enforce_eager=args.enforce_eager,
        capture_sizes=_sizes(args.capture_sizes),
        max_num_seqs=args.max_num_seqs,
    )
    selection = select(request, environment=environment, model=model)
    if args.json:
        print(json.dumps(selection.to_dict(), indent=2))
    else:
        print(render(selection, environment, model))
    return 0


def _json_object(flag: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraphConfigError(f"{flag}: not valid JSON ({exc.msg} at column {exc.colno}); allowed: a JSON object") from None


def _sizes(text: str | None) -> list[object] | None:
    if text is None:
        return None
    return [int(part) if part.strip().isdigit() else part.strip() for part in text.split(",")]


def render(selection: Selection, environment: Environment, model: ModelInfo) -> str:
    """The human-readable explanation: one screen."""
    plan = selection.plan
    lines = [
        f"Model:          {model.describe()}",
        f"Environment:    {environment.describe()}" + ("   (* assumed)" if environment.assumed else ""),
        "",
        f"Backend:        {plan.backend} - {selection.backend.description}",
        f"cudagraph_mode: {plan.cudagraph_mode.name}",
        f"Npugraph_ex:    {'on' if plan.npugraph_ex else 'off'}"
        + ("" if plan.cudagraph_mode in NPUGRAPH_EX_MODES else " (it runs only in FULL / FULL_DECODE_ONLY)"),
        f"Static kernel:  {'on' if plan.static_kernel else 'off'}",
        f"Capture sizes:  {_show_sizes(plan.capture_sizes)}",
    ]
    if plan.options:
        lines.append(f"Options:        {json.dumps(dict(plan.options))}")
    lines += ["", "Backends tried:"]
    width = max(len(name) for name in selection.registered)
    for attempt in selection.trail:
        verdict = "SELECTED" if attempt.selected else "skipped "
        lines.append(f"  {attempt.backend:<{width}}  {verdict}  {attempt.reason}")
    for name in selection.not_reached:
        lines.append(f"  {name:<{width}}  not reached (an earlier backend was selected)")
    for name in selection.not_requested:
        lines.append(f"  {name:<{width}}  not requested (not in the chain)")
    if selection.notes:
        lines += ["", "Notes:"] + [f"  - {note}" for note in selection.notes]
    return "\n".join(lines)


def _show_sizes(sizes: tuple[int, ...]) -> str:
    if not sizes:
        return "none (no graphs are captured)"
    shown = ", ".join(map(str, sizes)) if len(sizes) <= 8 else (
        f"{', '.join(map(str, sizes[:5]))}, ..., {', '.join(map(str, sizes[-2:]))}"
    )
    return f"{len(sizes)} sizes: {shown}"

