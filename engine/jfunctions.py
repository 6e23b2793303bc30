"""Domain functions that rule conditions call from JMESPath.

Python implements generic mechanisms here (case-insensitive comparison, presence,
version ordering, RBAC wildcard matching, cross-resource look-ups); the Azure knowledge
that uses them lives in the rule files.  Functions that compare an ``Unknown`` record the
consultation (``engine.values.consult``) so the evaluator reports *unresolved*.

Cross-resource and subject-aware functions read ``RuleFunctions.state``, which the
evaluator sets before each evaluation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import jmespath.functions

from engine.jsig import signature
from engine.model import Resource
from engine.rbac_functions import RbacFunctions
from engine.resource_ids import IdPattern, key_or_pattern, resource_key, same_resource
from engine.values import CIDict, Unknown, ci_get, consult

_EXTRA_TYPES = {"CIDict": "object", "Unknown": "string"}


def _truthy(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (str, list, dict)) and not isinstance(v, Unknown):
        return len(v) > 0
    return True


def _low(v: Any) -> Any:
    if isinstance(v, Unknown):
        consult(v)
        return v
    return v.lower() if isinstance(v, str) else v


_VERSION = re.compile(r"\d+(?:\.\d+)*")


def _version_tuple(v: str) -> tuple[int, ...] | None:
    """``"1.2"`` -> (1, 2); None for anything that is not a dotted number as written
    (``"TLS1.2"``, ``"1.2 "``, ``"TLS1_2"``): the service documents the value ``"1.2"``,
    and what it makes of other spellings is not known, so they do not count as 1.2."""
    if not _VERSION.fullmatch(v):
        return None
    return tuple(int(p) for p in v.split("."))


class EvalState:
    """What subject-aware functions can see during one evaluation."""

    def __init__(self) -> None:
        self.resource: Any = None  # current subject body
        self.subject: Any = None  # the subject object (Resource, RoleDefinition, ...)
        self.run: Any = None  # engine.run_index.RunIndex (cross-resource look-ups)
        self.item_path: tuple[str | int, ...] = ()  # path of the current item in the subject


# The functions that read the rest of the run (``state.run``): other files' resources,
# role definitions and assignments.  A rule that calls none of them is decided by its
# subject's own file, so it is evaluated as soon as that file is loaded (in the process
# that loaded it); the others wait for every file.  tests/test_jfunctions.py checks that
# every function reading the run is listed.
CROSS_FILE_FUNCTIONS = frozenset({
    "needs_local_auth", "diagnostic_settings", "some_hub_may_disable_local_auth",
    "linked_hub", "where",
    # engine.rbac_functions: role look-ups by GUID and the run's assignments
    "grants", "grants_data", "granting_path", "wildcard_grants_all_data", "has_data_actions",
    "listkeys_grants", "assigned_at", "hub_of_principal", "egress_control_plane",
})


class RuleFunctions(RbacFunctions, jmespath.functions.Functions):
    def __init__(self) -> None:
        super().__init__()
        self.state = EvalState()

    # JMESPath checks argument types by Python class name; teach it ours.
    def _get_allowed_pytypes(self, types: Any) -> Any:
        # Private jmespath hooks, absent from its stubs.
        allowed, subtypes = super()._get_allowed_pytypes(types)  # type: ignore[misc]
        for name, jtype in _EXTRA_TYPES.items():
            if jtype in types or "any" in types:
                allowed.append(name)
            for t in types:
                if t.startswith("array-") and t[6:] == jtype:
                    subtypes.append(name)
        return allowed, subtypes

    def _convert_to_jmespath_type(self, pyobject: str) -> str:
        return _EXTRA_TYPES.get(pyobject) or super()._convert_to_jmespath_type(pyobject)  # type: ignore[misc]

    def _subtype_check(self, current: Any, allowed_subtypes: Any, types: Any, function_name: Any) -> None:
        return None  # element types are checked by the functions themselves

    # ------------------------------------------------------------------ comparison

    @signature({"types": []}, {"types": []})
    def _func_ieq(self, a: Any, b: Any) -> bool:
        """Case-insensitive equality for strings, plain equality otherwise."""
        for v in (a, b):
            if isinstance(v, Unknown):
                consult(v)
                return False
        if isinstance(a, str) and isinstance(b, str):
            return a.lower() == b.lower()
        return bool(a == b)

    @signature({"types": []}, {"types": ["array"]})
    def _func_iin(self, a: Any, options: list[Any]) -> bool:
        """``a`` is one of ``options`` (strings compared case-insensitively)."""
        if isinstance(a, Unknown):
            consult(a)
            return False
        la = _low(a)
        return any(_low(o) == la for o in options)

    @signature({"types": []})
    def _func_lower(self, a: Any) -> Any:
        return _low(a)

    @signature({"types": []})
    def _func_is_true(self, a: Any) -> bool:
        """JSON ``true`` or the string ``"true"`` (ARM coerces it), any casing."""
        if isinstance(a, Unknown):
            consult(a)
            return False
        return a is True or (isinstance(a, str) and a.lower() == "true")

    @signature({"types": []})
    def _func_present(self, a: Any) -> bool:
        """Set to anything, including an unknown value (presence still counts)."""
        return a is not None

    @signature({"types": []})
    def _func_nonempty(self, a: Any) -> bool:
        """Set to a non-empty value; an unknown value counts as set."""
        return _truthy(a)

    @signature({"types": []})
    def _func_is_unknown(self, a: Any) -> bool:
        return isinstance(a, Unknown)

    @signature({"types": []}, {"types": ["string"]})
    def _func_version_ge(self, a: Any, minimum: str) -> bool:
        """``a`` (e.g. minTlsVersion ``"1.2"``) is at least ``minimum``, numerically."""
        if isinstance(a, Unknown):
            consult(a)
            return False
        if isinstance(a, bool) or not isinstance(a, (str, int, float)):
            return False  # absent, or a list/object where a version belongs: not a version
        va = _version_tuple(str(a))
        vm = _version_tuple(minimum)
        return va is not None and vm is not None and va >= vm

    @signature({"types": []}, {"types": ["string"]})
    def _func_api_before(self, version: Any, than: str) -> bool:
        """An ``apiVersion`` (``2021-07-01[-preview]``) older than ``than``."""
        if isinstance(version, Unknown):
            consult(version)
            return False
        if not isinstance(version, str):
            return False
        return version[:10] < than[:10]

    @signature({"types": []}, {"types": ["string"]})
    def _func_split_list(self, text: Any, sep: str) -> Any:
        """Split a ", "-joined value (e.g. access rights) into trimmed parts."""
        if isinstance(text, Unknown):
            consult(text)
            return []
        if not isinstance(text, str):
            return []
        return [p.strip() for p in text.split(sep) if p.strip()]

    @signature({"types": []}, {"types": ["string"]})
    def _func_icontains(self, haystack: Any, needle: str) -> bool:
        """Case-insensitive substring (strings) or membership (arrays)."""
        if isinstance(haystack, Unknown):
            text = haystack.text.lower()
            if needle.lower() in text:
                return True
            consult(haystack)
            return False
        if isinstance(haystack, str):
            return needle.lower() in haystack.lower()
        if isinstance(haystack, list):
            return any(_low(x) == needle.lower() for x in haystack)
        return False

    @signature({"types": []}, {"types": ["string"]})
    def _func_iget(self, obj: Any, key: str) -> Any:
        """Case-insensitive member access with a computed key."""
        if isinstance(obj, Unknown):
            return obj.get(key)
        if isinstance(obj, dict):
            return CIDict(obj).get(key) if not isinstance(obj, CIDict) else obj.get(key)
        return None

    @signature({"types": []})
    def _func_text(self, a: Any) -> Any:
        """The best-effort text of a value: an unknown's known parts, or the string."""
        if isinstance(a, Unknown):
            return a.text
        return a if isinstance(a, str) else None

    # ------------------------------------------------------------------ subject

    @signature()
    def _func_resource(self) -> Any:
        """The subject of the rule (the resource body when iterating its items)."""
        return self.state.resource


    # ------------------------------------------------------------------ cross-resource

    @signature({"types": []})
    def _func_needs_local_auth(self, hub: Any) -> bool:
        """A deployed key-based DPS link or a Device Update instance in the run links this
        hub, so the hub must keep local (shared access policy) auth."""
        from engine import links

        run = self.state.run
        if run is None or not isinstance(hub, dict):
            return False
        name = links.hub_short_name(hub.get("name", ""))
        found = run.memo("local-auth-links", _local_auth_links)
        linked = found.dps_linked.get(name, [])
        if any(auth is None for _, auth in linked) or name in found.adu_names:
            return True
        # Consulted in the order the DPS entries, then the instances, appear in the run.
        pending = sorted([(seq, u) for seq, u in linked if u is not None] + found.dps_open,
                         key=lambda p: p[0])
        for _, u in pending:
            consult(u)
        for u in found.adu_open:
            consult(u)
        return False

    @signature({"types": []}, {"types": ["string"]})
    def _func_has_identity(self, body: Any, kind: str) -> bool:
        """``identity.type`` includes ``SystemAssigned`` or ``UserAssigned`` (spellings
        differ by provider: ``"SystemAssigned, UserAssigned"`` vs without the space)."""
        t = ci_get(ci_get(body, "identity"), "type")
        if isinstance(t, Unknown):
            consult(t)
            return False
        if not isinstance(t, str):
            return False
        parts = {p.strip().lower() for p in t.split(",")}
        return kind.lower() in parts

    @signature({"types": []}, {"types": []})
    def _func_identity_attached(self, body: Any, identity_id: Any) -> bool:
        """A user-assigned identity (resource ID) is attached to the resource."""
        attached = ci_get(ci_get(body, "identity"), "userAssignedIdentities")
        if isinstance(identity_id, Unknown):
            consult(identity_id)
            return False
        if isinstance(attached, Unknown):
            consult(attached)
            return False
        if not isinstance(attached, dict) or not isinstance(identity_id, str):
            return False
        for key in attached:
            if isinstance(key, Unknown):
                consult(key)
            elif isinstance(key, str) and same_resource(key, identity_id):
                return True
        return False

    @signature({"types": []})
    def _func_diagnostic_settings(self, body: Any) -> list[Any]:
        """Bodies of the diagnostic settings in the run that target this resource."""
        run = self.state.run
        target = run.of_body(body) if run is not None else None
        if target is None:
            return []
        tid = str(target.id).lower()
        found = run.memo("diagnostic-settings", _diagnostic_settings)
        settings = list(found.by_scope.get(resource_key(tid), ()))
        # The legacy child form: type ``<hub type>/providers/diagnosticSettings`` named
        # ``<hub>/Microsoft.Insights/<setting>`` (the namespace may also sit in the type).
        legacy: dict[int, Resource] = {}
        for t in (target.type.lower() + "/providers/diagnosticsettings",
                  target.type.lower() + "/providers/microsoft.insights/diagnosticsettings"):
            for key in (("scope", tid), ("name", str(target.name).lower())):
                for d in found.legacy.get((t, *key), ()):
                    legacy[id(d)] = d
        if legacy:
            settings.extend(sorted(legacy.values(), key=run.position))
        if settings and all(isinstance(d.condition, Unknown) for d in settings):
            # Only settings that may not be deployed: whether logs are on hinges on them.
            for d in settings:
                consult(d.condition)
        out = [d.body for d in settings]
        if not out:
            # A setting whose scope is unknown might target this resource: the answer
            # hinges on it, unless its known parts (type, a name) rule this one out.
            for pattern, d in found.open:
                if pattern.could_name(tid):
                    consult(d.scope)
        return out

    @signature()
    def _func_some_hub_may_disable_local_auth(self) -> bool:
        """Some deployed hub in the run has ``disableLocalAuth`` true or unknown.  Rules
        about links to such a hub ask this first, so that a link whose target is unknown
        is unresolved only when a hub it could name would make the rule fire."""
        run = self.state.run
        return run is not None and bool(run.memo("hubs-may-disable-local-auth", _hubs_may_disable_local_auth))

    @signature({"types": []})
    def _func_linked_hub(self, value: Any) -> Any:
        """The body of the deployed IoT hub in the run that ``value`` (a DPS link entry, a
        connection string, a resource ID) names, or null.  An unknown value that names no
        hub makes the decision unresolved."""
        from engine import links

        run = self.state.run
        if run is None:
            return None
        names = links.hub_names(value)
        for name in sorted(names):
            hubs = run.hubs_named(name)
            if hubs:
                return hubs[0].body
        if not names:
            for u in _unknowns(value):
                consult(u)
        return None

    @signature({"types": []})
    def _func_policies(self, value: Any) -> list[str]:
        """Shared access policy names a connection string or IotHubKeys reference uses."""
        from engine import links

        names = sorted(links.policy_names(value))
        if not names:
            for u in _unknowns(value):
                consult(u)
        return names

    @signature({"types": []})
    def _func_masked(self, value: Any) -> str:
        if isinstance(value, Unknown):
            return mask(value.text)
        return mask(value) if isinstance(value, str) else ""

    @signature({"types": []})
    def _func_literal_key(self, value: Any) -> bool:
        """A key written literally at the current item (HUB008).  Values supplied to
        secure parameters at deployment (a parameter file, a Key Vault reference) are
        exempt, but a secure parameter's default is written in the template like any
        literal; values that only pass a parameter or variable through are reported
        where that parameter or variable is written."""
        path = self.state.item_path
        key_name = next((p for p in reversed(path) if isinstance(p, str)), None)
        subject = self.state.subject
        mapped = subject.locate(path) if subject is not None else None
        origin = mapped.origin if mapped is not None else None
        if path[:1] == ("parameters",) and len(path) >= 2:
            written = origin is not None and origin.kind == "parameter-default"
            if not written and _param_type(self.state.resource, str(path[1])) in _SECURE_TYPES:
                return False
        else:
            param = origin.name if origin is not None and origin.kind.startswith("parameter") else ""
            if param and _param_type(self.state.resource, str(param)) in _SECURE_TYPES:
                return False
        if isinstance(value, Unknown):
            # A plain string parameter without a value in a key position is unresolved; a
            # parameter that only names the account next to a listKeys() key is not.
            # Secure parameters without a value are exempt like secure ones with one.
            body = self.state.resource

            def plain(name: str | None) -> bool:
                return _param_type(body, str(name or "")) not in _SECURE_TYPES

            if key_name is not None and key_name.lower() in _KEY_PROPERTIES:
                from_parameter = any(c.kind == "parameter" and plain(c.target) for c in value.causes) \
                    and not any(c.kind == "list" for c in value.causes)
            else:
                from_parameter = any(fn.lower() == "parameters" and plain(name)
                                     for fn, name in _KEY_SOURCE.findall(value.text))
            if from_parameter:
                consult(value)
            return False
        if not isinstance(value, str):
            return False
        if (
            path[:1] == ("resources",) and origin is not None
            and origin.kind in ("parameter-default", "variable")
        ):
            return False
        return literal_key_in(value, key_name) is not None

    @signature({"types": []})
    def _func_leaks_key(self, value: Any) -> bool:
        """A key from listKeys()/list*() for an IoT hub, DPS, storage account, Event Hubs
        or Service Bus that reaches an output or a non-secure nested-deployment parameter
        (HUB009)."""
        body = self.state.resource
        path = self.state.item_path
        if path[:1] == ("outputs",) and len(path) >= 2:
            otype = ci_get(ci_get(body, "outputTypes"), str(path[1]))
            if isinstance(otype, str) and otype.lower() in _SECURE_TYPES:
                return False
        elif path[:1] == ("deployments",) and len(path) >= 4:
            dep = body["deployments"][path[1]]
            ptype = ci_get(ci_get(dep, "parameterTypes"), str(path[3]))
            hits, undecided = secret_targets(value)
            if not hits and not undecided:
                return False
            if isinstance(ptype, str):
                return ptype.lower() not in _SECURE_TYPES and bool(hits or _consult_all(undecided))
            consult(Unknown.of("unsupported", f"linked template {ci_get(dep, 'linked') or ''} "
                               "is not available, so its parameter types are unknown"))
            return False
        hits, undecided = secret_targets(value)
        if hits:
            return True
        return _consult_all(undecided)

    @signature({"types": []})
    def _func_where(self, body: Any) -> str:
        """``<type> '<name>' at <file>:<line>`` for a resource body, for messages."""
        run = self.state.run
        r = run.of_body(body) if run is not None else None
        if r is None:
            return ""
        line, _ = r.source.locate(r.path)
        return f"{r.type} '{r.name}' at {r.source.path}:{line}"


