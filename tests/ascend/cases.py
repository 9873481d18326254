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
    cudagraph_mode: str | None = None  # the mode expected there; REQUESTED: the one the case asks for
    tp_aligned: bool | None = None  # whether only capture sizes that are multiples of TP stay there
    model_runner: str | None = None  # the model runner expected to key the graphs there (graph_keys.ModelRunner)


@dataclass(frozen=True)
class Expect:
    """What a case expects on one vllm-ascend version."""

    overrides: tuple[str, ...]
    backend: str | None
    cudagraph_mode: str | None
    tp_aligned: bool | None
    error: str | None
    differs: str | None  # the name of the `Differs` in force, if any
    model_runner: str  # the model runner that keys the graphs: "V1" or "V2"


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
    error_type: str = "BackendUnavailableError"  # its class (a GraphConfigError where the request cannot start)
    # Settings vLLM or vllm-ascend is expected to change after our plan is applied: rules of theirs
    # that the plan does not model. Every other case must come through unchanged.
    overrides: tuple[str, ...] = ()
    # Likewise for the model runner, at worker start (worker_stage.py).
    worker_overrides: tuple[str, ...] = ()
    backend: str | None = None  # the backend expected, where a case checks it
    cudagraph_mode: str | None = None  # the mode expected, where a case checks it
    tp_aligned: bool | None = None  # whether only capture sizes that are multiples of TP stay, where checked
    sequence_parallel_moe: bool = False  # vLLM turns use_sequence_parallel_moe on here (newer vLLM: EP, TP, DP > 1)
    model_runner_v2: bool = False  # VLLM_USE_V2_MODEL_RUNNER=1
    model_runner: str | None = None  # the model runner expected where it is not the one asked for (XliteWorker: V1)
    differs: tuple[Differs, ...] = ()  # where some versions expect otherwise
    draft_model: str | None = None  # the family whose folder is speculative_config's draft model
    # The start of the error vLLM Ascend's model runner raises at start for this case where our plugin is off
    # (run_cases builds the config once more without it): the real code's proof of what the plan avoids.
    raises_without_plugin: str | None = None

    def expect(self, version: VllmAscend | None) -> Expect:
        """What this case expects on `version` (None: the case's own expectation)."""
        found = [d for d in self.differs if version in d.on]
        assert len(found) <= 1, f"{self.id}: {[d.name for d in found]} all apply to {version}"
        runner = self.model_runner or ("V2" if self.model_runner_v2 else "V1")
        if not found:
            return Expect(self.overrides, self.backend, self.cudagraph_mode, self.tp_aligned, self.error, None, runner)
        rule = found[0]
        mode = self.requested_mode if rule.cudagraph_mode == REQUESTED else rule.cudagraph_mode
        return Expect(rule.overrides, rule.backend or self.backend, mode or self.cudagraph_mode,
                      self.tp_aligned if rule.tp_aligned is None else rule.tp_aligned, self.error, rule.name,
                      rule.model_runner or runner)

    @property
    def requested_mode(self) -> str | None:
        return (self.engine.get("compilation_config") or {}).get("cudagraph_mode")

    @property
    def user_sizes(self) -> bool:
        """Whether the user gave capture sizes or a largest size (kept as given, eager batches named)."""
        compilation = self.engine.get("compilation_config") or {}
        return "cudagraph_capture_sizes" in compilation or "max_cudagraph_capture_size" in compilation

    @property
    def runs_without_plugin(self) -> bool:
        """Whether run_cases builds the case once more without our plugin: to see the real start raise, or
        what vLLM decides for a KV connector on its own."""
        return self.raises_without_plugin is not None or "kv_transfer_config" in self.engine

    @property
    def engine_args(self) -> dict[str, Any]:
        return {**ENGINE_DEFAULTS, **self.engine, "additional_config": self.additional}

    def engine_args_for(self, models: dict[str, str]) -> dict[str, Any]:
        """`engine_args` with the draft model's folder in speculative_config."""
        args = self.engine_args
        if self.draft_model:
            args["speculative_config"] = {**args["speculative_config"], "model": models[self.draft_model]}
        return args

    @property
    def spec_tokens(self) -> int:
        return int((self.engine.get("speculative_config") or {}).get("num_speculative_tokens", 0))

    @property
    def assume(self) -> str:
        """`--assume` / `ASCEND_GRAPHS_ASSUME`: the machine, and the parallel sizes vLLM is given."""
        facts = {
            "device": "npu", "soc": self.soc, "xlite": XLITE_VERSION if self.xlite_installed else "absent",
            "tp": self.engine.get("tensor_parallel_size", 1), "pp": self.engine.get("pipeline_parallel_size", 1),
            "dp": self.engine.get("data_parallel_size", 1), "dcp": self.engine.get("decode_context_parallel_size", 1),
            "spec_tokens": self.spec_tokens, "expert_parallel": int(self.engine.get("enable_expert_parallel", False)),
            "sequence_parallel_moe": int(self.sequence_parallel_moe), "launch_blocking": int(self.launch_blocking),
            "model_runner": "v2" if self.model_runner_v2 else "v1",
        }
        return ",".join(f"{key}={value}" for key, value in facts.items())

    def explain_argv(self, models: dict[str, str]) -> list[str]:
        engine = self.engine_args_for(models)
        argv = ["explain", "--json", "--model", models[self.model], "--additional-config", json.dumps(self.additional),
                "--assume", self.assume, "--max-num-seqs", str(engine["max_num_seqs"])]
        for key in ("speculative_config", "kv_transfer_config"):
            if key in engine:
                argv += [f"--{key.replace('_', '-')}", json.dumps(engine[key])]
        compilation = self.engine.get("compilation_config") or {}
        if compilation.get("cudagraph_mode"):
            argv += ["--cudagraph-mode", compilation["cudagraph_mode"]]
        if "mode" in compilation:
            argv += ["--compilation-mode", str(compilation["mode"])]
        if compilation.get("cudagraph_capture_sizes"):
            argv += ["--capture-sizes", ",".join(map(str, compilation["cudagraph_capture_sizes"]))]
        if compilation.get("max_cudagraph_capture_size"):
            argv += ["--max-capture-size", str(compilation["max_cudagraph_capture_size"])]
        if self.engine.get("max_num_batched_tokens"):
            argv += ["--max-num-batched-tokens", str(self.engine["max_num_batched_tokens"])]
        if self.engine.get("enforce_eager"):
            argv.append("--enforce-eager")
        return argv


