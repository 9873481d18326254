"""torch_npu's Python API as its wheel's source defines it, read with `ast`, never imported.

`RealApi(source).signature("torch_npu.npu.graph")` follows the package's imports (`from .graphs
import graph`, `from .utils import *`) to the definition and builds its `inspect.Signature`: a
function's own, a class's `__init__` or `__new__` without `self`/`cls`. Operators exposed as
`torch_npu.X = torch.ops.npu.X` have the signature of their Python meta registration.

`conformance_problems(fake, real)` says why a call that binds a fake's signature could fail on
the real one (the fake must accept nothing the real rejects; it may be stricter).
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from pathlib import Path

P = inspect.Parameter
POSITIONAL = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)
# Top-level names and where their code lives in the wheel (`import torch_npu` installs the last two).
ALIASES = {"torch.npu": "torch_npu.npu", "npugraph_ex": "torch_npu.dynamo.npugraph_ex",
           "torchair": "torch_npu.dynamo.torchair"}
CUSTOM_OPS = "torch_npu/utils/custom_ops.py"
META_REGISTRATIONS = "torch_npu/op_plugin/meta/_meta_registrations.py"


class Missing(LookupError):
    """A name the real source does not define."""


@dataclass(frozen=True)
class Definition:
    name: str  # the real dotted name, e.g. torch_npu.npu.graphs.graph
    node: ast.FunctionDef | ast.ClassDef


class RealApi:
    def __init__(self, source: Path, overrides: dict[str, str] | None = None):
        """`source` holds the wheel's `torch_npu/`; `overrides` replaces files' text (relative paths)."""
        self.source = source
        self.overrides = overrides or {}
        self._trees: dict[str, ast.Module | None] = {}

    # -- lookup ---------------------------------------------------------------------------------

    def definition(self, dotted: str) -> Definition:
        """The function or class `dotted` names (a module path, then attributes)."""
        dotted = _canonical(dotted)
        parts = dotted.split(".")
        for split in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:split])
            if self._tree(module) is not None:
                found = self._lookup(module, parts[split])
                for attribute in parts[split + 1:]:
                    found = self._member(found, attribute)
                return found
        raise Missing(f"{dotted}: no such module in the wheel")

    def signature(self, dotted: str) -> inspect.Signature:
        found = self.definition(dotted)
        if isinstance(found.node, ast.FunctionDef):
            signature = _signature(found.node)
            is_method = "." in dotted and isinstance(self._parent_node(dotted), ast.ClassDef)
            return _without_first(signature) if is_method else signature
        for special in ("__init__", "__new__"):
            method = next((item for item in found.node.body
                           if isinstance(item, ast.FunctionDef) and item.name == special), None)
            if method is not None:
                return _without_first(_signature(method))
        raise Missing(f"{dotted}: class {found.name} defines no __init__ or __new__ in Python")

    def exists(self, dotted: str) -> bool:
        """Whether `dotted` is a module, a function or class, or an attribute of a class."""
        if self._tree(_canonical(dotted)) is not None:
            return True
        try:
            self.definition(dotted)
            return True
        except Missing:
            owner, _, attribute = dotted.rpartition(".")
            try:
                return self.has_attribute(owner, attribute)
            except Missing:
                return False

    def has_attribute(self, dotted_class: str, attribute: str) -> bool:
        """Whether the class defines `attribute` or its code uses `self.<attribute>` (C-level members)."""
        node = self.definition(dotted_class).node
        return any(isinstance(item, ast.Attribute) and item.attr == attribute
                   and isinstance(item.value, ast.Name) and item.value.id == "self" for item in ast.walk(node)) or any(
            _defines(item, attribute) for item in node.body)

    # -- internals ------------------------------------------------------------------------------

    def _parent_node(self, dotted: str) -> ast.AST | None:
        parent = _canonical(dotted).rsplit(".", 1)[0]
        try:
            return self.definition(parent).node
        except Missing:
            return None

    def _lookup(self, module: str, name: str, depth: int = 0) -> Definition:
        if depth > 20:
            raise Missing(f"{module}.{name}: import cycle")
        tree = self._tree(module)
        if tree is None:
            raise Missing(f"{module}: no such module in the wheel")
        if self._tree(f"{module}.{name}") is not None:
            raise Missing(f"{module}.{name} is a module, not a function or class")
        for node in tree.body:
            if _defines(node, name) and isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                return Definition(f"{module}.{name}", node)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                origin = _absolute(module, node, is_package=self._is_package(module))
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        return self._lookup(origin, alias.name, depth + 1)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
                try:
                    return self._lookup(_absolute(module, node, is_package=self._is_package(module)), name, depth + 1)
                except Missing:
                    continue
        if module == "torch_npu":
            return self._operator(name)
        raise Missing(f"{module}.{name}: not defined in the wheel's source")

    def _operator(self, name: str) -> Definition:
        """`torch_npu.<name> = torch.ops.npu.<op>`, signed by `@impl(m, "<op>")` in the meta registrations."""
        op = None
        for node in ast.walk(self._parse(CUSTOM_OPS)):
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and ast.unparse(node.targets[0]) == f"torch_npu.{name}"
                    and ast.unparse(node.value).startswith("torch.ops.npu.")):
                op = ast.unparse(node.value).rsplit(".", 1)[1]
        if op is None:
            raise Missing(f"torch_npu.{name}: not defined in the wheel's source")
        for node in self._parse(META_REGISTRATIONS).body:
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Call) and len(d.args) == 2 and isinstance(d.args[1], ast.Constant)
                    and d.args[1].value == op for d in node.decorator_list):
                return Definition(f"torch.ops.npu.{op}", node)
        raise Missing(f"torch.ops.npu.{op}: no meta registration with a Python signature")

    def _member(self, owner: Definition, name: str) -> Definition:
        if isinstance(owner.node, ast.ClassDef):
            for item in owner.node.body:
                if isinstance(item, (ast.FunctionDef, ast.ClassDef)) and item.name == name:
                    return Definition(f"{owner.name}.{name}", item)
        raise Missing(f"{owner.name}.{name}: not defined in the wheel's source")

    def _is_package(self, module: str) -> bool:
        return self._path(module, package=True) is not None

    def _path(self, module: str, package: bool = False) -> str | None:
        base = module.replace(".", "/")
        candidates = [f"{base}/__init__.py"] if package else [f"{base}/__init__.py", f"{base}.py"]
        return next((c for c in candidates if c in self.overrides or (self.source / c).is_file()), None)

    def _tree(self, module: str) -> ast.Module | None:
        module = _canonical(module)
        if module not in self._trees:
            path = self._path(module)
            self._trees[module] = self._parse(path) if path else None
        return self._trees[module]

    def _parse(self, path: str) -> ast.Module:
        text = self.overrides.get(path)
        if text is None:
            text = (self.source / path).read_text(encoding="utf-8")
        return ast.parse(text)


def _canonical(dotted: str) -> str:
    for alias, real in ALIASES.items():
        if dotted == alias or dotted.startswith(alias + "."):
            return real + dotted[len(alias):]
    return dotted


def _absolute(module: str, node: ast.ImportFrom, *, is_package: bool) -> str:
    if node.level == 0:
        return _canonical(node.module or "")
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _defines(node: ast.stmt, name: str) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name == name
    if isinstance(node, ast.Assign):
        return any(isinstance(target, ast.Name) and target.id == name for target in node.targets)
    if isinstance(node, ast.AnnAssign):
        return isinstance(node.target, ast.Name) and node.target.id == name
    return False


def _signature(node: ast.FunctionDef) -> inspect.Signature:
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    parameters = [P(arg.arg, P.POSITIONAL_ONLY if index < len(arguments.posonlyargs) else P.POSITIONAL_OR_KEYWORD,
                    default=P.empty if default is None else ast.unparse(default))
                  for index, (arg, default) in enumerate(zip(positional, defaults, strict=False))]
    if arguments.vararg:
        parameters.append(P(arguments.vararg.arg, P.VAR_POSITIONAL))
    parameters += [P(arg.arg, P.KEYWORD_ONLY, default=P.empty if default is None else ast.unparse(default))
                   for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)]
    if arguments.kwarg:
        parameters.append(P(arguments.kwarg.arg, P.VAR_KEYWORD))
    return inspect.Signature(parameters)


def _without_first(signature: inspect.Signature) -> inspect.Signature:
    return signature.replace(parameters=list(signature.parameters.values())[1:])


def conformance_problems(fake: inspect.Signature, real: inspect.Signature) -> list[str]:
    """Why some call that binds `fake` would not bind `real`; empty when `fake` is at most as lenient.

    A fake may take fewer parameters, make keyword-only what the real takes either way, or require
    what the real defaults; it may not take a name, position or omission the real does not.
    """
    problems = []
    real_params = list(real.parameters.values())
    real_positional = [p for p in real_params if p.kind in POSITIONAL]
    real_by_name = {p.name: p for p in real_params if p.kind is not P.POSITIONAL_ONLY}
    real_kinds = {p.kind for p in real_params}
    fake_positional = [p for p in fake.parameters.values() if p.kind in POSITIONAL]
    matched: set[str] = set()
    for index, param in enumerate(fake_positional):
        if index >= len(real_positional):
            if P.VAR_POSITIONAL not in real_kinds:
                problems.append(f"positional parameter {param.name!r} #{index + 1}: the real takes only "
                                f"{len(real_positional)} positional")
            continue
        counterpart = real_positional[index]
        matched.add(counterpart.name)
        if param.kind is P.POSITIONAL_OR_KEYWORD and (counterpart.name != param.name
                                                      or counterpart.kind is not P.POSITIONAL_OR_KEYWORD):
            problems.append(f"parameter {param.name!r} #{index + 1} can be passed by keyword, but the real one "
                            f"there is {counterpart.name!r} ({counterpart.kind.description})")
        if param.default is not P.empty and counterpart.default is P.empty:
            problems.append(f"parameter {param.name!r} has a default; the real {counterpart.name!r} is required")
    for param in fake.parameters.values():
        if param.kind is P.KEYWORD_ONLY:
            counterpart = real_by_name.get(param.name)
            if counterpart is None:
                if P.VAR_KEYWORD not in real_kinds:
                    problems.append(f"keyword {param.name!r}: the real signature has no such parameter")
                continue
            matched.add(counterpart.name)
            if param.default is not P.empty and counterpart.default is P.empty:
                problems.append(f"parameter {param.name!r} has a default; the real one is required")
        elif param.kind is P.VAR_POSITIONAL and P.VAR_POSITIONAL not in real_kinds:
            problems.append(f"*{param.name}: the real signature takes no extra positional arguments")
        elif param.kind is P.VAR_KEYWORD and P.VAR_KEYWORD not in real_kinds:
            problems.append(f"**{param.name}: the real signature takes no extra keyword arguments")
    fake_takes_any = any(p.kind in (P.VAR_POSITIONAL, P.VAR_KEYWORD) for p in fake.parameters.values())
    for param in real_params:
        required = param.default is P.empty and param.kind not in (P.VAR_POSITIONAL, P.VAR_KEYWORD)
        if required and param.name not in matched and not fake_takes_any:
            problems.append(f"the real parameter {param.name!r} is required, and the fake does not take it")
    return problems
