"""What the user asked for: our `additional_config` keys and vLLM's graph settings, validated.

`GraphRequest.parse` is the only way in; every bad value raises `GraphConfigError` naming the key
path, the value and what is allowed. Unknown top-level keys belong to other plugins and are
ignored; unknown keys inside our own sections are errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from ..enums import CUDAGraphMode
from ..errors import GraphConfigError, did_you_mean, invalid, show
from .drafter import SpeculativeConfig
from .kv_connectors import KvTransfer

ROOT = "additional_config"
# The top-level additional_config keys this package owns; vLLM Ascend owns the rest.
OUR_KEYS = ("graph_backend", "graph_fallback", "graph_capture_policy", "graph_backend_options",
            "ascend_compilation_config", "xlite_graph_config")
AUTO = "auto"
CAPTURE_POLICIES = ("raise", "shrink", "eager")
BACKEND_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
MAX_COUNT = 2**31 - 1  # batch sizes and sequence counts: vLLM and the devices keep them in 32-bit integers


def normalise_name(name: str) -> str:
    """Backend names are case-insensitive; this is their one spelling."""
    return name.strip().lower()


class AscendCompilationConfig(NamedTuple):
    """`additional_config.ascend_compilation_config`. `None` means "not set": the mode decides.

    The `fuse_*` toggles other than `fuse_add_rms_norm` are vLLM Ascend's, with its meanings and
    defaults; `fuse_add_rms_norm` switches this package's own pass (vLLM Ascend ignores the key).
    """

    enable_npugraph_ex: bool | None = None
    enable_static_kernel: bool | None = None
    fuse_norm_quant: bool = True
    fuse_qknorm_rope: bool = True
    fuse_muls_add: bool = True
    fuse_allreduce_rms: bool = False
    fuse_add_rms_norm: bool = True


class XliteGraphConfig(NamedTuple):
    """`additional_config.xlite_graph_config`."""

    enabled: bool = False
    full_mode: bool = False


class GraphRequest(NamedTuple):  # not a dataclass: docs/architecture.md, "Rules of the house"
    """A validated request: our `additional_config` sections plus vLLM's graph settings."""

    graph_backend: str | tuple[str, ...] = AUTO
    graph_fallback: bool = True
    graph_capture_policy: str = "raise"
    ascend_compilation_config: AscendCompilationConfig = AscendCompilationConfig()
    xlite_graph_config: XliteGraphConfig = XliteGraphConfig()
    graph_backend_options: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
    # vLLM Ascend's own top-level boolean keys (enable_flashcomm1, ...): some shape the graphs.
    ascend_switches: Mapping[str, bool] = MappingProxyType({})
    # vLLM's own settings (compilation_config, enforce_eager, scheduler), not additional_config.
    cudagraph_mode: CUDAGraphMode | None = None
    enforce_eager: bool = False
    compiling: bool = True
    # vLLM's compilation mode by name where it is neither NONE nor VLLM_COMPILE (STOCK_TORCH_COMPILE, ...).
    other_compilation_mode: str | None = None
    capture_sizes: tuple[int, ...] | None = None
    max_capture_size: int | None = None
    max_num_seqs: int = 256
    max_num_batched_tokens: int | None = None  # the scheduler's token budget per step; None: unknown
    mode_given: bool = False  # whether the user named the cudagraph mode (not vLLM's default)
    speculative: SpeculativeConfig | None = None  # vLLM's speculative_config: the drafter
    kv_transfer: KvTransfer | None = None  # vLLM's kv_transfer_config: the KV connector

    @classmethod
    def parse(
        cls,
        additional_config: Mapping[str, Any] | None = None,
        *,
        cudagraph_mode: object = None,
        enforce_eager: bool = False,
        compiling: bool = True,
        other_compilation_mode: str | None = None,
        capture_sizes: object = None,
        max_capture_size: object = None,
        max_num_seqs: object = 256,
        max_num_batched_tokens: object = None,
        mode_given: bool | None = None,
        speculative_config: object = None,
        kv_transfer_config: object = None,
    ) -> GraphRequest:
        """Validate `additional_config` (a dict, as vLLM passes it) and vLLM's graph settings.

        `mode_given`: whether the user named `cudagraph_mode` (default: whether one is given here);
        `speculative_config`, `kv_transfer_config`: vLLM's, as dicts or already parsed."""
        if additional_config is None:
            additional_config = {}
        if not isinstance(additional_config, Mapping):
            raise invalid(ROOT, additional_config, "a JSON object (dict)")
        cfg = additional_config
        request = cls(
            graph_backend=_parse_backend(cfg.get("graph_backend", AUTO)),
            graph_fallback=_parse_bool(f"{ROOT}.graph_fallback", cfg.get("graph_fallback", True)),
            graph_capture_policy=_parse_choice(
                f"{ROOT}.graph_capture_policy", cfg.get("graph_capture_policy", "raise"), CAPTURE_POLICIES
            ),
            ascend_compilation_config=_parse_section("ascend_compilation_config", cfg, AscendCompilationConfig),
            xlite_graph_config=_parse_section("xlite_graph_config", cfg, XliteGraphConfig),
            graph_backend_options=_parse_options(cfg.get("graph_backend_options", {})),
            ascend_switches=MappingProxyType(
                {k: v for k, v in cfg.items() if isinstance(v, bool) and k not in OUR_KEYS}),
            cudagraph_mode=None if cudagraph_mode is None else CUDAGraphMode.parse(
                cudagraph_mode, "compilation_config.cudagraph_mode"
            ),
            enforce_eager=_parse_bool("enforce_eager", enforce_eager),
            compiling=_parse_bool("compiling", compiling),
            other_compilation_mode=_parse_other_mode(other_compilation_mode, compiling),
            capture_sizes=_parse_sizes(capture_sizes),
            max_capture_size=None if max_capture_size is None else _parse_positive(
                "compilation_config.max_cudagraph_capture_size", max_capture_size
            ),
            max_num_seqs=_parse_positive("max_num_seqs", max_num_seqs),
            max_num_batched_tokens=None if max_num_batched_tokens is None else _parse_positive(
                "max_num_batched_tokens", max_num_batched_tokens
            ),
            mode_given=cudagraph_mode is not None if mode_given is None else _parse_bool("mode_given", mode_given),
            speculative=None if speculative_config is None else (
                speculative_config if isinstance(speculative_config, SpeculativeConfig)
                else SpeculativeConfig.parse(speculative_config)),
            kv_transfer=None if kv_transfer_config is None else (
                kv_transfer_config if isinstance(kv_transfer_config, KvTransfer)
                else KvTransfer.parse(kv_transfer_config)),
        )
        request._check_contradictions()
        return request

    @property
    def wants_xlite(self) -> bool:
        return self.xlite_graph_config.enabled or "xlite" in self.requested_names

    @property
    def requested_names(self) -> tuple[str, ...]:
        """The backend names the user wrote (empty for auto)."""
        if self.graph_backend == AUTO:
            return ()
        return self.graph_backend if isinstance(self.graph_backend, tuple) else (self.graph_backend,)

    def _check_contradictions(self) -> None:
        largest = max(self.capture_sizes) if self.capture_sizes else None
        if largest is not None and self.max_capture_size is not None and self.max_capture_size != largest:
            raise GraphConfigError(
                f"compilation_config.max_cudagraph_capture_size: got {self.max_capture_size}, but the largest of "
                f"cudagraph_capture_sizes is {largest}; allowed: equal values, or set only one of them"
            )
        compilation = self.ascend_compilation_config
        if compilation.enable_static_kernel and compilation.enable_npugraph_ex is False:
            raise GraphConfigError(
                f"{ROOT}.ascend_compilation_config.enable_static_kernel: got True while enable_npugraph_ex "
                "is False; allowed: static kernel only with Npugraph_ex (enable both, or drop enable_static_kernel)"
            )
        names = self.requested_names
        if self.xlite_graph_config.enabled and names and "xlite" not in names:
            raise GraphConfigError(
                f"{ROOT}.graph_backend: got {show(self.graph_backend)} while "
                f"{ROOT}.xlite_graph_config.enabled is true; allowed: graph_backend 'auto' or 'xlite' "
                "with xlite enabled, or set xlite_graph_config.enabled to false"
            )

    def replace(self, **changes: Any) -> GraphRequest:
        return self._replace(**changes)


