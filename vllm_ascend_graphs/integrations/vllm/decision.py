"""Decide once per engine configuration; the platform then derives its own settings from the plan.

Inside the active platform's `check_and_update_config`:

1. decide: the selector runs on vLLM's settings as the platform's pass would find them;
2. apply: the plan goes into vLLM's config (cudagraph mode, capture sizes) and into the
   `additional_config` keys vLLM Ascend reads (Npugraph_ex, static kernel, xlite), so that the
   platform derives its worker class, compilation mode and splitting ops from our plan;
3. the platform's own pass runs;
4. reconcile: what the platform left is read back, and every difference from the plan becomes an
   override: a WARNING, a note and an entry in the record, whose settings are the effective ones.

When the whole config is built (`EngineArgs.create_engine_config`), step 4 runs once more for
vLLM's own later passes, and once more in each worker, when the model runner has resolved its mode
against the attention backends and its dispatcher holds the graphs it will capture. The record
travels inside `additional_config` to the engine core and every worker; a process that finds one
applies it instead of deciding again, so every process ends with the same settings. The `native`
backend keeps a non-Ascend platform's own settings: nothing is applied, and the record states what
vLLM set.

What the user wrote (our `additional_config` keys) is validated strictly. A value of vLLM's own
config that the plugin cannot read (a compilation mode it does not know, a size that is not an
integer) is not the user's to fix here: the plugin steps aside, with one WARNING, and the platform's
pass runs on the untouched config as if the plugin were absent; the record says so.
"""

from __future__ import annotations

import contextvars
import socket
from collections.abc import Callable
from typing import Any, NamedTuple

from ...backends.base import Plan
from ...backends.native import NATIVE
from ...errors import GraphConfigError, invalid
from ...probes.environment import Environment, assumed_facts, probe_environment
from ...rules.assumptions import Assumptions
from ...rules.config import AUTO, GraphRequest
from ...rules.drafter import DrafterPlan, on_target_keys
from ...rules.graph_keys import DecodeShape, ModelRunner, runtime_graphs, show_sizes
from ...rules.models import ModelInfo
from ...selection.selector import Selection, check_named, select
from . import adapter

RECORD_KEY = "_vllm_ascend_graphs"
MODEL_RUNNER = "vLLM's model runner"
_PROPOSER = object()  # no `uniform_decode_query_len` given: a speculative-decoding proposer's dispatcher
# (capture sizes, largest size) as the user gave them to the engine config being built; unset
# outside `EngineArgs.create_engine_config`, where the config's own sizes count as given.
REQUESTED_SIZES: contextvars.ContextVar[tuple[list[int] | None, int | None]] = contextvars.ContextVar(
    "vllm_ascend_graphs_requested_sizes")
# Whether the user named the cudagraph mode in the engine config being built (unset: it counts as named).
REQUESTED_MODE: contextvars.ContextVar[bool] = contextvars.ContextVar("vllm_ascend_graphs_requested_mode")
ASCEND_COMPILATION = "ascend_compilation_config"
XLITE = "xlite_graph_config"
STEPPED_ASIDE = "stepped_aside"  # the record's key for why the plugin left the config to the platform


class Unreadable(Exception):
    """A value of vLLM's own config that the plugin cannot read; the message names the field and the value."""


class Override(NamedTuple):
    """A setting the platform or vLLM changed after our plan was applied."""

    setting: str
    planned: Any
    effective: Any
    by: str

    def text(self) -> str:
        return f"{self.by} changed {self.setting} from {_show(self.planned)} to {_show(self.effective)}"


def recorded(vllm_config: Any) -> dict[str, Any] | None:
    """The decision recorded in this config, or None before one is made (or where the plugin stepped aside)."""
    entry = _record(vllm_config)
    return None if entry is None or entry.get(STEPPED_ASIDE) else entry


def _record(vllm_config: Any) -> dict[str, Any] | None:
    config = adapter.additional_config(vllm_config)
    return config.get(RECORD_KEY) if isinstance(config, dict) else None


