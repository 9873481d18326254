"""What vLLM's model runner captures and replays from a list of capture sizes (pure).

At worker start the V1 model runner's `CudagraphDispatcher` turns the sizes into graph keys per
runtime mode: FULL graphs for uniform decode batches of up to `max_num_seqs` requests, PIECEWISE (or
FULL, in mode FULL) graphs for every size; a batch replays the graph of the smallest size that holds
it, and above the largest size it runs eagerly. Model Runner V2 keys its graphs in its
`CudaGraphManager` instead, by rules of its own that changed in vLLM 0.25 (`ModelRunner`).
`capture_plan` chooses the sizes by these rules.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import NamedTuple

from ..enums import CUDAGraphMode


class ModelRunner(enum.Enum):
    """Which of vLLM's model runners turns the capture sizes into graphs in the worker, and how."""

    V1 = "V1"  # `CudagraphDispatcher`; sizes rounded to multiples of 1 + K with FULL decode graphs
    # Model Runner V2 on vLLM 0.23 and 0.24: its `CudaGraphManager.__init__` rounds the sizes in every mode.
    V2_ROUNDING_SIZES = "V2 (vLLM 0.23-0.24)"
    # From vLLM 0.25 the sizes are kept; `_init_candidates` rounds each size up to a multiple of 1 + K for
    # its FULL decode graphs, up to max_num_seqs x (1 + K) and the largest size.
    V2 = "V2"


