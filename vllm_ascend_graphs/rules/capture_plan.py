"""Which batch sizes get graphs (pure): the list of capture sizes the platform's pass leaves in
`compilation_config`.

The model runner decides at worker start what is captured from it (`graph_keys`): vLLM rounds the
sizes to multiples of the decode query length (1 + speculative tokens) when decode graphs are FULL,
and a decode batch replays the graph of the smallest size that holds it; above the largest size it
runs eagerly. Model Runner V2 keys its graphs by rules of its own (`graph_keys.ModelRunner`).

vLLM Ascend's grid stops at the largest default size that fits `max_num_seqs x (1 + K)`, so with
an off-grid `max_num_seqs` (12: sizes 1, 2, 4, 8) the largest decode batches (9 to 12 requests)
run eagerly, 7.6 times slower on a 910B2 (vllm-ascend issue #16049). This plan adds the exact
ceiling whenever decode graphs are on: the one size every full decode batch needs. Padding above
the ceiling would not help, since a uniform decode batch never has more tokens than it. Where a
drafter has steps of its own that need graphs (a draft model's longer first pass on V1, V2's
draft-decode steps), the plan adds the size that covers them too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from ..enums import CUDAGraphMode
from ..errors import GraphConfigError
from .graph_keys import (
    DecodeShape,
    ModelRunner,
    draft_decode_eager,
    eager_decode_batches,
    eager_draft_batches,
    round_up,
    show_sizes,
    spans,
)

MAX_DEFAULT_CAPTURE_SIZE = 512
REDUCED_CAPTURE_SIZE_COUNT = 4  # Ascend 950 with piecewise graphs, until a newer driver lifts it


class CapturePlan(NamedTuple):
    """The capture sizes to write into vLLM's config, and a note for every adjustment."""

    sizes: tuple[int, ...]
    notes: tuple[str, ...] = ()


def default_capture_sizes(max_size: int) -> tuple[int, ...]:
    """vLLM's default list: 1, 2, 4, multiples of 8 below 256, then multiples of 16."""
    sizes = [1, 2, 4, *range(8, 256, 8), *range(256, max_size + 1, 16)]
    return tuple(s for s in sizes if s <= max_size)


def vllm_ascend_sizes(shape: DecodeShape, *, sizes: tuple[int, ...] | None = None,
                      max_size: int | None = None) -> tuple[int, ...]:
    """The list vLLM Ascend's platform pass leaves, from the user's sizes or its default grid.

    Its default largest size is `min(max_num_seqs x (1 + K), 512)` (vLLM's CUDA default doubles it);
    vLLM then drops sizes above the scheduler's token budget, and captures that budget itself
    when it falls inside the grid.
    """
    budget = shape.max_num_batched_tokens
    if sizes:
        return tuple(sorted({s for s in sizes if budget is None or s <= budget}))
    limit = max_size or min(shape.max_num_seqs * shape.query_len, MAX_DEFAULT_CAPTURE_SIZE)
    if budget is not None:
        limit = min(limit, budget)
    grid = set(default_capture_sizes(limit))
    if budget is not None and budget <= limit:
        grid.add(budget)
    return tuple(sorted(grid))


def round_for_decode(sizes: tuple[int, ...], multiple: int) -> tuple[int, ...]:
    """vLLM's worker rule for FULL decode graphs with speculative decoding: every size rounded up to
    a multiple of the decode query length, none above the largest size (or that multiple alone)."""
    if not sizes:
        return sizes
    rounded = sorted({round_up(s, multiple) for s in sizes if round_up(s, multiple) <= sizes[-1]})
    return tuple(rounded or ([multiple] if multiple <= sizes[-1] else []))


class TpAlignment(NamedTuple):
    """vLLM Ascend keeps only capture sizes that are multiples of TP (sequence parallelism and kin)."""

    tp: int
    by: str  # the setting that turns it on, e.g. "additional_config.enable_flashcomm1"


