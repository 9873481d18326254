"""Step aside on what is not ours: where the plugin cannot read a value of vLLM's own config, it leaves the
config untouched, says so in one WARNING naming the field and the value, and the platform's pass runs as
if the plugin were absent (the record says so). What the user wrote stays strictly checked."""

from __future__ import annotations

import logging
import pickle
from unittest.mock import MagicMock

import pytest

from vllm_ascend_graphs import GraphConfigError
from vllm_ascend_graphs.integrations.vllm import adapter, decision, patching

UNREADABLE = [
    ("compilation_config", "mode", 9, "compilation_config.mode: got 9 (int); allowed: STOCK_TORCH_COMPILE, "
                                      "DYNAMO_TRACE_ONCE"),
    ("compilation_config", "max_cudagraph_capture_size", 3.5, "compilation_config.max_cudagraph_capture_size: got "
                                                              "3.5 (float); allowed: a positive integer (at most "
                                                              "2147483647)"),
    ("scheduler_config", "max_num_batched_tokens", "8192", "max_num_batched_tokens: got '8192'; allowed: a "
                                                           "positive integer (at most 2147483647)"),
    ("scheduler_config", "max_num_seqs", None, "max_num_seqs: got None (NoneType); allowed: a positive integer (at "
                                               "most 2147483647)"),
]
MOCK = MagicMock()


@pytest.fixture(scope="module")
def built(tiny_model):
    """A finished engine config for the tiny model, without a record: what the platform's pass is given."""
    from vllm.engine.arg_utils import EngineArgs

    config = EngineArgs(model=tiny_model, dtype="float32", max_model_len=256, kv_cache_memory_bytes=64 << 20,
                        enforce_eager=True).create_engine_config()
    config.additional_config = {}
    return pickle.dumps(config)


@pytest.fixture
def passes():
    """(the platform class, its own pass, the pass through the plugin)."""
    from vllm.platforms import current_platform

    platform = type(current_platform)
    own = patching.unpatched(platform, "check_and_update_config").__func__
    return platform, own, decision.on_check_and_update_config(own)


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.DEBUG, logger=adapter.LOGGER_NAME)
    return lambda: [(r.levelname, r.getMessage()) for r in caplog.records if r.name == adapter.LOGGER_NAME]


def two_copies(built, section: str, field: str, value):
    copies = pickle.loads(built), pickle.loads(built)
    for config in copies:
        setattr(getattr(config, section), field, value)
    return copies


@pytest.mark.parametrize(("section", "field", "value", "why"), UNREADABLE + [
    ("compilation_config", "mode", MOCK, f"compilation_config.mode: got {MOCK!r} (MagicMock); allowed: "
                                         "STOCK_TORCH_COMPILE, DYNAMO_TRACE_ONCE")],
    ids=[f"{row[1]}={type(row[2]).__name__}" for row in [*UNREADABLE, ("", "mode", MOCK)]])
def test_an_unreadable_value_of_vllms_config_leaves_it_to_the_platform_with_one_warning(
        built, passes, logged, section, field, value, why):
    platform, own, hooked = passes
    alone, with_plugin = two_copies(built, section, field, value)
    own(platform, alone)
    hooked(platform, with_plugin)
    warning = (f"graph backend: the plugin steps aside: it cannot read vLLM's own {why}; the config is left "
               "untouched and the platform decides the graph settings alone")
    assert logged() == [("WARNING", warning)]
    record = with_plugin.additional_config.pop(decision.RECORD_KEY)
    assert record == {"backend": None, "stepped_aside": why, "summary": warning}
    assert with_plugin == alone
    assert decision.recorded(with_plugin) is None


@pytest.mark.parametrize(("additional", "error"), [
    ({"graph_backend": "nope"}, "additional_config.graph_backend: unknown graph backend 'nope'"),
    ({"graph_backend": ["eager", "nope"]}, "additional_config.graph_backend[1]: unknown graph backend 'nope'"),
    ({"graph_backend_options": {"eager": {"x": 1}}}, "additional_config.graph_backend_options.eager: got keys ['x']"),
    ({"xlite_graph_config": {"enabled": "yes"}}, "additional_config.xlite_graph_config.enabled: got 'yes'"),
])
def test_what_the_user_wrote_stays_strict_even_where_vllms_values_are_unreadable(built, passes, logged, additional,
                                                                                 error):
    platform, _, hooked = passes
    config, _ = two_copies(built, "compilation_config", "mode", 9)
    config.additional_config = additional
    with pytest.raises(GraphConfigError) as info:
        hooked(platform, config)
    assert str(info.value).startswith(error)
    assert logged() == []


def test_a_process_that_finds_the_plugin_stepped_aside_steps_aside_too_in_silence(built, passes, logged):
    platform, own, hooked = passes
    alone, later = two_copies(built, "scheduler_config", "max_num_seqs", None)
    record = {"backend": None, "stepped_aside": "max_num_seqs: got None", "summary": "..."}
    alone.additional_config = {decision.RECORD_KEY: dict(record)}
    later.additional_config = {decision.RECORD_KEY: dict(record)}
    own(platform, alone)
    hooked(platform, later)
    assert later == alone and logged() == []


def test_a_readable_config_is_decided_as_before(built, passes, logged):
    platform, _, hooked = passes
    config = pickle.loads(built)
    hooked(platform, config)
    assert decision.recorded(config)["backend"] == "eager"
    assert [level for level, _ in logged()] == ["INFO", "DEBUG", "DEBUG"]
