"""Resource identity: full types and names of child resources, resource IDs, and the
``scope`` forms of extension resources (facts §4.3, §6.3).

Names may be partly unknown.  Text is composed the way the function library composes
it (``engine.arm.functions.Composite``: known text plus atomic unknowns), so an ID such
as ``/subscriptions/.../IotHubs/{parameters('hub')}`` keeps its known parts and the
causes of its unknown ones, and behaves like an ID built by ``resourceId()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from engine.arm import scope as placeholder
from engine.arm.functions import Composite
from engine.values import Unknown, merge_causes, render

SCOPE_RESOURCE_GROUP = "resourceGroup"
SCOPE_SUBSCRIPTION = "subscription"
SCOPE_MANAGEMENT_GROUP = "managementGroup"
SCOPE_TENANT = "tenant"

_MG_TYPE = "microsoft.management/managementgroups"
_RG_TYPE = "microsoft.resources/resourcegroups"

Part = str | Unknown


def schema_scope(schema: Any) -> str:
    """The deployment scope a template's ``$schema`` declares (resource group when the
    schema says nothing more specific)."""
    s = schema.lower() if isinstance(schema, str) else ""
    if "subscriptiondeploymenttemplate" in s:
        return SCOPE_SUBSCRIPTION
    if "managementgroupdeploymenttemplate" in s:
        return SCOPE_MANAGEMENT_GROUP
    if "tenantdeploymenttemplate" in s:
        return SCOPE_TENANT
    return SCOPE_RESOURCE_GROUP


# ----------------------------------------------------------------------------- text parts


def parts_of(value: Any) -> list[Part]:
    """Known text and atomic unknowns that make up a value's text."""
    if isinstance(value, Composite):
        return list(value.parts)
    if isinstance(value, Unknown):
        return [value]
    return [render(value)]


def join(values: Sequence[Any]) -> str:
    """Concatenate values as text; a ``Composite`` unknown when any part is unknown."""
    if not any(isinstance(v, Unknown) for v in values):
        return "".join([v if type(v) is str else render(v) for v in values])
    flat: list[Part] = []
    for v in values:
        for p in parts_of(v):
            if isinstance(p, Unknown):
                flat.append(p)
            elif p:
                if flat and not isinstance(flat[-1], Unknown):
                    flat[-1] = flat[-1] + p
                else:
                    flat.append(p)
    atoms = [p for p in flat if isinstance(p, Unknown)]
    if not atoms:
        return "".join(p for p in flat if isinstance(p, str))
    return Composite(tuple(flat), merge_causes(atoms))


def piece(value: Any) -> str:
    """Display text of a value: unknown parts as ``{...}`` placeholders."""
    if isinstance(value, Composite):
        return value.text
    return render(value)


def split_parts(value: Any) -> list[list[Part]]:
    """Split a value's text on ``/`` (never inside an unknown part)."""
    segments: list[list[Part]] = [[]]
    for p in parts_of(value):
        if isinstance(p, Unknown):
            segments[-1].append(p)
            continue
        pieces = p.split("/")
        for i, s in enumerate(pieces):
            if i:
                segments.append([])
            if s:
                segments[-1].append(s)
    return segments


def _known_text(value: Any) -> str:
    """The leading known text of a value (up to its first unknown part)."""
    out = []
    for p in parts_of(value):
        if isinstance(p, Unknown):
            break
        out.append(p)
    return "".join(out)


# ----------------------------------------------------------------------------- types and names


def child_type(parent_type: str, written: str) -> str:
    """Full type of a child declared inside its parent's ``resources``: the short form
    (``certificates``, ``providers/roleAssignments``) is appended to the parent's type;
    a type that already names a provider namespace is taken as written."""
    if _has_namespace(written):
        return written
    return f"{parent_type}/{written}"


def _has_namespace(written_type: str) -> bool:
    return "." in written_type.split("/", 1)[0]


def child_name(parent_name: Any, written: Any, written_type: str) -> Any:
    """Full name of a nested child: ``hub/events/cg`` from ``hub`` and ``events/cg``."""
    if _has_namespace(written_type):
        return written
    return join([parent_name, "/", written])


