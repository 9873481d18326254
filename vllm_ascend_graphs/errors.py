"""The error types of the project: one per kind of failure a user must act on."""

from __future__ import annotations

from collections.abc import Iterable


class GraphConfigError(ValueError):
    """Bad input or a request that cannot be honoured.

    Every message names what was wrong (the key path and the bad value) and what is allowed,
    so that a user can fix their configuration from the message alone.
    """


class BackendUnavailableError(GraphConfigError):
    """A backend the user asked for cannot serve here and fallback is off."""


class BackendConflictError(RuntimeError):
    """Two plugins registered the same backend name or alias."""


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


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ` did you mean 'x'?` suffix when one of `choices` is close to `word`, else ``""``."""
    import difflib  # only on the error path: it is not free to import
    close = difflib.get_close_matches(str(word).lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    return f" did you mean {close[0]!r}?" if close else ""


def invalid(key: str, value: object, allowed: str, *, choices: Iterable[str] = ()) -> GraphConfigError:
    """Build the standard message: ``key: got <value>; allowed: <allowed>``."""
    hint = did_you_mean(value, choices) if isinstance(value, str) else ""
    return GraphConfigError(f"{key}: got {_show(value)};{hint} allowed: {allowed}")


def _show(value: object) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})" if not isinstance(value, str) else text
