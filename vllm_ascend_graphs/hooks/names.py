"""Who holds which backend name, settled once all plugins are loaded.

The builtins keep their names: a plugin backend claiming one is refused. Plugin backends that claim
a common name (as name or alias) form one clash, and every one of them loses every name it has; the
clash is reported once, naming all its claimants, as conda's plugin manager reports conflicting
plugins. Settling everything after loading, rather than at each registration, makes the outcome
independent of the order in which plugins load.
"""

from __future__ import annotations

from typing import NamedTuple

from ..backends.base import GraphBackend
from .discovery import Origin


class Claim(NamedTuple):
    """A loaded backend, who provided it, and the names it claims (its name first, then its aliases)."""

    backend: GraphBackend
    origin: Origin
    names: tuple[str, ...]

    def text(self) -> str:
        return f"backend {self.backend.name!r} from {self.origin}"


class Clash(NamedTuple):
    """Plugin backends linked by common names; none of them is served."""

    claimants: tuple[Claim, ...]  # in load order
    contested: tuple[str, ...]  # the names claimed by more than one of them, sorted

    def text(self) -> str:
        """The clash in one clause: which names, and every claimant."""
        names = ", ".join(map(repr, self.contested))
        subject = f"the name {names} is" if len(self.contested) == 1 else f"the names {names} are"
        claimants = " and ".join(claim.text() for claim in self.claimants)
        return f"{subject} claimed by {claimants}, so none of them is loaded"

    def reason_for(self, claim: Claim) -> str:
        """Why `claim` in particular is left out: its contested names and the other claimants."""
        mine = [name for name in self.contested if name in claim.names]
        others = " and ".join(other.text() for other in self.claimants if other is not claim)
        names = ", ".join(map(repr, mine))
        plural = len(mine) > 1
        return f"its name{'s' if plural else ''} {names} {'are' if plural else 'is'} also claimed by {others}"


class Settled(NamedTuple):
    """The outcome: backends served by canonical name, aliases, refusals and clashes."""

    served: dict[str, Claim]
    aliases: dict[str, str]  # alias -> canonical name
    refused: list[tuple[Claim, str]]  # a plugin backend claiming a builtin's name, with the reason
    clashes: list[Clash]

    def clash_of(self, name: str) -> Clash | None:
        """The clash that took `name` away, if one did."""
        return next((clash for clash in self.clashes if any(name in c.names for c in clash.claimants)), None)


def settle(builtins: list[Claim], plugins: list[Claim]) -> Settled:
    """Who holds each name: builtins first; then plugin backends, each alone or in a clash."""
    served: dict[str, Claim] = {}
    aliases: dict[str, str] = {}
    for claim in builtins:
        served[claim.backend.name] = claim
        aliases.update({alias: claim.backend.name for alias in claim.names[1:]})
    builtin_names = {*served, *aliases}
    refused: list[tuple[Claim, str]] = []
    contenders: list[Claim] = []
    for claim in _each_backend_once(plugins):
        taken = next((name for name in claim.names if name in builtin_names), None)
        if taken is None:
            contenders.append(claim)
        else:
            refused.append((claim, f"its name {taken!r} belongs to the builtin backend "
                                   f"{aliases.get(taken, taken)!r}"))
    clashes = []
    for group in _linked_by_names(contenders):
        if len(group) == 1:
            [claim] = group
            served[claim.backend.name] = claim
            aliases.update({alias: claim.backend.name for alias in claim.names[1:]})
            continue
        counts: dict[str, int] = {}
        for claim in group:
            for name in claim.names:
                counts[name] = counts.get(name, 0) + 1
        clashes.append(Clash(tuple(group), tuple(sorted(n for n, count in counts.items() if count > 1))))
    return Settled(served, aliases, refused, clashes)


def _each_backend_once(claims: list[Claim]) -> list[Claim]:
    """The same backend object returned again (by one plugin or another) is one claim."""
    seen: set[int] = set()
    unique = []
    for claim in claims:
        if id(claim.backend) not in seen:
            seen.add(id(claim.backend))
            unique.append(claim)
    return unique


def _linked_by_names(claims: list[Claim]) -> list[list[Claim]]:
    """The claims grouped so that two claims sharing a name, directly or through others, share a group;
    groups in the order of their first claim, claims in load order."""
    group_of: list[int] = list(range(len(claims)))

    def root(index: int) -> int:
        while group_of[index] != index:
            group_of[index] = group_of[group_of[index]]
            index = group_of[index]
        return index

    first_claimant: dict[str, int] = {}
    for index, claim in enumerate(claims):
        for name in claim.names:
            other = first_claimant.setdefault(name, index)
            group_of[root(index)] = root(other)
    groups: dict[int, list[Claim]] = {}
    for index, claim in enumerate(claims):
        groups.setdefault(root(index), []).append(claim)
    return sorted(groups.values(), key=lambda group: claims.index(group[0]))