# A key-shaped value: at least 20 base64 characters.  Random key material always mixes
# upper case, lower case and digits (or + and /); placeholders such as SHAREDACCESSKEY,
# a run of one repeated letter, or <key> do not.
_KEY_IN_TEXT = re.compile(r"(SharedAccessKey|AccountKey)=([A-Za-z0-9+/]{20,}={0,2})", re.I)
# What produces the key part of an unknown connection string: ``AccountKey={listKeys(``.
_KEY_SOURCE = re.compile(r"(?:SharedAccessKey|AccountKey)=\{(\w+)\('?([^')]*)", re.I)
_KEY_SHAPED = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
_KEY_PROPERTIES = frozenset({"primarykey", "secondarykey"})
_SECRET_TARGET = re.compile(
    r"providers/(microsoft\.devices/iothubs|microsoft\.devices/provisioningservices|"
    r"microsoft\.storage/storageaccounts|microsoft\.eventhub/namespaces|"
    r"microsoft\.servicebus/namespaces)",
    re.I,
)
_SECURE_TYPES = frozenset({"securestring", "secureobject"})


def looks_like_key(value: str) -> bool:
    if not _KEY_SHAPED.fullmatch(value):
        return False
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    has_other = any(c.isdigit() or c in "+/" for c in value)
    return has_lower and has_upper and has_other


