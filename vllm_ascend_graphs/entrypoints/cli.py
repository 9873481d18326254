"""`vllm-ascend-graphs`: list the backends, explain a choice, check replay.

Bad input is one line on stderr and exit code 2, never a traceback. This module imports only
argparse and the enumerations; each command imports what it needs when it runs, so that `--help`
and argument errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..enums import CUDAGraphMode

if TYPE_CHECKING:
    from ..hooks.registry import BackendRegistry
    from ..probes.environment import Environment
    from ..rules.models import ModelInfo
    from ..selection.selector import Selection

PROG = "vllm-ascend-graphs"
COMPILATION_MODES = ("NONE", "STOCK_TORCH_COMPILE", "DYNAMO_TRACE_ONCE", "VLLM_COMPILE")  # vLLM's, by number
VLLM_COMPILE = COMPILATION_MODES[3]
EXIT_FAILED = 1  # check: a mismatch or a failed capture; list: a plugin failed or clashed
EXIT_BAD_INPUT = 2
EXIT_BUG = 3  # an error of ours: one line, the traceback with -v
EXIT_BROKEN_PIPE = 141  # as a shell reports a tool stopped by SIGPIPE (`... | head -1`)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verbose:
        _log_debug_to_stderr()
    from ..errors import GraphConfigError

    try:
        code = args.run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except GraphConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback unless asked
        from ..errors import one_line

        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"{PROG}: internal error: {one_line(exc)} (a bug: please report it; -v shows the traceback)",
              file=sys.stderr)
        return EXIT_BUG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Decide and explain the graph path for vLLM on Ascend.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true",
                        help="debug logging on stderr, with the traceback of each plugin that failed")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser(
        "list", parents=[common], help="every backend, where it comes from, and whether it can serve here",
        description="Every backend, where it comes from, and whether it can serve here. Exit code 1 when a "
                    "plugin failed to load or clashes with another (for CI); plugins left out by "
                    "ASCEND_GRAPHS_PLUGINS are listed as disabled and do not count.",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    _add_assume(listing)
    listing.set_defaults(run=_run_list)

    explain = commands.add_parser("explain", parents=[common],
                                  help="which backend and settings a model would get here, and why")
    source = explain.add_mutually_exclusive_group()
    source.add_argument("--model", metavar="DIR", help="a local model directory with config.json")
    source.add_argument("--architecture", metavar="NAME", help="an architecture name, e.g. Qwen3ForCausalLM")
    explain.add_argument("--additional-config", metavar="JSON", default="{}", help="vLLM's additional_config as JSON")
    explain.add_argument("--cudagraph-mode", metavar="MODE", help=f"one of {', '.join(CUDAGraphMode.__members__)}")
    explain.add_argument("--enforce-eager", action="store_true", help="as vLLM's enforce_eager=True")
    explain.add_argument("--compilation-mode", metavar="MODE", default=VLLM_COMPILE,
                         help=f"vLLM's compilation_config.mode: {', '.join(COMPILATION_MODES)} ({VLLM_COMPILE})")
    explain.add_argument("--capture-sizes", metavar="N,N,...", help="cudagraph_capture_sizes, comma-separated")
    explain.add_argument("--max-capture-size", metavar="N", help="max_cudagraph_capture_size")
    explain.add_argument("--max-num-seqs", metavar="N", default="256", help="vLLM's max_num_seqs (256)")
    explain.add_argument("--max-num-batched-tokens", metavar="N",
                         help="vLLM's max_num_batched_tokens (the engine's own value; unset: no limit assumed)")
    explain.add_argument("--speculative-config", metavar="JSON",
                         help="vLLM's speculative_config as JSON: what the drafter captures and replays")
    explain.add_argument("--kv-transfer-config", metavar="JSON",
                         help="vLLM's kv_transfer_config as JSON: whether its KV connector allows full graphs")
    explain.add_argument("--json", action="store_true", help="print one JSON object")
    _add_assume(explain)
    explain.set_defaults(run=_run_explain)

    check = commands.add_parser("check", parents=[common],
                                help="capture a built-in small decoder and compare graph replay with eager")
    _add_check_arguments(check)
    check.set_defaults(run=_run_check)
    return parser


def _add_assume(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--assume", metavar="KEY=VALUE", action="append", default=[],
        help="override a probed fact (repeatable or comma-separated), e.g. device=npu,soc=910B",
    )


def _add_check_arguments(parser: argparse.ArgumentParser) -> None:
    from ..runtime.devices import DEVICES
    from .check import DEFAULT_SIZES, MAX_SIZE

    parser.add_argument("--backend", metavar="NAME",
                        help="graph backend (default: additional_config's graph_backend, else auto: plain device "
                             "graphs on sim/cuda, the selector's choice on npu)")
    parser.add_argument("--device", choices=DEVICES,
                        help="device graph API (default: npu or cuda when this machine has one, else sim)")
    parser.add_argument("--sizes", nargs="+", metavar="N",
                        help=f"capture sizes up to {MAX_SIZE}, space- or comma-separated "
                             f"(default: {' '.join(map(str, DEFAULT_SIZES))})")
    parser.add_argument("--additional-config", metavar="JSON", default="{}",
                        help="vLLM's additional_config as JSON, e.g. graph_backend_options for the backend")


VERBOSE_HANDLER = "vllm-ascend-graphs --verbose"


def _log_debug_to_stderr() -> None:
    """Once per process: `main` may run many times in one (tests, embedders)."""
    import logging

    logger = logging.getLogger("vllm_ascend_graphs")
    logger.setLevel(logging.DEBUG)
    if any(handler.get_name() == VERBOSE_HANDLER for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(VERBOSE_HANDLER)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)


def _discard_stdout() -> None:
    """After the reader closed the pipe: send the rest to /dev/null so that exit flushes quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file here (a test's capture): nothing is flushed to a pipe
        pass


def json_object(flag: str, text: str) -> Any:
    """`text` parsed as JSON; every way it can be unreadable is a one-line `GraphConfigError`."""
    import json

    from ..errors import GraphConfigError, one_line

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraphConfigError(
            f"{flag}: not valid JSON ({exc.msg} at column {exc.colno}); allowed: a JSON object") from None
    except RecursionError:
        raise GraphConfigError(f"{flag}: JSON nested too deeply to read; allowed: a JSON object") from None
    except ValueError as exc:  # an integer past Python's digit limit
        raise GraphConfigError(
            f"{flag}: unreadable JSON ({one_line(exc, typed=False)}); allowed: a JSON object") from None


# -- list -------------------------------------------------------------------------------------


def _run_list(args: argparse.Namespace) -> int:
    import json

    from ..hooks.registry import DISABLED, FAILED, get_registry
    from ..probes.environment import probe_environment
    from ..rules.assumptions import Assumptions
    from ..rules.models import ModelInfo

    assumptions = Assumptions.from_environ().merged(Assumptions.parse(args.assume))
    environment = assumptions.apply_to_environment(probe_environment())
    model = assumptions.apply_to_model(ModelInfo())
    registry = get_registry()
    rows = _list_rows(registry, environment, model)
    if args.verbose:
        for entry in registry.left_out:
            if entry.status == FAILED and entry.traceback:
                print(f"traceback of plugin {entry.origin}:\n{entry.traceback}", file=sys.stderr)
    code = EXIT_FAILED if any(e.status != DISABLED for e in registry.left_out) else 0
    if args.json:
        print(json.dumps({"environment": environment.describe(), "backends": rows}, indent=2))
        return code
    print(f"Environment: {environment.describe()}")
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        aliases = f" (aliases: {', '.join(row['aliases'])})" if row["aliases"] else ""
        print(f"\n{row['name']:<{width}}  {row['description']}{aliases}")
        print(f"{'':<{width}}  origin: {row['origin']}; status: {row['status']}")
        verdict = "can serve here" if row["can_serve"] else "cannot serve here"
        print(f"{'':<{width}}  {verdict}: {row['reason']}")
    return code


def _list_rows(registry: BackendRegistry, environment: Environment, model: ModelInfo) -> list[dict[str, Any]]:
    from ..hooks.registry import CONFLICT, FAILED
    from ..rules.config import GraphRequest

    request = GraphRequest()
    rows = []
    for entry in registry.entries():
        backend = entry.backend
        probe = registry.probe(backend, request, environment, model)
        rows.append({
            "name": backend.name, "aliases": list(backend.aliases), "description": backend.description,
            "origin": str(entry.origin), "status": "loaded", "can_serve": probe.can_serve, "reason": probe.reason,
        })
    what = {FAILED: ("(plugin failed to load)", "its plugin failed to load"),
            CONFLICT: ("(left out: its name clashes)", "left out: another backend claims its name")}
    for left_out in registry.left_out:
        description, reason = what.get(left_out.status, ("(plugin disabled)", "disabled: its plugin is not loaded"))
        rows.append({
            "name": left_out.name, "aliases": [], "description": description, "origin": str(left_out.origin),
            "status": f"{left_out.status}: {left_out.reason}", "can_serve": False, "reason": reason,
        })
    return rows


# -- explain ----------------------------------------------------------------------------------


def _run_explain(args: argparse.Namespace) -> int:
    import json

    from ..probes.environment import probe_environment
    from ..rules.assumptions import Assumptions
    from ..rules.config import GraphRequest, count_or_text
    from ..rules.drafter import SpeculativeConfig
    from ..rules.kv_connectors import KvTransfer
    from ..rules.models import ModelInfo
    from ..selection.selector import select

    assumptions = Assumptions.from_environ().merged(Assumptions.parse(args.assume))
    if args.model is not None:
        model = ModelInfo.from_directory(args.model)
    elif args.architecture is not None:
        model = ModelInfo.from_architecture(args.architecture, "--architecture")
    else:
        model = ModelInfo()
    model = assumptions.apply_to_model(model)
    environment = assumptions.apply_to_environment(probe_environment())
    speculative = None if args.speculative_config is None else SpeculativeConfig.parse(
        json_object("--speculative-config", args.speculative_config), "--speculative-config")
    environment = _with_speculative_tokens(environment, speculative)
    sizes = None if args.capture_sizes is None else [count_or_text(part) for part in args.capture_sizes.split(",")]
    compilation_mode = _compilation_mode(args.compilation_mode)
    request = GraphRequest.parse(
        json_object("--additional-config", args.additional_config),
        cudagraph_mode=args.cudagraph_mode,
        enforce_eager=args.enforce_eager,
        compiling=compilation_mode == VLLM_COMPILE,
        other_compilation_mode=None if compilation_mode in ("NONE", VLLM_COMPILE) else compilation_mode,
        capture_sizes=sizes,
        max_capture_size=None if args.max_capture_size is None else count_or_text(args.max_capture_size),
        max_num_seqs=count_or_text(args.max_num_seqs),
        max_num_batched_tokens=None if args.max_num_batched_tokens is None else count_or_text(
            args.max_num_batched_tokens),
        speculative_config=speculative,
        kv_transfer_config=None if args.kv_transfer_config is None else KvTransfer.parse(
            json_object("--kv-transfer-config", args.kv_transfer_config), "--kv-transfer-config"),
    )
    selection = select(request, environment=environment, model=model)
    if args.json:
        print(json.dumps(selection.to_dict(), indent=2))
    else:
        print(render(selection, environment, model))
    return 0


def _with_speculative_tokens(environment: Environment, speculative: Any) -> Environment:
    """The environment with the speculative config's tokens; `--assume spec_tokens` must agree with it."""
    from ..errors import GraphConfigError

    if speculative is None:
        return environment
    tokens = speculative.num_speculative_tokens
    if "spec_tokens" in environment.assumed and environment.spec_tokens != tokens:
        raise GraphConfigError(f"--assume spec_tokens: got {environment.spec_tokens}, but --speculative-config has "
                               f"num_speculative_tokens {tokens}; allowed: the same number, or one of the two")
    return environment.replace(spec_tokens=tokens)


def _compilation_mode(text: str) -> str:
    """A compilation mode by name (any case) or by vLLM's number (0 to 3)."""
    from ..errors import invalid

    name = text.strip().upper()
    if name.isdigit() and int(name) < len(COMPILATION_MODES):
        return COMPILATION_MODES[int(name)]
    if name in COMPILATION_MODES:
        return name
    raise invalid("--compilation-mode", text, f"{', '.join(COMPILATION_MODES)} or 0 to 3",
                  choices=COMPILATION_MODES)


def render(selection: Selection, environment: Environment, model: ModelInfo) -> str:
    """The human-readable explanation: one screen."""
    import json

    from ..rules.modes import NPUGRAPH_EX_MODES

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
        f"FULL graphs:    {_show_sizes(selection.graphs.full, none='none')}",
        f"PIECEWISE:      {_show_sizes(selection.graphs.piecewise, none='none')}",
        f"Decode batches: {_decode_coverage(selection)}",
    ]
    if selection.drafter is not None:
        first, *rest = selection.drafter.describe()
        lines += [f"Drafter:        {first}", *(f"                {line}" for line in rest)]
    if plan.options:
        lines.append(f"Options:        {json.dumps(dict(plan.options))}")
    lines += ["", "Backends tried:"]
    width = max(len(name) for name in (*selection.registered, *selection.chain))
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


def _show_sizes(sizes: tuple[int, ...], none: str = "none (no graphs are captured)") -> str:
    from ..rules.graph_keys import show_sizes

    return show_sizes(sizes, whole_up_to=8) if sizes else none


def _decode_coverage(selection: Selection) -> str:
    """Which uniform decode batches replay a graph, in requests per step."""
    from ..rules.graph_keys import eager_decode_batches, spans

    plan, shape = selection.plan, selection.shape
    if plan.cudagraph_mode is CUDAGraphMode.NONE:
        return "all run eagerly (no graphs)"
    eager = eager_decode_batches(plan.cudagraph_mode, plan.capture_sizes, shape)
    if not eager:
        return f"1-{shape.max_requests} requests all replay a graph"
    return f"{spans(eager)} requests run eagerly (of 1-{shape.max_requests})"


# -- check ------------------------------------------------------------------------------------


def _run_check(args: argparse.Namespace) -> int:
    from .check import run_check

    return run_check(args, json_object("--additional-config", args.additional_config))