def decide(vllm_config: Any) -> tuple[Selection, Environment]:
    """Run the selector with vLLM's settings, the platform, the parallel sizes and the model; returns the
    selection and the environment it saw. A value of vLLM's own config that cannot be read raises
    `Unreadable`, once what the user wrote has been checked as a selection checks it."""
    config = {k: v for k, v in adapter.additional_config(vllm_config).items() if k != RECORD_KEY}
    assumptions = Assumptions.from_environ()
    try:
        settings = adapter.graph_settings(vllm_config)
        requested = REQUESTED_SIZES.get(None)
        if requested is not None:  # vLLM's defaults are no request: the plan chooses the sizes
            settings.update(capture_sizes=requested[0], max_capture_size=requested[1])
        request = GraphRequest.parse(config, **settings, mode_given=REQUESTED_MODE.get(True),
                                     speculative_config=adapter.speculative_config(vllm_config),
                                     kv_transfer_config=adapter.kv_transfer_config(vllm_config))
        environment = environment_of(vllm_config, assumptions)
        model = model_of(vllm_config)
    except (AttributeError, LookupError, TypeError, ValueError) as exc:  # GraphConfigError too; a partial config
        check_named(GraphRequest.parse(config))  # an error in what the user wrote reaches the user
        why = str(exc) if isinstance(exc, GraphConfigError) else f"config ({type(exc).__name__}: {exc})"
        raise Unreadable(why) from None
    selection = select(request, environment=environment, model=assumptions.apply_to_model(model))
    return selection, environment


def model_of(vllm_config: Any) -> ModelInfo:
    """The model's traits from vLLM's model config."""
    hf_config, encoder_decoder = adapter.model_traits(vllm_config)
    try:
        model = ModelInfo.from_hf_config(hf_config)
    except GraphConfigError as exc:
        raise GraphConfigError(f"model_config.hf_config ({exc})") from None
    return model.replace(encoder_decoder=_flag("model_config.is_encoder_decoder", encoder_decoder))


def environment_of(vllm_config: Any, assumptions: Assumptions) -> Environment:
    """This process's environment as a decision sees it: the probe, vLLM's platform, `assumptions` and the
    config's parallel sizes (a value that is not one raises `GraphConfigError` naming vLLM's field)."""
    platform = probe_environment().replace(device=adapter.platform_device_type(),
                                           static_graphs=adapter.supports_static_graphs())
    sizes = adapter.parallel_sizes(vllm_config)
    for key, value in sizes.items():
        field, least = PARALLEL_FIELDS[key]
        if least is None:
            _flag(field, value)
        elif isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise invalid(field, value, f"an integer of at least {least}")
    return assumptions.apply_to_environment(platform).replace(**sizes, **adapter.runner_facts(vllm_config))


# `adapter.parallel_sizes` keys: vLLM's field, and the least count (None: a flag).
PARALLEL_FIELDS: dict[str, tuple[str, int | None]] = {
    "tp": ("parallel_config.tensor_parallel_size", 1), "pp": ("parallel_config.pipeline_parallel_size", 1),
    "dp": ("parallel_config.data_parallel_size", 1), "dcp": ("parallel_config.decode_context_parallel_size", 1),
    "pcp": ("parallel_config.prefill_context_parallel_size", 1),
    "spec_tokens": ("speculative_config.num_speculative_tokens", 0),
    "expert_parallel": ("parallel_config.enable_expert_parallel", None),
    "sequence_parallel_moe": ("parallel_config.use_sequence_parallel_moe", None),
}


