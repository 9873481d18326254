"""`vllm-ascend-graphs check`: does graph replay match eager here?

Captures the built-in reference decoder (RMSNorm, attention over a static KV buffer, MLP) at the
capture sizes and compares replay with eager at every capture size, at sizes in between (padded)
and above the largest (eager), in ascending then descending order so that stale state between
sizes shows. Prints one row per size; exits 1 on a mismatch. Importing this module imports no torch.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ..errors import GraphCaptureError, GraphConfigError, invalid
from ..runtime.devices import DEVICES

DEFAULT_SIZES = (1, 2, 4, 8, 16)
MAX_SIZE = 8192  # the reference decoder's buffers grow with the size; larger ones only cost memory here
TOLERANCE = 1e-3  # largest difference allowed, relative to the largest eager output
TORCH_DEVICES = {"sim": "cpu", "cuda": "cuda", "npu": "npu"}


class Row(NamedTuple):
    """The comparison for one batch size, over every call made at that size."""

    tokens: int
    path: str
    max_abs: float
    max_rel: float

    @property
    def ok(self) -> bool:
        return self.max_rel <= TOLERANCE  # False for NaN too


def run_check(args: argparse.Namespace, additional_config: Mapping[str, Any]) -> int:
    """The `check` command, after the CLI has parsed `--additional-config`."""
    sizes = parse_sizes(args.sizes) if args.sizes else DEFAULT_SIZES
    device = args.device or default_device()
    try:
        header, rows = check(backend=args.backend, device=device, sizes=sizes, additional_config=additional_config)
    except GraphCaptureError as exc:
        print(f"vllm-ascend-graphs check: {exc}")
        return 1
    print(render(header, rows))
    return 0 if all(row.ok for row in rows) else 1


def parse_sizes(parts: Iterable[str]) -> tuple[int, ...]:
    from ..rules.config import parse_count

    parts = list(parts)
    tokens = [token for part in parts for token in part.split(",") if token.strip()]
    allowed = f"positive integers up to {MAX_SIZE}, space- or comma-separated"
    if not tokens:
        raise invalid("--sizes", " ".join(parts), allowed)
    try:
        return tuple(parse_count("--sizes", token, maximum=MAX_SIZE) for token in tokens)
    except GraphConfigError:
        raise invalid("--sizes", " ".join(parts), allowed) from None


def default_device() -> str:
    from ..probes.environment import probe_environment

    found = probe_environment().device
    return found if found in DEVICES else "sim"


def probe_sizes(sizes: Sequence[int]) -> list[int]:
    """Every capture size, one size inside each gap between them, and one above the largest."""
    ordered = sorted(set(sizes))
    between = [(low + high) // 2 for low, high in itertools.pairwise(ordered) if high - low > 1]
    return sorted({*ordered, *between, ordered[-1] + 1})


def check(*, backend: str | None = None, device: str = "sim", sizes: Sequence[int] = DEFAULT_SIZES,
          additional_config: Mapping[str, Any] | None = None) -> tuple[str, list[Row]]:
    """Capture the reference decoder and compare; returns a header line and one row per size."""
    import torch

    from ..runtime.devices import get_device
    from ..runtime.reference_decoder import ReferenceDecoder
    from .standalone import capture

    if device not in TORCH_DEVICES:
        raise GraphConfigError(f"--device: got {device!r}; allowed: {', '.join(DEVICES)}")
    get_device(device)  # an absent device is a one-line error before any tensor is moved there
    decoder = ReferenceDecoder().to(TORCH_DEVICES[device])
    runner = capture(decoder, decoder.inputs(2, seed=0), sizes, backend=backend, device=device,
                     additional_config=additional_config)
    tokens = probe_sizes(sizes)
    worst: dict[int, tuple[float, float]] = {}
    with torch.no_grad():
        for call, n in enumerate([*tokens, *reversed(tokens)]):
            inputs = decoder.inputs(n, seed=call + 1)
            expected, got = decoder(*inputs), runner(*inputs)
            max_abs = (got - expected).abs().max().item()
            max_rel = max_abs / max(expected.abs().max().item(), 1e-12)
            previous = worst.get(n, (0.0, 0.0))
            worst[n] = (max(previous[0], max_abs, key=_nan_first), max(previous[1], max_rel, key=_nan_first))
    rows = [Row(n, _path(runner.padded_size(n), n), *worst[n]) for n in tokens]
    captured = sorted(size for size, _ in runner.captured)
    requested = backend or (additional_config or {}).get("graph_backend", "auto")
    header = (f"check: backend {requested}, device {device}, mode {runner.mode.name}, "
              f"graphs at {captured or 'no sizes (every batch runs eagerly)'}; tolerance {TOLERANCE:g} (relative)")
    return header, rows


def render(header: str, rows: Sequence[Row]) -> str:
    lines = [header, "", f"{'tokens':>6}  {'path':<25}  {'max abs diff':>12}  {'max rel diff':>12}  result"]
    for row in rows:
        result = "ok" if row.ok else "MISMATCH"
        lines.append(f"{row.tokens:>6}  {row.path:<25}  {row.max_abs:>12.3e}  {row.max_rel:>12.3e}  {result}")
    failed = sum(not row.ok for row in rows)
    lines += ["", f"{len(rows) - failed} of {len(rows)} sizes match" + (f"; {failed} MISMATCH" if failed else "")]
    return "\n".join(lines)


def _path(padded: int | None, tokens: int) -> str:
    if padded is None:
        return "eager"
    return f"graph {padded}" + (f" (padded from {tokens})" if padded != tokens else "")


def _nan_first(value: float) -> float:
    """Order for max(): NaN is the worst difference of all."""
    return float("inf") if value != value else value