OTHER_COMPILATION_MODES = ("STOCK_TORCH_COMPILE", "DYNAMO_TRACE_ONCE")


def _parse_other_mode(value: object, compiling: object) -> str | None:
    key = "compilation_config.mode"
    if value is None:
        return None
    if compiling is True:
        raise invalid(key, value, "no other compilation mode while compiling (VLLM_COMPILE) is on")
    if isinstance(value, str) and value.strip().upper() in OTHER_COMPILATION_MODES:
        return value.strip().upper()
    raise invalid(key, value, ", ".join(OTHER_COMPILATION_MODES), choices=OTHER_COMPILATION_MODES)


def _parse_backend(value: object) -> str | tuple[str, ...]:
    key = f"{ROOT}.graph_backend"
    allowed = "'auto', a backend name, or a non-empty list of backend names"
    if isinstance(value, str):
        return _parse_name(key, value, allowed)
    if isinstance(value, (list, tuple)) and value:
        names = tuple(_parse_name(f"{key}[{i}]", v, "a backend name") for i, v in enumerate(value))
        if AUTO in names:
            raise invalid(key, value, "'auto' alone, or a list of backend names without 'auto'")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise invalid(key, value, f"each backend at most once (repeated: {', '.join(duplicates)})")
        return names
    raise invalid(key, value, allowed)