def mode(name: str, **compilation_config: Any) -> dict[str, Any]:
    return {"compilation_config": {"cudagraph_mode": name, **compilation_config}}


def seqs(count: int, **engine: Any) -> dict[str, Any]:
    """`max_num_seqs` off vLLM Ascend's grid of capture sizes (vllm-ascend issue #16049) and more."""
    return {"max_num_seqs": count, **engine}


def compilation(**flags: bool) -> dict[str, Any]:
    return {"ascend_compilation_config": flags}


def xlite(full_mode: bool = False) -> dict[str, Any]:
    return {"xlite_graph_config": {"enabled": True, "full_mode": full_mode}}


def speculative(method: str, tokens: int, **switches: bool) -> dict[str, Any]:
    return {"speculative_config": {"method": method, "num_speculative_tokens": tokens, **switches}}


def kv_connector(name: str, layerwise: bool, **extra: Any) -> dict[str, Any]:
    return {"kv_transfer_config": {"kv_connector": name, "kv_role": "kv_both",
                                   "kv_connector_extra_config": {"use_layerwise": layerwise, **extra}}}


UNPADDED_FULL_GRAPHS = "NotImplementedError: Speculative Decoding with cudagraph mode containing full cudagraphs only"


def ngram(tokens: int) -> dict[str, Any]:
    return {"speculative_config": {"method": "ngram", "num_speculative_tokens": tokens, "prompt_lookup_max": 3}}


