"""The labels of `vllm:graph_backend_info` for plans with graphs (the CPU server's plan has none:
tests/vllm/test_serving.py reads that one from a real server's /metrics)."""

from __future__ import annotations

from vllm_ascend_graphs.integrations.vllm.metrics import info_labels
from vllm_ascend_graphs.rules.graph_keys import DecodeShape


def record(mode: str, sizes: list[int], graphs: dict[str, list[int]], **extra) -> dict:
    return {"backend": "aclgraph", "cudagraph_mode": mode, "npugraph_ex": True, "static_kernel": False,
            "capture_sizes": sizes, "graphs": graphs, **extra}


def test_graphs_per_runtime_mode_and_the_decode_batches_left_eager():
    # vLLM Ascend's grid for max_num_seqs 12 as the user gave it: decode batches of 9 to 12 requests replay no graph
    labels = info_labels(record("FULL_DECODE_ONLY", [1, 2, 4, 8], {"FULL": [1, 2, 4, 8], "PIECEWISE": []},
                                requested="aclgraph"), "qwen", DecodeShape(max_num_seqs=12))
    assert labels == {"model_name": "qwen", "backend": "aclgraph", "requested": "aclgraph",
                      "cudagraph_mode": "FULL_DECODE_ONLY", "npugraph_ex": "true", "static_kernel": "false",
                      "full_graphs": "1,2,4,8", "piecewise_graphs": "none", "eager_decode_batches": "9-12"}


def test_every_decode_batch_replays_a_graph_and_auto_is_the_default_request():
    labels = info_labels(record("FULL_AND_PIECEWISE", [1, 2, 4, 8, 12], {"FULL": [1, 2, 4, 8, 12],
                                                                          "PIECEWISE": [1, 2, 4, 8, 12]}),
                         "qwen", DecodeShape(max_num_seqs=12))
    assert (labels["requested"], labels["full_graphs"], labels["piecewise_graphs"], labels["eager_decode_batches"]) == (
        "auto", "1,2,4,8,12", "1,2,4,8,12", "none")


def test_mode_none_runs_every_decode_batch_eagerly_within_the_token_budget():
    labels = info_labels(record("NONE", [], {"FULL": [], "PIECEWISE": []}), "m",
                         DecodeShape(max_num_seqs=256, spec_tokens=1, max_num_batched_tokens=100))
    assert labels["eager_decode_batches"] == "1-50"  # 100 tokens hold 50 requests of 2 tokens each
