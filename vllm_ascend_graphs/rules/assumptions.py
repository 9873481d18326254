"""`--assume KEY=VALUE` and `ASCEND_GRAPHS_ASSUME`: plan a deployment from another machine.

An assumption replaces a probed fact about the environment or the model. Each key has one parser,
so an unknown key or a bad value is an error that lists what is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import NamedTuple

from ..enums import AttentionSupport
from ..errors import GraphConfigError, did_you_mean, invalid, show
from ..probes.environment import ASSUMED, DEVICES, SOCS, Environment
from ..probes.vllm_ascend import RELEASES
from .config import parse_count
from .models import ModelInfo

ENV_VAR = "ASCEND_GRAPHS_ASSUME"
ABSENT = "absent"


def _choice(choices: Iterable[str]) -> Callable[[str, str], str]:
    by_upper = {c.upper(): c for c in choices}

    def parse(key: str, value: str) -> str:
        if value.upper() in by_upper:
            return by_upper[value.upper()]
        raise invalid(key, value, ", ".join(by_upper.values()), choices=by_upper.values())

    return parse


def _count(minimum: int) -> Callable[[str, str], int]:
    def parse(key: str, value: str) -> int:
        return parse_count(key, value, minimum=minimum)

    return parse


def _flag(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise invalid(key, value, "true or false (1/0, yes/no)")


def _version(key: str, value: str) -> str | None:
    if value.lower() == ABSENT:
        return None
    if value and all(c.isalnum() or c in ".+-_" for c in value):
        return value
    raise invalid(key, value, f"a version such as 2.10.0, or {ABSENT!r}")


def _attention(key: str, value: str) -> AttentionSupport:
    return AttentionSupport.parse(value, key)


ENVIRONMENT_KEYS: dict[str, Callable[[str, str], object]] = {
    "device": _choice(DEVICES),
    "soc": _choice(SOCS),
    "torch_npu": _version,
    "cann": _version,
    "xlite": _version,
    "vllm_ascend": _choice(RELEASES),  # a release with a built-in table: planning needs its facts
    "vllm": _version,
    "model_runner": _choice(("v1", "v2")),
    "tp": _count(1),
    "pp": _count(1),
    "dp": _count(1),
    "dcp": _count(1),
    "pcp": _count(1),
    "spec_tokens": _count(0),
    "expert_parallel": _flag,
    "sequence_parallel_moe": _flag,
    "launch_blocking": _flag,
    "static_graphs": _flag,  # vLLM's platform captures graphs (a platform plugin), whatever the device
}
MODEL_KEYS: dict[str, Callable[[str, str], object]] = {
    "encoder_decoder": _flag,
    "attention": _attention,
}
ALL_KEYS = (*ENVIRONMENT_KEYS, *MODEL_KEYS)


_NOTHING: Mapping[str, object] = MappingProxyType({})


class Assumptions(NamedTuple):
    """Parsed assumptions: environment fields and model fields to override."""

    environment: Mapping[str, object] = _NOTHING
    model: Mapping[str, object] = _NOTHING

    @classmethod
    def parse(cls, specs: Iterable[str], source: str = "--assume") -> Assumptions:
        """Parse `KEY=VALUE` items; each spec may hold several, comma-separated."""
        environment: dict[str, object] = {}
        model: dict[str, object] = {}
        for spec in specs:
            for item in filter(None, (part.strip() for part in spec.split(","))):
                key, sep, value = (part.strip() for part in item.partition("="))
                key = key.lower()
                if not sep or not value:
                    raise GraphConfigError(
                        f"{source}: got {show(item)}; allowed: KEY=VALUE with KEY one of {', '.join(ALL_KEYS)}")
                if key in ENVIRONMENT_KEYS:
                    environment[key] = ENVIRONMENT_KEYS[key](f"{source} {key}", value)
                elif key in MODEL_KEYS:
                    model[key] = MODEL_KEYS[key](f"{source} {key}", value)
                else:
                    raise GraphConfigError(
                        f"{source}: unknown key {show(key)};{did_you_mean(key, ALL_KEYS)} "
                        f"allowed: {', '.join(ALL_KEYS)}"
                    )
        return cls(environment, model)

    @classmethod
    def from_environ(cls) -> Assumptions:
        return cls.parse([os.environ.get(ENV_VAR, "")], source=ENV_VAR)

    def merged(self, later: Assumptions) -> Assumptions:
        """These assumptions with `later`'s values taking precedence."""
        return Assumptions({**self.environment, **later.environment}, {**self.model, **later.model})

    def apply_to_environment(self, env: Environment) -> Environment:
        changes = dict(self.environment)
        if "model_runner" in changes:
            changes["model_runner_v2"] = changes.pop("model_runner") == "v2"
        for flag in ("launch_blocking", "expert_parallel", "sequence_parallel_moe", "static_graphs"):
            if flag in changes:
                changes[flag] = bool(changes[flag])
        if "device" in changes and "static_graphs" not in changes:
            changes["static_graphs"] = None  # as usual for the assumed device
        if changes.get("device") == "npu" and "torch_npu" not in changes:
            changes["torch_npu"] = env.torch_npu or ASSUMED
        if "torch_npu" in changes:
            changes["torch_npu_error"] = None
        if "xlite" in changes:
            changes["xlite_error"] = None
            changes["xlite_unchecked"] = False
        if not changes:
            return env
        return env.replace(**changes, assumed=env.assumed | set(self.environment) | (set(changes) & {"torch_npu"}))

    def apply_to_model(self, model: ModelInfo) -> ModelInfo:
        changes = {("attention_support" if k == "attention" else k): v for k, v in self.model.items()}
        return model.replace(**changes) if changes else model