def _parse_name(key: str, value: object, allowed: str) -> str:
    if not isinstance(value, str) or not BACKEND_NAME.match(normalise_name(value)):
        raise invalid(key, value, allowed)
    return normalise_name(value)


def _parse_bool(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise invalid(key, value, "true or false")
    return value


def _parse_choice(key: str, value: object, choices: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.strip().lower() in choices:
        return value.strip().lower()
    raise invalid(key, value, ", ".join(repr(c) for c in choices), choices=choices)


def _parse_positive(key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise invalid(key, value, f"a positive integer (at most {MAX_COUNT})")
    return value


def parse_count(key: str, text: str, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """A count written on a command line or in an environment variable, from `minimum` to `maximum`."""
    value = count_or_text(text)
    if isinstance(value, int) and minimum <= value <= maximum:
        return value
    raise invalid(key, text, f"an integer from {minimum} to {maximum}")


def count_or_text(text: str) -> int | str:
    """`text` as an int when it is ASCII digits, few enough for `int()`; else the stripped text, for the
    config layer to reject with its own message. (`str.isdigit` also takes '²', which `int()` rejects.)"""
    digits = text.strip()
    if digits.isascii() and digits.isdigit() and len(digits) <= _COUNT_DIGITS:
        return int(digits)
    return digits


_COUNT_DIGITS = 18  # far above any count, far below int()'s digit limit


def _parse_sizes(value: object) -> tuple[int, ...] | None:
    key = "compilation_config.cudagraph_capture_sizes"
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise invalid(key, value, "a list of positive integers")
    return tuple(_parse_positive(f"{key}[{i}]", v) for i, v in enumerate(value))


def _parse_section(name: str, cfg: Mapping[str, Any], schema: type[Any]) -> Any:
    """Parse one of our sections: a dict of booleans whose keys are the schema's fields."""
    key = f"{ROOT}.{name}"
    section = cfg.get(name)
    if section is None:
        return schema()
    if not isinstance(section, Mapping):
        raise invalid(key, section, "a JSON object (dict)")
    fields = schema._fields
    values = {}
    for sub, value in section.items():
        if sub not in fields:
            hint = did_you_mean(sub, fields)
            raise GraphConfigError(f"{key}: unknown key {show(sub)};{hint} allowed: {', '.join(fields)}")
        values[sub] = _parse_bool(f"{key}.{sub}", value)
    return schema(**values)


def _parse_options(value: object) -> Mapping[str, Mapping[str, Any]]:
    key = f"{ROOT}.graph_backend_options"
    if not isinstance(value, Mapping):
        raise invalid(key, value, "a JSON object mapping backend names to option objects")
    options: dict[str, Mapping[str, Any]] = {}
    for name, opts in value.items():
        backend = _parse_name(key, name, "backend names as keys")
        if not isinstance(opts, Mapping):
            raise invalid(f"{key}.{backend}", opts, "a JSON object of that backend's options")
        options[backend] = dict(opts)
    return options
