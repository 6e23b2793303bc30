"""RBAC and role-assignment functions for rule conditions (mixed into ``RuleFunctions``).

Generic mechanisms only: effective-permission questions (``engine.rbac``), scope
containment and principal identity (``engine.assignments``), and which resources an IoT
hub sends data to.  Which operations, roles and scopes matter is written in the rules.
An answer that hinges on an unknown permission string, scope or role records the
unknown (``consult``) so the evaluator reports *unresolved* instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.jsig import signature
from engine.values import Unknown, ci_get, consult, tracking

# Built-in roles whose effective actions include writes on any provider.  They are named
# because a custom role that does so is recognised by its actions instead.
_CONTROL_PLANE_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
}
# The data roles RBAC003 recommends.  Storage Blob Data Contributor's actions include
# ``blobServices/containers/write``, a write on the provider, yet it is the role the
# catalog asks for: the recommended roles are never control-plane findings.
_EGRESS_DATA_ROLES = {
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2b629674-e913-4c01-ae53-ef4638d8f975": "Azure Event Hubs Data Sender",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
}
_HUB_LISTKEYS = (
    "Microsoft.Devices/iotHubs/listkeys/action",
    "Microsoft.Devices/iotHubs/iotHubKeys/listkeys/action",
)

# Egress target kinds: resource type (lower) -> (provider, data role the hub needs).
_EGRESS_TYPES = {
    "microsoft.storage/storageaccounts": ("Microsoft.Storage", "Storage Blob Data Contributor"),
    "microsoft.eventhub/namespaces": ("Microsoft.EventHub", "Azure Event Hubs Data Sender"),
    "microsoft.servicebus/namespaces": ("Microsoft.ServiceBus", "Azure Service Bus Data Sender"),
    "microsoft.documentdb/databaseaccounts": ("Microsoft.DocumentDB", "Cosmos DB Built-in Data Contributor"),
}
# Host names in endpoint URIs and connection strings -> the account/namespace kind.
_HOSTS = (
    (re.compile(r"([a-z0-9-]+)\.blob\.core\.windows\.net", re.I), "microsoft.storage/storageaccounts"),
    (re.compile(r"accountname=([a-z0-9]+)", re.I), "microsoft.storage/storageaccounts"),
    (re.compile(r"([a-z0-9-]+)\.servicebus\.windows\.net", re.I), "namespace"),
    (re.compile(r"([a-z0-9-]+)\.documents\.azure\.com", re.I), "microsoft.documentdb/databaseaccounts"),
)
_ID = re.compile(
    r"providers/(microsoft\.storage/storageaccounts|microsoft\.eventhub/namespaces|"
    r"microsoft\.servicebus/namespaces|microsoft\.documentdb/databaseaccounts)/([^/\s;'\"{}]+)",
    re.I,
)


def _role_of(state: Any, body: Any) -> Any:
    """The ``RoleDefinition`` behind a role body the condition holds."""
    from engine.rbac import RoleDefinition

    subject = state.subject
    obj = getattr(subject, "obj", None)
    if isinstance(obj, RoleDefinition) and body is state.resource:
        return obj
    role = getattr(obj, "role", None)
    if role is not None and (body is state.resource or body is ci_get(state.resource, "roleDefinition")):
        return role
    guid = ci_get(body, "guid")
    if isinstance(guid, str) and not isinstance(guid, Unknown) and guid:
        run = state.run
        for r in getattr(run, "roles", ()):
            if isinstance(r.guid, str) and r.guid.lower() == guid.lower():
                return r
        from engine import catalog

        return catalog.builtin_role(guid)
    return None


def _assignment_of(state: Any, body: Any) -> Any:
    from engine.assignments import RoleAssignment

    obj = getattr(state.subject, "obj", None)
    if isinstance(obj, RoleAssignment) and body is state.resource:
        return obj
    return None


def _decided(grant: Any, unknowns: tuple[Unknown, ...]) -> bool:
    """Whether a known string grants, consulting the unknowns that could flip that: a
    known grant that an unknown ``notActions`` entry might remove is unresolved, not a
    finding (``unknowns`` is empty when the answer is settled)."""
    for u in unknowns:
        consult(u)
    return grant is not None


def _role_unknown(a: Any) -> None:
    """An assignment whose role cannot be resolved: the answer depends on it."""
    rid = a.role_definition_id
    if isinstance(rid, Unknown):
        consult(rid)
    elif not a.role_guid:
        consult(Unknown.of("unsupported", f"role definition {rid!r} is not a known role"))
    else:
        consult(Unknown.of("unsupported", f"custom role {a.role_guid} is not defined in the files checked"))


def _location(resource: Any) -> str:
    line, _ = resource.source.locate(resource.path)
    return f"{resource.source.path}:{line}"


class RbacFunctions:
    """Mixin for ``engine.jfunctions.RuleFunctions`` (which provides ``state``)."""

    state: Any

    # ------------------------------------------------------------------ role definitions

    @signature({"types": []}, {"types": ["string"]})
    def _func_grants(self, role_body: Any, operation: str) -> bool:
        """The role's effective ``actions`` grant this control-plane operation."""
        role = _role_of(self.state, role_body)
        if role is None:
            return False
        eff = role.effective
        return _decided(eff.action_grant(operation), eff.uncertain_action(operation))

    @signature({"types": []}, {"types": ["string"]})
    def _func_grants_data(self, role_body: Any, pattern: str) -> bool:
        """The role's effective ``dataActions`` grant some operation matching ``pattern``."""
        role = _role_of(self.state, role_body)
        if role is None:
            return False
        eff = role.effective
        return _decided(eff.any_data_action_grant(pattern), eff.uncertain_any_data_action(pattern))

    @signature({"types": []}, {"types": ["string"]})
    def _func_granting_path(self, role_body: Any, operation: str) -> str | None:
        """Where the string that grants ``operation`` sits in the role body
        (``permissions[0].actions[2]``), for locating findings; null if not granted."""
        role = _role_of(self.state, role_body)
        grant = role.effective.action_grant(operation) if role is not None else None
        return role.body_path(grant) or None if grant is not None else None

    @signature({"types": []}, {"types": ["string"]})
    def _func_wildcard_grants_all_data(self, role_body: Any, pattern: str) -> str | None:
        """The path of a ``dataActions`` wildcard that matches every catalogued data
        operation matching ``pattern``, all of which the role still grants after
        ``notDataActions``; null when there is none."""
        from engine import catalog

        role = _role_of(self.state, role_body)
        if role is None:
            return None
        ops = catalog.operations()
        grant = role.effective.wildcard_covering_data(pattern, ops)
        if grant is None:
            for u in role.effective.uncertain_wildcard_covering_data(pattern, ops):
                consult(u)
            return None
        return role.body_path(grant) or None

    @signature({"types": []})
    def _func_has_data_actions(self, role_body: Any) -> bool:
        role = _role_of(self.state, role_body)
        return bool(role is not None and role.has_data_actions)

    # ------------------------------------------------------------------ assignments

    @signature({"types": []}, {"types": ["string"]})
    def _func_role_grants_data(self, assignment: Any, pattern: str) -> bool:
        """The assigned role's effective ``dataActions`` grant some operation matching
        ``pattern`` (built-in or custom role of the run)."""
        a = _assignment_of(self.state, assignment)
        if a is None:
            return False
        if a.role is None:
            _role_unknown(a)
            return False
        eff = a.role.effective
        return _decided(eff.any_data_action_grant(pattern), eff.uncertain_any_data_action(pattern))

    @signature({"types": []})
    def _func_listkeys_grants(self, assignment: Any) -> list[str]:
        """Other assignments in the run to the same principal whose role grants IoT Hub
        listkeys on a hub the assignment covers: at its scope or an enclosing one, or
        inside it at a hub or at a scope that can hold hubs (a resource group inside a
        subscription) -- not at some other resource that happens to lie inside it.
        Each as ``<role> at <scope> (<file>:<line>)``.  When none is found, such a grant
        to a principal that cannot be told apart from this one (either is a parameter
        without a value, or otherwise unknown) makes the answer hinge on that principal."""
        from engine.assignments import same_principal

        a = _assignment_of(self.state, assignment)
        run = self.state.run
        if a is None:
            return []
        out: list[str] = []
        for other in _same_principal_near(run, a):
            if other is not a and same_principal(a, other):
                grant = _listkeys_grant(a, other)
                if grant is not None:
                    out.append(grant)
        if out:
            return out
        for other in _unknown_principals_near(run, a):
            if other is a or same_principal(a, other):
                continue
            with tracking() as doubts:
                grant = _listkeys_grant(a, other)
            if grant is None and not doubts:
                continue
            for p in (a.principal, other.principal):
                if _principal_unknown(p) is not None:
                    consult(p.value)
            for u in doubts:
                consult(u)
            if grant is not None:
                break  # one possible holder of listkeys settles that the answer is open
        return out

    @signature({"types": []}, {"types": ["string"]})
    def _func_assigned_at(self, resource_id: Any, role_guid: str) -> bool:
        """Some role assignment in the run gives the role ``role_guid`` at ``resource_id``
        or a scope enclosing it."""
        if isinstance(resource_id, Unknown):
            consult(resource_id)
            return False
        if not isinstance(resource_id, str):
            return False
        want = role_guid.lower()
        pending: list[Unknown] = []
        for a in getattr(self.state.run, "assignments", ()):
            if a.role_guid != want:
                if not a.role_guid and isinstance(a.role_definition_id, Unknown):
                    pending.append(a.role_definition_id)
                continue
            if a.reaches(resource_id):
                cond = a.resource.condition
                if not isinstance(cond, Unknown):
                    return True
                pending.append(cond)  # granted only if that assignment is deployed
                continue
            if isinstance(a.scope_value, Unknown):
                pending.append(a.scope_value)
        for u in pending:
            consult(u)
        return False

    # ------------------------------------------------------------------ hub egress

    @signature({"types": []})
    def _func_hub_of_principal(self, assignment: Any) -> str | None:
        """The IoT hub (``<name> at <file>:<line>``) whose managed identity is the
        assignment's principal, or null."""
        a = _assignment_of(self.state, assignment)
        hub = _hub_of(self.state.run, a) if a is not None else None
        return f"IoT hub '{hub.name}' at {_location(hub)}" if hub is not None else None

    @signature({"types": []})
    def _func_egress_data_role(self, assignment: Any) -> str | None:
        """The data role a hub needs on the assignment's scope (by its resource type)."""
        from engine.assignments import resource_type_of

        a = _assignment_of(self.state, assignment)
        if a is None:
            return None
        kind = _EGRESS_TYPES.get("/".join(resource_type_of(a.scope).lower().split("/")[:2]))
        return kind[1] if kind else None

    @signature({"types": []})
    def _func_egress_control_plane(self, assignment: Any) -> bool:
        """A hub's managed identity holds a control-plane role (Owner, Contributor,
        Storage Account Contributor, or writes on the target's provider) on a resource
        the hub sends to: a routing endpoint or file-upload storage, matched by resource
        ID or host name; when none of the hub's endpoints can be matched, any storage,
        Event Hubs, Service Bus or Cosmos DB scope counts."""
        from engine.assignments import parse_scope, resource_type_of

        a = _assignment_of(self.state, assignment)
        run = self.state.run
        if a is None or run is None:
            return False
        hub = _hub_of(run, a)
        if hub is None:
            if a.principal.kind == "unknown" and a.principal.unknown is not None:
                consult(a.principal.unknown)
            return False
        # An entity (``namespaces/ns/eventhubs/t``) is judged as its namespace or account.
        rtype = "/".join(resource_type_of(a.scope).lower().split("/")[:2])
        if rtype not in _EGRESS_TYPES:
            if "{" in a.scope and isinstance(a.scope_value, Unknown):
                consult(a.scope_value)
            return False
        names = parse_scope(a.scope).names
        target_name = str(names[0]).lower() if names else ""
        targets, undecided = _egress_targets(hub.body)
        if targets:
            kind_ok = {k for k, n in targets if n == target_name}
            if not any(k == rtype or (k == "namespace" and "/namespaces" in rtype) for k in kind_ok):
                return False
        elif undecided:
            for u in undecided:
                consult(u)
            return False
        if a.role_guid in _EGRESS_DATA_ROLES:
            return False
        if a.role is None:
            if a.role_guid in _CONTROL_PLANE_ROLES:
                return True
            _role_unknown(a)
            return False
        if a.role_guid in _CONTROL_PLANE_ROLES:
            return True
        provider = _EGRESS_TYPES[rtype][0]
        eff = a.role.effective
        return _decided(eff.any_action_grant(f"{provider}/*/write"),
                        eff.uncertain_any_action(f"{provider}/*/write"))


