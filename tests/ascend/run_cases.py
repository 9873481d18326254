"""Run contract cases through real vLLM and vllm-ascend; one forked process per case, JSON out.

Usage: python run_cases.py SETUP_JSON OUT_DIR CASE_ID...

The parent imports torch and vLLM once; each case runs in a child forked from it, so every case
starts with vLLM's and vllm-ascend's process-global state untouched (vllm-ascend keeps its
`AscendConfig`, device type and patches per process), as a fresh `LLM(...)` would. A child
installs the native stand-ins for its SoC, asks `vllm-ascend-graphs explain` the case's question,
then builds the engine config with `EngineArgs(...).create_engine_config()`, which runs vLLM's
config passes, our plugin and `NPUPlatform.check_and_update_config`, and writes what it saw.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import logging
import os
import pickle
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PARALLEL = 2
# Libraries the cases import that are neither vLLM's nor vllm-ascend's: imported once here, before the
# forks, instead of once per case (about 2 s a case).
SHARED_LIBRARIES = ("numba", "fastapi", "mistral_common", "xgrammar", "opentelemetry", "compressed_tensors",
                    "pydantic_extra_types", "email_validator", "jsonschema", "loguru", "grpc")
# vllm-ascend's platform patches, which every case applies when it loads the plugins: the vLLM modules
# they import are imported here too (about 2 s a case), unpatched; each case's own plugin load then
# patches them as a real start does. vllm-ascend's own modules are left to each case.
PLATFORM_PATCHES = ("vllm_ascend", "patch", "platform")


def main(setup_file: str, out_dir: str, case_ids: list[str]) -> int:
    setup = json.loads(Path(setup_file).read_text())
    # tests/ascend, tests (real_packages) and vllm-ascend's unpacked source, with its egg-info
    sys.path[:0] = [str(HERE), str(HERE.parent), setup["vllm_ascend"]]
    import standins

    # Imported once here and inherited by every case: vLLM resolves its platform on import, which
    # imports vllm-ascend's platform module and so torch_npu. The SoC is each case's own (below).
    standins.install(Path(setup["torch_npu"]), Path(setup["vllm_ascend"]), "910B")
    import vllm.engine.arg_utils  # noqa: F401

    for library in SHARED_LIBRARIES:
        if importlib.util.find_spec(library) is not None:
            importlib.import_module(library)
    for module in vllm_modules_patched(Path(setup["vllm_ascend"]).joinpath(*PLATFORM_PATCHES)):
        with contextlib.suppress(ImportError):  # (a module of another vLLM: the patch checks the version)
            importlib.import_module(module)
    assert not device_type_known(), "the device type must be left for each case to set"

    from cases import BY_ID

    running: dict[int, str] = {}
    failed = 0
    for case_id in case_ids:
        if len(running) >= PARALLEL:
            failed += _reap(running)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                result = run_case(BY_ID[case_id], setup)
                Path(out_dir, f"{case_id}.json").write_text(json.dumps(result, indent=1, default=str))
                code = 0
            except BaseException:  # noqa: BLE001 - os._exit below would swallow it: the test's message shows it
                traceback.print_exc()
            finally:
                os._exit(code)
        running[pid] = case_id
    while running:
        failed += _reap(running)
    return 1 if failed else 0


def vllm_modules_patched(folder: Path) -> list[str]:
    """The vLLM modules the patch modules in `folder` import (`import vllm.x`, `from vllm.x import y`)."""
    import ast

    found: set[str] = set()
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("vllm."):
                found.add(node.module or "")
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("vllm."))
    return sorted(found)


def device_type_known() -> bool:
    """Whether vllm-ascend has read its device type from `_build_info` yet, in this process: a module
    global in 0.23.0.post1 and 0.26.0rc (`vllm_ascend.utils`), a cached `get_device_config()` on main."""
    import vllm_ascend.utils

    if hasattr(vllm_ascend.utils, "_ascend_device_type"):
        return vllm_ascend.utils._ascend_device_type is not None
    from vllm_ascend.device.device_config import get_device_config

    return bool(get_device_config.cache_info().currsize)


def _reap(running: dict[int, str]) -> int:
    pid, status = os.wait()
    case_id = running.pop(pid)
    if os.waitstatus_to_exitcode(status) != 0:
        print(f"case {case_id}: the case process failed (exit {os.waitstatus_to_exitcode(status)})", file=sys.stderr)
        return 1
    return 0


def run_case(case: Any, setup: dict[str, Any]) -> dict[str, Any]:
    import standins

    os.environ["ASCEND_GRAPHS_ASSUME"] = case.assume
    os.environ.pop("ASCEND_LAUNCH_BLOCKING", None)
    if case.launch_blocking:
        os.environ["ASCEND_LAUNCH_BLOCKING"] = "1"
    os.environ.pop("VLLM_USE_V2_MODEL_RUNNER", None)
    standins.install(Path(setup["torch_npu"]), Path(setup["vllm_ascend"]), case.soc)
    if case.model_runner_v2:
        os.environ["VLLM_USE_V2_MODEL_RUNNER"] = "1"
        standins.triton_ascend(Path(setup["vllm_ascend"]))
    paths = [str(HERE), setup["vllm_ascend"]]
    os.environ["CONTRACT_STANDINS"] = json.dumps({"paths": paths, "torch_npu": setup["torch_npu"],
                                                  "vllm_ascend": setup["vllm_ascend"], "soc": case.soc})
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE / "bootstrap"), *paths])  # vLLM's own subprocesses
    models = setup["models"]
    result = {"id": case.id, "explain": explain(case.explain_argv(models)), **build(case, models)}
    if case.runs_without_plugin:
        result["without_plugin"] = without_plugin(case, models)
    return result


def explain(argv: list[str]) -> dict[str, Any]:
    from vllm_ascend_graphs.entrypoints import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return json.loads(out.getvalue()) if code == 0 else {"error": err.getvalue().strip()}


def build(case: Any, models: dict[str, str]) -> dict[str, Any]:
    """The engine config vLLM, our plugin and vllm-ascend build for the case, what a worker's model
    runner then decides (`worker_stage.py`), and what was logged in each stage."""
    from vllm.engine.arg_utils import EngineArgs
    from worker_stage import start_model_runner, start_worker

    with logged_by_plugin() as logged:
        try:
            config = EngineArgs(model=models[case.model], **case.engine_args_for(models)).create_engine_config()
        except Exception as exc:  # noqa: BLE001 - the contract may expect an error, of any type
            return {"error": f"{type(exc).__name__}: {str(exc).strip()}"[:4000], "logged": logged}
    front = facts(config)  # before the worker stage, which runs in this process too
    with logged_by_plugin(logging.DEBUG) as start_logged:
        refused = start_worker(config, case.assume)
    elsewhere = start_worker(config, case.assume.replace(f"soc={case.soc}", f"soc={OTHER_SOC[case.soc]}"))
    with logged_by_plugin() as worker_logged:
        worker = start_model_runner(config)
    start = {"refused": refused, "logged": start_logged, "elsewhere": elsewhere, "other_soc": OTHER_SOC[case.soc]}
    return {"config": front, "logged": logged, "worker": {**worker, "logged": worker_logged, "start": start}}


OTHER_SOC = {"910B": "310P", "910_93": "910B", "310P": "910B", "950": "910B"}  # a node of another SoC, per case SoC


def without_plugin(case: Any, models: dict[str, str]) -> dict[str, Any]:
    """The case once more with our plugin unregistered: vLLM's and vllm-ascend's own config, and, where the
    case expects its start to raise, what the model runner's drafter start does with it. Last in the
    case's process: the plugin stays unregistered."""
    from vllm.engine.arg_utils import EngineArgs
    from worker_stage import start_drafter

    from vllm_ascend_graphs.integrations.vllm import unregister

    unregister()
    config = EngineArgs(model=models[case.model], **case.engine_args_for(models)).create_engine_config()
    assert "_vllm_ascend_graphs" not in (config.additional_config or {}), "the plugin must be off here"
    drafter = start_drafter(config) if case.raises_without_plugin else None
    return {"cudagraph_mode": config.compilation_config.cudagraph_mode.name, "drafter": drafter}


