"""Turn a device's capture failure into a `GraphCaptureError` that says what it means and what to do.

Ascend reports capture failures as `RuntimeError` text; the signatures below are the real messages,
and the 207008 advice follows the troubleshooting section of vLLM Ascend's graph-mode guide
(`docs/source/user_guide/feature_guide/graph_mode.md` in its repository).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import GraphCaptureError, one_line

# What a capture may raise without taking the host down: a device's `RuntimeError`, or any other
# failure of a backend's own capture code (`SystemExit` included); the capture policy decides.
CAPTURE_FAILURES = (Exception, SystemExit)

POLICY_HINT = ("to keep serving without the failed graphs, set additional_config graph_capture_policy "
               "to 'shrink' or 'eager'")


@dataclass(frozen=True)
class Signature:
    """A known capture failure: how to spot it in the device's message, and the advice for it."""

    name: str
    pattern: re.Pattern[str]
    meaning: str
    guidance: str

    def matches(self, message: str) -> bool:
        return self.pattern.search(message) is not None


SIGNATURES = (
    Signature(
        "207008",
        re.compile(r"\b207008\b.*stream resource|stream resources are insufficient|insufficient_stream_resources",
                   re.IGNORECASE | re.DOTALL),
        "the configured graph sizes exceed the stream resources available on this stack (207008)",
        "upgrade to a newer HDK/CANN stack if one is available; reduce cudagraph_capture_sizes or "
        "max_cudagraph_capture_size; prefer FULL or FULL_DECODE_ONLY when the workload is mostly uniform "
        "decode (PIECEWISE and FULL_AND_PIECEWISE capture more graphs); temporarily disable graph mode "
        "(enforce_eager=True) to confirm the issue is capture-related",
    ),
    Signature(
        "alloc-sq-cq",
        re.compile(r"alloc sq cq fail", re.IGNORECASE),
        "the driver could not allocate a submission/completion queue for capture: the HDK/CANN stack is too old",
        "upgrade the Ascend HDK to 25.5.1 or newer with the matching CANN",
    ),
    Signature(
        "107025",
        re.compile(r"\b107025\b|was not joined", re.IGNORECASE),
        "a stream forked during capture was not joined back into the capture stream before capture ended (107025)",
        "make the capture stream wait on every side stream used inside the captured code (record an event "
        "on the side stream and wait for it) before the capture ends",
    ),
    Signature(
        "107030",
        re.compile(r"\b107030\b|capture mode does not support this operation", re.IGNORECASE),
        "an operation the capture mode does not allow ran during capture, such as a synchronous copy or a "
        "host synchronisation (107030)",
        "keep host reads (.item(), .cpu(), .tolist()) and blocking copies out of the captured code; copy "
        "into a static buffer with non_blocking=True instead",
    ),
    Signature(
        "aclop",
        re.compile(r"cannot run aclop operators during npu graph capture", re.IGNORECASE),
        "an operator without an aclnn kernel (an aclop operator) ran during capture; aclop operators cannot be "
        "captured",
        "use a torch_npu/CANN release with an aclnn kernel for that operator, keep the operator out of the "
        "captured region (PIECEWISE splits the graph), or run eagerly (enforce_eager=True)",
    ),
    Signature(
        "no-capture-api",
        re.compile(r"failed to find function aclmdlricapturebegin", re.IGNORECASE),
        "this CANN has no graph-capture API (aclmdlRICaptureBegin): it is too old for ACL graphs",
        "upgrade CANN (and the HDK) to a release that supports ACL graph capture, or run eagerly "
        "(enforce_eager=True)",
    ),
)


def recognise(message: str) -> Signature | None:
    """The known signature in a device error message, or None."""
    return next((s for s in SIGNATURES if s.matches(message)), None)


def capture_error(exc: BaseException, *, size: int, uniform_decode: bool, device: str) -> GraphCaptureError:
    """The `GraphCaptureError` for `exc`, raised while capturing `size` tokens; chain it with `from exc`."""
    message = str(exc)
    batch = f"{size} tokens ({'uniform decode' if uniform_decode else 'mixed'} batch)"
    signature = recognise(message)
    # A device reports as RuntimeError text; anything else is a backend's own error, named by its type.
    first_line = one_line(exc, typed=not isinstance(exc, RuntimeError))
    if signature is None:
        text = (f"graph capture failed for {batch} on {device}: {first_line}. "
                f"Run eagerly (enforce_eager=True) to check the model itself; {POLICY_HINT}.")
    else:
        text = (f"graph capture failed for {batch} on {device}: {signature.meaning}. "
                f"What to do: {signature.guidance}. Alternatively, {POLICY_HINT}. Device error: {first_line}")
    return GraphCaptureError(text, signature=None if signature is None else signature.name, size=size)