def literal_key_in(text: str, key_name: str | None) -> str | None:
    """The literal key written in ``text`` (a connection string or a key property)."""
    for m in _KEY_IN_TEXT.finditer(text):
        if looks_like_key(m.group(2)):
            return m.group(2)
    if key_name is not None and key_name.lower() in _KEY_PROPERTIES and looks_like_key(text.strip()):
        return text.strip()
    return None


def mask_keys(text: str) -> str:
    """``text`` with every key-shaped ``SharedAccessKey=``/``AccountKey=`` value cut to
    four characters: reports, SARIF uploads, CI logs and baselines must not copy a key."""
    return _KEY_IN_TEXT.sub(lambda m: f"{m.group(1)}={m.group(2)[:4]}...", text)


def mask(text: str) -> str:
    """Show a secret-bearing string with its keys masked."""
    out = mask_keys(text)
    if looks_like_key(out.strip()):
        return out.strip()[:4] + "..."
    return out


_KNOWN_TYPE = re.compile(r"providers/[A-Za-z0-9.]+/[A-Za-z0-9]+(?:/|$)")


def secret_targets(value: Any) -> tuple[list[str], list[Unknown]]:
    """Key-bearing list*() results inside ``value``: the matching targets (hub, DPS,
    storage, Event Hubs, Service Bus), and unknowns whose target cannot be told."""
    hits: list[str] = []
    undecided: list[Unknown] = []
    for u in _unknowns(value):
        for c in u.causes:
            if c.kind != "list":
                continue
            target = c.target or ""
            if _SECRET_TARGET.search(target):
                hits.append(f"{c.function or 'list'}({target})")
            elif not target or isinstance(c.target, Unknown) or (
                    "{" in target and not _KNOWN_TYPE.search(target)):
                # only a target whose resource type is unknown might be one of ours; a
                # Cosmos account or Logic App of unknown name is not
                undecided.append(u)
    return hits, undecided


