"""Running plugin code so that its failure is the plugin's alone.

Everything a plugin provides runs through here: its import, its hooks, and its backends' probe,
plan and validate_options. An exception, `SystemExit` included, becomes a one-line reason
instead of ending the host; what the code prints goes to stderr, so that machine-read stdout
(`--json`) stays clean; and a third-party probe that does not answer within the probe deadline
counts as a refusal while the host goes on.
"""

from __future__ import annotations

import _thread  # its lock is threading.Lock; `threading` itself is imported only to start a probe thread
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import GraphConfigError, show

if TYPE_CHECKING:
    import logging
    import threading

PLUGIN_ERRORS = (Exception, SystemExit)  # what plugin code may raise without taking the host down
PROBE_TIMEOUT_VAR = "ASCEND_GRAPHS_PROBE_TIMEOUT"
DEFAULT_PROBE_TIMEOUT = 5.0  # seconds

T = TypeVar("T")


class PluginError(Exception):
    """Plugin code failed; the message is the one-line reason, naming the plugin."""


def logger() -> logging.Logger:
    """The package's logger, with `logging` imported only when something is logged."""
    import logging

    return logging.getLogger("vllm_ascend_graphs")


@contextlib.contextmanager
def output_to_stderr() -> Iterator[None]:
    """What plugin code prints goes to stderr, where it cannot corrupt `--json` on stdout."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def probe_timeout() -> float:
    """The probe deadline in seconds: `ASCEND_GRAPHS_PROBE_TIMEOUT`, else 5."""
    text = os.environ.get(PROBE_TIMEOUT_VAR, "").strip()
    if not text:
        return DEFAULT_PROBE_TIMEOUT
    try:
        seconds = float(text) if len(text) < 32 else float("nan")
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):  # also False for NaN
        raise GraphConfigError(f"{PROBE_TIMEOUT_VAR}: got {show(text)}; allowed: a positive number of seconds, "
                               f"such as {DEFAULT_PROBE_TIMEOUT:g}")
    return seconds


class Deadlines:
    """Runs calls on a thread of their own and waits for each at most a deadline.

    A call still running past its deadline is remembered by its key: until it returns, another
    call with that key fails at once instead of waiting out a second deadline.
    """

    def __init__(self) -> None:
        self._late: dict[object, tuple[threading.Thread, float]] = {}
        self._lock = _thread.allocate_lock()

    def call(self, key: object, fn: Callable[[], T], seconds: float) -> T:
        """`fn()`, or `TimeoutError` when it has not returned within `seconds`; its exception is re-raised."""
        with self._lock:
            late = self._late.get(key)
            if late is not None:
                if late[0].is_alive():
                    raise TimeoutError(f"its earlier call has not returned after {time.monotonic() - late[1]:.0f} s")
                del self._late[key]
        outcome: list[tuple[bool, Any]] = []

        def run() -> None:
            try:
                outcome.append((True, fn()))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as it is
                outcome.append((False, exc))

        import threading

        thread = threading.Thread(target=run, name="vllm-ascend-graphs-probe", daemon=True)
        started = time.monotonic()
        thread.start()
        thread.join(seconds)
        if not outcome:
            with self._lock:
                self._late[key] = (thread, started)
            raise TimeoutError(f"it did not answer within {seconds:g} s")
        returned, value = outcome[0]
        if returned:
            return value
        raise value


def current_traceback() -> str:
    """The traceback being handled, formatted; `traceback` is imported only when something failed."""
    import traceback

    return traceback.format_exc()
