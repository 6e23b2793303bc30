"""Everything one run knows, indexed for cross-resource look-ups.

Resources correlate across files by resource ID (type + name, case-insensitive).  Rules
reach this index through JMESPath functions (``engine.jfunctions``); nothing here reads
files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.model import Resource, Template


@dataclass
class RunIndex:
    resources: list[Resource] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    roles: list[Any] = field(default_factory=list)  # engine.rbac.RoleDefinition (custom, in the run)
    assignments: list[Any] = field(default_factory=list)  # engine.assignments.RoleAssignment
    _by_id: dict[str, list[Resource]] = field(default_factory=dict, repr=False)
    _by_type: dict[str, list[Resource]] = field(default_factory=dict, repr=False)
    _by_body: dict[int, Resource] = field(default_factory=dict, repr=False)

    def add_resources(self, resources: Iterable[Resource]) -> None:
        for r in resources:
            self.resources.append(r)
            self._by_id.setdefault(str(r.id).lower(), []).append(r)
            self._by_type.setdefault(r.type.lower(), []).append(r)
            self._by_body[id(r.body)] = r

    def of_body(self, body: Any) -> Resource | None:
        """The resource whose expanded body this is (rule functions receive bodies)."""
        return self._by_body.get(id(body))

    def by_id(self, resource_id: str) -> list[Resource]:
        return self._by_id.get(resource_id.lower(), [])

    def of_type(self, *types: str) -> list[Resource]:
        out: list[Resource] = []
        for t in types:
            out.extend(self._by_type.get(t.lower(), []))
        return out

    def deployed(self, *types: str) -> list[Resource]:
        """Resources of these types that the run deploys (not ``existing`` references;
        a resource whose condition is false never reaches the index)."""
        return [r for r in self.of_type(*types) if not r.existing]

    def hubs_named(self, name: str) -> list[Resource]:
        """Deployed IoT hubs with this (short) name, case-insensitive."""
        low = name.lower()
        return [
            r for r in self.deployed("Microsoft.Devices/IotHubs")
            if str(r.name).rsplit("/", 1)[-1].lower() == low
        ]
