"""The RBAC model: permission-pattern algebra, effective permissions, role definitions.

Azure's semantics (facts §4.2): permission strings are case-insensitive; ``*`` matches any
character sequence, ``/`` included; a role's effective control plane is
``actions - notActions`` and its data plane ``dataActions - notDataActions``, per
permission block, united over blocks; ``*`` in ``actions`` never grants a data action.

Pattern-level questions (do two patterns share an operation, is one covered by others,
does a role grant *some* operation of a pattern) are answered exactly by a search over a
product of small automata: every pattern is a chain of literal characters and ``*``
loops, so an operation string can be explored one character at a time, with all
characters that appear in no pattern collapsed into one "other" symbol.  The search has a
state budget; past it the answer is the documented conservative one.

Values may be ``Unknown`` (a template parameter with no value, a ``reference()``).  An
unknown string never matches anything by itself; the ``uncertain_*`` queries name the
unknown strings that could change an answer, so rule functions can report an unresolved
outcome instead of a silent pass.  An unknown's known parts narrow what it could be:
``Microsoft.Storage/{parameters('x')}`` cannot be an IoT Hub operation.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.source import JsonPath
from engine.values import CIDict, Unknown, ci_get, collapse_placeholders

if TYPE_CHECKING:
    from engine.catalog import Operation
    from engine.model import Resource

# ----------------------------------------------------------------------------- patterns


@functools.lru_cache(maxsize=8192)
def _compiled(pattern: str) -> re.Pattern[str]:
    # DOTALL: "any characters" includes every character; operation strings never hold
    # newlines, so this only matters for adversarial input.
    return re.compile(".*".join(map(re.escape, pattern.split("*"))), re.I | re.S)


def pattern_matches(pattern: str, operation: str) -> bool:
    """Whether a permission pattern matches an operation (case-insensitive, ``*`` = any
    characters including ``/``).  An unknown pattern or operation matches nothing."""
    # That ``*`` crosses ``/`` is inferred [I] from the docs' ``Microsoft.Network/*/read``
    # covering nested types (facts §4.2); the facts' reference matcher does the same.
    if isinstance(pattern, Unknown) or isinstance(operation, Unknown):
        return False
    return _compiled(str(pattern)).fullmatch(str(operation)) is not None


def _fold(ch: str) -> str:
    # Per-character folding like ``re.I`` for every character whose lower case is one
    # character (all of ASCII, so every real operation string).
    low = ch.lower()
    return low if len(low) == 1 else ch


# Product states explored before a pattern-level question gives its conservative answer.
# Real permission strings have one or two ``*`` and need a few hundred states at most.
SEARCH_BUDGET = 20_000

# The search either finds a witness string, proves there is none, or runs out of budget.
_NONE = "none"
_BUDGET = "budget"


def _closure(pattern: str, positions: Iterable[int]) -> frozenset[int]:
    out: set[int] = set()
    for i in positions:
        while True:
            out.add(i)
            if i < len(pattern) and pattern[i] == "*":
                i += 1
                continue
            break
    return frozenset(out)


def _step(pattern: str, positions: frozenset[int], symbol: str | None) -> frozenset[int]:
    """Positions after reading one character (``None`` = a character in no pattern)."""
    nxt: list[int] = []
    for i in positions:
        if i >= len(pattern):
            continue
        c = pattern[i]
        if c == "*":
            nxt.append(i)
        elif symbol is not None and _fold(c) == symbol:
            nxt.append(i + 1)
    return _closure(pattern, nxt)


_State = tuple[tuple[frozenset[int], ...], tuple[frozenset[int], ...]]


@functools.lru_cache(maxsize=16384)
def _search(positives: tuple[str, ...], negatives: tuple[str, ...]) -> tuple[str, str]:
    """A shortest string matched by every positive pattern and by no negative one.

    Returns ``("found", witness)``, ``("none", "")`` or ``("budget", "")``.  Each pattern
    runs as a deterministic subset automaton; their product is explored breadth-first.
    """
    patterns = positives + negatives
    letters = {_fold(c) for p in patterns for c in p if c != "*"}
    alphabet: list[str | None] = [*sorted(letters), None]
    start: _State = (
        tuple(_closure(p, (0,)) for p in positives),
        tuple(_closure(n, (0,)) for n in negatives),
    )
    parent: dict[_State, tuple[_State, str | None] | None] = {start: None}
    frontier = [start]
    while frontier:
        nxt: list[_State] = []
        for state in frontier:
            pos, neg = state
            if all(len(p) in s for p, s in zip(positives, pos, strict=True)) and not any(
                len(n) in s for n, s in zip(negatives, neg, strict=True)
            ):
                return "found", _spell(parent, state, letters)
            for sym in alphabet:
                npos = tuple(_step(p, s, sym) for p, s in zip(positives, pos, strict=True))
                if any(not s for s in npos):
                    continue
                nneg = tuple(_step(n, s, sym) for n, s in zip(negatives, neg, strict=True))
                new: _State = (npos, nneg)
                if new not in parent:
                    parent[new] = (state, sym)
                    if len(parent) > SEARCH_BUDGET:
                        return _BUDGET, ""
                    nxt.append(new)
        frontier = nxt
    return _NONE, ""


def _spell(parent: Mapping[_State, tuple[_State, str | None] | None], state: _State,
           letters: set[str]) -> str:
    other = next(c for c in "~#%!@^&$" + "".join(map(chr, range(0x100, 0x200))) if _fold(c) not in letters)
    chars: list[str] = []
    link = parent[state]
    while link is not None:
        prev, sym = link
        chars.append(other if sym is None else sym)
        link = parent[prev]
    return "".join(reversed(chars))


def _exists(positives: tuple[str, ...], negatives: tuple[str, ...]) -> bool | None:
    """True/False, or None when the search ran out of budget."""
    status, _ = _search(positives, negatives)
    return None if status == _BUDGET else status == "found"


def example(positives: Sequence[str], negatives: Sequence[str] = ()) -> str | None:
    """A shortest string matching every positive pattern and no negative one (unknowns
    ignored), or None when there is none or the search budget ran out.  Characters that
    occur in no pattern are spelled with one stand-in character."""
    pos = tuple(_key(p) for p in positives if not isinstance(p, Unknown))
    neg = tuple(sorted({_key(n) for n in negatives if not isinstance(n, Unknown)}))
    status, witness = _search(pos, neg)
    return witness if status == "found" else None


def _key(pattern: str) -> str:
    # Cache keys must be plain ``str``: an ``Unknown`` in an lru_cache key would be
    # compared with ``==``, which records a consultation.  ``**`` is the same as ``*``.
    return re.sub(r"\*+", "*", str.__str__(pattern))


def patterns_overlap(a: str, b: str) -> bool:
    """Whether some operation string matches both patterns.  Exact; past the search
    budget the answer is ``True`` (they may overlap)."""
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        return patterns_overlap(unknown_pattern(a), unknown_pattern(b))
    if "*" not in a:
        return pattern_matches(b, a)
    if "*" not in b:
        return pattern_matches(a, b)
    found = _exists((_key(a), _key(b)), ())
    return True if found is None else found


def pattern_covered(p: str, by: Sequence[str]) -> bool:
    """Whether every operation matching ``p`` matches one of ``by``.  Exact; past the
    search budget the answer is ``False`` (not shown to be covered).  Unknown strings in
    ``by`` cover nothing; an unknown ``p`` is never covered."""
    if isinstance(p, Unknown):
        return False
    known = tuple(sorted({_key(b) for b in by if not isinstance(b, Unknown)}))
    if "*" not in p:
        return any(pattern_matches(b, p) for b in known)
    if "*" in known:
        return True
    found = _exists((_key(p),), known)
    return False if found is None else not found


def grants_some(p: str, grant: str, removed: Sequence[str]) -> bool:
    """Whether some operation matches both ``p`` and ``grant`` and none of ``removed``.
    Exact; past the search budget the answer is ``True`` (it may)."""
    known = tuple(sorted({_key(r) for r in removed if not isinstance(r, Unknown)}))
    if "*" not in p and "*" not in grant:
        return pattern_matches(grant, p) and not any(pattern_matches(r, p) for r in known)
    found = _exists((_key(p), _key(grant)), known)
    return True if found is None else found


def unknown_pattern(value: str) -> str:
    """The pattern of everything an unknown string could be: its known parts with each
    ``{...}`` placeholder as ``*``.  A known string is returned as is.  An unknown whose
    text has no placeholder is a description, not a partial value, so it could be
    anything (``*``)."""
    if not isinstance(value, Unknown):
        return value
    text = value.text
    if "{" not in text:
        return "*"
    pattern, balanced = collapse_placeholders(text, "*")
    return re.sub(r"\*+", "*", pattern) if balanced else "*"


def could_match(value: str, operation: str) -> bool:
    """Whether a (possibly unknown) permission string could match the operation."""
    return pattern_matches(unknown_pattern(value), operation)


# ----------------------------------------------------------------------------- roles


@dataclass(frozen=True)
class PermString:
    """One permission or scope string with the JSON path it was read from.

    ``path`` is a path in the role's own coordinates: a JSON path in the role file for
    roles read from files, a body sub-path (``properties.permissions[0].actions[2]``) for
    ARM resources (map it with ``Resource.map``).  ``value`` may be ``Unknown``; a whole
    list that is unknown is kept as one unknown string with the list's path.
    """

    value: str
    path: JsonPath

    @property
    def known(self) -> bool:
        return not isinstance(self.value, Unknown)


_LISTS = ("actions", "notActions", "dataActions", "notDataActions")


@dataclass
class PermissionBlock:
    actions: list[PermString] = field(default_factory=list)
    not_actions: list[PermString] = field(default_factory=list)
    data_actions: list[PermString] = field(default_factory=list)
    not_data_actions: list[PermString] = field(default_factory=list)
    path: JsonPath = ()
    # Where each list was written (the block's path when the list is absent).
    list_paths: dict[str, JsonPath] = field(default_factory=dict)
    condition: str | None = None  # ABAC condition on the block, as written

    def strings(self, key: str) -> list[PermString]:
        """The list for a body key (``actions``, ``notActions``, ...; case-insensitive)."""
        low = key.lower()
        if low == "actions":
            return self.actions
        if low == "notactions":
            return self.not_actions
        if low == "dataactions":
            return self.data_actions
        if low == "notdataactions":
            return self.not_data_actions
        raise KeyError(key)


@dataclass
class RoleDefinition:
    """A role definition in any shape, normalised.

    ``guid`` is the role's GUID in lower case when known ("" when the file has none, an
    ``Unknown`` when a template computes it from unknown input).  ``shape``: ``arm`` (an
    ARM ``roleDefinitions`` resource or fragment), ``cli`` (``az role definition list``),
    ``input`` (the PascalCase/camelCase file for ``az role definition create`` and
    ``New-AzRoleDefinition``), ``portal`` (``{"properties": {...}}``).  ``path`` is the
    JSON path of the role object in its file (``Resource.path`` for resources, whose
    string paths are body sub-paths; see ``PermString``).
    """

    guid: str
    name: str
    role_type: str
    is_builtin: bool
    description: str = ""
    permissions: list[PermissionBlock] = field(default_factory=list)
    assignable_scopes: list[PermString] = field(default_factory=list)
    shape: str = "cli"
    path: JsonPath = ()
    resource: Resource | None = field(default=None, repr=False, compare=False)
    # Where the scalar members were written (body key -> path in the role's coordinates).
    member_paths: dict[str, JsonPath] = field(default_factory=dict, repr=False)
    _effective: EffectivePermissions | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def effective(self) -> EffectivePermissions:
        if self._effective is None:
            self._effective = EffectivePermissions(self.permissions)
        return self._effective

    @property
    def has_data_actions(self) -> bool:
        """Whether any block lists a data action (removed or not): Azure's rule against
        management-group assignable scopes looks at the list, not the effect."""
        return any(b.data_actions for b in self.permissions)

    def source_path(self, body_path: JsonPath) -> JsonPath:
        """Map a path in ``role_body(self)`` to where it was written (the rule
        evaluator locates findings through this)."""
        if not body_path:
            return self.path if self.resource is None else ()
        head = body_path[0]
        low = head.lower() if isinstance(head, str) else ""
        rest = body_path[1:]
        if low == "permissions":
            base = self.member_paths.get("permissions", self._base())
            if not rest:
                return base
            i = _index(rest[0])
            if i is None or not 0 <= i < len(self.permissions):
                return base
            block = self.permissions[i]
            if len(rest) == 1 or not isinstance(rest[1], str):
                return block.path
            try:
                items = block.strings(rest[1])
            except KeyError:
                return block.path
            list_path = block.list_paths.get(rest[1].lower(), block.path)
            if len(rest) == 2:
                return list_path
            j = _index(rest[2])
            if j is None or not 0 <= j < len(items):
                return list_path
            return items[j].path
        if low == "assignablescopes":
            base = self.member_paths.get("assignablescopes", self._base())
            if rest:
                k = _index(rest[0])
                if k is not None and 0 <= k < len(self.assignable_scopes):
                    return self.assignable_scopes[k].path
            return base
        return self.member_paths.get(low, self._base())

    def body_path(self, perm: PermString) -> str:
        """Where a permission string of this role sits in ``role_body(self)``, as the
        rule language writes paths (``permissions[0].actions[2]``); "" if not found."""
        for i, block in enumerate(self.permissions):
            for key in _LISTS:
                for j, s in enumerate(block.strings(key)):
                    if s is perm:
                        return f"permissions[{i}].{key}[{j}]"
        return ""

    def _base(self) -> JsonPath:
        return () if self.resource is not None else self.path


def _index(step: str | int) -> int | None:
    if isinstance(step, int):
        return step
    if isinstance(step, str) and step.isdigit():
        return int(step)
    return None


# ----------------------------------------------------------------------------- effective


@dataclass(frozen=True)
class GrantedOperation:
    """A catalog operation a role grants, with the string that grants it."""

    operation: Operation
    grant: PermString

    @property
    def pattern(self) -> str:
        return self.grant.value


@dataclass(frozen=True)
class _Side:
    """One plane (control or data) of one block: granting and removing strings."""

    grants: tuple[PermString, ...]
    removes: tuple[PermString, ...]

    @functools.cached_property
    def known_removes(self) -> tuple[str, ...]:
        return tuple(r.value for r in self.removes if r.known)

    @functools.cached_property
    def unknown_removes(self) -> tuple[PermString, ...]:
        return tuple(r for r in self.removes if not r.known)


class EffectivePermissions:
    """What one role grants after ``notActions``/``notDataActions``, per block, united.

    Answers come from the known strings; ``uncertain_*`` name the unknown strings that
    could change them.  Data queries consult only ``dataActions`` (``*`` in ``actions``
    never grants data), control queries only ``actions``.
    """

    def __init__(self, blocks: Sequence[PermissionBlock]) -> None:
        self._control = tuple(_Side(tuple(b.actions), tuple(b.not_actions)) for b in blocks)
        self._data = tuple(_Side(tuple(b.data_actions), tuple(b.not_data_actions)) for b in blocks)

    # -- one operation

    def grants_action(self, operation: str) -> str | None:
        """The ``actions`` pattern that grants this control-plane operation, or None."""
        g = self.action_grant(operation)
        return g.value if g is not None else None

    def grants_data_action(self, operation: str) -> str | None:
        """The ``dataActions`` pattern that grants this data operation, or None."""
        g = self.data_action_grant(operation)
        return g.value if g is not None else None

    def action_grant(self, operation: str) -> PermString | None:
        return _decide(self._control, operation)[0]

    def data_action_grant(self, operation: str) -> PermString | None:
        return _decide(self._data, operation)[0]

    def uncertain_action(self, operation: str) -> tuple[Unknown, ...]:
        """Unknown strings that could flip ``grants_action(operation)``."""
        return _decide(self._control, operation)[1]

    def uncertain_data_action(self, operation: str) -> tuple[Unknown, ...]:
        return _decide(self._data, operation)[1]

    # -- a pattern of operations (for operations the catalog does not list)

    def grants_any_action(self, pattern: str) -> str | None:
        """An ``actions`` string that grants some operation matching ``pattern`` which the
        same block does not remove, or None."""
        g = self.any_action_grant(pattern)
        return g.value if g is not None else None

    def grants_any_data_action(self, pattern: str) -> str | None:
        g = self.any_data_action_grant(pattern)
        return g.value if g is not None else None

    def any_action_grant(self, pattern: str) -> PermString | None:
        return _decide_pattern(self._control, pattern)[0]

    def any_data_action_grant(self, pattern: str) -> PermString | None:
        return _decide_pattern(self._data, pattern)[0]

    def uncertain_any_action(self, pattern: str) -> tuple[Unknown, ...]:
        return _decide_pattern(self._control, pattern)[1]

    def uncertain_any_data_action(self, pattern: str) -> tuple[Unknown, ...]:
        return _decide_pattern(self._data, pattern)[1]

    def wildcard_covering_data(self, pattern: str, catalog_ops: Iterable[Operation]) -> PermString | None:
        """A ``dataActions`` wildcard that matches every catalogued data operation matching
        ``pattern``, when the role still grants all of them after ``notDataActions``.

        Decided on the real operations, not on the shape of the strings:
        ``Microsoft.Devices/IotHubs/*/*`` grants every IoT Hub data action, and a
        ``notDataActions`` entry that removes none of them changes nothing.  Read-only
        wildcards such as ``.../*/read`` match no write and so cover nothing.  None when
        the catalog lists no data operation of ``pattern``."""
        return self._covering_wildcard(pattern, tuple(catalog_ops))[0]

    def uncertain_wildcard_covering_data(
        self, pattern: str, catalog_ops: Iterable[Operation]
    ) -> tuple[Unknown, ...]:
        """Unknown strings that could flip ``wildcard_covering_data``."""
        return self._covering_wildcard(pattern, tuple(catalog_ops))[1]

    def _covering_wildcard(
        self, pattern: str, catalog_ops: tuple[Operation, ...]
    ) -> tuple[PermString | None, tuple[Unknown, ...]]:
        targets = [o.name for o in catalog_ops if o.is_data_action and pattern_matches(pattern, o.name)]
        if not targets:
            return None, ()
        decisions = [_decide(self._data, t) for t in targets]
        missing = [flips for grant, flips in decisions if grant is None]
        grants = [g for side in self._data for g in side.grants]
        wildcard = next((g for g in grants if g.known and "*" in g.value
                         and all(pattern_matches(g.value, t) for t in targets)), None)
        if wildcard is None and not missing and all(
                grant is not None and "*" in grant.value for grant, _ in decisions):
            # Several wildcards together (``IotHubs/*/read``, ``*/write``, ...) grant it all.
            wildcard = decisions[0][0]
        # Granted, unless an unknown notDataActions entry takes some of it away.
        doubt = [u for grant, flips in decisions if grant is not None for u in flips]
        if wildcard is not None and not missing:
            return (wildcard, ()) if not doubt else (None, tuple(dict.fromkeys(doubt)))
        # Unknown strings matter only if they could grant every operation still missing
        # and, when no known wildcard spans them all, could be that wildcard themselves.
        if any(not flips for flips in missing):
            return None, ()
        flips = [u for f in missing for u in f]
        if wildcard is None:
            could_be = [g.value for g in grants
                        if not g.known and all(could_match(g.value, t) for t in targets)]
            if not could_be:
                return None, ()
            flips.extend(_unknowns(could_be))
        return None, tuple(dict.fromkeys(flips))

    # -- a catalog

    def granted_operations(self, catalog_ops: Iterable[Operation]) -> list[GrantedOperation]:
        """The catalog operations granted, each with its granting string; data
        operations are checked against ``dataActions``, the others against ``actions``."""
        out: list[GrantedOperation] = []
        for op in catalog_ops:
            g = self.data_action_grant(op.name) if op.is_data_action else self.action_grant(op.name)
            if g is not None:
                out.append(GrantedOperation(op, g))
        return out


def _decide(sides: Sequence[_Side], operation: str) -> tuple[PermString | None, tuple[Unknown, ...]]:
    """(granting string from known strings, unknowns that could change the answer)."""
    best: PermString | None = None
    flips: list[Unknown] = []
    for side in sides:
        if any(pattern_matches(r, operation) for r in side.known_removes):
            continue
        maybe_removed = [r.value for r in side.unknown_removes if could_match(r.value, operation)]
        grant = next((g for g in side.grants if g.known and pattern_matches(g.value, operation)), None)
        if grant is not None:
            if not maybe_removed:
                return grant, ()
            if best is None:
                best = grant
            flips.extend(_unknowns(maybe_removed))
        else:
            maybe = [g.value for g in side.grants if not g.known and could_match(g.value, operation)]
            if maybe:
                flips.extend(_unknowns(maybe + maybe_removed))
    return best, tuple(dict.fromkeys(flips))


def _decide_pattern(sides: Sequence[_Side], pattern: str) -> tuple[PermString | None, tuple[Unknown, ...]]:
    best: PermString | None = None
    flips: list[Unknown] = []
    for side in sides:
        maybe_removed = [
            r.value for r in side.unknown_removes if patterns_overlap(unknown_pattern(r.value), pattern)
        ]
        for g in side.grants:
            if g.known:
                if grants_some(pattern, g.value, side.known_removes):
                    if not maybe_removed:
                        return g, ()
                    if best is None:
                        best = g
                    flips.extend(_unknowns(maybe_removed))
            elif grants_some(pattern, unknown_pattern(g.value), side.known_removes):
                flips.extend(_unknowns([g.value, *maybe_removed]))
    return best, tuple(dict.fromkeys(flips))


def _unknowns(values: Iterable[str]) -> list[Unknown]:
    return [v for v in values if isinstance(v, Unknown)]


# ----------------------------------------------------------------------------- shapes


def _known(value: Any) -> str | None:
    """A known string value, or None (unknowns and other types)."""
    if isinstance(value, str) and not isinstance(value, Unknown):
        return value
    return None


def _ci_key(obj: Mapping[str, Any], key: str) -> str | None:
    if key in obj:
        return key
    low = key.lower()
    for k in obj:
        if isinstance(k, str) and k.lower() == low:
            return k
    return None


def _has(obj: Mapping[str, Any], key: str) -> bool:
    return _ci_key(obj, key) is not None


def looks_like_role(obj: Any) -> bool:
    """Whether a JSON value is a role definition in one of the shapes of facts §4.1
    (keys case-insensitive): ``az role definition list/show`` objects (``permissions`` +
    ``roleName`` or ``assignableScopes``), input files (``Name`` + ``Actions``,
    ``Permissions``, ``AssignableScopes`` or ``IsCustom``), portal/ARM objects
    (``properties`` holding ``roleName`` and ``permissions``)."""
    if not isinstance(obj, Mapping) or _has(obj, "$schema"):
        return False
    props = ci_get(obj, "properties")
    if isinstance(props, Mapping) and _has(props, "roleName") and _has(props, "permissions"):
        return True
    if _has(obj, "permissions") and (_has(obj, "roleName") or _has(obj, "assignableScopes")):
        return True
    return _has(obj, "name") and any(
        _has(obj, k) for k in ("actions", "permissions", "assignableScopes", "isCustom")
    )


Problems = list[tuple[JsonPath, str]]

_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_GUID_IN_ID = re.compile(
    r"roleDefinitions/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I
)


def guid_of(value: Any) -> str:
    """The role GUID in a GUID or a role-definition ID (lower case), or ""."""
    # Every ``roleDefinitionId`` form of facts §4.3 is read the same way, including the
    # tenant form ``/providers/...`` and the resource-group form from ``resourceId()``,
    # whose acceptance by ARM is unverified [U]: the GUID names the role either way.
    text = _known(value)
    if text is None:
        text = value.text if isinstance(value, Unknown) else ""
    text = text.strip()
    m = _GUID_IN_ID.search(text)
    if m:
        return m.group(1).lower()
    last = text.rstrip("/").rsplit("/", 1)[-1]
    return last.lower() if _GUID.match(last) else ""


class _Reader:
    """Reads one role object, collecting type problems instead of raising."""

    def __init__(self, strict: bool) -> None:
        self.problems: Problems = []
        # Resources were validated by the template author's tooling and may carry
        # unknowns; only role files get type complaints.
        self.strict = strict

    def complain(self, path: JsonPath, message: str) -> None:
        if self.strict:
            self.problems.append((path, message))

    def strings(self, value: Any, path: JsonPath, what: str) -> list[PermString]:
        # Messages name the key as the file spells it (``Actions`` vs ``actions``).
        what = path[-1] if path and isinstance(path[-1], str) else what
        if value is None:
            return []
        if isinstance(value, Unknown):
            return [PermString(value, path)]
        if isinstance(value, str):
            # A bare string where a list belongs: az accepts neither; keep the
            # permission (so rules still see it) and say so.
            self.complain(path, f"'{what}' should be a list of strings, got a string")
            return [PermString(value, path)]
        if not isinstance(value, list):
            self.complain(path, f"'{what}' should be a list of strings, got {_type_name(value)}; ignored")
            return []
        out: list[PermString] = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(PermString(item, (*path, i)))
            elif item is not None:
                self.complain(
                    (*path, i), f"'{what}' entry should be a string, got {_type_name(item)}; ignored"
                )
        return out

    def block(self, obj: Any, path: JsonPath) -> PermissionBlock | None:
        if isinstance(obj, Unknown):
            # Nothing is known about the block: every list could hold anything.
            whole = [PermString(obj, path)]
            return PermissionBlock(list(whole), list(whole), list(whole), list(whole), path,
                                   {k.lower(): path for k in _LISTS})
        if not isinstance(obj, Mapping):
            self.complain(path, f"permission block should be an object, got {_type_name(obj)}; ignored")
            return None
        lists: dict[str, list[PermString]] = {}
        list_paths: dict[str, JsonPath] = {}
        for key in _LISTS:
            real = _ci_key(obj, key)
            if real is None:
                lists[key] = []
                list_paths[key.lower()] = path
            else:
                list_paths[key.lower()] = (*path, real)
                lists[key] = self.strings(obj[real], (*path, real), key)
        cond = _known(ci_get(obj, "condition"))
        return PermissionBlock(
            lists["actions"], lists["notActions"], lists["dataActions"], lists["notDataActions"],
            path, list_paths, cond or None,
        )

    def blocks(self, value: Any, path: JsonPath) -> list[PermissionBlock]:
        if value is None:
            return []
        if isinstance(value, Unknown):
            b = self.block(value, path)
            return [b] if b is not None else []
        if not isinstance(value, list):
            self.complain(path, f"'permissions' should be a list, got {_type_name(value)}; ignored")
            return []
        out: list[PermissionBlock] = []
        for i, item in enumerate(value):
            b = self.block(item, (*path, i))
            if b is not None:
                out.append(b)
        return out


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return "a string"


def _builtin_flag(role_type: Any, is_custom: Any) -> bool:
    rt = _known(role_type)
    if rt is not None and rt.strip().lower() == "builtinrole":
        return True
    if is_custom is False:
        return True
    ic = _known(is_custom)
    return ic is not None and ic.strip().lower() == "false"


def normalize_role(obj: Any, path: JsonPath = ()) -> tuple[RoleDefinition | None, Problems]:
    """Normalise a role object read from a file (any shape of facts §4.1).

    Never raises on wrong types: bad entries are skipped and reported as
    ``(json path, message)`` problems.  Returns ``(None, problems)`` only when the value is
    not an object at all.
    """
    reader = _Reader(strict=True)
    if not isinstance(obj, Mapping):
        reader.complain(path, f"a role definition should be an object, got {_type_name(obj)}")
        return None, reader.problems
    props = ci_get(obj, "properties")
    if isinstance(props, Mapping) and _has(props, "permissions"):
        typ = _known(ci_get(obj, "type")) or ""
        shape = "arm" if typ.lower() == "microsoft.authorization/roledefinitions" or _has(obj, "apiVersion") \
            else "portal"
        role = _from_properties(reader, obj, props, path, shape)
        return role, reader.problems
    role = _from_flat(reader, obj, path)
    return role, reader.problems


def _member(obj: Mapping[str, Any], key: str, path: JsonPath, paths: dict[str, JsonPath],
            body_key: str) -> Any:
    real = _ci_key(obj, key)
    if real is None:
        return None
    paths.setdefault(body_key.lower(), (*path, real))
    return obj[real]


def _text(reader: _Reader, value: Any, path: JsonPath, what: str) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    reader.complain(path, f"'{what}' should be a string, got {_type_name(value)}; ignored")
    return ""


def _from_flat(reader: _Reader, obj: Mapping[str, Any], path: JsonPath) -> RoleDefinition:
    paths: dict[str, JsonPath] = {}
    role_name = _member(obj, "roleName", path, paths, "name")
    raw_name = _member(obj, "name", path, paths, "guid" if role_name is not None else "name")
    raw_id = _member(obj, "id", path, paths, "guid")
    if role_name is not None:
        # ``az role definition list``: name is the GUID, roleName the display name.
        shape = "cli"
        display = _text(reader, role_name, paths.get("name", path), "roleName")
        guid = _guid_value(raw_name) or _guid_value(raw_id)
    else:
        shape = "input"
        display = _text(reader, raw_name, paths.get("name", path), "Name")
        guid = _guid_value(raw_id)
    role_type = _member(obj, "roleType", path, paths, "roleType")
    is_custom = _member(obj, "isCustom", path, paths, "roleType")
    desc = _member(obj, "description", path, paths, "description")
    blocks: list[PermissionBlock] = []
    flat = {k: _ci_key(obj, k) for k in _LISTS}
    if any(v is not None for v in flat.values()):
        # The input file's top-level Actions/NotActions/... form one block.
        blocks.extend(b for b in [reader.block(obj, path)] if b is not None)
    perms = _member(obj, "permissions", path, paths, "permissions")
    blocks.extend(reader.blocks(perms, paths.get("permissions", path)))
    scopes = _member(obj, "assignableScopes", path, paths, "assignableScopes")
    builtin = _builtin_flag(role_type, is_custom)
    return RoleDefinition(
        guid=guid,
        name=display,
        role_type="BuiltInRole" if builtin else "CustomRole",
        is_builtin=builtin,
        description=_text(reader, desc, paths.get("description", path), "description"),
        permissions=blocks,
        assignable_scopes=reader.strings(scopes, paths.get("assignablescopes", path), "assignableScopes"),
        shape=shape,
        path=path,
        member_paths=paths,
    )


def _from_properties(
    reader: _Reader, obj: Mapping[str, Any], props: Mapping[str, Any], path: JsonPath, shape: str,
    *, base: JsonPath | None = None, resource: Resource | None = None, guid: str | None = None,
) -> RoleDefinition:
    """``{"name": <guid>, "properties": {...}}``: ARM resources, REST and portal JSON.
    ``base`` is the coordinate origin of stored paths (the role's path for files, ``()``
    for resource bodies)."""
    root = path if base is None else base
    ppath = (*root, _ci_key(obj, "properties") or "properties")
    paths: dict[str, JsonPath] = {}
    display = _member(props, "roleName", ppath, paths, "name")
    desc = _member(props, "description", ppath, paths, "description")
    role_type = _member(props, "type", ppath, paths, "roleType")
    if role_type is None:
        role_type = _member(props, "roleType", ppath, paths, "roleType")
    if guid is None:
        raw_name = _member(obj, "name", root, paths, "guid")
        guid = _guid_value(raw_name) or _guid_value(_member(obj, "id", root, paths, "guid"))
    perms = _member(props, "permissions", ppath, paths, "permissions")
    scopes = _member(props, "assignableScopes", ppath, paths, "assignableScopes")
    builtin = _builtin_flag(role_type, None)
    name: str
    if isinstance(display, Unknown):
        name = display
    else:
        name = _text(reader, display, paths.get("name", ppath), "roleName")
    return RoleDefinition(
        guid=guid,
        name=name,
        role_type="BuiltInRole" if builtin else "CustomRole",
        is_builtin=builtin,
        description=_known(desc) or "",
        permissions=reader.blocks(perms, paths.get("permissions", ppath)),
        assignable_scopes=reader.strings(scopes, paths.get("assignablescopes", ppath), "assignableScopes"),
        shape=shape,
        path=path,
        resource=resource,
        member_paths=paths,
    )


def _guid_value(value: Any) -> str:
    """A GUID from a name/id member: lower-case GUID when found; an unknown stays
    unknown (a template computing it from a parameter); otherwise ""."""
    if isinstance(value, Unknown):
        found = guid_of(value)
        return found or value
    return guid_of(value) if isinstance(value, str) else ""


def role_from_resource(resource: Resource) -> RoleDefinition:
    """The role an expanded ``Microsoft.Authorization/roleDefinitions`` resource defines.

    String paths are body sub-paths (``("properties", "permissions", 0, "actions", 1)``);
    values may be unknown.  The GUID is the last segment of the resource name.
    """
    body = resource.body
    reader = _Reader(strict=False)
    props = ci_get(body, "properties")
    name = resource.name
    last = name.rsplit("/", 1)[-1] if not isinstance(name, Unknown) else name
    guid = _guid_value(last) or _guid_value(resource.id)
    if isinstance(props, Unknown):
        whole = reader.block(props, ("properties",))
        return RoleDefinition(
            guid=guid, name="", role_type="CustomRole", is_builtin=False,
            permissions=[whole] if whole is not None else [],
            assignable_scopes=[PermString(props, ("properties",))],
            shape="arm", path=resource.path, resource=resource,
        )
    if not isinstance(props, Mapping):
        props = {}
    return _from_properties(reader, body, props, resource.path, "arm", base=(), resource=resource, guid=guid)


def role_body(role: RoleDefinition) -> CIDict:
    """A JSON-like view of the role for JMESPath rule conditions.  Paths into it map back
    to the source with ``role.source_path``."""
    return CIDict(
        guid=role.guid,
        name=role.name,
        roleType=role.role_type,
        isBuiltIn=role.is_builtin,
        description=role.description,
        shape=role.shape,
        permissions=[
            CIDict(
                actions=[s.value for s in b.actions],
                notActions=[s.value for s in b.not_actions],
                dataActions=[s.value for s in b.data_actions],
                notDataActions=[s.value for s in b.not_data_actions],
            )
            for b in role.permissions
        ],
        assignableScopes=[s.value for s in role.assignable_scopes],
    )


def iter_strings(role: RoleDefinition) -> Iterator[tuple[str, PermString]]:
    """Every permission string of a role with its list name (``actions``, ...)."""
    for b in role.permissions:
        for key in _LISTS:
            for s in b.strings(key):
                yield key, s
