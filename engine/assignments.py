"""Role assignments (``Microsoft.Authorization/roleAssignments``) normalised for rules.

Every form of facts §4.3 becomes one ``RoleAssignment`` with a full scope ID, the role's
GUID and resolved definition, and a classified principal:

* scope: the expander's resolved ``Resource.scope`` (full ID, Bicep's relative
  ``Microsoft.Devices/IotHubs/<name>`` form, symbolic reference), a legacy
  ``<type>/providers/roleAssignments`` child (scope from its type and name when the
  expander did not set it), or no scope at all = the deployment's own scope, the
  placeholder resource group / subscription / management group / tenant of
  ``engine.arm.scope`` chosen by the template's schema;
* role: the GUID after ``roleDefinitions/`` in any ``roleDefinitionId`` form, resolved
  against custom roles defined in the run, then the built-in catalog;
* principal: a literal object ID, the system identity of a hub (or another resource), a
  user-assigned identity, a parameter without a value, or unknown.

Unknown parts stay visible: a scope may read ``/subscriptions/.../IotHubs/{parameters('hub')}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine import resource_ids
from engine.arm import scope as placeholder
from engine.model import Resource
from engine.rbac import RoleDefinition, guid_of, role_body
from engine.values import CIDict, Unknown, ci_get, collapse_placeholders

if TYPE_CHECKING:
    from engine.run_index import RunIndex

RoleLookup = Callable[[str], "RoleDefinition | None"]

# ----------------------------------------------------------------------------- scope IDs

RG_ID = f"/subscriptions/{placeholder.SUBSCRIPTION_ID}/resourceGroups/{placeholder.RESOURCE_GROUP}"
SUBSCRIPTION_ID = f"/subscriptions/{placeholder.SUBSCRIPTION_ID}"
MG_ID = f"/providers/Microsoft.Management/managementGroups/{placeholder.MANAGEMENT_GROUP}"
TENANT_ID = "/"

_SCHEMA_SCOPES = {
    "resourcegroup": RG_ID,
    "subscription": SUBSCRIPTION_ID,
    "managementgroup": MG_ID,
    "tenant": TENANT_ID,
}


def _mask(text: str) -> str:
    """``{...}`` placeholders (balanced) become one ``?`` so that ``/`` inside an unknown
    part does not split segments."""
    return collapse_placeholders(text, "?")[0]


@dataclass(frozen=True)
class ParsedScope:
    """What a scope ID denotes.  ``resource_type`` and ``names`` describe the last
    ``/providers/`` segment of a resource ID (``Microsoft.Devices/IotHubs``, ``("hub",)``)."""

    kind: str  # resource | resourceGroup | subscription | managementGroup | tenant | unknown
    resource_type: str = ""
    names: tuple[str, ...] = ()


def parse_scope(scope: str) -> ParsedScope:
    """Classify a full scope ID (unknown parts allowed as ``{...}`` placeholders)."""
    if not isinstance(scope, str):
        return ParsedScope("unknown")
    text = _mask(scope.text if isinstance(scope, Unknown) else str(scope)).strip()
    if text == "/":
        return ParsedScope("tenant")
    if not text.startswith("/"):
        return ParsedScope("unknown")
    segs = [s for s in text.strip("/").split("/")]
    if any(not s for s in segs):
        return ParsedScope("unknown")
    low = [s.lower() for s in segs]
    if low[0] == "subscriptions":
        if len(segs) == 2:
            return ParsedScope("subscription")
        if len(segs) == 4 and low[2] == "resourcegroups":
            return ParsedScope("resourceGroup")
    elif low[0] == "providers" and len(segs) == 4 and low[1] == "microsoft.management" \
            and low[2] == "managementgroups":
        return ParsedScope("managementGroup")
    if "providers" not in low:
        return ParsedScope("unknown")
    last = len(low) - 1 - low[::-1].index("providers")
    rest = segs[last + 1:]
    if len(rest) < 3 or len(rest) % 2 == 0:
        return ParsedScope("unknown")
    types = [rest[0], *rest[1::2]]
    return ParsedScope("resource", "/".join(types), tuple(rest[2::2]))


def scope_contains(outer_scope: str, inner_id: str) -> bool:
    """Whether an assignment at ``outer_scope`` reaches ``inner_id``: resource-ID
    containment by type + name, placeholder subscription and resource group standing for
    any (``engine.resource_ids.contains``)."""
    # [I] inheritance runs management group > subscription > resource group > resource
    # (facts §4.2).
    if not isinstance(outer_scope, str) or not isinstance(inner_id, str):
        return False
    return resource_ids.contains(outer_scope, inner_id)


def is_hub_scope(a: RoleAssignment | str) -> bool:
    """Whether a scope (or an assignment's scope) is exactly one IoT hub."""
    scope = a.scope if isinstance(a, RoleAssignment) else a
    parsed = parse_scope(scope)
    return (
        parsed.kind == "resource"
        and parsed.resource_type.lower() == "microsoft.devices/iothubs"
        and len(parsed.names) == 1
    )


def resource_type_of(resource_id: str) -> str:
    """The resource type an ID names (``Microsoft.Devices/IotHubs``), or ""."""
    return parse_scope(resource_id).resource_type


# ----------------------------------------------------------------------------- principal


@dataclass(frozen=True, eq=False)
class Principal:
    """Who an assignment grants to.

    kind: ``literal`` (``id`` = the object ID, lower case; ``parameter`` names the
    parameter it came from, if any), ``hub-system-identity`` (``resource_id`` = the
    hub), ``user-assigned-identity`` (``resource_id`` = the identity),
    ``system-identity`` (another resource's system identity; ``resource_id``),
    ``parameter`` (a parameter without a value; ``parameter``), ``unknown``.
    """

    kind: str
    value: Any = None
    id: str = ""
    resource_id: str = ""
    parameter: str = ""

    @property
    def key(self) -> str | None:
        """An identity for "same principal" comparisons; None when it cannot be known.
        Two unresolved uses of one parameter name are taken to be the same principal."""
        if self.kind == "literal":
            return f"id:{self.id}" if self.id else None
        if self.kind in ("hub-system-identity", "user-assigned-identity", "system-identity"):
            return f"{self.kind}:{self.resource_id.lower()}" if self.resource_id else None
        if self.kind == "parameter" and self.parameter:
            return f"parameter:{self.parameter.lower()}"
        return None

    @property
    def unknown(self) -> Unknown | None:
        return self.value if isinstance(self.value, Unknown) else None

    def describe(self) -> str:
        if self.kind == "literal":
            via = f" (parameter '{self.parameter}')" if self.parameter else ""
            return f"{self.id or repr(self.value)}{via}"
        if self.kind == "hub-system-identity":
            return f"the system-assigned identity of IoT hub {self.resource_id}"
        if self.kind == "user-assigned-identity":
            return f"user-assigned identity {self.resource_id}"
        if self.kind == "system-identity":
            return f"the system-assigned identity of {self.resource_id}"
        if self.kind == "parameter":
            return f"parameter '{self.parameter}' (no value)"
        return self.value.describe() if isinstance(self.value, Unknown) else "unknown principal"


_PARAM = re.compile(r"parameters\(\s*'([^']+)'", re.I)
_QUOTED = re.compile(r"'([^']+)'")
_UAI = "microsoft.managedidentity/userassignedidentities"


def _lower_path(path: Iterable[str | int]) -> list[str]:
    return [p.lower() if isinstance(p, str) else str(p) for p in path]


def _target(target: str, index: RunIndex | None) -> tuple[str, str]:
    """(resource type, resource ID) of a ``reference()`` target: an ID, or a name or
    symbolic name of a resource in the run."""
    if "/providers/" in target.lower():
        return resource_type_of(target), target
    if index is not None:
        for r in index.resources:
            if r.symbolic_name == target or (isinstance(r.name, str) and not isinstance(r.name, Unknown)
                                             and r.name.lower() == target.lower()):
                return r.type, str(r.id)
    return "", target


def classify_principal(value: Any, index: RunIndex | None = None, origin_parameter: str = "") -> Principal:
    """Classify a ``principalId`` value (see ``Principal``)."""
    if isinstance(value, Unknown):
        ref = next(
            (c for c in value.causes
             if (c.function or "").lower() in ("reference", "references") or c.kind == "reference"),
            None,
        )
        if ref is not None:
            path = _lower_path(value.path)
            if not path:
                # No member chain recorded: read it off the text, ``...).identity.principalId``.
                tail = value.text.rsplit(")", 1)[-1]
                path = [p for p in re.split(r"[.\[\]'\"]+", tail.lower()) if p]
            target = ref.target or ""
            rtype, rid = _target(str(target), index) if target else ("", "")
            if path[-1:] == ["principalid"]:
                if len(path) >= 3 and path[-3] == "userassignedidentities":
                    raw = value.path[-2] if len(value.path) >= 2 else path[-2]
                    return Principal("user-assigned-identity", value, resource_id=str(raw))
                if path[-2:] == ["identity", "principalid"] and rid:
                    kind = "hub-system-identity" if rtype.lower() == "microsoft.devices/iothubs" \
                        else "system-identity"
                    return Principal(kind, value, resource_id=rid)
                if rtype.lower() == _UAI and path in (["principalid"], ["properties", "principalid"]):
                    return Principal("user-assigned-identity", value, resource_id=rid)
        param = next((c for c in value.causes if c.kind == "parameter"), None)
        if param is not None:
            name = param.target or ""
            if not name:
                m = _PARAM.search(value.text) or _QUOTED.search(param.detail)
                name = m.group(1) if m else ""
            return Principal("parameter", value, parameter=str(name))
        return Principal("unknown", value)
    if isinstance(value, str):
        return Principal("literal", value, id=value.strip().lower(), parameter=origin_parameter)
    return Principal("unknown", value)


# ----------------------------------------------------------------------------- assignment


@dataclass
class RoleAssignment:
    """One role assignment of the run.

    ``scope`` is a full scope ID (placeholder subscription/resource group for the
    deployment's own scope; unknown parts as ``{...}``); ``scope_kind`` its class
    (``parse_scope``); ``role_guid`` "" when the role cannot be known; ``role`` the
    resolved definition or None (unknown GUID, or a custom role not in the run).
    """

    resource: Resource
    name: str
    scope: str
    scope_kind: str
    role_definition_id: Any
    role_guid: str
    role: RoleDefinition | None
    principal: Principal
    principal_type: str = ""
    condition: str = ""  # ABAC condition, when the assignment has one
    scope_value: Any = None  # the scope as the expander resolved it (may be Unknown)
    unknowns: list[Unknown] = field(default_factory=list)  # unknown inputs that matter

    @property
    def is_hub_scope(self) -> bool:
        return is_hub_scope(self.scope)

    def reaches(self, resource_id: str) -> bool:
        """Whether the assignment applies to ``resource_id`` (its scope contains it)."""
        return scope_contains(self.scope, resource_id)


def default_lookup(custom_roles: Sequence[RoleDefinition] = ()) -> RoleLookup:
    """Resolve a GUID against custom roles defined in the run, then built-in roles (the
    catalog is read on the first built-in look-up only)."""
    by_guid = {
        r.guid.lower(): r for r in custom_roles if isinstance(r.guid, str) and not isinstance(r.guid, Unknown)
        and r.guid
    }

    def lookup(guid: str) -> RoleDefinition | None:
        if not guid:
            return None
        found = by_guid.get(guid.lower())
        if found is not None:
            return found
        from engine import catalog

        return catalog.builtin_role(guid)

    return lookup


def _scope_text(value: Any) -> str:
    if isinstance(value, Unknown):
        # An unknown with no placeholder in its text is a description, not a partial ID.
        return value.text if "{" in value.text else "{" + value.text + "}"
    return str(value)


def _deployment_scope(resource: Resource, index: RunIndex | None) -> str:
    """The scope a resource without ``scope`` is deployed at."""
    from_id = ""
    rid = resource.id
    if isinstance(rid, str) and not isinstance(rid, Unknown):
        low = rid.lower()
        cut = low.rfind("/providers/microsoft.authorization/roleassignments/")
        if cut >= 0:
            from_id = rid[:cut] or "/"
    schema = ""
    if index is not None:
        for t in index.templates:
            if t.deployment == resource.deployment and (
                t.source is resource.source or t.source.path == resource.source.path
            ):
                schema = _SCHEMA_SCOPES.get(t.schema_scope.lower(), "")
                break
    if schema:
        # The expander's ID names the real target of a cross-scope nested deployment
        # (another resource group); use it when it agrees with the schema.
        if from_id and parse_scope(from_id).kind == parse_scope(schema).kind:
            return from_id
        return schema
    return from_id or RG_ID


def _relative(scope: str, base: str) -> str:
    """Bicep's relative extension scope ``Microsoft.Devices/IotHubs/hub`` is a resource of
    the deployment's resource group."""
    return f"{base.rstrip('/')}/providers/{scope.lstrip('/')}"


def _legacy_scope(resource: Resource, base: str) -> str:
    """``Microsoft.Devices/IotHubs/providers/roleAssignments`` named
    ``hub/Microsoft.Authorization/<guid>``: the scope is the named hub."""
    type_part = resource.type[: resource.type.lower().rfind("/providers/")]
    name = _scope_text(resource.name)
    low = name.lower()
    cut = low.rfind("/microsoft.authorization/")
    names = name[:cut].split("/") if cut >= 0 else name.split("/")[:-1]
    ns, _, types_text = type_part.partition("/")
    types = types_text.split("/") if types_text else []
    if ns.lower() == "microsoft.resources" and types[:1] and types[0].lower() == "resourcegroups":
        return base
    if not types or len(types) != len(names):
        return ""
    path = ns + "".join(f"/{t}/{n}" for t, n in zip(types, names, strict=True))
    return f"{base.rstrip('/')}/providers/{path}"


def from_resource(
    resource: Resource, index: RunIndex | None = None, *, lookup: RoleLookup | None = None
) -> RoleAssignment:
    """Normalise an expanded role-assignment resource (any form of facts §4.3).

    ``lookup`` resolves a role GUID; by default custom roles in ``index`` then the
    built-in catalog.
    """
    body = resource.body
    props = ci_get(body, "properties")
    if not isinstance(props, Mapping):
        props = {}
    unknowns: list[Unknown] = []
    base = _deployment_scope(resource, index)
    legacy = resource.type.lower().endswith("/providers/roleassignments")

    # ``properties.scope`` (seen in third-party samples) is read-only in REST and absent
    # from the 2022-04-01 schema; whether ARM ignores or rejects it is unverified [U], so
    # it never decides the scope.
    raw_scope: Any = resource.scope if resource.scope is not None else ci_get(body, "scope")
    if raw_scope is None and legacy:
        # A legacy name that does not fit its type names no scope we can tell; unknown is
        # honest, the deployment's scope would invent a broad grant.
        raw_scope = _legacy_scope(resource, base) or Unknown.of(
            "unsupported", f"scope of {resource.type} '{_scope_text(resource.name)}'")
    if isinstance(raw_scope, str) and raw_scope.strip():
        scope = _scope_text(raw_scope).strip()
        if isinstance(raw_scope, Unknown):
            unknowns.append(raw_scope)
        if not scope.startswith("/") and "/" in _mask(scope) and "." in _mask(scope).split("/", 1)[0]:
            scope = _relative(scope, base)
    elif raw_scope is None:
        scope = base
    else:
        scope = _scope_text(raw_scope) if raw_scope is not None else ""
    kind = parse_scope(scope).kind

    rdid = ci_get(props, "roleDefinitionId")
    guid = guid_of(rdid) if isinstance(rdid, str) else ""
    if not guid and isinstance(rdid, Unknown):
        unknowns.append(rdid)
    resolve = lookup or default_lookup(index.roles if index is not None else ())
    role = resolve(guid) if guid else None

    pid = ci_get(props, "principalId")
    origin = resource.map(("properties", ci_key_or(props, "principalId"))).origin
    origin_param = origin.name if origin is not None and origin.kind.startswith("parameter") else ""
    principal = classify_principal(pid, index, origin_param)
    if principal.unknown is not None and principal.key is None:
        unknowns.append(principal.unknown)

    ptype = ci_get(props, "principalType")
    cond = ci_get(props, "condition")
    name = resource.name if isinstance(resource.name, str) else str(resource.name)
    return RoleAssignment(
        resource=resource,
        name=name,
        scope=scope,
        scope_kind=kind,
        role_definition_id=rdid,
        role_guid=guid,
        role=role,
        principal=principal,
        principal_type=ptype if isinstance(ptype, str) else "",
        condition=cond if isinstance(cond, str) else "",
        scope_value=raw_scope,
        unknowns=unknowns,
    )


def ci_key_or(obj: Mapping[str, Any], key: str) -> str:
    """The spelling of ``key`` in ``obj`` (case-insensitive), or ``key`` itself."""
    if key in obj:
        return key
    low = key.lower()
    return next((k for k in obj if isinstance(k, str) and k.lower() == low), key)


_COMPUTED = (
    "roleGuid", "roleName", "roleType", "isBuiltInRole", "roleDefinition", "scope", "scopeKind",
    "isHubScope", "principal", "principalKind", "principalKey", "principalResourceId",
    "principalParameter", "principalType", "scopeGiven",
)


def assignment_body(a: RoleAssignment) -> CIDict:
    """The resource body plus computed members, for JMESPath rule conditions.  ``scope``
    is replaced by the resolved full scope ID (findings on it still point at the
    written ``scope``, or at the resource when it has none)."""
    body = CIDict(a.resource.body) if isinstance(a.resource.body, Mapping) else CIDict()
    for k in list(body):
        if isinstance(k, str) and k.lower() in {c.lower() for c in _COMPUTED}:
            del body[k]
    # No ``scope`` and not the legacy ``.../providers/roleAssignments`` child: the
    # assignment lands at the deployment's own scope, which messages should say.
    scope_given = ci_get(a.resource.body, "scope") is not None or a.resource.type.lower().endswith(
        "/providers/roleassignments")
    role = a.role
    scope_kind: str = a.scope_kind
    if scope_kind == "unknown" and isinstance(a.scope_value, Unknown):
        # What the scope denotes hinges on an unknown input: a rule that asks is then
        # unresolved and names that input, instead of reading "unknown" as "not broad".
        why = a.scope_value.causes or Unknown.of("unsupported", f"the scope {a.scope}").causes
        scope_kind = Unknown("unknown", why)
    body.update(
        roleGuid=a.role_guid,
        roleName=role.name if role is not None else "",
        roleType=role.role_type if role is not None else "",
        isBuiltInRole=bool(role.is_builtin) if role is not None else False,
        roleDefinition=role_body(role) if role is not None else None,
        scope=a.scope,
        scopeKind=scope_kind,
        isHubScope=a.is_hub_scope,
        principal=a.principal.describe(),
        principalKind=a.principal.kind,
        principalKey=a.principal.key,
        principalResourceId=a.principal.resource_id,
        principalParameter=a.principal.parameter,
        principalType=a.principal_type,
        scopeGiven=scope_given,
    )
    return body


def covering(assignments: Iterable[RoleAssignment], resource_id: str) -> list[RoleAssignment]:
    """The assignments whose scope reaches ``resource_id``."""
    return [a for a in assignments if a.reaches(resource_id)]


def same_principal(a: RoleAssignment, b: RoleAssignment) -> bool:
    key = a.principal.key
    return key is not None and key == b.principal.key
