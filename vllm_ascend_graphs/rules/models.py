"""What is being run: the model's architecture and the traits that decide its graph path."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..enums import AttentionSupport
from ..errors import GraphConfigError, invalid, one_line, show

FAMILIES = ("llama", "qwen-dense", "qwen-moe", "qwen3-vl", "deepseek-mla", "glm-moe", "minimax", "other")

STANDARD_ATTENTION = "AscendAttentionBackend"
MLA_ATTENTION = "AscendMLABackend"
SPARSE_ATTENTION = "AscendSFABackend"
LINEAR_ATTENTION = "GDN (linear attention)"
MINIMAX_ATTENTION = "MiniMax MSA"

# Declared full-graph support of each Ascend attention backend (guide, "Attention backend
# compatibility"): MLA and sparse/linear attention limit full graphs to uniform batches.
ATTENTION_SUPPORT = {
    STANDARD_ATTENTION: AttentionSupport.ALWAYS,
    MLA_ATTENTION: AttentionSupport.UNIFORM_BATCH,
    SPARSE_ATTENTION: AttentionSupport.UNIFORM_BATCH,
    LINEAR_ATTENTION: AttentionSupport.UNIFORM_BATCH,
    MINIMAX_ATTENTION: AttentionSupport.UNIFORM_BATCH,
}


class _Traits(NamedTuple):
    family: str
    moe: bool = False
    vision: bool = False
    encoder_decoder: bool = False
    attention: str = STANDARD_ATTENTION


KNOWN_ARCHITECTURES: dict[str, _Traits] = {
    "LlamaForCausalLM": _Traits("llama"),
    "Qwen2ForCausalLM": _Traits("qwen-dense"),
    "Qwen3ForCausalLM": _Traits("qwen-dense"),
    "Qwen2MoeForCausalLM": _Traits("qwen-moe", moe=True),
    "Qwen3MoeForCausalLM": _Traits("qwen-moe", moe=True),
    "Qwen3NextForCausalLM": _Traits("qwen-moe", moe=True, attention=LINEAR_ATTENTION),
    "Qwen3VLForConditionalGeneration": _Traits("qwen3-vl", vision=True),
    "Qwen3VLMoeForConditionalGeneration": _Traits("qwen3-vl", moe=True, vision=True),
    "DeepseekV2ForCausalLM": _Traits("deepseek-mla", moe=True, attention=MLA_ATTENTION),
    "DeepseekV3ForCausalLM": _Traits("deepseek-mla", moe=True, attention=MLA_ATTENTION),
    "DeepseekV32ForCausalLM": _Traits("deepseek-mla", moe=True, attention=SPARSE_ATTENTION),
    "Glm4MoeForCausalLM": _Traits("glm-moe", moe=True),
    "GlmMoeDsaForCausalLM": _Traits("glm-moe", moe=True, attention=SPARSE_ATTENTION),
    "MiniMaxM2ForCausalLM": _Traits("minimax", moe=True, attention=MINIMAX_ATTENTION),
    "MiniMaxText01ForCausalLM": _Traits("minimax", moe=True, attention=MINIMAX_ATTENTION),
    "WhisperForConditionalGeneration": _Traits("other", encoder_decoder=True),
    "BartForConditionalGeneration": _Traits("other", encoder_decoder=True),
}

_MOE_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")


class ModelInfo(NamedTuple):  # not a dataclass: docs/architecture.md, "Rules of the house"
    """The model traits graph selection depends on."""

    architecture: str = "unknown"
    family: str = "other"
    encoder_decoder: bool = False
    moe: bool = False
    vision: bool = False
    attention_backend: str = STANDARD_ATTENTION
    attention_support: AttentionSupport = AttentionSupport.ALWAYS
    recognised: bool = True  # False: an architecture without known traits, planned as family "other"
    model_type: str = ""  # its (text) config's model_type, where a config was read: vLLM Ascend's GLM rule reads it

    @classmethod
    def from_architecture(cls, architecture: str, key: str = "architecture") -> ModelInfo:
        """Traits known for an architecture name such as `Qwen3ForCausalLM`.

        An unknown name is accepted (new architectures appear every week) with the traits of
        family "other"; `unrecognised_note()` then says so. An empty name is an error.
        """
        if not isinstance(architecture, str) or not architecture.strip():
            raise invalid(key, architecture, "an architecture name such as Qwen3ForCausalLM")
        architecture = architecture.strip()
        traits = KNOWN_ARCHITECTURES.get(architecture)
        recognised = traits is not None
        traits = traits or _Traits("other")
        return cls(
            architecture=architecture,
            family=traits.family,
            encoder_decoder=traits.encoder_decoder,
            moe=traits.moe,
            vision=traits.vision,
            attention_backend=traits.attention,
            attention_support=ATTENTION_SUPPORT[traits.attention],
            recognised=recognised,
        )

    @classmethod
    def from_config_dict(cls, config: Mapping[str, Any]) -> ModelInfo:
        """From a `config.json` as a dict; the config's own fields refine the architecture's traits."""
        architectures = config.get("architectures") or []
        if not isinstance(architectures, list) or not all(isinstance(a, str) for a in architectures):
            raise invalid("config.json architectures", architectures, "a list of names")
        info = cls.from_architecture(architectures[0], "config.json architectures[0]") if architectures else cls()
        text_config = config.get("text_config")
        text = text_config if isinstance(text_config, Mapping) else {}
        merged = {**text, **config}
        attention = info.attention_backend
        if merged.get("kv_lora_rank"):
            attention = SPARSE_ATTENTION if merged.get("index_topk") else MLA_ATTENTION
        return info._replace(
            encoder_decoder=info.encoder_decoder or bool(merged.get("is_encoder_decoder")),
            moe=info.moe or any(isinstance(merged.get(k), int) and merged[k] > 0 for k in _MOE_KEYS),
            vision=info.vision or "vision_config" in config,
            attention_backend=attention,
            attention_support=ATTENTION_SUPPORT[attention],
            model_type=str(text.get("model_type") or config.get("model_type") or ""),
        )

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str]) -> ModelInfo:
        """From a local model directory holding `config.json`."""
        import json  # only here: the decision path needs no JSON

        config_path = os.path.join(path, "config.json")
        try:
            with open(config_path, encoding="utf-8") as fh:
                config = json.load(fh)
        except FileNotFoundError:
            raise GraphConfigError(
                f"--model: no config.json in {show(str(path))}; allowed: a local model directory") from None
        except RecursionError:
            raise GraphConfigError(f"--model: {show(config_path)} is nested too deeply to read; "
                                   "allowed: a JSON object as transformers writes it") from None
        except (OSError, ValueError) as exc:  # a JSON error, bad UTF-8, or an integer past Python's digit limit
            raise GraphConfigError(f"--model: cannot read {show(config_path)}: {one_line(exc, typed=False)}") from None
        if not isinstance(config, dict):
            raise GraphConfigError(f"--model: {config_path!r} is not a JSON object")
        return cls.from_config_dict(config)

    @classmethod
    def from_hf_config(cls, hf_config: Any) -> ModelInfo:
        """From a transformers `PretrainedConfig` (or anything with `to_dict()`)."""
        return cls.from_config_dict(hf_config.to_dict())

    def replace(self, **changes: Any) -> ModelInfo:
        return self._replace(**changes)

    def unrecognised_note(self) -> str | None:
        """For an architecture without known traits: what it is planned as, and how to correct that."""
        if self.recognised:
            return None
        return (f"architecture {show(self.architecture)} is not one this package knows: it is planned as family "
                f"'other' with {self.attention_backend} ({self.attention_support.name}); if its attention "
                "supports full graphs less, say so with --assume attention=LEVEL (or ASCEND_GRAPHS_ASSUME)")

    def describe(self) -> str:
        flags = (("MoE", self.moe), ("vision", self.vision), ("encoder-decoder", self.encoder_decoder))
        traits = [trait for trait, on in flags if on]
        extra = f", {', '.join(traits)}" if traits else ""
        return (f"{self.architecture} (family {self.family}{extra}; attention {self.attention_backend}: "
                f"{self.attention_support.name})")
