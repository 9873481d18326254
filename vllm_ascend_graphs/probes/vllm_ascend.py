"""What vLLM Ascend's platform does that a plan must follow, read from the installed vllm-ascend.

Importing `vllm_ascend` imports torch_npu, which breaks on a machine without CANN, and these facts
change between its releases (its main branch drops FlashComm v1 and adds xlite adapters). So they
are read from its source files, parsed with `ast` and never imported, when first asked for. Where
vllm-ascend is not installed, or another release is assumed (`--assume vllm_ascend=main`), the
built-in table of that release stands in; 0.23.0.post1, the release this package pairs with,
when nothing is installed or assumed. Which TP settings prune the capture sizes can only be known
per release (it is spread over several functions), so that fact always comes from the table.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import ast

RELEASES = ("0.23.0.post1", "0.26.0rc", "main")  # the releases with a built-in table, oldest first
DEFAULT_RELEASE = RELEASES[0]

# `other_compilation_modes`: the `compilation_config` field vLLM Ascend sets to NONE when the
# compilation mode is neither NONE nor VLLM_COMPILE.
NO_GRAPHS = "cudagraph_mode"  # no graphs (and with them no capture sizes, no Npugraph_ex)
NO_COMPILATION = "mode"  # no compilation; the graph mode is kept, and piecewise modes then fail its assertion

FLASHCOMM1 = "enable_flashcomm1"
# The files read, below the `vllm_ascend` package folder.
XLITE_ADAPTERS = ("xlite", "xlite.py")
XLITE_WORKER = ("xlite", "xlite_worker.py")
PLATFORM = ("platform.py",)
SPEC_DECODE = ("spec_decode", "__init__.py")
WORKER = ("worker", "worker.py")


class VllmAscendFacts(NamedTuple):  # not a dataclass: docs/architecture.md, "Rules of the house"
    """One vllm-ascend's graph-relevant behaviour, and where each fact was learnt."""

    release: str  # the described release it is or is nearest to (one of RELEASES): whose table fills gaps
    source: str  # for messages: "vllm-ascend 0.23.0.post1 (installed)" or "vllm-ascend main (built-in table)"
    version: str | None  # the installed version (its distribution metadata); None for a built-in table
    xlite_worker: bool  # whether it has an XliteGraph path at all (vllm_ascend/xlite/xlite_worker.py)
    xlite_architectures: frozenset[str]  # the architectures its xlite adapters serve
    # The settings that make its platform keep only capture sizes that are multiples of TP (with TP > 1,
    # a graph mode and no enforce_eager): "additional_config.KEY" or "parallel_config.FIELD" (vLLM's).
    # additional_config.enable_shared_expert_dp counts only with expert parallelism, as AscendConfig reads it.
    tp_multiple_triggers: tuple[str, ...]
    other_compilation_modes: str  # NO_GRAPHS or NO_COMPILATION
    speculative_methods: frozenset[str]  # the speculative methods its V1 model runner has a proposer for
    # The vLLM versions on which its NPUWorker runs the V1 model runner although Model Runner V2 is asked for.
    v2_falls_back_on: frozenset[str]
    from_table: frozenset[str]  # the fields above taken from the built-in table of `release`

    @property
    def rules(self) -> str:
        """A short fingerprint of the facts a plan follows: equal for two installs whose platforms plan alike."""
        import hashlib  # only where a plan records it: on an NPU

        text = repr([sorted(value) if isinstance(value, frozenset) else value for value in
                     (getattr(self, field) for field in FACTS)])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def source_of(self, field: str) -> str:
        """Where `field` was learnt, for messages."""
        if field not in self.from_table or self.version is None:
            return self.source
        return f"the built-in table for vllm-ascend {self.release} (installed: {self.version})"

    def replace(self, **changes: Any) -> VllmAscendFacts:
        return self._replace(**changes)


FACTS = ("xlite_worker", "xlite_architectures", "tp_multiple_triggers", "other_compilation_modes",
         "speculative_methods", "v2_falls_back_on")
# The vLLM each release pairs with (its Dockerfile's VLLM_TAG): what it runs on where no vLLM is known.
PAIRED_VLLM: Mapping[str, str] = MappingProxyType({"0.23.0.post1": "0.23.0", "0.26.0rc": "0.26.0", "main": "0.27.1"})


def _table(release: str, xlite: frozenset[str], triggers: tuple[str, ...], other_modes: str,
           methods: frozenset[str], v2_falls_back_on: frozenset[str] = frozenset()) -> VllmAscendFacts:
    return VllmAscendFacts(release, f"vllm-ascend {release} (built-in table)", None, True, xlite, triggers,
                           other_modes, methods, v2_falls_back_on, frozenset(FACTS))


