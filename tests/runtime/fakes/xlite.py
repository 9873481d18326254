"""A fake `xlite._C` built from the installed xlite's own stub, `xlite/_C.pyi`, read with `ast`.

The native `xlite._C` needs an NPU and CANN; its stub describes every class, field, method,
enum and alias it exports. From it this module builds a stand-in that is as strict as the
pybind11 module where our adapter can go wrong:

- an object accepts only the fields its class declares (pybind11 raises `AttributeError` for
  any other), and each value must match the field's annotation (lists must be lists or tuples,
  a little stricter than pybind11's sequence casters);
- a constructor or method binds the stub's signature (`inspect.Signature.bind`) and checks the
  bound values against the annotations, so a wrong name, count or type raises `TypeError`;
- enums and their module-level aliases (`AttnMHA` for `AttnType.AttnMHA`) come from the stub.

No xlite name is written here. A test says what a call returns or does through `behaviour`,
keyed `"Class.method"` or `"function"`; every call is logged as `(key, bound arguments)`.
"""

from __future__ import annotations

import ast
import enum
import inspect
import re
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

Check = Callable[[Any, Mapping[str, type]], bool]
SHAPE = re.compile(r"``\[([^`]*)\]``")


@dataclass
class StubFunction:
    name: str
    signature: inspect.Signature
    checks: dict[str, tuple[str, Check]]  # parameter -> (annotation text, check)
    returns: str


@dataclass
class StubClass:
    name: str
    fields: dict[str, tuple[str, Check]] = field(default_factory=dict)
    field_docs: dict[str, str] = field(default_factory=dict)
    methods: dict[str, StubFunction] = field(default_factory=dict)
    init: StubFunction | None = None


@dataclass
class Stub:
    """What the stub declares, with annotations turned into value checks."""

    classes: dict[str, StubClass]
    enums: dict[str, list[str]]
    aliases: dict[str, tuple[str, str]]  # name -> (enum, member)
    functions: dict[str, StubFunction]

    def documented_shape(self, cls: str, name: str) -> str | None:
        """The first ``[...]`` shape in a field's docstring, e.g. `vocab_size/def_tp_size, hidden_size`."""
        match = SHAPE.search(self.classes[cls].field_docs.get(name, ""))
        return match.group(1) if match else None


def parse_stub(path: Path) -> Stub:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    enum_names = {node.name for node in tree.body if isinstance(node, ast.ClassDef) and _is_enum(node)}
    class_names = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    types_ = _TypeChecks(class_names)
    classes: dict[str, StubClass] = {}
    enums: dict[str, list[str]] = {}
    aliases: dict[str, tuple[str, str]] = {}
    functions: dict[str, StubFunction] = {}
    for index, node in enumerate(tree.body):
        if isinstance(node, ast.ClassDef) and node.name in enum_names:
            enums[node.name] = [target.id for item in node.body if isinstance(item, ast.Assign)
                                for target in item.targets if isinstance(target, ast.Name)]
        elif isinstance(node, ast.ClassDef):
            classes[node.name] = _parse_class(node, types_)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            enum_name = ast.unparse(node.annotation)
            if enum_name not in enum_names:
                raise ValueError(f"{path}: module-level {node.target.id}: {enum_name} is not an enum of the stub")
            aliases[node.target.id] = (enum_name, node.target.id)
        elif isinstance(node, ast.FunctionDef):
            functions[node.name] = _parse_function(node, types_, method=False)
    for name, (enum_name, member) in aliases.items():
        if member not in enums[enum_name]:
            raise ValueError(f"{path}: alias {name} names no member of {enum_name}")
    return Stub(classes, enums, aliases, functions)


def build(stub: Stub, calls: list, behaviour: Mapping[str, Callable[..., Any]] | None = None) -> types.ModuleType:
    """A module with the stub's classes, enums, aliases and functions."""
    behaviour = dict(behaviour or {})
    module = types.ModuleType("xlite._C")
    module.__file__ = "<fake xlite._C built from _C.pyi>"
    for name, members in stub.enums.items():
        setattr(module, name, enum.Enum(name, members, module="xlite._C"))
    for name, (enum_name, member) in stub.aliases.items():
        setattr(module, name, getattr(getattr(module, enum_name), member))
    enums = {name: getattr(module, name) for name in stub.enums}
    classes: dict[str, type] = {}
    for name, declared in stub.classes.items():
        classes[name] = _fake_class(declared, calls, behaviour, module)
        setattr(module, name, classes[name])
    for name, function in stub.functions.items():
        setattr(module, name, _fake_function(function, name, calls, behaviour, module))
    module._namespace = {**enums, **classes}  # what annotations that name a stub type resolve to
    unknown = set(behaviour) - set(_keys(stub))
    if unknown:
        raise ValueError(f"fake xlite: behaviour for {sorted(unknown)}, which the stub does not declare")
    return module