# Scopes that can hold IoT hubs below them.
_CONTAINERS = ("resourceGroup", "subscription", "managementGroup", "tenant")


def _unknown_scope(a: Any) -> Unknown | None:
    """The unknown input an assignment's scope hinges on, when its kind is unknown."""
    return a.scope_value if a.scope_kind == "unknown" and isinstance(a.scope_value, Unknown) else None


def _listkeys_grant(data: Any, other: Any) -> str | None:
    """``<role> at <scope> (<file>:<line>)`` when ``other``'s role grants IoT Hub
    listkeys on a hub ``data``'s scope covers, consulting the unknown scope, role or
    permission the answer hinges on (then None)."""
    reach = _listkeys_reach(data, other)
    if reach is False:
        return None
    if other.role is None:
        _role_unknown(other)
        return None
    eff = other.role.effective
    grant = next((g for op in _HUB_LISTKEYS if (g := eff.action_grant(op)) is not None), None)
    if grant is None:
        for op in _HUB_LISTKEYS:
            for u in eff.uncertain_action(op):
                consult(u)
        return None
    if reach is not True:
        consult(reach)
        return None
    name = other.role.name if isinstance(other.role.name, str) else other.role_guid
    return f"{name} at {other.scope} ({_location(other.resource)})"


def _may_grant_listkeys(a: Any) -> bool:
    """Whether ``a``'s role grants IoT Hub listkeys somewhere, or might (unknown role or
    permission)."""
    if a.role is None:
        return True
    eff = a.role.effective
    return any(eff.action_grant(op) is not None or eff.uncertain_action(op) for op in _HUB_LISTKEYS)


