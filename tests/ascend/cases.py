"""The contract cases: a deployment each, run through each tested vllm-ascend's real code on its vLLM.

A case is what a user gives (`LLM(...)` keyword arguments and `additional_config`) and the machine
it runs on (an Ascend SoC, whether xlite is installed, `ASCEND_LAUNCH_BLOCKING`). `explain_argv`
turns it into the same question for `vllm-ascend-graphs explain`.

Every case runs on every version (`versions.py`) and expects the same, except where vllm-ascend's
own rules differ between versions: each such difference is a named `Differs` below, with the
vllm-ascend source lines that make it, and the cases it applies to name it. `Case.expect(version)`
is what a case expects on one version; docs/ascend.md lists the differences too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from versions import MAIN, V0_23, V0_26, VllmAscend

XLITE_VERSION = "0.2.0rc4"
ENGINE_DEFAULTS: dict[str, Any] = {"max_num_seqs": 64, "max_model_len": 512, "skip_tokenizer_init": True}
MODELS = ("llama", "qwen3", "qwen3-moe", "deepseek-v3", "qwen3-vl", "whisper", "mistral")
MODES = ("NONE", "PIECEWISE", "FULL", "FULL_DECODE_ONLY", "FULL_AND_PIECEWISE")


@dataclass(frozen=True)
class Differs:
    """A rule of vllm-ascend that differs between versions: on the versions in `on`, a case that names
    it expects these settings instead of its own."""

    name: str
    on: tuple[VllmAscend, ...]
    why: str  # the rule on those versions and elsewhere, with vllm-ascend's file:line
    overrides: tuple[str, ...] = ()
    backend: str | None = None  # the backend expected there, where the case expects one
    # A setting of our record that vllm-ascend leaves as planned but does not act on there: a rule
    # the plan does not model, so the record claims what will not run (an expected failure, named).
    gap: str | None = None


@dataclass(frozen=True)
class Expect:
    """What a case expects on one vllm-ascend version."""

    overrides: tuple[str, ...]
    backend: str | None
    error: str | None
    gap: str | None
    differs: str | None  # the name of the `Differs` in force, if any


@dataclass(frozen=True)
class Case:
    id: str
    model: str = "llama"
    engine: dict[str, Any] = field(default_factory=dict)  # EngineArgs keyword arguments
    additional: dict[str, Any] = field(default_factory=dict)  # additional_config
    soc: str = "910B"
    xlite_installed: bool = False
    launch_blocking: bool = False
    error: str | None = None  # the start of the one-line error expected instead of a config
    # Settings vLLM or vllm-ascend is expected to change after our plan is applied: rules of theirs
    # that the plan does not model. Every other case must come through unchanged.
    overrides: tuple[str, ...] = ()
    backend: str | None = None  # the backend expected, where a case checks it
    differs: tuple[Differs, ...] = ()  # where some versions expect otherwise

    def expect(self, version: VllmAscend | None) -> Expect:
        """What this case expects on `version` (None: the case's own expectation)."""
        found = [d for d in self.differs if version in d.on]
        assert len(found) <= 1, f"{self.id}: {[d.name for d in found]} all apply to {version}"
        if not found:
            return Expect(self.overrides, self.backend, self.error, None, None)
        rule = found[0]
        return Expect(rule.overrides, rule.backend or self.backend, self.error, rule.gap, rule.name)

    @property
    def engine_args(self) -> dict[str, Any]:
        return {**ENGINE_DEFAULTS, **self.engine, "additional_config": self.additional}

    @property
    def spec_tokens(self) -> int:
        return int((self.engine.get("speculative_config") or {}).get("num_speculative_tokens", 0))

    @property
    def assume(self) -> str:
        """`--assume` / `ASCEND_GRAPHS_ASSUME`: the machine, and the parallel sizes vLLM is given."""
        facts = {
            "device": "npu", "soc": self.soc, "xlite": XLITE_VERSION if self.xlite_installed else "absent",
            "tp": self.engine.get("tensor_parallel_size", 1), "pp": self.engine.get("pipeline_parallel_size", 1),
            "dcp": self.engine.get("decode_context_parallel_size", 1), "spec_tokens": self.spec_tokens,
            "launch_blocking": int(self.launch_blocking),
        }
        return ",".join(f"{key}={value}" for key, value in facts.items())

    def explain_argv(self, model_dir: str) -> list[str]:
        argv = ["explain", "--json", "--model", model_dir, "--additional-config", json.dumps(self.additional),
                "--assume", self.assume, "--max-num-seqs", str(self.engine_args["max_num_seqs"])]
        mode = (self.engine.get("compilation_config") or {}).get("cudagraph_mode")
        if mode:
            argv += ["--cudagraph-mode", mode]
        if self.engine.get("enforce_eager"):
            argv.append("--enforce-eager")
        return argv


def mode(name: str) -> dict[str, Any]:
    return {"compilation_config": {"cudagraph_mode": name}}


def compilation(**flags: bool) -> dict[str, Any]:
    return {"ascend_compilation_config": flags}


def xlite(full_mode: bool = False) -> dict[str, Any]:
    return {"xlite_graph_config": {"enabled": True, "full_mode": full_mode}}


def ngram(tokens: int) -> dict[str, Any]:
    return {"speculative_config": {"method": "ngram", "num_speculative_tokens": tokens, "prompt_lookup_max": 3}}


# Where vllm-ascend's rules differ between the versions the tier runs (file:line as in each source).
FLASHCOMM1_REMOVED = Differs(
    "flashcomm1-removed", on=(MAIN,),
    why="main removed FlashComm v1: enable_flashcomm1 only logs a deprecation (ascend_config.py:44-48), and its "
        "sequence parallelism is vLLM's use_sequence_parallel_moe (utils.py:807-819), so the capture sizes stay; "
        "0.23.0.post1 and 0.26.0rc keep the multiples of TP (platform.py:549-567 / 505-523)")
STOCK_COMPILE_KEEPS_GRAPHS = Differs(
    "stock-compile-keeps-graphs", on=(MAIN,),
    why="main turns a compilation mode other than NONE or VLLM_COMPILE into compilation mode NONE and keeps the "
        "cudagraph mode (platform.py:974-979); 0.23.0.post1 and 0.26.0rc set cudagraph_mode NONE (platform.py:535-540 "
        "/ 491-496), and with it no capture sizes and no Npugraph_ex",
    gap="Npugraph_ex is a layer of vllm-ascend's compile backend (compilation/compiler_interface.py:245, 283), which "
        "compilation mode NONE never calls: the plan keeps it on, as main's pass leaves it")
SHARED_EXPERT_DP_WITHOUT_SP = Differs(
    "shared-expert-dp-without-sp", on=(V0_26,),
    why="0.26.0rc's enable_shared_expert_dp no longer turns on sequence parallelism (utils.py:861-888), so the capture "
        "sizes stay; 0.23.0.post1 turns it on (ascend_config.py:114-122) and keeps the multiples of TP, and main keeps "
        "them for enable_shared_expert_dp itself (platform.py:1043-1062)")
SP_MOE_TP_ALIGNED = Differs(
    "sp-moe-tp-aligned", on=(MAIN,), overrides=("capture_sizes",),
    why="main keeps the capture sizes that are multiples of TP when vLLM's use_sequence_parallel_moe is on (expert "
        "parallel, TP > 1, DP > 1, the default all2all backend) (utils.py:807-819, platform.py:1043-1062); "
        "0.23.0.post1 and 0.26.0rc prune only for their FlashComm v1")
DSA_CP_TP_ALIGNED = Differs(
    "dsa-cp-tp-aligned", on=(MAIN,), overrides=("capture_sizes",),
    why="main keeps the capture sizes that are multiples of TP when additional_config.enable_dsa_cp is on "
        "(platform.py:385, 1043-1062); 0.23.0.post1 and 0.26.0rc do not prune for it")
XLITE_DEEPSEEK_V3 = Differs(
    "xlite-deepseek-v3", on=(MAIN,), backend="xlite",
    why="main has an xlite adapter for DeepseekV3ForCausalLM (xlite/xlite.py:498-502), which the plugin reads from "
        "the installed source; 0.23.0.post1 and 0.26.0rc have none, so the plan falls back to aclgraph")
DIFFERENCES = (FLASHCOMM1_REMOVED, STOCK_COMPILE_KEEPS_GRAPHS, SHARED_EXPERT_DP_WITHOUT_SP, SP_MOE_TP_ALIGNED,
               DSA_CP_TP_ALIGNED, XLITE_DEEPSEEK_V3)

CASES = [
    # Llama: the default, each mode, enforce_eager.
    Case("llama-default"),
    *(Case(f"llama-{name.lower()}", engine=mode(name)) for name in MODES),
    Case("llama-enforce-eager", engine={"enforce_eager": True}),
    # Npugraph_ex and static kernel, explicitly on and off.
    Case("llama-npugraph-ex-off", engine=mode("FULL_DECODE_ONLY"), additional=compilation(enable_npugraph_ex=False)),
    Case("llama-npugraph-ex-on-piecewise", engine=mode("PIECEWISE"), additional=compilation(enable_npugraph_ex=True)),
    Case("llama-static-kernel-on", engine=mode("FULL_DECODE_ONLY"),
         additional=compilation(enable_npugraph_ex=True, enable_static_kernel=True)),
    Case("llama-static-kernel-off", engine=mode("FULL"), additional=compilation(enable_static_kernel=False)),
    Case("llama-static-kernel-on-default-mode", additional=compilation(enable_static_kernel=True)),
    # Parallelism and speculative decoding.
    Case("llama-tp2", engine={"tensor_parallel_size": 2}),
    Case("llama-pp2", engine={"pipeline_parallel_size": 2}),
    # Decode context parallel needs more TP ranks than the model has KV heads (2).
    Case("llama-dcp2", engine={"tensor_parallel_size": 4, "decode_context_parallel_size": 2}),
    Case("llama-dcp2-full", engine={"tensor_parallel_size": 4, "decode_context_parallel_size": 2, **mode("FULL")}),
    Case("llama-spec1", engine=ngram(1)),
    Case("llama-spec3", engine=ngram(3)),
    Case("llama-spec3-full-decode-only", engine={**ngram(3), **mode("FULL_DECODE_ONLY")}),
    # graph_backend: each name, a list, fallback on and off.
    Case("llama-backend-auto", additional={"graph_backend": "auto"}),
    Case("llama-backend-aclgraph", additional={"graph_backend": "aclgraph"}),
    Case("llama-backend-aclgraph-strict", additional={"graph_backend": "aclgraph", "graph_fallback": False}),
    Case("llama-backend-eager", additional={"graph_backend": "eager"}),
    Case("llama-backend-native", additional={"graph_backend": "native"}),
    Case("llama-backend-xlite-installed", additional={"graph_backend": "xlite"}, xlite_installed=True),
    Case("llama-backend-xlite-absent", additional={"graph_backend": "xlite"}),
    Case("llama-backend-xlite-absent-strict", additional={"graph_backend": "xlite", "graph_fallback": False},
         error="additional_config.graph_backend: backend 'xlite' cannot serve here: xlite is not installed"),
    Case("llama-backend-list-xlite-eager", additional={"graph_backend": ["xlite", "eager"]}),
    Case("llama-backend-list-xlite-aclgraph", additional={"graph_backend": ["xlite", "aclgraph"]},
         xlite_installed=True),
    # ASCEND_LAUNCH_BLOCKING=1: graphs are impossible; vllm-ascend raises if asked for one.
    Case("llama-launch-blocking", launch_blocking=True),
    Case("llama-launch-blocking-strict", launch_blocking=True,
         additional={"graph_backend": "aclgraph", "graph_fallback": False},
         error="additional_config.graph_backend: backend 'aclgraph' cannot serve here: ACL graphs are incompatible"),
    # XliteGraph: off, decode-only and full; installed and not.
    Case("llama-xlite-decode-installed", additional=xlite(), xlite_installed=True),
    Case("llama-xlite-decode-absent", additional=xlite()),
    Case("llama-xlite-full-installed", additional=xlite(full_mode=True), xlite_installed=True),
    Case("llama-xlite-full-absent", additional=xlite(full_mode=True)),
    Case("llama-xlite-full-spec1-installed", additional=xlite(full_mode=True), engine=ngram(1), xlite_installed=True),
    Case("llama-xlite-spec3-installed", additional=xlite(), engine=ngram(3), xlite_installed=True),
    Case("llama-xlite-pp2-installed", additional=xlite(), engine={"pipeline_parallel_size": 2}, xlite_installed=True),
    Case("llama-xlite-enforce-eager-installed", additional=xlite(), engine={"enforce_eager": True},
         xlite_installed=True),
    Case("llama-xlite-decode-mode-none-installed", additional=xlite(), engine=mode("NONE"), xlite_installed=True),
    Case("llama-xlite-off-installed", additional={"xlite_graph_config": {"enabled": False}}, xlite_installed=True),
    # Where vllm-ascend has the last word: sequence parallelism keeps only capture sizes that are
    # multiples of TP; a compilation mode other than NONE or VLLM_COMPILE turns graphs off (0.23) or
    # compilation off (main). Which settings switch on sequence parallelism differs by version.
    Case("llama-tp2-flashcomm1", engine={"tensor_parallel_size": 2}, additional={"enable_flashcomm1": True},
         overrides=("capture_sizes",), differs=(FLASHCOMM1_REMOVED,)),
    Case("qwen3-moe-tp2-ep-shared-expert-dp", model="qwen3-moe",
         engine={"tensor_parallel_size": 2, "enable_expert_parallel": True},
         additional={"enable_shared_expert_dp": True}, overrides=("capture_sizes",),
         differs=(SHARED_EXPERT_DP_WITHOUT_SP,)),
    Case("qwen3-moe-tp2-dp2-ep", model="qwen3-moe",
         engine={"tensor_parallel_size": 2, "data_parallel_size": 2, "enable_expert_parallel": True},
         differs=(SP_MOE_TP_ALIGNED,)),
    Case("llama-tp2-dsa-cp", engine={"tensor_parallel_size": 2}, additional={"enable_dsa_cp": True},
         differs=(DSA_CP_TP_ALIGNED,)),
    Case("llama-stock-torch-compile-full-decode-only",
         engine={"compilation_config": {"cudagraph_mode": "FULL_DECODE_ONLY", "mode": 1}},
         overrides=("cudagraph_mode", "capture_sizes", "npugraph_ex"), differs=(STOCK_COMPILE_KEEPS_GRAPHS,)),
    Case("llama-stock-torch-compile-full", engine={"compilation_config": {"cudagraph_mode": "FULL", "mode": 1}},
         overrides=("cudagraph_mode", "capture_sizes", "npugraph_ex"), differs=(STOCK_COMPILE_KEEPS_GRAPHS,)),
    # Ascend SoCs whose rules differ.
    Case("llama-950-default", soc="950"),
    Case("llama-950-full-decode-only", soc="950", engine=mode("FULL_DECODE_ONLY")),
    Case("llama-310p-full-decode-only", soc="310P", engine=mode("FULL_DECODE_ONLY")),
    # Qwen3 dense, Qwen3 MoE, DeepSeek V3 (MLA), Qwen3-VL, Whisper (encoder-decoder), Mistral (no xlite).
    Case("qwen3-default", model="qwen3"),
    Case("qwen3-full", model="qwen3", engine=mode("FULL")),
    Case("qwen3-xlite-decode-installed", model="qwen3", additional=xlite(), xlite_installed=True),
    Case("qwen3-moe-default", model="qwen3-moe"),
    Case("qwen3-moe-tp2", model="qwen3-moe", engine={"tensor_parallel_size": 2}),
    Case("qwen3-moe-xlite-full-installed", model="qwen3-moe", additional=xlite(full_mode=True), xlite_installed=True),
    Case("deepseek-v3-default", model="deepseek-v3"),
    Case("deepseek-v3-full", model="deepseek-v3", engine=mode("FULL")),
    Case("deepseek-v3-spec1", model="deepseek-v3", engine=ngram(1)),
    Case("deepseek-v3-xlite-installed", model="deepseek-v3", additional=xlite(), xlite_installed=True,
         backend="aclgraph", differs=(XLITE_DEEPSEEK_V3,)),
    Case("qwen3-vl-default", model="qwen3-vl"),
    Case("qwen3-vl-xlite-decode-installed", model="qwen3-vl", additional=xlite(), xlite_installed=True),
    Case("whisper-default", model="whisper"),
    Case("whisper-full", model="whisper", engine=mode("FULL")),
    Case("whisper-enforce-eager", model="whisper", engine={"enforce_eager": True}),
    Case("mistral-xlite-installed", model="mistral", additional=xlite(), xlite_installed=True),
]
BY_ID = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"