# The built-in tables, each checked against that release's source (tests/real/test_vllm_ascend_facts.py).
_XLITE_0_23 = frozenset({
    "LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3VLForConditionalGeneration",
    "Qwen3MoeForCausalLM", "Qwen3VLMoeForConditionalGeneration", "Glm4MoeForCausalLM", "MiniMaxM2ForCausalLM",
})
_METHODS_0_23 = frozenset({"ngram", "ngram_gpu", "suffix", "medusa", "eagle", "eagle3", "mtp", "dflash", "draft_model",
                           "extract_hidden_states"})
BUILTIN: Mapping[str, VllmAscendFacts] = MappingProxyType({
    "0.23.0.post1": _table(
        "0.23.0.post1", _XLITE_0_23,
        ("additional_config.enable_flashcomm1", "additional_config.enable_shared_expert_dp"), NO_GRAPHS, _METHODS_0_23,
        frozenset({"0.23.0"})),
    "0.26.0rc": _table("0.26.0rc", _XLITE_0_23, ("additional_config.enable_flashcomm1",), NO_GRAPHS,
                       _METHODS_0_23 | {"dspark"}),
    "main": _table(
        "main", _XLITE_0_23 | {"DeepseekV3ForCausalLM", "DeepseekV32ForCausalLM", "GlmMoeDsaForCausalLM"},
        ("parallel_config.use_sequence_parallel_moe", "additional_config.enable_shared_expert_dp",
         "additional_config.enable_dsa_cp"), NO_COMPILATION, _METHODS_0_23 | {"dspark"}),
})


SHARED_EXPERT_DP = "enable_shared_expert_dp"


def tp_alignment(facts: VllmAscendFacts, switches: Mapping[str, bool], *, expert_parallel: bool,
                 sequence_parallel_moe: bool, flashcomm1_env: bool) -> str | None:
    """Which of `facts.tp_multiple_triggers` is on here (making the platform keep only capture sizes
    that are multiples of TP), or None. `switches`: the top-level boolean keys of additional_config;
    FlashComm v1 follows its environment variable where additional_config does not name it, and
    shared-expert DP counts only with expert parallelism."""
    for trigger in facts.tp_multiple_triggers:
        section, _, key = trigger.partition(".")
        if section == "parallel_config":
            on = key == "use_sequence_parallel_moe" and sequence_parallel_moe
        elif key == SHARED_EXPERT_DP:
            on = switches.get(key, False) and expert_parallel
        else:
            on = switches.get(key, key == FLASHCOMM1 and flashcomm1_env)
        if on:
            return trigger
    return None


@functools.cache
def vllm_ascend_facts(version: str | None, *, assumed: bool = False) -> VllmAscendFacts:
    """The facts of vllm-ascend `version`: read from the installed one when `version` is its (probed)
    version, else the built-in table of that release (an assumed one names a release)."""
    package = None if assumed or version is None else _package_dir()
    if package is None:
        return BUILTIN[DEFAULT_RELEASE if version is None else release_of(version)]
    return read_vllm_ascend(package, version)


def release_of(version: str) -> str:
    """The described release a vllm-ascend version is or follows: 0.23 and older -> 0.23.0.post1, 0.24 to 0.26
    -> 0.26.0rc, newer ones and 0.0.0 (what its setup.py calls a checkout without tags) -> main."""
    if version in RELEASES:
        return version
    match = re.match(r"(\d+)\.(\d+)", version)
    numbers = (int(match[1]), int(match[2])) if match else (0, 0)
    if numbers == (0, 0) or numbers > (0, 26):
        return "main"
    return "0.26.0rc" if numbers > (0, 23) else "0.23.0.post1"


@functools.cache
def _package_dir() -> str | None:
    """The folder of the `vllm_ascend` package on `sys.path`; finding it imports nothing."""
    try:
        spec = importlib.util.find_spec("vllm_ascend")
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return locations[0] if locations else None