def _listkeys_reach(data: Any, other: Any) -> bool | Unknown:
    """Whether a grant at ``other``'s scope reaches a hub that ``data``'s scope covers:
    it encloses that scope, or lies inside it at a hub or at a scope that can hold hubs.
    A grant on a sibling resource (a storage account in the same resource group) does
    not: listkeys is an action on the hub, granted at the hub or above it.  An unknown
    scope is the unknown input the answer hinges on."""
    from engine.assignments import is_hub_scope, scope_contains

    for side in (other, data):
        u = _unknown_scope(side)
        if u is not None:
            return u
    if scope_contains(other.scope, data.scope):
        return True
    if scope_contains(data.scope, other.scope):
        return is_hub_scope(other.scope) or other.scope_kind in _CONTAINERS
    return False


def _hub_of(run: Any, a: Any) -> Any:
    """The deployed hub whose system- or user-assigned identity is ``a``'s principal."""
    if run is None:
        return None
    p = a.principal
    if p.kind == "hub-system-identity" and p.resource_id:
        found = [r for r in run.by_id(p.resource_id) if not r.existing]
        if found:
            return found[0]
        name = p.resource_id.rstrip("/").rsplit("/", 1)[-1]
        hubs = run.hubs_named(name)
        return hubs[0] if hubs else None
    if p.kind == "user-assigned-identity" and p.resource_id:
        from engine.resource_ids import normalise, same_resource

        want = normalise(p.resource_id)
        short = want.rsplit("/", 1)[-1]
        for hub in run.deployed("Microsoft.Devices/IotHubs"):
            attached = ci_get(ci_get(hub.body, "identity"), "userAssignedIdentities")
            if not isinstance(attached, dict):
                continue
            for key in attached:
                k = normalise(str(key))
                if same_resource(k, want) or (k.rsplit("/", 1)[-1] == short and "/" not in want):
                    return hub
    return None


