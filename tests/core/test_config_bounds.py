"""The edges of what `GraphRequest.parse` and the count parsers accept, and vLLM's defaults."""

from __future__ import annotations

import pytest

from vllm_ascend_graphs import GraphConfigError, GraphRequest
from vllm_ascend_graphs.rules.config import MAX_COUNT, count_or_text, parse_count


def test_vllm_defaults():
    request = GraphRequest.parse({})
    assert request.max_num_seqs == 256  # vLLM's scheduler default
    assert (request.enforce_eager, request.compiling) == (False, True)
    assert (request.capture_sizes, request.max_capture_size, request.cudagraph_mode) == (None, None, None)


@pytest.mark.parametrize("policy", ["raise", "shrink", "eager", " EAGER "])
def test_every_capture_policy_is_accepted(policy):
    assert GraphRequest.parse({"graph_capture_policy": policy}).graph_capture_policy == policy.strip().lower()


@pytest.mark.parametrize("name", ["_x", ".x", "-x", "", "x y", "x/y"])
def test_backend_names_start_with_a_letter_or_digit_and_hold_no_other_signs(name):
    with pytest.raises(GraphConfigError):
        GraphRequest.parse({"graph_backend": name})


@pytest.mark.parametrize("name", ["x", "0x", "x_1.2-b"])
def test_backend_names_may_hold_dots_dashes_and_underscores_after_the_first_character(name):
    assert GraphRequest.parse({"graph_backend": name}).graph_backend == name


def test_counts_go_up_to_the_32_bit_limit():
    request = GraphRequest.parse({}, max_num_seqs=MAX_COUNT, max_capture_size=MAX_COUNT, capture_sizes=[1, MAX_COUNT])
    assert request.max_num_seqs == request.max_capture_size == MAX_COUNT == 2**31 - 1
    with pytest.raises(GraphConfigError):
        GraphRequest.parse({}, capture_sizes=[MAX_COUNT + 1])


def test_parse_count_bounds_are_inclusive():
    assert parse_count("--k", "1") == 1  # the default minimum is 1
    assert parse_count("--k", str(MAX_COUNT)) == MAX_COUNT
    assert parse_count("--k", "3", minimum=3, maximum=3) == 3
    for text, bounds in (("0", {}), ("2", {"minimum": 3}), ("4", {"maximum": 3})):
        with pytest.raises(GraphConfigError):
            parse_count("--k", text, **bounds)


def test_count_or_text_reads_up_to_18_digits():
    assert count_or_text(" 123456789012345678 ") == 123456789012345678
    assert count_or_text("1234567890123456789") == "1234567890123456789"
    assert count_or_text("²") == "²"