REQUESTED = "requested"  # Differs.cudagraph_mode: the mode the case asks for

# Where vllm-ascend's rules differ between the versions the tier runs (file:line as in each source).
# The plan follows each from the installed vllm-ascend's facts (vllm_ascend_support.py), so a case
# expects no override on any version: what differs is the plan itself.
FLASHCOMM1_REMOVED = Differs(
    "flashcomm1-removed", on=(MAIN,), tp_aligned=False,
    why="main removed FlashComm v1: enable_flashcomm1 only logs a deprecation (ascend_config.py:44-48), and its "
        "sequence parallelism is vLLM's use_sequence_parallel_moe (utils.py:807-819), so the capture sizes stay; "
        "0.23.0.post1 and 0.26.0rc keep the multiples of TP (platform.py:549-567 / 505-523)")
STOCK_COMPILE_KEEPS_GRAPHS = Differs(
    "stock-compile-keeps-graphs", on=(MAIN,), cudagraph_mode=REQUESTED,
    why="main turns a compilation mode other than NONE or VLLM_COMPILE into compilation mode NONE and keeps the "
        "cudagraph mode (platform.py:974-979); 0.23.0.post1 and 0.26.0rc set cudagraph_mode NONE (platform.py:535-540 "
        "/ 491-496), and with it no capture sizes and no Npugraph_ex. Npugraph_ex, a layer of vllm-ascend's compile "
        "backend (compilation/compiler_interface.py:245, 283), is off on main too: nothing is compiled")
SHARED_EXPERT_DP_WITHOUT_SP = Differs(
    "shared-expert-dp-without-sp", on=(V0_26,), tp_aligned=False,
    why="0.26.0rc's enable_shared_expert_dp no longer turns on sequence parallelism (utils.py:861-888), so the capture "
        "sizes stay; 0.23.0.post1 turns it on (ascend_config.py:114-122) and keeps the multiples of TP, and main keeps "
        "them for enable_shared_expert_dp itself (platform.py:1043-1062)")
SP_MOE_TP_ALIGNED = Differs(
    "sp-moe-tp-aligned", on=(MAIN,), tp_aligned=True,
    why="main keeps the capture sizes that are multiples of TP when vLLM's use_sequence_parallel_moe is on (expert "
        "parallel, TP > 1, DP > 1, the default all2all backend) (utils.py:807-819, platform.py:1043-1062); "
        "0.23.0.post1 and 0.26.0rc prune only for their FlashComm v1")
DSA_CP_TP_ALIGNED = Differs(
    "dsa-cp-tp-aligned", on=(MAIN,), tp_aligned=True,
    why="main keeps the capture sizes that are multiples of TP when additional_config.enable_dsa_cp is on "
        "(platform.py:385, 1043-1062); 0.23.0.post1 and 0.26.0rc do not prune for it")
XLITE_DEEPSEEK_V3 = Differs(
    "xlite-deepseek-v3", on=(MAIN,), backend="xlite",
    why="main has an xlite adapter for DeepseekV3ForCausalLM (xlite/xlite.py:498-502), which the plugin reads from "
        "the installed source; 0.23.0.post1 and 0.26.0rc have none, so the plan falls back to aclgraph")
V2_FALLS_BACK_TO_V1 = Differs(
    "v2-falls-back-to-v1", on=(V0_23,), model_runner="V1",
    why="0.23.0.post1's NPUWorker turns Model Runner V2 off again on vLLM 0.23.0 and builds the V1 model runner "
        "(worker/worker.py:160-163, 514-520); 0.26.0rc and main build vllm_ascend.worker.v2.model_runner."
        "NPUModelRunner (worker/worker.py:169, 518-522 / 168, 470-474), whose graph manager is ModelAclGraphManager")