class DecodeShape(NamedTuple):
    """What bounds a uniform decode batch (requests, tokens per request, tokens per step), and the model
    runner that keys its graphs."""

    max_num_seqs: int = 256
    spec_tokens: int = 0
    max_num_batched_tokens: int | None = None  # None: not known here, so not a limit
    runner: ModelRunner = ModelRunner.V1
    # Model Runner V2's speculator keys draft-decode graphs too (a drafter with 2 or more tokens):
    # FULL graphs of one token per request, up to max_num_seqs (draft_decode_eager).
    draft_decode: bool = False
    # Tokens per request of a drafter that dispatches on the target's keys with more tokens than the
    # target's decode step (vLLM's draft models add an input slot): its largest first pass needs a graph too.
    draft_tokens_per_request: int | None = None

    @property
    def query_len(self) -> int:
        """Tokens per request in a decode step: one, plus the speculative tokens to verify."""
        return 1 + self.spec_tokens

    @property
    def max_requests(self) -> int:
        """The most requests one decode step can hold (the scheduler's token budget may cap it)."""
        if self.max_num_batched_tokens is None:
            return self.max_num_seqs
        return max(1, min(self.max_num_seqs, self.max_num_batched_tokens // self.query_len))

    @property
    def ceiling(self) -> int:
        """The token count of the largest decode batch: the one capture size that covers them all."""
        return self.max_requests * self.query_len


class RuntimeGraphs(NamedTuple):
    """The token counts the model runner captures a graph for, per runtime mode."""

    full: tuple[int, ...] = ()
    piecewise: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, list[int]]:
        return {"FULL": list(self.full), "PIECEWISE": list(self.piecewise)}


def runtime_graphs(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape) -> RuntimeGraphs:
    """What the dispatcher captures: FULL graphs for uniform decode (mode FULL: for every size),
    PIECEWISE graphs for every size when mixed batches run piecewise."""
    if mode is CUDAGraphMode.NONE:
        return RuntimeGraphs()
    mixed = sizes if mode.mixed_mode is not CUDAGraphMode.NONE else ()
    if mode is CUDAGraphMode.FULL:
        return RuntimeGraphs(full=mixed)
    decode: tuple[int, ...] = ()
    if mode.decode_mode is CUDAGraphMode.FULL:
        top = shape.max_num_seqs * shape.query_len
        if shape.runner is ModelRunner.V2:  # each size rounded up, within the largest size too
            rounded = {round_up(s, shape.query_len) for s in sizes}
            decode = tuple(sorted(s for s in rounded if s <= min(top, sizes[-1])))
        else:
            decode = tuple(s for s in sizes if shape.query_len <= s <= top)
    return RuntimeGraphs(full=decode, piecewise=mixed)


def dispatch_decode(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape,
                    requests: int) -> tuple[CUDAGraphMode, int]:
    """The runtime mode and padded token count the dispatcher gives a uniform decode batch of `requests`
    requests: the smallest size that holds it, replayed as a FULL graph where one exists, else
    PIECEWISE; no size or no graph: eager (NONE)."""
    return dispatch_uniform(mode, sizes, shape, requests * shape.query_len)


def dispatch_uniform(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape,
                     tokens: int) -> tuple[CUDAGraphMode, int]:
    """`dispatch_decode` for any token count flagged uniform decode (a drafter's first pass): above the
    uniform decode keys (`max_num_seqs x (1 + K)` tokens) only a mixed graph holds it."""
    if mode is CUDAGraphMode.NONE or not sizes or tokens > sizes[-1]:
        return CUDAGraphMode.NONE, tokens
    graphs = runtime_graphs(mode, sizes, shape)
    if shape.runner is not ModelRunner.V1:  # V2 pads to the smallest graph that holds the batch
        sizes = tuple(sorted({*graphs.full, *graphs.piecewise}))
        if not sizes or tokens > sizes[-1]:
            return CUDAGraphMode.NONE, tokens
    padded = next(size for size in sizes if size >= tokens)
    if padded in graphs.full:
        return CUDAGraphMode.FULL, padded
    if padded in graphs.piecewise:
        return CUDAGraphMode.PIECEWISE, padded
    return CUDAGraphMode.NONE, tokens


def eager_decode_batches(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape) -> tuple[int, ...]:
    """The decode batch sizes (in requests) that replay no graph although the mode has graphs: those
    that pad to a size without a graph, and those above the largest size. (`dispatch_decode` for
    every batch size gives the same, one size at a time; this walks the sizes, for the selector's
    hot path.)"""
    if mode is CUDAGraphMode.NONE:
        return ()
    graphs = runtime_graphs(mode, sizes, shape)
    replayed, query_len = {*graphs.full, *graphs.piecewise}, shape.query_len
    if shape.runner is not ModelRunner.V1:  # V2 pads to the smallest graph that holds the batch
        sizes = tuple(sorted(replayed))
    eager: list[int] = []
    low = 0
    for size in sizes:  # batches of low < tokens <= size pad to size
        if size not in replayed:
            eager.extend(range(low // query_len + 1, size // query_len + 1))
        low = size
    eager.extend(range(low // query_len + 1, shape.max_requests + 1))
    return tuple(n for n in eager if n <= shape.max_requests)


def draft_decode_eager(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape) -> tuple[int, ...]:
    """The decode batches (requests) whose draft-decode steps replay no graph under Model Runner V2: its
    speculator's draft-decode manager keys FULL_DECODE_ONLY graphs with one token per request (where the
    target's decode graphs are FULL; none otherwise), so only at sizes up to max_num_seqs."""
    if not shape.draft_decode or shape.runner is ModelRunner.V1 or mode.decode_mode is not CUDAGraphMode.FULL:
        return ()
    one_token = DecodeShape(shape.max_num_seqs, 0, None, shape.runner)
    eager = eager_decode_batches(CUDAGraphMode.FULL_DECODE_ONLY, sizes, one_token)
    return tuple(b for b in eager if b <= shape.max_requests)


def eager_draft_batches(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape) -> tuple[int, ...]:
    """The decode batches (requests) whose drafter first pass (`shape.draft_tokens_per_request` tokens per
    request) replays no graph although the mode has graphs."""
    per_request = shape.draft_tokens_per_request
    if not per_request or mode is CUDAGraphMode.NONE:
        return ()
    return tuple(b for b in range(1, shape.max_requests + 1)
                 if dispatch_uniform(mode, sizes, shape, b * per_request)[0] is CUDAGraphMode.NONE)


def round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def spans(batches: tuple[int, ...]) -> str:
    """Request counts as ranges: "9-12", "3", "5-7, 9"."""
    def span(first: int, last: int) -> str:
        return str(first) if first == last else f"{first}-{last}"

    parts = []
    start = previous = batches[0]
    for current in batches[1:]:
        if current != previous + 1:
            parts.append(span(start, previous))
            start = current
        previous = current
    parts.append(span(start, previous))
    return ", ".join(parts)


def show_sizes(sizes: Sequence[int], *, whole_up_to: int = 6) -> str:
    """Sizes for a message or `explain`: the whole list when short, else the count, the first three and the
    largest (every list of sizes the package prints goes through here, so all read alike)."""
    if len(sizes) > whole_up_to:
        return f"{len(sizes)} sizes [{', '.join(map(str, sizes[:3]))}, ..., {sizes[-1]}]"
    return str(list(sizes))