def install(monkeypatch: pytest.MonkeyPatch, stub: Stub, calls: list,
            behaviour: Mapping[str, Callable[..., Any]] | None = None) -> types.ModuleType:
    """Put the fake at `xlite._C` (next to the real, installed `xlite` package) for this test only."""
    import xlite

    module = build(stub, calls, behaviour)
    monkeypatch.setitem(sys.modules, "xlite._C", module)
    monkeypatch.setattr(xlite, "_C", module, raising=False)
    return module


def values(obj: Any) -> dict[str, Any]:
    """The fields set on a fake object so far."""
    return dict(object.__getattribute__(obj, "_fields"))


# -- building ---------------------------------------------------------------------------------


def _keys(stub: Stub) -> list[str]:
    keys = list(stub.functions)
    for name, declared in stub.classes.items():
        keys += [f"{name}.{method}" for method in declared.methods]
        keys += [f"{name}.__init__"] if declared.init else []
    return keys


def _fake_class(declared: StubClass, calls: list, behaviour: Mapping[str, Callable[..., Any]],
                module: types.ModuleType) -> type:
    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "_fields", {})
        if declared.init is not None:
            _call(f"{declared.name}.__init__", declared.init, (self, *args), kwargs, calls, behaviour, module)
        elif args or kwargs:  # no `__init__` in the stub: pybind11's default constructor
            raise TypeError(f"{declared.name}.__init__(): takes no arguments (the stub declares no constructor)")

    def __setattr__(self, name, value):
        if name not in declared.fields:
            raise AttributeError(f"'xlite._C.{declared.name}' object has no attribute '{name}'")
        annotation, check = declared.fields[name]
        if not check(value, module._namespace):
            raise TypeError(f"{declared.name}.{name}: incompatible value {_describe(value)}; expected {annotation}")
        object.__getattribute__(self, "_fields")[name] = value

    def __getattr__(self, name):
        if name in declared.fields:
            try:
                return object.__getattribute__(self, "_fields")[name]
            except KeyError:
                raise AttributeError(f"fake xlite: {declared.name}.{name} was read before it was set "
                                     "(the stub gives no default)") from None
        raise AttributeError(f"'xlite._C.{declared.name}' object has no attribute '{name}'")

    namespace: dict[str, Any] = {"__init__": __init__, "__setattr__": __setattr__, "__getattr__": __getattr__,
                                 "__module__": "xlite._C", "__qualname__": declared.name}
    for name, method in declared.methods.items():
        namespace[name] = _fake_method(method, f"{declared.name}.{name}", calls, behaviour, module)
    return type(declared.name, (), namespace)


def _fake_method(function: StubFunction, key: str, calls: list, behaviour: Mapping[str, Callable[..., Any]],
                 module: types.ModuleType) -> Callable[..., Any]:
    def method(self, *args, **kwargs):
        return _call(key, function, (self, *args), kwargs, calls, behaviour, module)

    method.__name__, method.__signature__ = function.name, function.signature
    return method


def _fake_function(function: StubFunction, key: str, calls: list, behaviour: Mapping[str, Callable[..., Any]],
                   module: types.ModuleType) -> Callable[..., Any]:
    def call(*args, **kwargs):
        return _call(key, function, args, kwargs, calls, behaviour, module)

    call.__name__, call.__signature__ = function.name, function.signature
    return call


def _call(key: str, function: StubFunction, args: tuple, kwargs: dict, calls: list,
          behaviour: Mapping[str, Callable[..., Any]], module: types.ModuleType) -> Any:
    try:
        bound = function.signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{key}(): {exc} (stub signature {function.signature})") from None
    for name, value in bound.arguments.items():
        if name in function.checks:
            annotation, check = function.checks[name]
            if not check(value, module._namespace):
                raise TypeError(f"{key}(): argument {name!r}: incompatible value {_describe(value)}; expected {annotation}")
    arguments = {name: value for name, value in bound.arguments.items() if name != "self"}
    calls.append((key, arguments))
    if key in behaviour:
        return behaviour[key](bound.arguments.get("self"), **arguments)
    if function.returns != "None":
        raise NotImplementedError(f"fake xlite: {key} returns {function.returns}; the test must give its behaviour")
    return None