@functools.cache
def read_vllm_ascend(package: str, version: str) -> VllmAscendFacts:
    """The facts of the vllm-ascend source in `package` (its `vllm_ascend/` folder). What cannot be read
    (a file missing or unparsable, a pattern not found) comes from the table of its release, and says so."""
    table = BUILTIN[release_of(version)]
    read: dict[str, object] = {"xlite_worker": os.path.exists(os.path.join(package, *XLITE_WORKER))}
    adapters = _parse(package, XLITE_ADAPTERS) if read["xlite_worker"] else None
    if not read["xlite_worker"]:
        read["xlite_architectures"] = frozenset()
    elif adapters is not None:
        read["xlite_architectures"] = frozenset(_supported_architectures(adapters))
    platform = _parse(package, PLATFORM)
    if platform is not None:
        other_modes = _other_compilation_modes(platform)
        if other_modes is not None:
            read["other_compilation_modes"] = other_modes
    spec_decode = _parse(package, SPEC_DECODE)
    methods = _speculative_methods(spec_decode) if spec_decode is not None else None
    if methods:
        read["speculative_methods"] = frozenset(methods)
    worker = _parse(package, WORKER)
    if worker is not None:
        read["v2_falls_back_on"] = frozenset(_v2_falls_back_on(worker))
    return table.replace(source=f"vllm-ascend {version} (installed)", version=version,
                         from_table=frozenset(FACTS) - set(read), **read)


def clear_cache() -> None:
    """Forget what was found and read (after installing into a running process, and in tests)."""
    for cached in (vllm_ascend_facts, _package_dir, read_vllm_ascend):
        cached.cache_clear()


def _parse(package: str, path: tuple[str, ...]) -> ast.Module | None:
    import ast  # only where vllm-ascend is installed: not on every decision's import path

    try:
        with open(os.path.join(package, *path), encoding="utf-8") as fh:
            return ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return None


def _supported_architectures(tree: ast.Module) -> set[str]:
    """Every class-level `_supported_architectures` of the module: a list of names, or one name alone
    (its adapter base class accepts a bare string)."""
    import ast

    found: set[str] = set()
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        for statement in cls.body:
            if isinstance(statement, ast.Assign):
                targets, assigned = statement.targets, statement.value
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                targets, assigned = [statement.target], statement.value
            else:
                continue
            if any(isinstance(t, ast.Name) and t.id == "_supported_architectures" for t in targets):
                try:
                    value = ast.literal_eval(assigned)
                    found.update(a for a in ([value] if isinstance(value, str) else value) if isinstance(a, str))
                except (ValueError, TypeError):
                    continue
    return found


def _other_compilation_modes(tree: ast.Module) -> str | None:
    """What `if X.mode not in [CompilationMode.NONE, CompilationMode.VLLM_COMPILE]:` sets: `X.cudagraph_mode`
    (NO_GRAPHS) or `X.mode` (NO_COMPILATION); None where no such test is found."""
    import ast

    for node in ast.walk(tree):
        if not isinstance(node, ast.If):
            continue
        test = node.test
        if not (isinstance(test, ast.Compare) and [type(op) for op in test.ops] == [ast.NotIn]
                and isinstance(test.left, ast.Attribute) and test.left.attr == "mode"):
            continue
        if {"NONE", "VLLM_COMPILE"} <= {n.attr for n in ast.walk(test.comparators[0]) if isinstance(n, ast.Attribute)}:
            assigned = {target.attr for statement in node.body for n in ast.walk(statement)
                        if isinstance(n, ast.Assign) for target in n.targets if isinstance(target, ast.Attribute)}
            for field in (NO_GRAPHS, NO_COMPILATION):
                if field in assigned:
                    return field
    return None


def _speculative_methods(tree: ast.Module) -> set[str]:
    """The method names `get_spec_decode_method` compares its `method` with (`method == "ngram"`,
    `method in ("eagle", "eagle3", "mtp")`): those it builds a proposer for; any other raises."""
    import ast

    found: set[str] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Name) and node.left.id == "method"
                and isinstance(node.ops[0], (ast.Eq, ast.In))):
            for constant in ast.walk(node.comparators[0]):
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                    found.add(constant.value)
    return found


def _v2_falls_back_on(tree: ast.Module) -> set[str]:
    """The vLLM versions of every `if self.use_v2_model_runner and vllm_version_is("X"): ...
    self.use_v2_model_runner = False` (0.23.0.post1's worker.py runs V1 on vLLM 0.23.0)."""
    import ast

    found: set[str] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And)):
            continue
        asks = any(isinstance(t, ast.Attribute) and t.attr == "use_v2_model_runner" for t in node.test.values)
        turned_off = any(isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and n.value.value is False
                         and any(isinstance(t, ast.Attribute) and t.attr == "use_v2_model_runner" for t in n.targets)
                         for statement in node.body for n in ast.walk(statement))
        if asks and turned_off:
            found.update(c.args[0].value for c in ast.walk(node.test) if isinstance(c, ast.Call)
                         and getattr(c.func, "id", None) == "vllm_version_is" and c.args
                         and isinstance(c.args[0], ast.Constant) and isinstance(c.args[0].value, str))
    return found

