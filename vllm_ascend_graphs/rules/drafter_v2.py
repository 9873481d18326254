"""The drafter under Model Runner V2: its speculator's draft-prefill and draft-decode graphs (pure).

vLLM's V2 autoregressive speculators (EAGLE, EAGLE3, MTP; vLLM Ascend's `AscendEagleSpeculator` and
`AscendMTPSpeculator`, whose managers its `EagleAclGraphManager` replaces) build two graph managers
once the target's mode is resolved (`init_cudagraph_manager`):

- draft prefill (draft position 0): the target's mode and `1 + K` tokens per request, so the target's
  own keys; it dispatches the target's padded token count, and replays wherever the target does;
- draft decode (positions 1 to K - 1, run only with K >= 2): FULL_DECODE_ONLY where the target's
  decode graphs are FULL, else no graphs (V2 captures no PIECEWISE draft decode), with one token per
  request: FULL graphs only at the sizes up to max_num_seqs (`graph_keys.draft_decode_eager`).

V2 has none of V1's eager rules for the drafter (`speculative_config.enforce_eager`, vLLM Ascend's GLM
rule): the speculator runs in graphs wherever the target does. Other V2 speculators (DFlash, DSpark)
key graphs of their own, which this module does not model.
"""

from __future__ import annotations

from ..enums import CUDAGraphMode
from .drafter import DrafterPlan, DraftGraphs, Proposer, SpeculativeConfig
from .graph_keys import DecodeShape, RuntimeGraphs, draft_decode_eager, eager_decode_batches, runtime_graphs

AUTOREGRESSIVE = ("eagle", "eagle3", "mtp")  # V2's speculators with draft-prefill and draft-decode managers
PREFILL = "draft-prefill"
DECODE = "draft-decode"
V2 = "V2"


def plan_drafter_v2(spec: SpeculativeConfig, proposer: Proposer, mode: CUDAGraphMode, sizes: tuple[int, ...],
                    shape: DecodeShape, *, graphs_on: bool) -> DrafterPlan:
    """Model Runner V2's drafter on the target's resolved `mode` and `sizes` (`shape`: the target's, V2's)."""
    plan = DrafterPlan(spec.method, proposer.name, spec.num_speculative_tokens, model_runner=V2)
    if spec.method not in AUTOREGRESSIVE:
        return plan.replace(notes=(f"drafter: Model Runner V2's {spec.method} speculator keys graphs of its own, "
                                   "which the plan does not model",))
    if not graphs_on:
        return plan.replace(eager="the target runs no graphs, and Model Runner V2's speculator follows its mode")
    prefill = DraftGraphs(PREFILL, runtime_graphs(mode, sizes, shape), shape.query_len,
                          eager_decode_batches(mode, sizes, shape))
    if spec.num_speculative_tokens < 2:
        return plan.replace(phases=(prefill,))
    decode_mode = CUDAGraphMode.FULL_DECODE_ONLY if mode.decode_mode is CUDAGraphMode.FULL else CUDAGraphMode.NONE
    one_token = DecodeShape(shape.max_num_seqs, 0, None, shape.runner)
    if decode_mode is CUDAGraphMode.NONE:
        every = tuple(range(1, shape.max_requests + 1))
        note = (f"drafter: draft-decode steps run eagerly: Model Runner V2 captures them in FULL graphs only, and "
                f"{mode.name}'s decode graphs are not FULL")
        return plan.replace(phases=(prefill, DraftGraphs(DECODE, RuntimeGraphs(), 1, every)), notes=(note,))
    decode = DraftGraphs(DECODE, runtime_graphs(decode_mode, sizes, one_token), 1,
                         draft_decode_eager(mode, sizes, shape._replace(draft_decode=True)))
    return plan.replace(phases=(prefill, decode))
