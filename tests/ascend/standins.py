"""Stand-ins for the native pieces of vLLM Ascend's stack, so that its Python runs on vLLM's CPU build.

Only what has no CPU build is stood in for: `torch_npu` (its Python front needs CANN), the
`torch.npu` device module it installs, CANN's `acl` module, `vllm_ascend._build_info`, which
vllm-ascend's build writes and its sources lack, and, for Model Runner V2, the Triton that
triton-ascend provides (`triton_ascend`). Everything else, vllm-ascend's own code included,
is the real thing.

The stand-ins answer nothing they cannot know: every `torch.npu` name comes from the real
torch-npu wheel's `torch_npu/npu/__init__.py` (`__all__`), and calling any of them raises, except
the few questions a machine without an NPU answers truthfully (`is_available()` is False).
Accessing a name the real module lacks is an `AttributeError`, as it would be on a real install.
Any other `torch_npu.<module>` that vllm-ascend imports (its worker imports
`torch_npu.op_plugin.atb._atb_ops`) exists exactly where the wheel has that file, and offers the
functions and classes the file defines, each unusable in the same way.
`_build_info` holds exactly the names the vllm-ascend version's own `setup.py` writes into it, and
torch_npu's own dtypes (`torch_npu.float4_e2m1fn_x2`, ...) are the ones the wheel names.
"""

from __future__ import annotations

import ast
import enum
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

# What vllm-ascend's build would write into `_build_info` for each SoC: `__device_type__` (A2, A3,
# _310P or A5) and, in releases that write it, `__soc_version__`.
DEVICE_TYPES = {"910B": ("A2", "ASCEND910B1"), "910_93": ("A3", "ASCEND910_9391"), "310P": ("_310P", "ASCEND310P3"),
                "950": ("A5", "ASCEND950PR_9579")}
NO_NPU_ANSWERS: dict[str, Callable[..., Any]] = {"is_available": lambda: False, "device_count": lambda: 0}


def install(torch_npu_source: Path, vllm_ascend_source: Path, soc: str) -> None:
    """Put the stand-ins in `sys.modules` (and at `torch.npu`) for an Ascend `soc` such as "910B"."""
    import torch

    torch.utils.rename_privateuse1_backend("npu")  # what importing the real torch_npu does first
    npu = _module("torch_npu.npu", {name: _unavailable(f"torch.npu.{name}") for name in npu_names(torch_npu_source)})
    vars(npu).update(NO_NPU_ANSWERS, __path__=[])
    npu.__getattr__ = _submodules(torch_npu_source, "torch_npu.npu", _ops("torch_npu.npu", no_ops=True))  # type: ignore[attr-defined]
    c10d = _native_module("torch_npu._C._distributed_c10d")
    dtypes = enum.IntEnum("DType", npu_dtypes(torch_npu_source))  # type: ignore[misc]
    dtypes.__module__ = "torch_npu._C._cd"
    native = _native_module("torch_npu._C", _distributed_c10d=c10d, _cd=_module("torch_npu._C._cd", {"DType": dtypes}))
    # `import torch_npu` exports each `torch_npu._C._cd.DType` member as `torch_npu.<name>`.
    torch_npu = _module("torch_npu", {"npu": npu, "_C": native, "__path__": [], **dtypes.__members__})
    torch_npu.__getattr__ = _submodules(torch_npu_source, "torch_npu", _ops("torch_npu"))  # type: ignore[attr-defined]
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _WheelModules)]
    sys.meta_path.insert(0, _WheelModules(torch_npu_source))
    torch.npu = npu  # type: ignore[attr-defined]
    torch.distributed.is_hccl_available = lambda: False  # type: ignore[attr-defined]
    # pyACL, CANN's compiled Python module (vllm-ascend's device allocator imports `acl.rt`): no
    # package or stub of it exists outside CANN, so any public name resolves, unusable.
    _native_module("acl", rt=_native_module("acl.rt"))
    _module("vllm_ascend._build_info", build_info(vllm_ascend_source, soc))


def triton_ascend(vllm_ascend_source: Path) -> None:
    """Triton, as the triton-ascend that vllm-ascend's requirements.txt pins provides it on an NPU machine:
    vLLM's config refuses Model Runner V2 without Triton (`HAS_TRITON`), which vLLM's CPU build here lacks.
    Only that answer changes; no Triton kernel runs in the contract tier."""
    from versions import pinned

    pinned(vllm_ascend_source, "requirements.txt", "triton-ascend")  # raises where it pins none
    import vllm.config.vllm

    vllm.config.vllm.HAS_TRITON = True


def build_info(vllm_ascend_source: Path, soc: str) -> dict[str, str]:
    """What vllm-ascend's build writes into `_build_info` for `soc`: the names its `setup.py` writes."""
    device_type, soc_version = DEVICE_TYPES[soc]
    values = {"__device_type__": device_type, "__soc_version__": soc_version}
    return {name: values[name] for name in build_info_names(vllm_ascend_source)}


