"""`Record`: equality, hashing and repr for the package's frozen dataclasses, written once.

`@dataclass` compiles each generated method at import time: for a frozen class with many fields
its `__eq__`, `__hash__` and `__repr__` cost about a millisecond together on a small machine, and
the first `select()` defines five such classes within a 25 ms budget. Declared with
`@dataclass(frozen=True, eq=False, repr=False)`, a subclass of `Record` gets these generic ones
instead: they behave the same, and cost a little more per call, on no hot path.
"""

from __future__ import annotations

from dataclasses import fields


class Record:
    """Value semantics over the dataclass fields: equal when the class and every field are equal."""

    __slots__ = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)  # type: ignore[arg-type]
        return f"{type(self).__qualname__}({shown})"
