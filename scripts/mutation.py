"""Mutation testing of the decision layer with mutmut, and a score table per file.

`make mutation` runs it; CI does not. The files and the tests come from `[tool.mutmut]` in
pyproject.toml. mutmut keeps its results in `mutants/` and, run on every file, tests again only
the mutants of functions that changed since; files named here are tested afresh, one at a time.

    python scripts/mutation.py                 # every file (what changed), then the table
    python scripts/mutation.py vllm_ascend_graphs/rules/modes.py   # that file afresh, then the table
    python scripts/mutation.py --table-only    # the table of the last run
    python scripts/mutation.py --survivors     # also list the mutants that were not killed

The score is killed / mutants: a mutant no test reaches ("no tests") counts as not killed.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# mutmut's exit codes (mutmut/stats.py, status_by_exit_code), folded into the table's columns.
KILLED = {1, 3, 36, 37, 24, -24, 152, 255}  # test failure, pytest error, timeout, type check
SURVIVED = {0}
NO_TESTS = {5, 33}


def files() -> list[str]:
    """The files `[tool.mutmut]` mutates."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: mutmut depends on `toml` there
        import toml as tomllib
    return tomllib.loads(text)["tool"]["mutmut"]["only_mutate"]


def module_of(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def run(path: str | None, max_children: int) -> None:
    """mutmut on every configured file, or afresh on one file's mutants (their names start with its module)."""
    mutmut = Path(sys.executable).with_name("mutmut")
    command = [str(mutmut), "run", "--max-children", str(max_children)]
    if path is not None:
        command.append(f"{module_of(path)}.*")
    print(f"mutmut: {path or 'every file'}", flush=True)
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:  # mutmut says why on stdout, between the redraws of its progress line
        lines = [line for line in result.stdout.replace("\r", "\n").splitlines() if line.strip()]
        sys.exit(f"mutmut failed on {path or 'the files'} (exit {result.returncode}):\n" + "\n".join(lines[-40:]))


def results(path: str) -> dict[str, int | None]:
    meta = ROOT / "mutants" / f"{path}.meta"
    if not meta.exists():
        return {}
    return json.loads(meta.read_text())["exit_code_by_key"]


def counts(codes: dict[str, int | None]) -> Counter:
    folded = Counter()
    for code in codes.values():
        folded["killed" if code in KILLED else "survived" if code in SURVIVED
               else "no tests" if code in NO_TESTS else "not run" if code is None else "other"] += 1
    return folded


def table(paths: list[str]) -> str:
    header = f"{'file':<38} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8} {'other':>6} {'score':>7}"
    lines = [header, "-" * len(header)]
    total = Counter()
    for path in paths:
        codes = results(path)
        c = counts(codes)
        total.update(c)
        total["mutants"] += len(codes)
        lines.append(_row(path, len(codes), c))
    lines.append("-" * len(header))
    lines.append(_row("all", total["mutants"], total))
    return "\n".join(lines)


def _row(name: str, mutants: int, c: Counter) -> str:
    score = f"{100 * c['killed'] / mutants:.1f}%" if mutants else "-"
    other = c["other"] + c["not run"]
    return (f"{name:<38} {mutants:>7} {c['killed']:>7} {c['survived']:>8} {c['no tests']:>8} {other:>6} "
            f"{score:>7}")


def survivors(paths: list[str]) -> list[str]:
    return [name for path in paths for name, code in results(path).items()
            if code is not None and code not in KILLED]


def machine() -> str:
    """The CPU model and count, for the table's header."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model} x {os.cpu_count()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="files to test afresh (default: every file, what changed)")
    parser.add_argument("--max-children", type=int, default=min(2, os.cpu_count() or 1),
                        help="parallel mutmut workers (default: 2, or 1 on a one-core machine)")
    parser.add_argument("--table-only", action="store_true", help="print the last run's table, run nothing")
    parser.add_argument("--survivors", action="store_true", help="list the mutants that were not killed")
    args = parser.parse_args()
    configured = files()
    unknown = [path for path in args.files if path not in configured]
    if unknown:
        parser.error(f"got {', '.join(unknown)}; allowed: the files of [tool.mutmut] only_mutate: "
                     f"{', '.join(configured)}")
    paths = args.files or configured
    if not args.table_only:
        started = datetime.datetime.now()
        for path in args.files or [None]:
            run(path, args.max_children)
        print(f"mutmut took {(datetime.datetime.now() - started).total_seconds():.0f} s")
    print(f"# mutmut {importlib.metadata.version('mutmut')}, Python {platform.python_version()}, {machine()}, "
          f"{datetime.date.today().isoformat()}")
    print("# score = killed / mutants; timeouts count as killed, 'no tests' (no test reaches it) as not")
    print(table(paths))
    if args.survivors:
        print()
        print("\n".join(survivors(paths)))


if __name__ == "__main__":
    main()