def _unknowns(value: Any) -> list[Unknown]:
    if isinstance(value, Unknown):
        return [value]
    out: list[Unknown] = []
    if isinstance(value, dict):
        for v in value.values():
            out.extend(_unknowns(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_unknowns(v))
    return out


def _consult_all(values: list[Unknown]) -> bool:
    for u in values:
        consult(u)
    return False


def _param_type(template_body: Any, name: str) -> str:
    t = ci_get(ci_get(template_body, "parameterTypes"), name)
    return t.lower() if isinstance(t, str) else ""


def _hubs_may_disable_local_auth(run: Any) -> bool:
    for hub in run.deployed("Microsoft.Devices/IotHubs"):
        v = ci_get(ci_get(hub.body, "properties"), "disableLocalAuth")
        if isinstance(v, Unknown) or v is True or (isinstance(v, str) and v.lower() == "true"):
            return True
    return False


@dataclass
class _LocalAuthLinks:
    """What links hubs with their keys, for ``needs_local_auth``: per hub name, the
    key-based DPS entries (and Device Update instances of unknown condition) naming it,
    with the unknown that decides whether the link exists (an authentication type or a
    condition), None when it certainly does; entries and Device Update values that name no hub but
    are unknown (any hub might be meant); hubs named by Device Update instances."""

    dps_linked: dict[str, list[tuple[int, Unknown | None]]] = field(default_factory=dict)
    dps_open: list[tuple[int, Unknown]] = field(default_factory=list)
    adu_names: set[str] = field(default_factory=set)
    adu_open: list[Unknown] = field(default_factory=list)


def _local_auth_links(run: Any) -> _LocalAuthLinks:
    from engine import links

    out = _LocalAuthLinks()
    seq = 0
    for dps in run.deployed("Microsoft.Devices/provisioningServices"):
        for entry in links.dps_entries(dps.body):
            if not links.is_key_based_link(entry):
                continue
            seq += 1
            names = links.hub_names(entry)
            auth = ci_get(entry, "authenticationType")
            # A DPS whose own condition is unknown links the hub only if it holds.
            doubt = auth if isinstance(auth, Unknown) else (
                dps.condition if isinstance(dps.condition, Unknown) else None)
            for name in names:
                out.dps_linked.setdefault(name, []).append((seq, doubt))
            target = ci_get(entry, "connectionString")
            if not names and isinstance(target, Unknown):
                out.dps_open.append((seq, target))
    for inst in run.deployed("Microsoft.DeviceUpdate/accounts/instances"):
        values = links.adu_hub_values(inst.body)
        if isinstance(inst.condition, Unknown):
            # an instance that may not be deployed: the hub's need is as open as its condition
            seq += 1
            for name in links.hub_names(values):
                out.dps_linked.setdefault(name, []).append((seq, inst.condition))
            continue
        out.adu_names.update(links.hub_names(values))
        out.adu_open.extend(v for v in values if isinstance(v, Unknown) and not links.hub_names(v))
    return out


@dataclass
class _DiagnosticSettings:
    """Diagnostic settings by the resource key of the scope they target, and legacy child settings by
    (type, "scope"|"name", the scope or the parent's name), all lower-cased."""

    by_scope: dict[str, list[Resource]] = field(default_factory=dict)
    legacy: dict[tuple[str, str, str], list[Resource]] = field(default_factory=dict)
    # Settings whose scope has unknown parts in its type and name (in run order).
    open: list[tuple[IdPattern, Resource]] = field(default_factory=list)

    def add_scoped(self, d: Resource) -> None:
        key = key_or_pattern(d.scope) if d.scope is not None else None
        if isinstance(key, str):
            self.by_scope.setdefault(key, []).append(d)
        elif key is not None:
            self.open.append((key, d))


def _diagnostic_settings(run: Any) -> _DiagnosticSettings:
    out = _DiagnosticSettings()
    for d in run.deployed("Microsoft.Insights/diagnosticSettings"):
        out.add_scoped(d)
    for d in run.resources:
        low = d.type.lower()
        if d.existing or not low.endswith("diagnosticsettings") or "/providers/" not in low:
            continue
        if isinstance(d.scope, Unknown) or isinstance(d.name, Unknown):
            # The name's first part is the parent, so an unknown name leaves an unknown
            # scope (or none, when the name does not fit the type).
            out.add_scoped(d)
            continue
        keys = {("name", str(d.name).split("/", 1)[0].lower())}
        if d.scope is not None:
            keys.add(("scope", str(d.scope).lower()))
        for key in keys:
            out.legacy.setdefault((low, *key), []).append(d)
    return out
