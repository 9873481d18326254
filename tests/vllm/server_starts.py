"""Start vLLM's OpenAI server several times, each start in a process of its own, paying vLLM's import once.

    python server_starts.py '[["LOG", ["--model", ...]], ...]'

vLLM's server module is imported here, then every start is a forked process that runs that module
as `python -m vllm.entrypoints.openai.api_server ARGS` runs it (`runpy`, as `-m` does), with its
output in LOG, and ends as the interpreter ends such a run: an uncaught exception is printed by
`sys.excepthook` and is exit status 1. Prints `{LOG: exit status}` once every start has ended.
For the starts that must fail (tests/vllm/test_serving.py): each would otherwise spend most of its
time importing vLLM.
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import sys

MODULE = "vllm.entrypoints.openai.api_server"


def start(log: str, args: list[str]) -> int:
    """Fork one server start; returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(output, 1)
    os.dup2(output, 2)
    sys.argv = [MODULE, *args]
    sys.modules.pop(MODULE)  # run afresh as __main__, as `-m` runs it; what it imports stays imported
    code = 1
    try:
        runpy.run_module(MODULE, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught exception
        sys.excepthook(*sys.exc_info())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    cases = json.loads(sys.argv[1])
    importlib.import_module(MODULE)
    logs = {start(log, args): log for log, args in cases}
    codes = {}
    while logs:
        pid, status = os.wait()
        codes[logs.pop(pid)] = os.waitstatus_to_exitcode(status)
    print(json.dumps(codes))


if __name__ == "__main__":
    main()