def segments_match(full_type: str, name: Any) -> bool:
    """Whether a name has one segment per type segment after the namespace (always
    true while unknown parts could hide segments)."""
    if isinstance(name, Unknown) or not isinstance(name, str):
        return True
    return len(full_type.split("/")) - 1 == len(name.split("/"))


# ----------------------------------------------------------------------------- IDs


def scope_prefix(kind: str, subscription_id: Any, resource_group: Any) -> str:
    """The ID of a deployment scope (``""`` for the tenant)."""
    if kind == SCOPE_SUBSCRIPTION:
        return join(["/subscriptions/", subscription_id])
    if kind == SCOPE_MANAGEMENT_GROUP:
        return f"/providers/Microsoft.Management/managementGroups/{placeholder.MANAGEMENT_GROUP}"
    if kind == SCOPE_TENANT:
        return ""
    return join(["/subscriptions/", subscription_id, "/resourceGroups/", resource_group])


def resource_id(prefix: Any, full_type: str, name: Any) -> str:
    """``<prefix>/providers/<ns>/<t1>/<n1>[/<t2>/<n2>...]``.

    A name with the wrong number of segments (reported separately) still gets an ID:
    the type and the name are then appended whole.
    """
    ns, _, rest = full_type.partition("/")
    types = rest.split("/") if rest else []
    names = split_parts(name)
    out: list[Any] = [prefix, "/providers/", ns]
    if len(types) == len(names):
        for t, segment in zip(types, names, strict=True):
            out += ["/", t, "/", *segment]
    else:
        out += ["/", rest, "/", name]
    return join(out)


def top_level_id(
    kind: str, subscription_id: Any, resource_group: Any, full_type: str, name: Any
) -> str:
    """The ID of a resource deployed at a template's own scope."""
    if full_type.lower() == _RG_TYPE:
        return join(["/subscriptions/", subscription_id, "/resourceGroups/", name])
    return resource_id(scope_prefix(kind, subscription_id, resource_group), full_type, name)


def relative_scope(value: Any, deployment_prefix: Any) -> str | None:
    """Bicep's relative scope (``Microsoft.Devices/IotHubs/hub1``, no leading ``/``) as a
    full ID; None when ``value`` is not of that form.  Management groups are tenant-level
    resources, so their relative form is rooted at ``/providers``."""
    head = _known_text(value)
    if head.startswith("/") or "/" not in head or not _has_namespace(head):
        return None
    if head.lower().startswith(_MG_TYPE + "/"):
        return join(["/providers/", value])
    return join([deployment_prefix, "/providers/", value])


def resolve_scope(
    value: Any,
    deployment_prefix: Any,
    symbolic: Callable[[str], str | None],
) -> Any:
    """A resource's ``scope`` as a full ID: a full ID as is, the relative Bicep form
    prefixed with the deployment's scope, a languageVersion 2.0 symbolic name resolved
    to that resource's ID; anything else (an unknown, an odd value) as it is."""
    if not isinstance(value, str):
        return value
    if not isinstance(value, Unknown):
        if value.startswith("/"):
            return value
        hit = symbolic(value)
        if hit is not None:
            return hit
    rel = relative_scope(value, deployment_prefix)
    return rel if rel is not None else value


def legacy_scope(full_type: str, name: Any, prefix: Any) -> Any:
    """For the legacy ``<ns>/<type>/providers/roleAssignments`` form named
    ``<resource>/Microsoft.Authorization/<guid>``: the ID of the named resource (the
    assignment's scope); None when the type is not of that form or the name does not fit.
    """
    low = full_type.lower()
    cut = low.find("/providers/")
    if cut < 0:
        return None
    base_type = full_type[:cut]
    ns, _, rest = base_type.partition("/")
    types = rest.split("/") if rest else []
    names = split_parts(name)
    extension = full_type[cut + len("/providers/"):].split("/")
    # name = <resource names...>/<extension namespace>/<extension names...>
    own = names[: len(names) - len(extension) - 1]
    if not types or len(own) != len(types):
        return None
    if base_type.lower() == _RG_TYPE:
        return prefix
    out: list[Any] = [prefix, "/providers/", ns]
    for t, segment in zip(types, own, strict=True):
        out += ["/", t, "/", *segment]
    return join(out)