def _parse_class(node: ast.ClassDef, types_: _TypeChecks) -> StubClass:
    declared = StubClass(node.name)
    body = node.body
    for position, item in enumerate(body):
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            annotation = ast.unparse(item.annotation)
            declared.fields[item.target.id] = (annotation, types_.check(item.annotation))
            following = body[position + 1] if position + 1 < len(body) else None
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                declared.field_docs[item.target.id] = str(following.value.value)
        elif isinstance(item, ast.FunctionDef):
            function = _parse_function(item, types_, method=True)
            if item.name == "__init__":
                declared.init = function
            else:
                declared.methods[item.name] = function
    return declared


def _parse_function(node: ast.FunctionDef, types_: _TypeChecks, *, method: bool) -> StubFunction:
    arguments = node.args
    parameters: list[inspect.Parameter] = []
    checks: dict[str, tuple[str, Check]] = {}
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    for index, (arg, default) in enumerate(zip(positional, defaults)):
        kind = (inspect.Parameter.POSITIONAL_ONLY if index < len(arguments.posonlyargs)
                else inspect.Parameter.POSITIONAL_OR_KEYWORD)
        parameters.append(_parameter(arg, kind, default, checks, types_))
    if arguments.vararg:
        parameters.append(_parameter(arguments.vararg, inspect.Parameter.VAR_POSITIONAL, None, checks, types_))
    for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults):
        parameters.append(_parameter(arg, inspect.Parameter.KEYWORD_ONLY, default, checks, types_))
    if arguments.kwarg:
        parameters.append(_parameter(arguments.kwarg, inspect.Parameter.VAR_KEYWORD, None, checks, types_))
    if method and (not parameters or parameters[0].name != "self"):
        raise ValueError(f"stub method {node.name} has no `self`")
    returns = ast.unparse(node.returns) if node.returns is not None else "None"
    return StubFunction(node.name, inspect.Signature(parameters), checks, returns)


def _parameter(arg: ast.arg, kind: inspect._ParameterKind, default: ast.expr | None,
               checks: dict[str, tuple[str, Check]], types_: _TypeChecks) -> inspect.Parameter:
    if arg.annotation is not None:
        checks[arg.arg] = (ast.unparse(arg.annotation), types_.check(arg.annotation))
    value = inspect.Parameter.empty if default is None else _constant(default)
    return inspect.Parameter(arg.arg, kind, default=value)


def _constant(node: ast.expr) -> Any:
    """A default's value: literals and arithmetic on them (`16 * 1024`); `...` stays Ellipsis."""
    if not all(isinstance(part, (ast.Constant, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop))
               for part in ast.walk(node)):
        raise ValueError(f"stub default {ast.unparse(node)} is not a constant")
    return eval(compile(ast.Expression(node), "<stub default>", "eval"), {"__builtins__": {}})  # noqa: S307


def _is_enum(node: ast.ClassDef) -> bool:
    return any(ast.unparse(base) in ("Enum", "enum.Enum") for base in node.bases)


class _TypeChecks:
    """Turns an annotation into `check(value, namespace) -> bool`; an unknown form is an error."""

    SCALARS: dict[str, Callable[[Any], bool]] = {
        "int": lambda v: isinstance(v, int),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "object": lambda v: True,
        "None": lambda v: v is None,
        "torch.Tensor": lambda v: isinstance(v, torch.Tensor),
    }

    def __init__(self, stub_types: set[str]):
        self.stub_types = stub_types

    def check(self, node: ast.expr) -> Check:
        text = ast.unparse(node)
        if text in self.SCALARS:
            scalar = self.SCALARS[text]
            return lambda value, namespace: scalar(value)
        if text in self.stub_types:
            return lambda value, namespace: isinstance(value, namespace[text])
        if isinstance(node, ast.Subscript):
            outer = ast.unparse(node.value)
            inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            checks = [self.check(part) for part in inner]
            if outer in ("List", "Sequence") and len(checks) == 1:
                item = checks[0]
                return lambda value, namespace: (isinstance(value, (list, tuple))
                                                 and all(item(element, namespace) for element in value))
            if outer == "Optional" and len(checks) == 1:
                item = checks[0]
                return lambda value, namespace: value is None or item(value, namespace)
            if outer == "Union":
                return lambda value, namespace: any(check(value, namespace) for check in checks)
        raise ValueError(f"fake xlite: no value check for the stub annotation {text!r}")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"Tensor{list(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:80]
