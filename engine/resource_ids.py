"""Resource IDs compared the way the rule catalog correlates resources.

The catalog correlates resources across the files of a run "by resource ID (type +
name, case-insensitive)".  That matters because a template is checked without a
deployment: IDs it composes with ``resourceId()`` carry the placeholder subscription and
resource group of ``engine.arm.scope``, while an ID written out in full carries real
ones (``/subscriptions/6f1c.../resourceGroups/prod/providers/Microsoft.Devices/IotHubs/hub1``).
Both name the same hub, and whole-string comparison would never say so.

So a resource ID is keyed by its provider part (``providers/<namespace>/<type>/<name>...``,
extension resources included), and scope containment treats the placeholder
subscription, resource group and management group as "the deployment's own, whichever
that is": they match any literal value in the same position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.arm import scope as placeholder
from engine.values import Unknown, collapse_placeholders

_PLACEHOLDER_SEGMENTS = {
    ("subscriptions", placeholder.SUBSCRIPTION_ID.lower()),
    ("resourcegroups", placeholder.RESOURCE_GROUP.lower()),
    ("managementgroups", placeholder.MANAGEMENT_GROUP.lower()),
}


def normalise(resource_id: str) -> str:
    """Lower case, no surrounding blanks, no trailing ``/`` (the tenant root stays ``/``)."""
    # An unknown keeps its known parts in ``text`` (``/subscriptions/.../IotHubs/{...}``).
    text = (resource_id.text if isinstance(resource_id, Unknown) else str(resource_id)).strip().lower()
    return text if text == "/" else text.rstrip("/")


def _segments(text: str) -> list[str]:
    return [s for s in text.strip("/").split("/")]


def _container_length(segs: list[str]) -> int:
    """How many leading segments are subscription / resource group / management group
    (the part of an ID that says where a resource lives, not what it is)."""
    if len(segs) >= 2 and segs[0] == "subscriptions":
        if len(segs) >= 4 and segs[2] == "resourcegroups":
            return 4
        return 2
    if len(segs) >= 4 and segs[:3] == ["providers", "microsoft.management", "managementgroups"]:
        return 4
    return 0


def resource_key(resource_id: str) -> str:
    """The identity of a resource for correlation: for a resource ID, its provider part
    (type and name chain, lower case) without subscription and resource group; for any
    other scope (tenant, management group, subscription, resource group), the
    normalised ID itself."""
    text = normalise(resource_id)
    segs = _segments(text)
    n = _container_length(segs)
    rest = segs[n:]
    if rest and rest[0] == "providers":
        return "/".join(rest)
    return text


# Stands for an unknown part of an ID while its known parts are parsed; no ID contains it.
_MARK = "\x00"


@dataclass(frozen=True)
class IdPattern:
    """The resources an ID with unknown parts could name: its known parts, each unknown
    part standing for any text (``/`` included: a parameter may hold a whole ID).
    ``by_key`` says whether the pattern is of resource keys (the unknown lies in the type
    and name chain) or of whole normalised IDs (the unknown lies before it)."""

    pattern: re.Pattern[str]
    by_key: bool

    def could_name(self, resource_id: str) -> bool:
        text = resource_key(resource_id) if self.by_key else normalise(resource_id)
        return self.pattern.fullmatch(text) is not None


def key_or_pattern(resource_id: str) -> str | IdPattern:
    """``resource_key`` of an ID, also of an unknown one whose known parts fix its type
    and name (``/subscriptions/{...}/resourceGroups/rg/providers/.../hub``); an
    ``IdPattern`` when the unknown parts are in the type and name chain or before it
    (``.../IotHubs/{parameters('hub')}``, ``{parameters('hubId')}``)."""
    if not isinstance(resource_id, Unknown):
        return resource_key(resource_id)
    # An unknown without a placeholder in its text is a description, not a partial ID.
    text = resource_id.text if "{" in resource_id.text else "{" + resource_id.text + "}"
    masked, _ = collapse_placeholders(normalise(text), _MARK)
    key = resource_key(masked)
    if _MARK not in key:
        return key
    by_key = key.startswith("providers/")
    known = (key if by_key else masked).split(_MARK)
    return IdPattern(re.compile(".*".join(map(re.escape, known)), re.S), by_key)


def same_resource(a: str, b: str) -> bool:
    """Whether two resource IDs name the same resource: type + name, case-insensitive,
    in the same subscription and resource group where both are written out (names such
    as a managed identity's are unique only within a resource group); a placeholder
    subscription or group matches any."""
    if resource_key(a) != resource_key(b):
        return False
    sa, sb = _segments(normalise(a)), _segments(normalise(b))
    na, nb = _container_length(sa), _container_length(sb)
    for i, kind in ((1, "subscriptions"), (3, "resourcegroups")):
        if i < na and i < nb and sa[i - 1] == sb[i - 1] == kind and not _segment_matches(kind, sa[i], sb[i]):
            return False
    return True


def _segment_matches(kind: str, outer: str, inner: str) -> bool:
    return outer == inner or (kind, outer) in _PLACEHOLDER_SEGMENTS or (kind, inner) in _PLACEHOLDER_SEGMENTS


def contains(outer_scope: str, inner_id: str) -> bool:
    """Whether ``inner_id`` is ``outer_scope`` or lies inside it.

    A resource scope holds the resource and its children and extension resources (by
    type + name); a resource group or subscription holds what lives in it, where a
    placeholder subscription or resource group stands for any.  The management-group
    tree is in no template, so a management group is taken to hold every subscription
    (conservative for "a broader grant exists" checks); the tenant root holds everything.
    """
    outer = normalise(outer_scope)
    inner = normalise(inner_id)
    if not outer or not inner:
        return False
    if outer == "/" or outer == inner:
        return True
    osegs = _segments(outer)
    isegs = _segments(inner)
    n = _container_length(osegs)
    if n < len(osegs):
        # The outer scope is a resource: compare by type + name.
        okey, ikey = resource_key(outer), resource_key(inner)
        return ikey == okey or ikey.startswith(okey + "/")
    if osegs[0] == "providers":  # a management group
        if isegs[0] == "subscriptions":
            return True
        return len(isegs) >= 4 and isegs[:3] == osegs[:3] and _segment_matches(
            "managementgroups", osegs[3], isegs[3])
    if isegs[0] != "subscriptions" or len(isegs) < n:
        return False
    if not _segment_matches("subscriptions", osegs[1], isegs[1]):
        return False
    if n == 4:
        return isegs[2] == "resourcegroups" and _segment_matches("resourcegroups", osegs[3], isegs[3])
    return True
