"""Everything one run knows, indexed for cross-resource look-ups.

Resources correlate across files by resource ID (type + name, case-insensitive).  Rules
reach this index through JMESPath functions (``engine.jfunctions``); nothing here reads
files.

Cross-resource functions run once per subject, so a look-up that scanned every resource
would make a run quadratic in its size (a 5,000-hub export, a monorepo of 1,000
templates).  Look-ups are therefore dictionaries, built on first use and rebuilt when the
index grows (``memo``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from engine.model import Resource, Template
from engine.resource_ids import resource_key

T = TypeVar("T")


@dataclass
class RunIndex:
    resources: list[Resource] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    roles: list[Any] = field(default_factory=list)  # engine.rbac.RoleDefinition (custom, in the run)
    assignments: list[Any] = field(default_factory=list)  # engine.assignments.RoleAssignment
    _by_id: dict[str, list[Resource]] = field(default_factory=dict, repr=False)
    _by_type: dict[str, list[Resource]] = field(default_factory=dict, repr=False)
    _by_body: dict[int, Resource] = field(default_factory=dict, repr=False)
    _memo: dict[str, tuple[tuple[int, ...], Any]] = field(default_factory=dict, repr=False)

    def add_resources(self, resources: Iterable[Resource]) -> None:
        for r in resources:
            self.resources.append(r)
            self._by_id.setdefault(resource_key(str(r.id)), []).append(r)
            self._by_type.setdefault(r.type.lower(), []).append(r)
            self._by_body[id(r.body)] = r

    def memo(self, key: str, build: Callable[[RunIndex], T]) -> T:
        """``build(self)``, computed once per state of the index.  The lists are public
        and appended to directly, so their lengths tell whether a cached value is stale."""
        version = (len(self.resources), len(self.templates), len(self.roles), len(self.assignments))
        hit = self._memo.get(key)
        if hit is not None and hit[0] == version:
            value: T = hit[1]
            return value
        value = build(self)
        self._memo[key] = (version, value)
        return value

    def of_body(self, body: Any) -> Resource | None:
        """The resource whose expanded body this is (rule functions receive bodies)."""
        return self._by_body.get(id(body))

    def by_id(self, resource_id: str) -> list[Resource]:
        """Resources with this ID, compared by type + name (``engine.resource_ids``)."""
        return self._by_id.get(resource_key(resource_id), [])

    def of_type(self, *types: str) -> list[Resource]:
        out: list[Resource] = []
        for t in types:
            out.extend(self._by_type.get(t.lower(), []))
        return out

    def position(self, resource: Resource) -> int:
        """Where ``resource`` is in ``resources`` (for keeping look-up results in run order)."""
        return self.memo("position", _positions)[id(resource)]

    def deployed(self, *types: str) -> list[Resource]:
        """Resources of these types that the run deploys (not ``existing`` references;
        a resource whose condition is false never reaches the index)."""
        return [r for r in self.of_type(*types) if not r.existing]

    def hubs_named(self, name: str) -> list[Resource]:
        """Deployed IoT hubs with this (short) name, case-insensitive."""
        return list(self.memo("hubs-by-name", _hubs_by_name).get(name.lower(), ()))


def _positions(index: RunIndex) -> dict[int, int]:
    return {id(r): i for i, r in enumerate(index.resources)}


def _hubs_by_name(index: RunIndex) -> dict[str, list[Resource]]:
    out: dict[str, list[Resource]] = {}
    for r in index.deployed("Microsoft.Devices/IotHubs"):
        out.setdefault(str(r.name).rsplit("/", 1)[-1].lower(), []).append(r)
    return out