def plan_capture_sizes(
    mode: CUDAGraphMode,
    shape: DecodeShape,
    *,
    sizes: tuple[int, ...] | None = None,
    max_size: int | None = None,
    soc: str | None = None,
    aligned: TpAlignment | None = None,
) -> CapturePlan:
    """The sizes to capture, ascending: vLLM Ascend's list as its platform prunes it and the worker
    rounds it, plus the decode ceiling where the user set neither sizes nor a largest size."""
    if mode is CUDAGraphMode.NONE:
        return CapturePlan(())
    given = "cudagraph_capture_sizes" if sizes else ("max_cudagraph_capture_size" if max_size is not None else None)
    what = list(sizes) if sizes else max_size
    notes: list[str] = []
    chosen = vllm_ascend_sizes(shape, sizes=sizes, max_size=max_size)
    if not chosen:
        raise GraphConfigError(
            f"compilation_config.cudagraph_capture_sizes: got {what}, none of which fits the "
            f"{shape.max_num_batched_tokens} tokens of max_num_batched_tokens; allowed: at least one size up to it"
        )
    step = 1  # every size must be a multiple of it
    if aligned is not None:
        step = aligned.tp
        chosen = _changed(chosen, tuple(s for s in chosen if s % step == 0), notes,
                          f"vLLM Ascend keeps multiples of tensor_parallel_size {step} with {aligned.by}")
        if not chosen and given:
            raise GraphConfigError(
                f"compilation_config.{given}: got {what}, no multiple of tensor_parallel_size {step}, which "
                f"{aligned.by} requires; allowed: sizes that are multiples of {step}"
            )
    speculative = _tokens(shape.spec_tokens, "speculative token")
    if _rounds_sizes(mode, shape):
        step = _decode_multiple(shape, aligned)
        v1 = shape.runner is ModelRunner.V1
        why = (f"FULL decode graphs with {speculative} take multiples of {step} (vLLM's model runner rounds them)"
               if v1 else f"Model Runner V2 with {speculative} takes multiples of {step} (its CudaGraphManager "
               "rounds them)")
        chosen = _changed(chosen, round_for_decode(chosen, step), notes, why)
        if not chosen and given:
            needs = "vLLM's FULL decode graphs need" if v1 else "Model Runner V2 needs"
            raise GraphConfigError(
                f"compilation_config.{given}: got {what}, all below {step}, the tokens of one decode step with "
                f"{speculative}; allowed: a size of at least {step} ({needs} one)"
            )
    elif _rounds_decode_graphs(mode, shape):
        step = math.lcm(step, shape.query_len)  # the covering size must be its own FULL decode graph
    cover = _covering_size(mode, chosen, shape, step)
    draft_step = math.lcm(aligned.tp if aligned else 1,
                          shape.query_len if shape.runner is ModelRunner.V2_ROUNDING_SIZES else 1)
    if not given:
        chosen = _with_cover(mode, chosen, shape, cover, step, notes)
        chosen = _with_draft_cover(mode, chosen, shape, step, notes)
        chosen = _with_draft_decode_cover(mode, chosen, shape, draft_step, notes)
    if soc == "950" and mode.needs_piecewise_compilation and len(chosen) > REDUCED_CAPTURE_SIZE_COUNT:
        reduced = _spread(chosen, REDUCED_CAPTURE_SIZE_COUNT)
        notes.append(f"capture sizes {len(chosen)} -> {len(reduced)} {list(reduced)}: Ascend 950 drivers support "
                     f"only {REDUCED_CAPTURE_SIZE_COUNT} piecewise capture sizes for now")
        chosen = reduced
    eager = eager_decode_batches(mode, chosen, shape)
    if eager:
        why = f"{given} was given; {cover} would cover them" if given else _uncoverable(shape, step)
        notes.append(f"decode batches of {spans(eager)} requests run eagerly: no capture size holds them ({why})")
    draft_eager = draft_decode_eager(mode, chosen, shape)
    if draft_eager:
        why = f"{given} was given" if given else f"sizes must be multiples of {draft_step}"
        notes.append(f"draft-decode steps of {spans(draft_eager)} requests run eagerly: Model Runner V2's draft-decode "
                     f"graphs hold one token per request at sizes up to max_num_seqs {shape.max_num_seqs} ({why})")
    return CapturePlan(chosen, tuple(notes))


def _with_draft_decode_cover(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape, step: int,
                             notes: list[str]) -> tuple[int, ...]:
    """`sizes` plus the largest draft-decode step (a multiple of `step`) where Model Runner V2's draft-decode
    graphs would otherwise leave draft-decode steps eager: the target's ceiling is above max_num_seqs."""
    cover = shape.max_requests // step * step
    if cover < 1 or not draft_decode_eager(mode, sizes, shape):
        return sizes
    return _adding(cover, sizes, lambda chosen: draft_decode_eager(mode, chosen, shape), notes, "draft-decode steps",
                   f"Model Runner V2 keys them at one token per request, up to max_num_seqs {shape.max_num_seqs}")


def _rounds_sizes(mode: CUDAGraphMode, shape: DecodeShape) -> bool:
    """Whether the worker rounds the capture sizes to multiples of the decode query length."""
    if shape.query_len == 1 or shape.runner is ModelRunner.V2:
        return False
    return shape.runner is ModelRunner.V2_ROUNDING_SIZES or mode.decode_mode is CUDAGraphMode.FULL


def _rounds_decode_graphs(mode: CUDAGraphMode, shape: DecodeShape) -> bool:
    """Whether Model Runner V2 (vLLM 0.25 on) rounds its FULL decode graphs up to multiples of 1 + K."""
    return shape.runner is ModelRunner.V2 and mode.separate_decode_routine and shape.query_len > 1