def build_info_names(vllm_ascend_source: Path) -> list[str]:
    """The names vllm-ascend's `setup.py` writes into `vllm_ascend/_build_info.py` (its `gen_build_info`
    writes lines such as f"__device_type__ = '{device_type}'\\n"), read with `ast`."""
    tree = ast.parse((vllm_ascend_source / "setup.py").read_text(encoding="utf-8"))
    (function,) = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "gen_build_info"]
    names: dict[str, None] = {}  # in order, once (an f-string's leading text is a Constant of its own too)
    for node in ast.walk(function):
        text = node.value if isinstance(node, ast.Constant) else None
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            text = node.values[0].value
        match = re.match(r"(__\w+__) = ", text) if isinstance(text, str) else None
        if match:
            names[match.group(1)] = None
    if not names or not set(names) <= {"__device_type__", "__soc_version__"}:
        raise LookupError(f"{vllm_ascend_source.name}/setup.py writes {list(names)} into _build_info: the stand-in "
                          "knows __device_type__ and __soc_version__")
    return list(names)


def npu_names(torch_npu_source: Path) -> list[str]:
    """`torch_npu.npu.__all__`, read from the wheel's source."""
    tree = ast.parse((torch_npu_source / "torch_npu" / "npu" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise LookupError(f"no __all__ in {torch_npu_source}/torch_npu/npu/__init__.py")


def npu_dtypes(torch_npu_source: Path) -> dict[str, int]:
    """torch_npu's own dtypes (`torch_npu.hifloat8`, `torch_npu.float4_e2m1fn_x2`, ...) and their enum
    values, from the wheel's `TORCH_NPU_DTYPE_TO_STRING_MAP` (its meta registrations name them there;
    the enum itself is native)."""
    path = torch_npu_source / "torch_npu" / "op_plugin" / "meta" / "_meta_registrations.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TORCH_NPU_DTYPE_TO_STRING_MAP"
                                                for t in node.targets):
            named: dict[int, str] = ast.literal_eval(node.value)
            return {name.removeprefix("torch_npu."): value for value, name in named.items()}
    raise LookupError(f"no TORCH_NPU_DTYPE_TO_STRING_MAP in {path}")


class _WheelModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`torch_npu.<module>` where the wheel has its file: the file's top-level functions and classes
    by name (read with `ast`, nothing of it runs), each one raising when used."""

    def __init__(self, source: Path):
        self.root = source / "torch_npu"

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("torch_npu.") or fullname in sys.modules:
            return None
        base = self.root.joinpath(*fullname.split(".")[1:])
        package = (base / "__init__.py").is_file()
        if not package and not base.with_suffix(".py").is_file():
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=package)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        base = self.root.joinpath(*module.__name__.split(".")[1:])
        file = base / "__init__.py" if module.__spec__ and module.__spec__.submodule_search_locations is not None \
            else base.with_suffix(".py")
        tree = ast.parse(file.read_text(encoding="utf-8"))
        defined = [node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        vars(module).update({name: _unavailable(f"{module.__name__}.{name}") for name in defined})


def _module(name: str, attributes: dict[str, Any]) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.util.spec_from_loader(name, loader=None)
    vars(module).update(attributes)
    sys.modules[name] = module
    return module


def _unavailable(name: str) -> Any:
    """A class (for CamelCase names, which annotations use as types) or a function; both raise when used."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{name} needs an Ascend NPU (this is a stand-in on a machine without one)")

    short = name.rsplit(".", 1)[-1]
    if short[:1].isupper():
        return type(short, (), {"__init__": refuse, "__module__": name.rsplit(".", 1)[0]})
    refuse.__name__ = refuse.__qualname__ = short
    return refuse


def _native_module(name: str, **attributes: Any) -> types.ModuleType:
    """A compiled module of torch_npu: the wheel ships no stub of it, so any public name resolves, unusable."""
    module = _module(name, {"__path__": [], **attributes})
    module.__getattr__ = _ops(name, every_name=True)  # type: ignore[attr-defined]
    return module


def _submodules(source: Path, owner: str, otherwise: Callable[[str], Any]) -> Callable[[str], Any]:
    """Module `__getattr__`: a submodule the wheel has (the real package imports its submodules, so
    `torch.npu.memory` is an attribute), else `otherwise(name)`."""

    def resolve(name: str) -> Any:
        base = source.joinpath(*owner.split("."), name)
        if (base / "__init__.py").is_file() or base.with_suffix(".py").is_file():
            return importlib.import_module(f"{owner}.{name}")
        return otherwise(name)

    return resolve


def _ops(owner: str, every_name: bool = False, no_ops: bool = False) -> Callable[[str], Any]:
    """Module `__getattr__`: torch_npu's NPU operators (`npu_*`, `_npu_*`, generated from its native
    function list, so named in no Python file), or any public name of a compiled module."""

    def resolve(name: str) -> Any:
        if name.startswith("__") or no_ops or not (every_name or name.startswith(("npu_", "_npu_"))):
            raise AttributeError(f"module {owner!r} has no attribute {name!r}")
        return _unavailable(f"{owner}.{name}")

    return resolve
