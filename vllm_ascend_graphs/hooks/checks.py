"""What a plugin's `graph_backends()` returned: one backend per item, each with every class attribute
the registry and the selector read checked before any of it is trusted."""

from __future__ import annotations

from collections.abc import Iterable

from ..backends.base import GraphBackend, checked_name
from ..errors import show
from ..probes.environment import PLAN_FACTS
from .isolation import PLUGIN_ERRORS


def returned_items(returned: object) -> list[object]:
    """What one `graph_backends()` call returned, as a list: any iterable of backends, or one alone."""
    if isinstance(returned, (GraphBackend, str, bytes)) or not isinstance(returned, Iterable):
        return [returned]
    return list(returned)


def names_of(backend: GraphBackend) -> tuple[str, ...]:
    """The backend's name, then its aliases, each once."""
    return tuple(dict.fromkeys((backend.name, *backend.aliases)))


def valid_name_of(item: object) -> str | None:
    """The backend name of a returned object, when it has a valid one (for its left-out entry)."""
    try:
        return checked_name(type(item), item.name)  # type: ignore[attr-defined]
    except PLUGIN_ERRORS:
        return None


def checked_backend(item: object) -> GraphBackend:
    """`item` itself, once every class attribute the registry and selector read is checked; a `TypeError`
    naming the attribute, the value and what is allowed otherwise."""
    if not isinstance(item, GraphBackend):
        raise TypeError(f"graph_backends() returned {show(item)}, which is not a GraphBackend instance")
    cls = type(item)
    try:
        name = item.name
    except AttributeError:
        raise TypeError(f"backend class {cls.__qualname__} sets no name; allowed: a class attribute such as "
                        f"name = 'mybackend'") from None
    if checked_name(cls, name) != name:
        raise TypeError(f"{cls.__qualname__}: backend name {show(name)} is not in normal form; allowed: a class "
                        "attribute, which is normalised to lower case")
    aliases, fallback = item.aliases, item.fallback
    for attribute, value in (("aliases", aliases), ("fallback", fallback)):
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise TypeError(f"{cls.__qualname__}.{attribute}: got {show(value)}; allowed: a tuple of backend names")
    for alias in aliases:
        checked_name(cls, alias)
    if not isinstance(item.description, str):
        raise TypeError(f"{cls.__qualname__}.description: got {show(item.description)}; allowed: a string")
    if item.device is not None and not isinstance(item.device, str):  # the runtime checks the name when it captures
        raise TypeError(f"{cls.__qualname__}.device: got {show(item.device)}; allowed: None or a device name "
                        "such as 'npu', 'cuda' or 'sim'")
    if not isinstance(item.assumes, tuple) or not all(fact in PLAN_FACTS for fact in item.assumes):
        raise TypeError(f"{cls.__qualname__}.assumes: got {show(item.assumes)}; allowed: a tuple of "
                        f"{', '.join(PLAN_FACTS)}")
    return item
