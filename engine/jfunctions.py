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
from typing import Any

import jmespath.functions
from jmespath.functions import signature

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


def _version_tuple(v: str) -> tuple[int, ...] | None:
    parts = re.findall(r"\d+", v)
    return tuple(int(p) for p in parts) if parts else None


class EvalState:
    """What subject-aware functions can see during one evaluation."""

    def __init__(self) -> None:
        self.resource: Any = None  # current subject body
        self.subject: Any = None  # the subject object (Resource, RoleDefinition, ...)
        self.run: Any = None  # engine.run_index.RunIndex (cross-resource look-ups)


class RuleFunctions(jmespath.functions.Functions):
    def __init__(self) -> None:
        super().__init__()
        self.state = EvalState()

    # JMESPath checks argument types by Python class name; teach it ours.
    def _get_allowed_pytypes(self, types: Any) -> Any:
        allowed, subtypes = super()._get_allowed_pytypes(types)
        for name, jtype in _EXTRA_TYPES.items():
            if jtype in types or "any" in types:
                allowed.append(name)
            for t in types:
                if t.startswith("array-") and t[6:] == jtype:
                    subtypes.append(name)
        return allowed, subtypes

    def _convert_to_jmespath_type(self, pyobject: str) -> str:
        return _EXTRA_TYPES.get(pyobject) or super()._convert_to_jmespath_type(pyobject)

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
        if a is None:
            return False
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
        undecided: list[Unknown] = []
        for dps in run.deployed("Microsoft.Devices/provisioningServices"):
            for entry in links.dps_entries(dps.body):
                if not links.is_key_based_link(entry):
                    continue
                target = ci_get(entry, "connectionString")
                names = links.hub_names(entry)
                if name in names:
                    auth = ci_get(entry, "authenticationType")
                    if isinstance(auth, Unknown):
                        undecided.append(auth)
                        continue
                    return True
                if not names and isinstance(target, Unknown):
                    undecided.append(target)
        for inst in run.deployed("Microsoft.DeviceUpdate/accounts/instances"):
            values = links.adu_hub_values(inst.body)
            if name in links.hub_names(values):
                return True
            undecided.extend(v for v in values if isinstance(v, Unknown) and not links.hub_names(v))
        for u in undecided:
            consult(u)
        return False


def make_options(functions: RuleFunctions) -> jmespath.Options:
    return jmespath.Options(custom_functions=functions)