@contextlib.contextmanager
def logged_by_plugin(level: int | None = None) -> Iterator[list[list[str]]]:
    """[level, message] of every record our plugin logs inside the block (from `level` on, where given)."""
    from vllm_ascend_graphs.integrations.vllm.adapter import LOGGER_NAME

    logged: list[list[str]] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append([record.levelname, record.getMessage()])  # type: ignore[method-assign]
    plugin_logger = logging.getLogger(LOGGER_NAME)
    before = plugin_logger.level
    plugin_logger.addHandler(handler)
    if level is not None:
        plugin_logger.setLevel(level)
    try:
        yield logged
    finally:
        plugin_logger.removeHandler(handler)
        plugin_logger.setLevel(before)


def facts(config: Any) -> dict[str, Any]:
    """What the finished config holds, what vllm-ascend's `get_ascend_config()` says in this process,
    and what a worker reads: `AscendConfig` built afresh from the config after a pickle round trip."""
    import vllm_ascend
    from vllm.platforms import current_platform
    from vllm_ascend.ascend_config import clear_ascend_config, get_ascend_config, init_ascend_config

    compilation = config.compilation_config
    front = _ascend_flags(get_ascend_config())
    clear_ascend_config()
    worker = _ascend_flags(init_ascend_config(pickle.loads(pickle.dumps(config))))
    return {
        "platform": f"{type(current_platform).__module__}.{type(current_platform).__qualname__}",
        "vllm_ascend_file": vllm_ascend.__file__,
        "cudagraph_mode": compilation.cudagraph_mode.name,
        "compilation_mode": compilation.mode.name,
        "splitting_ops": list(compilation.splitting_ops or []),
        "capture_sizes": list(compilation.cudagraph_capture_sizes or []),
        "enforce_eager": config.model_config.enforce_eager,
        "worker_cls": config.parallel_config.worker_cls,
        "ascend_config": front,
        "worker_ascend_config": worker,
        "record": config.additional_config.get("_vllm_ascend_graphs"),
        **_graph_classes(config),
    }


def _graph_classes(config: Any) -> dict[str, str]:
    """What the platform's hooks name for this config and what then wraps each compiled piece."""
    from vllm.config import set_current_vllm_config
    from vllm.platforms import current_platform

    from vllm_ascend_graphs.integrations.vllm import runtime_hooks

    with set_current_vllm_config(config):  # as while vLLM builds the model
        compiler = current_platform.get_compile_backend()
    piece = runtime_hooks.wrapper_class(config)
    return {"wrapper_hook": current_platform.get_static_graph_wrapper_cls(), "compiler": compiler,
            "piece_wrapper": f"{piece.__module__}.{piece.__qualname__}"}


def _ascend_flags(ascend: Any) -> dict[str, bool]:
    compilation = ascend.ascend_compilation_config
    return {"npugraph_ex": bool(compilation.enable_npugraph_ex),
            "static_kernel": bool(compilation.enable_static_kernel),
            "xlite": bool(ascend.xlite_graph_config.enabled)}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