class _ScopeGroup:
    """One principal's assignments, indexed so that those whose scope contains, or lies
    inside, a given scope are found without a scan.  Resource scopes are indexed by
    resource key (type + name chain, ``engine.resource_ids``); broader scopes (resource
    group and up) are few per principal and, with placeholders matching any literal
    subscription or group, are always candidates."""

    def __init__(self) -> None:
        self.members: list[Any] = []
        self.exact: dict[str, list[int]] = {}
        self.inside: dict[str, list[int]] = {}  # proper prefix -> members below it
        self.broad: list[int] = []  # resource group and up, and scopes of unknown kind

    def add(self, a: Any) -> None:
        i = len(self.members)
        self.members.append(a)
        key = _resource_scope_key(a)
        if key is None:
            self.broad.append(i)
            return
        self.exact.setdefault(key, []).append(i)
        for prefix in _prefixes(key):
            self.inside.setdefault(prefix, []).append(i)

    def near(self, a: Any) -> list[Any]:
        """A superset, in run order, of the members whose scope contains ``a``'s or lies
        inside it (``scope_contains`` either way; callers still check), plus those whose
        scope is of unknown kind (it may be either)."""
        key = _resource_scope_key(a)
        if key is None:
            return list(self.members)
        hits: set[int] = set(self.broad)
        for k in (key, *_prefixes(key)):
            hits.update(self.exact.get(k, ()))
        hits.update(self.inside.get(key, ()))
        return [self.members[i] for i in sorted(hits)]


