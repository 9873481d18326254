"""`additional_config` validation: every bad input is one error type naming key, value and what is allowed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vllm_ascend_graphs import Environment, GraphConfigError, GraphRequest, ModelInfo, select
from vllm_ascend_graphs.rules.config import AscendCompilationConfig, XliteGraphConfig
from vllm_ascend_graphs.rules.modes import CUDAGraphMode


def test_defaults():
    request = GraphRequest.parse(None)
    assert request.graph_backend == "auto" and request.graph_fallback is True
    assert request.graph_capture_policy == "raise"
    assert request.ascend_compilation_config == AscendCompilationConfig()
    assert request.ascend_compilation_config.enable_npugraph_ex is None  # "not set": the mode decides
    assert request.ascend_compilation_config.fuse_norm_quant is True
    assert request.xlite_graph_config == XliteGraphConfig(enabled=False, full_mode=False)


def test_full_config_parses():
    request = GraphRequest.parse(
        {
            "graph_backend": ["XLite", "eager"],
            "graph_fallback": False,
            "graph_capture_policy": "Shrink",
            "ascend_compilation_config": {"enable_npugraph_ex": True, "enable_static_kernel": True,
                                          "fuse_muls_add": False},
            "xlite_graph_config": {"enabled": True, "full_mode": True},
            "graph_backend_options": {"Eager": {}},
            "some_other_plugins_key": {"anything": [1, 2]},
        },
        cudagraph_mode="full_decode_only",
        capture_sizes=[4, 1, 2],
        max_capture_size=4,
    )
    assert request.graph_backend == ("xlite", "eager")
    assert request.graph_capture_policy == "shrink"
    assert request.ascend_compilation_config.fuse_muls_add is False
    assert request.xlite_graph_config.full_mode is True
    assert request.graph_backend_options == {"eager": {}}
    assert request.cudagraph_mode is CUDAGraphMode.FULL_DECODE_ONLY
    assert request.capture_sizes == (4, 1, 2)


def test_vllm_enum_values_are_accepted_by_name():
    class VllmMode:  # stands in for vllm.config.CUDAGraphMode members, which carry `.name`
        name = "PIECEWISE"

    assert GraphRequest.parse({}, cudagraph_mode=VllmMode()).cudagraph_mode is CUDAGraphMode.PIECEWISE


# (additional_config or vLLM settings, words the one-line message must contain)
BAD = [
    ({"graph_backend": 3}, ["additional_config.graph_backend", "3 (int)", "allowed:"]),
    ({"graph_backend": []}, ["additional_config.graph_backend", "non-empty list"]),
    ({"graph_backend": ["eager", "eager"]}, ["repeated: eager"]),
    ({"graph_backend": ["auto", "eager"]}, ["'auto' alone"]),
    ({"graph_backend": "bad name!"}, ["additional_config.graph_backend", "'bad name!'"]),
    ({"graph_fallback": "no"}, ["additional_config.graph_fallback", "'no'", "true or false"]),
    ({"graph_capture_policy": "shrnk"}, ["graph_capture_policy", "did you mean 'shrink'?", "'raise'"]),
    ({"ascend_compilation_config": []}, ["additional_config.ascend_compilation_config", "JSON object"]),
    ({"ascend_compilation_config": {"enable_npugraf_ex": True}},
     ["unknown key 'enable_npugraf_ex'", "did you mean 'enable_npugraph_ex'?", "allowed: enable_npugraph_ex"]),
    ({"ascend_compilation_config": {"enable_static_kernel": 1}},
     ["additional_config.ascend_compilation_config.enable_static_kernel", "1 (int)", "true or false"]),
    ({"ascend_compilation_config": {"enable_npugraph_ex": False, "enable_static_kernel": True}},
     ["enable_static_kernel", "enable_npugraph_ex", "allowed:"]),
    ({"xlite_graph_config": {"enable": True}}, ["xlite_graph_config", "did you mean 'enabled'?"]),
    ({"xlite_graph_config": {"enabled": True}, "graph_backend": "aclgraph"},
     ["additional_config.graph_backend", "xlite_graph_config.enabled"]),
    ({"graph_backend_options": {"eager": 1}}, ["additional_config.graph_backend_options.eager", "JSON object"]),
    ({"graph_backend_options": []}, ["additional_config.graph_backend_options"]),
]


@pytest.mark.parametrize(("config", "words"), BAD)
def test_bad_additional_config(config, words):
    with pytest.raises(GraphConfigError) as info:
        GraphRequest.parse(config)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"cudagraph_mode": "FULL_DECODE"}, ["compilation_config.cudagraph_mode", "did you mean 'full_decode_only'?"]),
        ({"capture_sizes": [1, 0]}, ["cudagraph_capture_sizes[1]", "positive integer"]),
        ({"capture_sizes": "1,2"}, ["cudagraph_capture_sizes", "list of positive integers"]),
        ({"capture_sizes": [1, 8], "max_capture_size": 16}, ["max_cudagraph_capture_size", "16", "largest"]),
        ({"max_num_seqs": True}, ["max_num_seqs", "positive integer"]),
    ],
)
def test_bad_vllm_settings(settings, words):
    with pytest.raises(GraphConfigError) as info:
        GraphRequest.parse({}, **settings)
    for word in words:
        assert word in str(info.value)


def test_not_a_dict():
    with pytest.raises(GraphConfigError, match=r"^additional_config: got \[1\] \(list\); allowed: a JSON object"):
        GraphRequest.parse([1])


def test_unknown_backend_names_come_with_did_you_mean_and_choices():
    with pytest.raises(GraphConfigError) as info:
        select({"graph_backend": "xlit"}, environment=Environment(), model=ModelInfo())
    assert str(info.value) == (
        "additional_config.graph_backend: unknown graph backend 'xlit'; did you mean 'xlite'? "
        "allowed: auto, aclgraph, eager, native, xlite"
    )
    with pytest.raises(GraphConfigError, match=r"graph_backend_options: unknown graph backend 'aclgrap'"):
        select({"graph_backend_options": {"aclgrap": {}}}, environment=Environment(), model=ModelInfo())
    with pytest.raises(GraphConfigError, match=r"graph_backend_options.eager: got keys \['x'\]; allowed: none"):
        select({"graph_backend_options": {"eager": {"x": 1}}}, environment=Environment(), model=ModelInfo())


# -- property: arbitrary input gives a selection or the one config error type -------------------

def nested(depth: int, leaf: object) -> object:
    """`leaf` inside `depth` lists and dicts: past about 1000, repr() raises RecursionError."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# Integers past int()'s 4300-digit limit: repr() raises ValueError on them.