def _changed(before: tuple[int, ...], after: tuple[int, ...], notes: list[str], why: str) -> tuple[int, ...]:
    """`after`, with a note saying why when it differs from `before`."""
    if after != before:
        notes.append(f"capture sizes {show_sizes(before)} -> {show_sizes(after)}: {why}")
    return after


def _with_cover(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape, cover: int, step: int,
                notes: list[str]) -> tuple[int, ...]:
    """`sizes` plus `cover` where that saves decode batches from running eagerly, with a note naming them."""
    rounded = "" if cover == shape.ceiling else f", as a multiple of {step}"
    return _adding(cover, sizes, lambda chosen: eager_decode_batches(mode, chosen, shape), notes, "decode batches",
                   f"max_num_seqs {shape.max_num_seqs} x {shape.query_len} tokens{rounded}")


def _with_draft_cover(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape, step: int,
                      notes: list[str]) -> tuple[int, ...]:
    """`sizes` plus the drafter's ceiling (a multiple of `step` within the token budget) where that lets
    the drafter's first pass of the largest decode batches replay a graph (a mixed one: the uniform
    decode keys stop at the target's ceiling)."""
    per_request = shape.draft_tokens_per_request
    if not per_request or mode is CUDAGraphMode.NONE:
        return sizes
    cover = round_up(shape.max_requests * per_request, step)
    if shape.max_num_batched_tokens is not None and cover > shape.max_num_batched_tokens:
        return sizes
    return _adding(cover, sizes, lambda chosen: eager_draft_batches(mode, chosen, shape), notes,
                   "the drafter's first pass of decode batches",
                   f"max_num_seqs {shape.max_num_seqs} x {per_request} tokens")


def _adding(cover: int, sizes: tuple[int, ...], eager_with: Callable[[tuple[int, ...]], tuple[int, ...]],
            notes: list[str], what: str, why: str) -> tuple[int, ...]:
    """`sizes` plus `cover` where that leaves fewer batches eager (`eager_with(sizes)`), with a note naming
    the batches it saves; else `sizes`."""
    covered = tuple(sorted({*sizes, cover}))
    saved = sorted(set(eager_with(sizes)) - set(eager_with(covered)))
    if not saved:
        return sizes
    notes.append(f"adds {cover}: {what} of {spans(tuple(saved))} requests would otherwise run eagerly ({why})")
    return covered


def _uncoverable(shape: DecodeShape, step: int) -> str:
    """Why no size of the plan's own covers the largest decode batches: the multiple every size must be,
    and what stops the one above the ceiling."""
    limits = [f"sizes must be multiples of {step}"]
    if shape.max_num_batched_tokens is not None and round_up(shape.ceiling, step) > shape.max_num_batched_tokens:
        limits.append(f"max_num_batched_tokens is {shape.max_num_batched_tokens}")
    else:
        limits.append(f"FULL decode graphs hold at most {shape.max_num_seqs * shape.query_len} tokens")
    return ", and ".join(limits)


def _decode_multiple(shape: DecodeShape, aligned: TpAlignment | None) -> int:
    """What vLLM rounds FULL decode sizes to: the decode query length, or with sequence parallelism the
    larger of it and TP, which must then be a multiple of both."""
    if aligned is None:
        return shape.query_len
    multiple = max(shape.query_len, aligned.tp)
    if multiple % shape.query_len or multiple % aligned.tp:
        raise GraphConfigError(
            f"speculative_config.num_speculative_tokens: got {shape.spec_tokens}, but FULL decode graphs need sizes "
            f"that are multiples of both {shape.query_len} (1 + num_speculative_tokens) and tensor_parallel_size "
            f"{aligned.tp} ({aligned.by}); allowed: num_speculative_tokens + 1 dividing {aligned.tp} or a multiple "
            f"of it, or {aligned.by} off"
        )
    return multiple


def _covering_size(mode: CUDAGraphMode, sizes: tuple[int, ...], shape: DecodeShape, step: int) -> int:
    """The one size, a multiple of `step` within the token budget, that leaves the fewest decode batches
    eager: the ceiling rounded up to `step`, or, where FULL decode graphs stop below that, rounded down."""
    budget = shape.max_num_batched_tokens
    candidates = {round_up(shape.ceiling, step), max(step, shape.ceiling // step * step)}
    fitting = sorted(c for c in candidates if budget is None or c <= budget) or [step]  # (the budget is below step)
    return min(fitting, key=lambda c: (len(eager_decode_batches(mode, tuple(sorted({*sizes, c})), shape)), c))


def _spread(sizes: tuple[int, ...], count: int) -> tuple[int, ...]:
    """`count` sizes spread evenly over `sizes`, keeping the smallest and the largest."""
    step = (len(sizes) - 1) / (count - 1)
    return tuple(sizes[round(i * step)] for i in range(count))


def _tokens(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