def _resource_scope_key(a: Any) -> str | None:
    """The resource key of an assignment's scope when it is a resource, else None."""
    from engine import resource_ids

    if not isinstance(a.scope, str) or a.scope_kind == "unknown":
        return None
    key = resource_ids.resource_key(a.scope)
    return key if key.startswith("providers/") else None


def _prefixes(norm: str) -> list[str]:
    """Every ``p`` such that ``norm`` starts with ``p + "/"`` (``p`` not empty)."""
    return [norm[:i] for i, ch in enumerate(norm) if ch == "/" and i > 0]


def _principal_groups(run: Any) -> dict[str, _ScopeGroup]:
    groups: dict[str, _ScopeGroup] = {}
    for a in run.assignments:
        key = a.principal.key
        if key is not None:
            groups.setdefault(key, _ScopeGroup()).add(a)
    return groups


def _principal_unknown(p: Any) -> Unknown | None:
    """The unknown input a principal hinges on: a parameter without a value (its key
    only matches other uses of that parameter) or an unclassified unknown; None for a
    known object ID or a resource's identity."""
    return p.unknown if p.kind in ("parameter", "unknown") else None


@dataclass
class _OpenPrincipals:
    """Assignments whose principal is unknown, and those whose role may grant listkeys,
    each indexed by scope: the candidates when the same principal cannot be told."""

    unknown: _ScopeGroup = field(default_factory=lambda: _ScopeGroup())
    listkeys: _ScopeGroup = field(default_factory=lambda: _ScopeGroup())


def _open_principals(run: Any) -> _OpenPrincipals:
    out = _OpenPrincipals()
    for a in run.assignments:
        if _principal_unknown(a.principal) is not None:
            out.unknown.add(a)
        if _may_grant_listkeys(a):
            out.listkeys.add(a)
    return out


def _unknown_principals_near(run: Any, a: Any) -> list[Any]:
    """Assignments near ``a``'s scope whose principal might be ``a``'s without being
    known to be: with ``a``'s principal unknown, those whose role may grant listkeys
    (whoever holds them); else those whose principal is unknown."""
    if not hasattr(run, "memo"):
        return list(getattr(run, "assignments", ()))
    found: _OpenPrincipals = run.memo("assignments-open-principals", _open_principals)
    group = found.listkeys if _principal_unknown(a.principal) is not None else found.unknown
    return group.near(a)


def _same_principal_near(run: Any, a: Any) -> list[Any]:
    """The run's assignments that may share ``a``'s principal and overlap its scope."""
    if not hasattr(run, "memo"):
        return list(getattr(run, "assignments", ()))
    key = a.principal.key
    group = run.memo("assignments-by-principal", _principal_groups).get(key) if key is not None else None
    return group.near(a) if group is not None else []


def _endpoint_values(body: Any) -> Iterator[Any]:
    props = ci_get(body, "properties")
    endpoints = ci_get(ci_get(props, "routing"), "endpoints")
    if isinstance(endpoints, dict):
        for group in endpoints.values():
            if isinstance(group, list):
                yield from group
    storage = ci_get(props, "storageEndpoints")
    if isinstance(storage, dict):
        yield from storage.values()


def _egress_targets(body: Any) -> tuple[set[tuple[str, str]], list[Unknown]]:
    """(kind, lower-case name) of what the hub sends to; kind is a resource type or
    ``namespace`` (a ``*.servicebus.windows.net`` host serves Event Hubs and Service Bus)."""
    from engine.links import _texts

    targets: set[tuple[str, str]] = set()
    undecided: list[Unknown] = []
    for ep in _endpoint_values(body):
        found = False
        for text in _texts(ep):
            for m in _ID.finditer(text):
                targets.add((m.group(1).lower(), m.group(2).lower()))
                found = True
            for rx, kind in _HOSTS:
                for m in rx.finditer(text):
                    targets.add((kind, m.group(1).lower()))
                    found = True
        if not found:
            undecided.extend(u for u in _unknowns(ep))
    return targets, undecided


def _unknowns(value: Any) -> list[Unknown]:
    if isinstance(value, Unknown):
        return [value]
    if isinstance(value, dict):
        return [u for v in value.values() for u in _unknowns(v)]
    if isinstance(value, list):
        return [u for v in value for u in _unknowns(v)]
    return []