DIFFERENCES = (FLASHCOMM1_REMOVED, STOCK_COMPILE_KEEPS_GRAPHS, SHARED_EXPERT_DP_WITHOUT_SP, SP_MOE_TP_ALIGNED,
               DSA_CP_TP_ALIGNED, XLITE_DEEPSEEK_V3, V2_FALLS_BACK_TO_V1)

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
    # Rules the plan follows from the installed vllm-ascend's facts: sequence parallelism and its kin
    # keep only capture sizes that are multiples of TP; a compilation mode other than NONE or
    # VLLM_COMPILE turns graphs off (0.23, 0.26) or compilation off (main). Which settings do it
    # differs by version.
    Case("llama-tp2-flashcomm1", engine={"tensor_parallel_size": 2}, additional={"enable_flashcomm1": True},
         tp_aligned=True, differs=(FLASHCOMM1_REMOVED,)),
    Case("llama-seqs7-tp2-flashcomm1", engine=seqs(7, tensor_parallel_size=2), additional={"enable_flashcomm1": True},
         tp_aligned=True, differs=(FLASHCOMM1_REMOVED,)),
    Case("llama-seqs12-spec1-tp2-flashcomm1-full-decode-only",
         engine=seqs(12, **ngram(1), tensor_parallel_size=2, **mode("FULL_DECODE_ONLY")),
         additional={"enable_flashcomm1": True}, tp_aligned=True, differs=(FLASHCOMM1_REMOVED,)),
    Case("qwen3-moe-tp2-ep-shared-expert-dp", model="qwen3-moe",
         engine={"tensor_parallel_size": 2, "enable_expert_parallel": True},
         additional={"enable_shared_expert_dp": True}, tp_aligned=True, differs=(SHARED_EXPERT_DP_WITHOUT_SP,)),
    Case("qwen3-moe-tp2-dp2-ep", model="qwen3-moe",
         engine={"tensor_parallel_size": 2, "data_parallel_size": 2, "enable_expert_parallel": True},
         sequence_parallel_moe=True, tp_aligned=False, differs=(SP_MOE_TP_ALIGNED,)),
    Case("llama-tp2-dsa-cp", engine={"tensor_parallel_size": 2}, additional={"enable_dsa_cp": True},
         tp_aligned=False, differs=(DSA_CP_TP_ALIGNED,)),
    Case("llama-stock-torch-compile-full-decode-only", engine=mode("FULL_DECODE_ONLY", mode=1),
         cudagraph_mode="NONE", differs=(STOCK_COMPILE_KEEPS_GRAPHS,)),
    Case("llama-stock-torch-compile-full", engine=mode("FULL", mode=1), cudagraph_mode="NONE",
         differs=(STOCK_COMPILE_KEEPS_GRAPHS,)),
    # vLLM itself turns piecewise modes off without VLLM_COMPILE, before any plugin: NONE everywhere.
    Case("llama-stock-torch-compile-default", engine={"compilation_config": {"mode": 1}}, cudagraph_mode="NONE"),
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
    # What the model runner captures (issue 13): max_num_seqs off the grid, speculative decoding
    # (sizes rounded to multiples of 1 + K), MLA, each mode, sizes the user gave, TP 2.
    Case("llama-seqs12", engine=seqs(12)),
    Case("llama-seqs12-full-decode-only", engine=seqs(12, **mode("FULL_DECODE_ONLY"))),
    Case("llama-seqs12-full", engine=seqs(12, **mode("FULL"))),
    Case("llama-seqs12-piecewise", engine=seqs(12, **mode("PIECEWISE"))),
    Case("llama-seqs20", engine=seqs(20)),
    Case("llama-seqs3", engine=seqs(3)),
    Case("llama-seqs1-spec2-full-decode-only", engine=seqs(1, **ngram(2), **mode("FULL_DECODE_ONLY"))),
    Case("llama-seqs7-spec1", engine=seqs(7, **ngram(1))),
    Case("llama-seqs12-spec2-full", engine=seqs(12, **ngram(2), **mode("FULL"))),
    Case("llama-seqs12-spec3-piecewise", engine=seqs(12, **ngram(3), **mode("PIECEWISE"))),
    Case("llama-seqs100-spec2-full-decode-only", engine=seqs(100, **ngram(2), **mode("FULL_DECODE_ONLY"))),
    Case("llama-seqs300-spec1", engine=seqs(300, **ngram(1), max_num_batched_tokens=1024)),  # past the cap of 512
    Case("llama-seqs64-spec3-token-budget", engine=seqs(64, **ngram(3), max_num_batched_tokens=100)),
    Case("llama-seqs12-tp2", engine=seqs(12, tensor_parallel_size=2)),
    Case("llama-seqs20-spec1-tp2-full-decode-only", engine=seqs(20, **ngram(1), tensor_parallel_size=2,
                                                               **mode("FULL_DECODE_ONLY"))),
    Case("deepseek-v3-seqs12-spec1", model="deepseek-v3", engine=seqs(12, **ngram(1))),
    Case("deepseek-v3-seqs20-full", model="deepseek-v3", engine=seqs(20, **mode("FULL"))),
    Case("deepseek-v3-seqs12-spec3-full-decode-only", model="deepseek-v3",
         engine=seqs(12, **ngram(3), **mode("FULL_DECODE_ONLY"))),
    Case("qwen3-moe-seqs12-spec1-tp2", model="qwen3-moe", engine=seqs(12, **ngram(1), tensor_parallel_size=2)),
    Case("qwen3-vl-seqs12", model="qwen3-vl", engine=seqs(12)),
    Case("whisper-seqs12", model="whisper", engine=seqs(12)),
    Case("llama-xlite-seqs12-installed", engine=seqs(12), additional=xlite(), xlite_installed=True),
    Case("llama-950-seqs100", soc="950", engine=seqs(100)),
    # Sizes the user gave are kept as given (the eager decode batches are named in a note).
    Case("llama-seqs12-user-sizes",
         engine=seqs(12, **mode("FULL_AND_PIECEWISE", cudagraph_capture_sizes=[1, 2, 4, 8]))),
    Case("llama-seqs20-user-max-size", engine=seqs(20, **mode("FULL_DECODE_ONLY", max_cudagraph_capture_size=16))),
    Case("llama-seqs12-spec3-user-sizes", engine=seqs(12, **ngram(3), **mode("FULL_DECODE_ONLY",
                                                                         cudagraph_capture_sizes=[1, 6, 30, 48]))),
    # 310P with ngram: its model runner captures decode graphs for one token per request, a rule
    # of vLLM Ascend's that the plan does not model; the worker reports it.
    Case("llama-310p-seqs12-spec1-full-decode-only", soc="310P",
         engine=seqs(12, **ngram(1), **mode("FULL_DECODE_ONLY")),
         worker_overrides=("graphs",)),
]
# Speculative-decoding drafters on the V1 model runner (issue 17): the proposer vLLM Ascend's model runner
# builds, whether it runs graphs, and how it dispatches each decode batch's draft (drafter_stage.py); MTP
# (DeepSeek V3), EAGLE3 (a Llama draft), GLM's MTP (eager), K = 1 to 3, max_num_seqs off the grid; the
# padded drafter batch with full graphs, which the real start refuses; a method no proposer serves.
CASES += [
    Case("deepseek-v3-mtp1-seqs12", model="deepseek-v3", engine=seqs(12, **speculative("mtp", 1))),
    Case("deepseek-v3-mtp2-seqs20-full-decode-only", model="deepseek-v3",
         engine=seqs(20, **speculative("mtp", 2), **mode("FULL_DECODE_ONLY"))),
    Case("deepseek-v3-mtp3-seqs7", model="deepseek-v3", engine=seqs(7, **speculative("mtp", 3))),
    Case("deepseek-v3-mtp2-drafter-enforce-eager", model="deepseek-v3",
         engine=seqs(12, **speculative("mtp", 2, enforce_eager=True))),
    Case("deepseek-v3-mtp1-unpadded", model="deepseek-v3",
         engine=seqs(12, **speculative("mtp", 1, disable_padded_drafter_batch=True)),
         cudagraph_mode="PIECEWISE", raises_without_plugin=UNPADDED_FULL_GRAPHS),
    Case("deepseek-v3-mtp1-unpadded-full-decode-only", model="deepseek-v3",
         engine=seqs(12, **speculative("mtp", 1, disable_padded_drafter_batch=True), **mode("FULL_DECODE_ONLY")),
         error="compilation_config.cudagraph_mode: got FULL_DECODE_ONLY with speculative_config.disable_padded_drafter",
         error_type="GraphConfigError", raises_without_plugin=UNPADDED_FULL_GRAPHS),
    Case("llama-eagle3-2-seqs12", engine=seqs(12, **speculative("eagle3", 2)), draft_model="llama-eagle3"),
    Case("llama-eagle3-3-seqs20-piecewise", engine=seqs(20, **speculative("eagle3", 3), **mode("PIECEWISE")),
         draft_model="llama-eagle3"),
    Case("glm4-moe-mtp1-seqs12", model="glm4-moe-mtp", engine=seqs(12, **speculative("mtp", 1))),
    # a draft model's first pass has one more token per request than the target's decode step
    Case("llama-draft-model-2-seqs12", engine=seqs(12, **speculative("draft_model", 2)), draft_model="llama"),
    Case("llama-draft-model-1-seqs20-full-decode-only",
         engine=seqs(20, **speculative("draft_model", 1), **mode("FULL_DECODE_ONLY")), draft_model="llama"),
    # vLLM's own proposer needs the padded drafter batch for a draft model, whatever the graphs
    Case("llama-draft-model-unpadded-piecewise",
         engine={**speculative("draft_model", 1, disable_padded_drafter_batch=True), **mode("PIECEWISE")},
         draft_model="llama", error="speculative_config.disable_padded_drafter_batch: got True with method "
                                    "'draft_model'", error_type="GraphConfigError",
         raises_without_plugin="NotImplementedError: Speculative Decoding with draft models or parallel drafting"),
    Case("llama-custom-class-proposer", engine={"speculative_config": {
        "method": "custom_class", "model": "my_package.MyProposer", "num_speculative_tokens": 1}},
         error="speculative_config.method: got 'custom_class'", error_type="GraphConfigError",
         raises_without_plugin="ValueError: Unknown speculative decoding method: custom_class"),
]
# KV connectors that full graphs cannot capture: vLLM asks the connector's class before any platform pass
# (requires_piecewise_for_cudagraph) and runs PIECEWISE; the plan follows it, and explain predicts it.
CASES += [
    Case("llama-kv-lmcache-layerwise", engine=kv_connector("LMCacheConnectorV1", True), cudagraph_mode="PIECEWISE"),
    Case("llama-kv-lmcache", engine=kv_connector("LMCacheConnectorV1", False), cudagraph_mode="FULL_AND_PIECEWISE"),
    Case("llama-kv-ascend-store-layerwise-full-decode-only",
         engine={**kv_connector("AscendStoreConnector", True), **mode("FULL_DECODE_ONLY")}, cudagraph_mode="PIECEWISE"),
    Case("deepseek-v3-mtp2-seqs12-kv-ascend-store-layerwise", model="deepseek-v3",
         engine=seqs(12, **speculative("mtp", 2), **kv_connector("MooncakeConnectorStoreV1", True)),
         cudagraph_mode="PIECEWISE"),
]