giant_ints = (st.integers(4301, 6000).map(lambda digits: 10 ** digits)
              | st.integers(4301, 6000).map(lambda d: -(10 ** d)))
deep_values = st.builds(nested, st.integers(900, 3000), st.none() | st.integers() | giant_ints)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12) | giant_ints,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
) | deep_values
backend_names = st.sampled_from(["auto", "aclgraph", "XLITE", "eager", "Eager", "acl", "nope", "", "AUTO"])
our_keys = st.fixed_dictionaries(
    {},
    optional={
        "graph_backend": backend_names | st.lists(backend_names, max_size=3) | json_values,
        "graph_fallback": st.booleans() | json_values,
        "graph_capture_policy": st.sampled_from(["raise", "shrink", "eager", "x"]) | json_values,
        "ascend_compilation_config": st.dictionaries(
            st.sampled_from(["enable_npugraph_ex", "enable_static_kernel", "fuse_norm_quant", "bogus"]),
            st.booleans() | json_values, max_size=3) | json_values,
        "xlite_graph_config": st.dictionaries(
            st.sampled_from(["enabled", "full_mode", "enable"]), st.booleans() | json_values, max_size=2) | json_values,
        "graph_backend_options": st.dictionaries(backend_names, st.dictionaries(st.text(max_size=4), json_values,
                                                                                max_size=2) | json_values,
                                                 max_size=2) | json_values,
        "unrelated": json_values,
    },
)
environments = st.builds(
    Environment,
    device=st.sampled_from(["npu", "cpu", "cuda"]),
    soc=st.sampled_from([None, "910B", "310P", "950"]),
    torch_npu=st.sampled_from([None, "2.10.0"]),
    xlite=st.sampled_from([None, "0.2.0"]),
    pp=st.integers(1, 2),
    dcp=st.integers(1, 2),
    spec_tokens=st.integers(0, 2),
    launch_blocking=st.booleans(),
)
models = st.sampled_from(["Qwen3ForCausalLM", "DeepseekV3ForCausalLM", "WhisperForConditionalGeneration", "X"]).map(
    ModelInfo.from_architecture
)


@settings(max_examples=400, deadline=None)
@given(
    config=our_keys | json_values | st.dictionaries(st.sampled_from(["graph_backend", "graph_fallback",
                                                                     "graph_backend_options", "xlite_graph_config"]),
                                                    deep_values | giant_ints, min_size=1),
    mode=st.none() | st.sampled_from([*CUDAGraphMode.__members__, "bogus"]) | json_values,
    enforce_eager=st.booleans(),
    sizes=st.none() | st.lists(st.integers(-2, 600) | giant_ints, max_size=4) | json_values,
    environment=environments,
    model=models,
)
def test_arbitrary_input_selects_or_raises_the_config_error(config, mode, enforce_eager, sizes, environment, model):
    try:
        request = GraphRequest.parse(config, cudagraph_mode=mode, enforce_eager=enforce_eager, capture_sizes=sizes)
        selection = select(request, environment=environment, model=model)
    except GraphConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message
        assert "additional_config" in message or "compilation_config" in message
        return
    assert selection.trail[-1].selected and selection.plan.backend == selection.backend.name
    assert list(selection.plan.capture_sizes) == sorted(set(selection.plan.capture_sizes))
    if selection.plan.cudagraph_mode is CUDAGraphMode.NONE:
        assert not selection.plan.capture_sizes and not selection.plan.npugraph_ex


@settings(max_examples=200, deadline=None)
@given(value=json_values | st.sets(st.integers(), max_size=3) | st.builds(object))
def test_errors_never_fail_while_being_built(value):
    from vllm_ascend_graphs.errors import SHOWN_CHARACTERS, bounded_repr, invalid

    text = bounded_repr(value)
    assert len(text) <= SHOWN_CHARACTERS
    message = str(invalid("additional_config.key", value, "anything else"))
    assert message.startswith("additional_config.key: got ") and message.endswith("; allowed: anything else")


def test_a_repr_that_raises_is_shown_by_its_type():
    from vllm_ascend_graphs.errors import bounded_repr

    class Hostile:
        def __repr__(self):
            raise KeyError("no")

    assert bounded_repr(Hostile()) == "<Hostile object>"
    assert bounded_repr([10 ** 5000]) == "[<int of about 5001 digits>]"
    assert bounded_repr(nested(3000, None)) == "[{'k': [{'k': [...]}]}]"


def test_vllm_ascends_own_boolean_switches_are_kept_and_ours_are_not():
    request = GraphRequest.parse({"enable_flashcomm1": True, "enable_shared_expert_dp": False, "graph_fallback": False,
                                  "refresh": 1, "xlite_graph_config": {"enabled": False}})
    assert dict(request.ascend_switches) == {"enable_flashcomm1": True, "enable_shared_expert_dp": False}
