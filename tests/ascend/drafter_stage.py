"""The drafter stage: the speculative-decoding proposer vllm-ascend's V1 model runner builds at start, and
how that proposer dispatches the draft of every decode batch, with the real code.

The model runner builds its drafter in `__init__` (`_set_up_drafter` -> `_get_drafter` ->
`vllm_ascend.spec_decode.get_spec_decode_method`): the proposer's own `__init__` decides whether it
uses graphs (`use_cuda_graph`) and raises where it cannot start. This stage calls the runner's
`_get_drafter()` itself, before the runner resolves its graph mode, as `__init__` does, and after
the keys are made runs the proposer's own `_propose` for a uniform decode batch of each size until it
has dispatched through the model runner's `CudagraphDispatcher`: the runtime mode and padded size the
dispatcher gave it are what the draft of that batch replays.

Stood in, because they need a device: pinned host memory (`is_pin_memory_available()` answers False,
as on any machine without an accelerator); the attributes the runner's `__init__` sets that the
proposer reads (device, parallel sizes, dtype, ...; set as `__init__` sets them); the input batch's
LoRA table (empty); for EAGLE3 the draft model, whose weights need a device (an instance of the real
class, without weights, whose `combine_hidden_states` passes its input on); and vllm-ascend's NPU
operator that lays out a draft model's extra input slots (`npu_copy_and_expand_eagle_inputs`: its
outputs have the length the caller asks for) with the draft attention group's block size. `_propose`
is stopped right after its second dispatch (the next steps build attention metadata on the device); a
proposer without graphs (`use_cuda_graph` False) does not dispatch at all: its draft runs eagerly.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

NO_DRAFT_MODEL = ("ngram", "ngram_gpu", "suffix")  # host-side drafters: no proposer state to check here


class Dispatched(Exception):
    """Raised by the recording dispatcher once the proposer has its runtime mode: `_propose` stops there."""


def wanted(config: Any) -> bool:
    speculative = config.speculative_config
    return speculative is not None and speculative.method not in NO_DRAFT_MODEL


def build_drafter(runner: Any, config: Any) -> dict[str, Any]:
    """The runner's own `_get_drafter()`, on the attributes its `__init__` would have set; the proposer, or
    the error its start raises."""
    import torch
    from vllm.platforms import current_platform
    from vllm.utils import platform_utils
    from vllm.v1.utils import CpuGpuBuffer

    type(current_platform).is_pin_memory_available = classmethod(lambda cls: False)  # no accelerator here
    platform_utils.is_pin_memory_available.cache_clear()
    for name, module in list(sys.modules.items()):  # newer vLLM keeps the answer in a module constant
        if name.startswith(("vllm.v1.spec_decode", "vllm_ascend.spec_decode")) and getattr(module, "PIN_MEMORY", 0):
            module.PIN_MEMORY = False
    defaults = CpuGpuBuffer.__init__.__kwdefaults__ or {}  # ... and in a default argument taken from it
    if defaults.get("pin_memory"):
        defaults["pin_memory"] = False
    parallel = config.parallel_config
    vars(runner).update({
        "device": torch.device("cpu"), "pin_memory": False, "dtype": config.model_config.dtype,
        "dcp_size": parallel.decode_context_parallel_size, "dcp_rank": 0,
        "pcp_size": getattr(parallel, "prefill_context_parallel_size", 1), "pcp_rank": 0, "dp_size": 1,
        "max_num_tokens": config.scheduler_config.max_num_batched_tokens,
        "use_eagle": config.speculative_config.use_eagle(), "enable_enpu": False,
        "input_batch": SimpleNamespace(lora_id_to_lora_request={}),
    })
    try:
        drafter = runner._get_drafter()
    except Exception as exc:  # noqa: BLE001 - whatever the model runner's start raises, the case expects it or not
        return {"error": f"{type(exc).__name__}: {exc}"}
    runner.drafter = drafter
    return {"drafter": drafter}


def drafter_facts(runner: Any, built: dict[str, Any]) -> dict[str, Any]:
    """What the proposer decided and how it dispatches the draft of each decode batch the scheduler forms:
    [runtime mode, padded tokens, first-pass tokens] per batch of 1 to max_num_seqs requests, or None
    where it ran without dispatching (no graphs)."""
    if "error" in built:
        return {"error": built["error"]}
    drafter = built["drafter"]
    facts = {"proposer": f"{type(drafter).__module__}.{type(drafter).__qualname__}",
             "use_cuda_graph": bool(getattr(drafter, "use_cuda_graph", False)), "decode": []}
    if not hasattr(drafter, "_propose"):
        return facts
    _stand_in_draft_model(drafter)
    if drafter.needs_extra_input_slots:
        _stand_in_expand_operator()
        spec = runner.kv_cache_config.kv_cache_groups[0].kv_cache_spec  # the block size its slots are laid out in
        drafter.draft_attn_groups = [SimpleNamespace(kv_cache_spec=spec)]
    budget = runner.scheduler_config.max_num_batched_tokens
    for requests in range(1, min(runner.max_num_reqs, budget // runner.uniform_decode_query_len) + 1):
        facts["decode"].append(_dispatch(runner, drafter, requests))
    return facts


def _dispatch(runner: Any, drafter: Any, requests: int) -> list[Any] | None:
    """The proposer's `_propose` for a uniform decode batch of `requests`, up to its dispatch."""
    import torch
    from vllm.forward_context import BatchDescriptor
    from vllm_ascend.attention.utils import AscendCommonAttentionMetadata

    query_len = runner.uniform_decode_query_len
    tokens = requests * query_len
    starts = torch.arange(requests + 1, dtype=torch.int32) * query_len
    seq_lens = torch.full((requests,), 4 * query_len, dtype=torch.int32)
    metadata = AscendCommonAttentionMetadata(
        query_start_loc=starts, query_start_loc_cpu=starts.clone(), seq_lens=seq_lens, seq_lens_cpu=seq_lens.clone(),
        num_computed_tokens_cpu=seq_lens - query_len, num_reqs=requests, num_actual_tokens=tokens,
        max_query_len=query_len, max_seq_len=4 * query_len, block_table_tensor=torch.zeros((requests, 8),
                                                                                           dtype=torch.int32),
        slot_mapping=torch.zeros(tokens, dtype=torch.int64))
    calls: list[Any] = []
    dispatcher = runner.cudagraph_dispatcher
    runner.cudagraph_dispatcher = _Recording(dispatcher, calls)
    try:
        drafter._propose(
            **({"num_speculative_tokens": drafter.num_speculative_tokens} if _takes_k(drafter) else {}),
            target_token_ids=torch.zeros(tokens, dtype=torch.int32), target_positions=torch.arange(tokens),
            target_hidden_states=torch.zeros(tokens, _hidden_size(drafter)),
            next_token_ids=torch.zeros(requests, dtype=torch.int32), token_indices_to_sample=None,
            common_attn_metadata=metadata, target_model_batch_desc=BatchDescriptor(num_tokens=tokens, uniform=True),
            sampling_metadata=None)
    except Dispatched:
        pass
    except Exception:
        if drafter.use_cuda_graph:  # past the dispatch only where there is none to stop at
            raise
    finally:
        runner.cudagraph_dispatcher = dispatcher
    if not calls:
        return None
    first, (mode, descriptor) = calls[0][0], calls[-1][1]
    return [mode.name, descriptor.num_tokens, first]