def v2(case_id: str, **fields: Any) -> Case:
    """A case under Model Runner V2 (VLLM_USE_V2_MODEL_RUNNER=1), which vllm-ascend 0.23.0.post1 turns off."""
    differs = fields.pop("differs", ())
    return Case(case_id, model_runner_v2=True, differs=(*differs, V2_FALLS_BACK_TO_V1), **fields)


# Model Runner V2: vLLM's CudaGraphManager keys the graphs (vllm-ascend's ModelAclGraphManager). vLLM refuses
# an n-gram drafter under V2 on every version here (`_get_v2_model_runner_unsupported_features`).
CASES += [
    v2("llama-v2-default"),
    *(v2(f"llama-v2-{name.lower()}", engine=mode(name)) for name in ("FULL_DECODE_ONLY", "FULL", "PIECEWISE")),
    v2("llama-v2-enforce-eager", engine={"enforce_eager": True}),
    v2("llama-v2-seqs12", engine=seqs(12)),
    v2("llama-v2-seqs12-full-decode-only", engine=seqs(12, **mode("FULL_DECODE_ONLY"))),
    v2("llama-v2-seqs100-full", engine=seqs(100, **mode("FULL"))),
    v2("llama-v2-seqs3-piecewise", engine=seqs(3, **mode("PIECEWISE"))),
    v2("llama-v2-seqs12-user-sizes", engine=seqs(12, **mode("FULL_DECODE_ONLY", cudagraph_capture_sizes=[1, 2, 4, 8]))),
    v2("llama-v2-seqs20-user-max-size", engine=seqs(20, **mode("FULL_AND_PIECEWISE", max_cudagraph_capture_size=16))),
    v2("llama-v2-seqs7-tp2-flashcomm1", engine=seqs(7, tensor_parallel_size=2), additional={"enable_flashcomm1": True},
       tp_aligned=True, differs=(FLASHCOMM1_REMOVED,)),
    v2("deepseek-v3-v2-seqs12-full-decode-only", model="deepseek-v3", engine=seqs(12, **mode("FULL_DECODE_ONLY"))),
    v2("qwen3-moe-v2-seqs20", model="qwen3-moe", engine=seqs(20)),
    v2("qwen3-vl-v2-seqs20-full-decode-only", model="qwen3-vl", engine=seqs(20, **mode("FULL_DECODE_ONLY"))),
    v2("whisper-v2-seqs12", model="whisper", engine=seqs(12)),
    # With a drafter: DeepSeek V3's MTP layer (vllm-ascend's AscendMTPSpeculator, whose draft-prefill and
    # draft-decode managers are its EagleAclGraphManager); draft decode runs with K >= 2, one token per request.
    v2("deepseek-v3-v2-mtp1-seqs12-full-decode-only", model="deepseek-v3",
       engine=seqs(12, **speculative("mtp", 1), **mode("FULL_DECODE_ONLY"))),
    v2("deepseek-v3-v2-mtp2-seqs12", model="deepseek-v3", engine=seqs(12, **speculative("mtp", 2))),
    v2("deepseek-v3-v2-mtp3-seqs20-full-decode-only", model="deepseek-v3",
       engine=seqs(20, **speculative("mtp", 3), **mode("FULL_DECODE_ONLY"))),
    v2("deepseek-v3-v2-mtp2-seqs7-piecewise", model="deepseek-v3",
       engine=seqs(7, **speculative("mtp", 2), **mode("PIECEWISE"))),
    v2("deepseek-v3-v2-mtp2-seqs100", model="deepseek-v3", engine=seqs(100, **speculative("mtp", 2))),
    # vLLM Ascend's XliteWorker and 310P worker build their own V1 runner whatever is asked.
    Case("llama-v2-xlite-seqs12-installed", engine=seqs(12), additional=xlite(), xlite_installed=True,
         model_runner_v2=True, model_runner="V1"),
    Case("llama-v2-310p-seqs12-full-decode-only", soc="310P", engine=seqs(12, **mode("FULL_DECODE_ONLY")),
         model_runner_v2=True, model_runner="V1"),
]
BY_ID = {case.id: case for case in CASES}
assert len(BY_ID) == len(CASES), "case ids must be unique"
