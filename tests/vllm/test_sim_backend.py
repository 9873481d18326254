"""The runtime hooks inside a real `LLM`: the example sim backend on the example sim platform.

`examples/sim_backend` is installed with pip (`on_sim_platform.py`); vLLM runs on its platform, vLLM's
CPU platform with static graphs, and the plugin hands every piece of vLLM's piecewise compilation
to `GraphWrapper`, which captures and replays it with the sim backend on the simulated device.
vLLM splits the tiny model at each of its attention layers: a piece before, between and after
them, each wrapped on its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from on_sim_platform import MAX_TOKENS, PLATFORM

DECODE_STEPS = MAX_TOKENS - 1  # the first token of each request comes from its prefill


@pytest.fixture(scope="module")
def pieces(tiny_model) -> int:
    layers = json.loads((Path(tiny_model) / "config.json").read_text())["num_hidden_layers"]
    return layers + 1


def test_vllm_runs_on_the_example_platform_with_the_sim_backend_recorded(sim_platform):
    auto = sim_platform["auto"]
    assert auto["platform"] == PLATFORM
    record = auto["record"]
    assert (record["backend"], record["cudagraph_mode"], record["capture_sizes"]) == ("sim", "PIECEWISE", [1, 2, 4])
    assert record["graphs"] == {"FULL": [], "PIECEWISE": [1, 2, 4]}  # what vLLM's model runner dispatches to
    assert record["overrides"] == []
    assert "cudagraph_mode FULL_AND_PIECEWISE -> PIECEWISE: the sim backend captures the pieces" in " ".join(
        record["notes"])


def test_the_wrapper_captured_each_piece_once_per_batch_size_and_replayed_every_decode_step(sim_platform, pieces):
    """Three requests decode together: 3 tokens, padded to the graph of 4; the prefills (more tokens than
    the largest size) run eagerly. With two sequences at a time, two requests decode in batches of 2,
    then the third alone, in batches of 1: two graphs per piece."""
    auto, two = sim_platform["auto"], sim_platform["two sequences"]
    assert (auto["captures"], auto["replays"]) == (pieces, pieces * DECODE_STEPS)
    assert two["record"]["graphs"] == {"FULL": [], "PIECEWISE": [1, 2]}
    assert (two["captures"], two["replays"]) == (2 * pieces, 2 * pieces * DECODE_STEPS)


def test_vllm_compiled_each_piece_with_the_sim_backends_compile_stage(sim_platform, pieces):
    assert sim_platform["auto"]["compiled"] == pieces
    assert sim_platform["eager"]["compiled"] == 0  # enforce_eager: no compilation


def test_graph_replays_generate_exactly_what_eager_generation_does(sim_platform):
    eager = sim_platform["eager"]
    assert eager["record"]["cudagraph_mode"] == "NONE" and (eager["captures"], eager["replays"]) == (0, 0)
    assert sim_platform["auto"]["tokens"] == eager["tokens"]
    assert sim_platform["two sequences"]["tokens"] == eager["tokens"]
    assert len(eager["tokens"]) == 3 and all(len(tokens) == MAX_TOKENS for tokens in eager["tokens"])


def test_a_backend_without_a_device_leaves_the_pieces_to_the_platforms_own_wrapper(sim_platform):
    """`native` has no device of its own: the platform's wrapper (which captures nothing on this
    platform) and its compiler run; the simulated device is never touched."""
    native = sim_platform["native"]
    assert (native["record"]["backend"], native["record"]["cudagraph_mode"]) == ("native", "FULL_AND_PIECEWISE")
    assert (native["captures"], native["replays"], native["compiled"]) == (0, 0, 0)
    assert native["tokens"] == sim_platform["eager"]["tokens"]