class _Recording:
    """The model runner's dispatcher, recording each `dispatch` of the proposer; the second one stops it."""

    def __init__(self, real: Any, calls: list[Any]):
        self._real, self._calls = real, calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def dispatch(self, num_tokens: int, *args: Any, **kwargs: Any) -> Any:
        result = self._real.dispatch(num_tokens, *args, **kwargs)
        self._calls.append((num_tokens, result))
        if len(self._calls) == 2:
            raise Dispatched
        return result


def _takes_k(drafter: Any) -> bool:
    import inspect

    return "num_speculative_tokens" in inspect.signature(drafter._propose).parameters


def _hidden_size(drafter: Any) -> int:
    """The width of the target's hidden states the proposer takes (EAGLE3: three layers' worth, which the
    stood-in draft model's `combine_hidden_states` passes on as they are)."""
    return drafter.hidden_size


EXPAND = "npu_copy_and_expand_eagle_inputs"


def _stand_in_expand_operator() -> None:
    """vLLM Ascend's NPU operator that lays out a draft model's first pass with its extra input slots, on
    the CPU: the schema its build registers (`csrc/torch_binding.cpp`, read from the 0.23.0.post1 sdist,
    the only tested release that ships its C++ source; the call sites are the same in all three), with
    outputs shaped as its own meta function shapes them (`csrc/torch_binding_meta.cpp`), zero-filled."""
    import re

    import torch
    from real_packages import vllm_ascend_source

    if hasattr(torch.ops._C_ascend, EXPAND):
        return
    binding = (vllm_ascend_source("0.23.0.post1") / "csrc" / "torch_binding.cpp").read_text(encoding="utf-8")
    start = binding.index(f'"{EXPAND}(')
    call = binding[binding.rindex("ops.def(", 0, start):binding.index(");", start)]
    schema = "".join(re.findall(r'"([^"]*)"', call))
    library = torch.library.Library("_C_ascend", "FRAGMENT")
    library.define(schema)

    def expand(target_token_ids, target_positions, next_token_ids, query_start_loc, query_end_loc, padding_token_id,
               parallel_drafting_token_id, num_padding_slots_per_request, shift_input_ids, total_draft_tokens):
        reqs, tokens = query_start_loc.size(0) - 1, target_token_ids.size(0)
        ids = target_token_ids.new_zeros(total_draft_tokens)
        masks = target_token_ids.new_zeros(total_draft_tokens, dtype=torch.int8)
        new_token_indices = target_token_ids.new_zeros(reqs * num_padding_slots_per_request)
        return ids, ids.clone(), masks, masks.clone(), new_token_indices, target_token_ids.new_zeros(tokens)

    library.impl(EXPAND, expand, "CPU")
    _LIBRARIES.append(library)


_LIBRARIES: list[Any] = []


def _stand_in_draft_model(drafter: Any) -> None:
    """EAGLE3 combines the target's hidden states with its draft model before dispatching: an instance of
    the real draft model class, without weights."""
    if drafter.method != "eagle3":
        return
    from vllm.model_executor.models.llama_eagle3 import Eagle3LlamaForCausalLM

    model = Eagle3LlamaForCausalLM.__new__(Eagle3LlamaForCausalLM)
    object.__setattr__(model, "combine_hidden_states", lambda hidden_states: hidden_states)
    drafter.model = model
