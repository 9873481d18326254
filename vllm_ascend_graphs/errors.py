"""The error types of the project: one per kind of failure a user must act on."""

from __future__ import annotations

from collections.abc import Iterable

SHOWN_CHARACTERS = 80  # the longest repr of an offending value a message shows
REASON_CHARACTERS = 300  # an exception's text in a one-line reason is cut to this
_MAX_DEPTH = 4  # containers nested deeper than this show as "[...]"


class GraphConfigError(ValueError):
    """Bad input or a request that cannot be honoured.

    Every message names what was wrong (the key path and the bad value) and what is allowed,
    so that a user can fix their configuration from the message alone.
    """


class BackendUnavailableError(GraphConfigError):
    """A backend the user asked for cannot serve here and fallback is off."""


class WorkerEnvironmentError(RuntimeError):
    """A vLLM worker's own environment cannot carry the plan the engine recorded (another SoC, no xlite, ...).

    Raised at worker start, before anything is loaded or captured; the message names the host, the
    rank and every difference from what the plan assumed.
    """


class GraphCaptureError(RuntimeError):
    """Capturing a device graph failed.

    The message names the batch size, what the device's error means and what to change; the
    device's own error is chained as `__cause__`. `signature` names the recognised failure
    (e.g. ``"207008"``), or is None when the error was not one we know.
    """

    def __init__(self, message: str, *, signature: str | None = None, size: int | None = None):
        super().__init__(message)
        self.signature = signature
        self.size = size


def one_line(exc: BaseException, *, typed: bool = True) -> str:
    """The first line of an exception's message (`Type: line` when `typed`), bounded, and never failing
    while a reason is being built (a plugin's `__str__` may raise)."""
    try:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    except Exception:  # noqa: BLE001 - the reason must still be built
        lines = []
    if not lines:
        text = type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {lines[0]}" if typed else lines[0]
    return text if len(text) <= REASON_CHARACTERS else text[:REASON_CHARACTERS - 3] + "..."


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ` did you mean 'x'?` suffix when one of `choices` is close to `word`, else ``""``."""
    if not isinstance(word, str) or len(word) > SHOWN_CHARACTERS:
        return ""  # no typo of a name: and difflib's time grows with the length
    import difflib  # only on the error path: it is not free to import
    close = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    return f" did you mean {close[0]!r}?" if close else ""


def invalid(key: str, value: object, allowed: str, *, choices: Iterable[str] = ()) -> GraphConfigError:
    """Build the standard message: ``key: got <value>; allowed: <allowed>``."""
    hint = did_you_mean(value, choices) if isinstance(value, str) else ""
    return GraphConfigError(f"{key}: got {show(value)};{hint} allowed: {allowed}")


def show(value: object) -> str:
    """The offending value for a message: its bounded repr, and its type unless it is a string."""
    text = bounded_repr(value)
    return text if isinstance(value, str) else f"{text} ({type(value).__name__})"


def bounded_repr(value: object, limit: int = SHOWN_CHARACTERS) -> str:
    """`repr(value)` cut to `limit` characters, and never failing while the error is being built.

    A plain `repr()` raises on integers over 4300 digits (`ValueError`) and on containers nested
    about 1000 deep (`RecursionError`), and a third-party object's `__repr__` may raise anything.
    """
    try:
        text = _short_repr(value, limit, depth=0)
    except Exception:  # noqa: BLE001 - whatever the value does, the message must still be built
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _short_repr(value: object, limit: int, depth: int) -> str:
    """repr() of scalars, and of lists, tuples and dicts built item by item up to `limit` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
        digits = int(value.bit_length() * 0.30103) + 1  # log10(2): the number of decimal digits, within one
        return f"<{'negative ' if value < 0 else ''}int of about {digits} digits>"
    if isinstance(value, (list, tuple, dict)):
        if depth >= _MAX_DEPTH:
            return "[...]" if isinstance(value, list) else "(...)" if isinstance(value, tuple) else "{...}"
        return _container_repr(value, limit, depth)
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit - 6]) + "..."  # the quotes stay whole: 'abc'...
    return repr(value)


def _container_repr(value: list | tuple | dict, limit: int, depth: int) -> str:
    brackets = "{}" if isinstance(value, dict) else "()" if isinstance(value, tuple) else "[]"
    items = value.items() if isinstance(value, dict) else value
    parts: list[str] = []
    length = 0
    for item in items:
        if length > limit:
            parts.append("...")
            break
        if isinstance(value, dict):
            key, val = item
            part = f"{_short_repr(key, limit, depth + 1)}: {_short_repr(val, limit, depth + 1)}"
        else:
            part = _short_repr(item, limit, depth + 1)
        parts.append(part)
        length += len(part) + 2
    if isinstance(value, tuple) and len(parts) == 1:
        parts[0] += ","
    return brackets[0] + ", ".join(parts) + brackets[1]