def _flag(key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise invalid(key, value, "true or false")
    return value


def apply(vllm_config: Any, plan: Plan) -> None:
    """Write the plan where vLLM and the platform read it: the graph settings and our config keys."""
    if plan.backend == NATIVE:
        return
    adapter.apply_graph_settings(vllm_config, plan.cudagraph_mode.name, list(plan.capture_sizes))
    config = adapter.additional_config(vllm_config)
    compilation = dict(config.get(ASCEND_COMPILATION) or {})
    compilation.update(enable_npugraph_ex=plan.npugraph_ex, enable_static_kernel=plan.static_kernel)
    xlite = dict(config.get(XLITE) or {})
    xlite["enabled"] = plan.backend == "xlite"
    adapter.set_additional_config(vllm_config, {**config, ASCEND_COMPILATION: compilation, XLITE: xlite})


def overrides(vllm_config: Any, plan: Plan, by: str) -> list[Override]:
    """Every difference between `plan` and what `vllm_config` holds now."""
    if plan.backend == NATIVE:  # the native plan is whatever vLLM sets: nothing to compare
        return []
    mode, sizes = adapter.effective_graph_settings(vllm_config)
    found = []
    if mode != plan.cudagraph_mode.name:
        found.append(Override("cudagraph_mode", plan.cudagraph_mode.name, mode, by))
    if sizes != list(plan.capture_sizes):
        found.append(Override("capture_sizes", list(plan.capture_sizes), sizes, by))
    compilation = adapter.additional_config(vllm_config).get(ASCEND_COMPILATION) or {}
    for setting, key in (("npugraph_ex", "enable_npugraph_ex"), ("static_kernel", "enable_static_kernel")):
        if key in compilation and bool(compilation[key]) != getattr(plan, setting):
            found.append(Override(setting, getattr(plan, setting), bool(compilation[key]), by))
    worker = adapter.worker_class(vllm_config)
    if plan.backend == "xlite" and "xlite" not in worker.lower():
        found.append(Override("worker_cls", "an xlite worker", worker, by))
    return found


def record(vllm_config: Any, entry: dict[str, Any], plan: Plan, found: list[Override],
           graphs: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """Store the decision `entry` with the effective settings and every override that led to them.

    `graphs`: what the model runner captures, once it is known; before, what it will capture
    from the effective settings."""
    plan = _effective(vllm_config, plan, found)
    shape = DecodeShape(*adapter.decode_limits(vllm_config), runner=ModelRunner(entry["model_runner"]))
    if graphs is None:
        graphs = runtime_graphs(plan.cudagraph_mode, plan.capture_sizes, shape).to_dict()
    drafter = entry.get("drafter")
    if drafter is not None and found:  # a V1 drafter replays on the target's keys: it follows them
        drafter = on_target_keys(DrafterPlan.from_dict(drafter), plan.cudagraph_mode, plan.capture_sizes,
                                 shape).to_dict()
    overrides_so_far = [*entry.get("overrides", []), *(o._asdict() for o in found)]
    changed = "; ".join(Override(**o).text() for o in overrides_so_far)
    entry = {
        **entry,
        **{k: v for k, v in plan.to_dict().items() if k not in ("options", "notes")},
        "graphs": graphs,
        "drafter": drafter,
        "notes": [*entry.get("notes", []), *(o.text() for o in found)],
        "worker_cls": adapter.worker_class(vllm_config),
        "overrides": overrides_so_far,
        "summary": entry["decided"] + (f" [{changed}]" if changed else ""),
    }
    adapter.set_additional_config(vllm_config, {**adapter.additional_config(vllm_config), RECORD_KEY: entry})
    return entry


def _effective(vllm_config: Any, plan: Plan, found: list[Override]) -> Plan:
    """The plan with what vLLM and the platform really set (for `native`, everything they set)."""
    mode, sizes = adapter.effective_graph_settings(vllm_config)
    changes: dict[str, Any] = {"cudagraph_mode": type(plan.cudagraph_mode)[mode], "capture_sizes": tuple(sizes)}
    changes.update({o.setting: o.effective for o in found if o.setting in ("npugraph_ex", "static_kernel")})
    return plan.replace(**changes)


def reconcile(vllm_config: Any, entry: dict[str, Any], plan: Plan, by: str) -> dict[str, Any]:
    """Report what `by` changed in `plan` (one WARNING each) and record it; returns the record."""
    found = overrides(vllm_config, plan, by)
    for override in found:
        adapter.logger().warning("graph backend plan overridden: %s", override.text())
    return record(vllm_config, entry, plan, found)


def reconcile_recorded(vllm_config: Any, by: str) -> None:
    """`reconcile` for a config that already holds a record (after vLLM's later passes)."""
    entry = recorded(vllm_config)
    if entry is not None:
        reconcile(vllm_config, entry, Plan.from_dict(entry), by)


def reconcile_worker(vllm_config: Any, graphs: dict[str, list[int]]) -> None:
    """In a worker, once the model runner has resolved its mode and keys: report (one WARNING each) and
    record every way the mode, the sizes and the graphs differ from the record, in this process."""
    entry = recorded(vllm_config)
    if entry is None or entry["backend"] == NATIVE:
        return
    plan = Plan.from_dict(entry)
    found = overrides(vllm_config, plan, MODEL_RUNNER)
    if graphs != entry.get("graphs"):
        found.append(Override("graphs", entry.get("graphs"), graphs, MODEL_RUNNER))
    for override in found:
        adapter.logger().warning("graph backend plan overridden: %s", override.text())
    if found:
        record(vllm_config, entry, plan, found, graphs)


def on_dispatcher_keys(original: Callable[..., None]) -> Callable[..., None]:
    """Wrap `CudagraphDispatcher.initialize_cudagraph_keys`: the model runner's call is reconciled."""

    def initialize_cudagraph_keys(dispatcher: Any, cudagraph_mode: Any,
                                  uniform_decode_query_len: Any = _PROPOSER) -> None:
        if uniform_decode_query_len is _PROPOSER:
            original(dispatcher, cudagraph_mode)
            return
        original(dispatcher, cudagraph_mode, uniform_decode_query_len)
        _reconcile_keys(adapter.captured_graphs, dispatcher)

    return initialize_cudagraph_keys


def on_graph_manager(original: Callable[..., None]) -> Callable[..., None]:
    """Wrap Model Runner V2's `ModelCudaGraphManager.__init__`: once it has keyed its graphs, reconcile."""

    def __init__(manager: Any, *args: Any, **kwargs: Any) -> None:
        original(manager, *args, **kwargs)
        _reconcile_keys(adapter.manager_graphs, manager)

    return __init__


def _reconcile_keys(graphs_of: Callable[[Any], tuple[Any, dict[str, list[int]]]], keys: Any) -> None:
    """`reconcile_worker` on what `keys` (a dispatcher or a graph manager) captures; a bug of ours must not
    stop a worker that has its graph keys: it is one WARNING."""
    try:
        reconcile_worker(*graphs_of(keys))
    except Exception as exc:  # noqa: BLE001 - a bug of ours must not stop a worker that has its keys: say so
        adapter.logger().warning("graph backend: the worker could not compare its graphs with the record "
                                 "(%s: %s); the model runner goes on with its own", type(exc).__name__, exc)


def on_check_and_update_config(original: Callable[..., None]) -> Callable[..., None]:
    """Wrap the platform's `check_and_update_config(cls, vllm_config)`: decide, apply, run it, reconcile."""

    def check_and_update_config(platform_cls: type, vllm_config: Any) -> None:
        if not adapter.has_model(vllm_config):  # a config without a model (vLLM's defaults): nothing to decide
            original(platform_cls, vllm_config)
            return
        log = adapter.logger()
        previous = _record(vllm_config)
        if previous is not None and previous.get(STEPPED_ASIDE):  # as the process that decided did
            original(platform_cls, vllm_config)
        elif previous is None:
            try:
                selection, environment = decide(vllm_config)
            except Unreadable as exc:
                step_aside(vllm_config, str(exc), lambda: original(platform_cls, vllm_config))
                return
            apply(vllm_config, selection.plan)
            original(platform_cls, vllm_config)
            decision = {**selection.to_dict(), "requested": selection.asked or AUTO, "decided": selection.summary(),
                        "environment": assumed_environment(selection, environment)}
            entry = reconcile(vllm_config, decision, selection.plan, adapter.platform_name())
            # A backend the user asked for that fell back is what an operator must notice: WARNING.
            (log.warning if selection.fell_back else log.info)(entry["summary"])
            for note in entry["notes"]:
                log.debug("graph backend note: %s", note)
        else:
            plan = Plan.from_dict(previous)
            apply(vllm_config, plan)
            original(platform_cls, vllm_config)
            log.debug("graph backend: applied the recorded decision (%s)", previous["summary"])
            reconcile(vllm_config, previous, plan, adapter.platform_name())

    return check_and_update_config


def step_aside(vllm_config: Any, why: str, platform_pass: Callable[[], None]) -> None:
    """Leave the config to the platform's pass, untouched, with one WARNING; then record that, where the
    config has a dict for it."""
    text = (f"graph backend: the plugin steps aside: it cannot read vLLM's own {why}; the config is left "
            "untouched and the platform decides the graph settings alone")
    adapter.logger().warning(text)
    platform_pass()
    config = adapter.additional_config(vllm_config)
    if isinstance(config, dict):
        adapter.set_additional_config(vllm_config, {**config, RECORD_KEY: {"backend": None, STEPPED_ASIDE: why,
                                                                             "summary": text}})


def assumed_environment(selection: Selection, environment: Environment) -> dict[str, Any]:
    """What the plan assumed of the environment, compactly: the host it was made on and the facts its
    backend's plans depend on (`GraphBackend.assumes`); each worker checks its own against them."""
    return {"host": socket.gethostname(), **assumed_facts(environment, selection.backend.assumes)}


def _show(value: Any) -> str:
    """A setting's value in an override's text: sizes (per runtime mode for `graphs`) as `explain` shows them."""
    if isinstance(value, dict):
        return ", ".join(f"{key} {_show(sizes)}" for key, sizes in value.items())
    if isinstance(value, list):
        return show_sizes(value)
    return str(value)
