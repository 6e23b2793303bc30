"""Evaluate compiled rules over normalised subjects.

Conditions are three-valued.  A JMESPath leaf is *true*, *false*, or *unknown* when its
result depended on an ``Unknown`` value (the leaf compared one); ``all``/``any``/``not``
combine with Kleene logic, so a definite answer elsewhere still wins.  A rule whose
outcome is unknown yields an ``Unresolved`` result naming the unknown inputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import jmespath.exceptions

from engine.findings import Finding, Problem, Suppression, Unresolved
from engine.jcompile import compiled
from engine.jfunctions import CROSS_FILE_FUNCTIONS, RuleFunctions, mask, mask_keys
from engine.model import Mapped
from engine.rulepack import Condition, Rule
from engine.selectors import matches
from engine.source import JsonPath
from engine.values import CIDict, Unknown, tracking


@dataclass
class InlineSuppression:
    """A valid ``metadata.iotguard.suppress`` entry of a resource (see engine.suppress)."""

    rule: str  # rule id, tag or id prefix
    reason: str
    where: Mapped  # the entry, for reports
    expires: str = ""  # YYYY-MM-DD, or "" for none
    rule_at: Mapped | None = None  # the ``rule`` value, for an unknown-rule error


@dataclass
class Subject:
    """One thing a rule can be evaluated on, with the means to locate its parts."""

    kind: str  # "resource" | "role-definition" | "role-assignment" | "template"
    body: Any
    type: str
    name: str  # resolved name for display
    raw_name: str  # name as written
    resource_key: str  # identity used in fingerprints (type + resolved name)
    locate: Callable[[JsonPath], Mapped]
    api_version: str = ""
    is_builtin: bool = False
    condition_note: str = ""  # set when its condition (or an enclosing deployment's) is unknown
    suppress: list[InlineSuppression] = field(default_factory=list)
    # For a template subject: the inline suppressions of its resources, by the name its
    # body lists them under (``resources.<name>``), for findings inside a resource.
    part_suppress: dict[str, list[InlineSuppression]] = field(default_factory=dict)
    obj: Any = None  # the Resource / RoleDefinition / RoleAssignment / Template

    @property
    def type_lower(self) -> str:
        return self.type.lower()


# A condition outcome: True, False, or a tuple of the unknowns consulted.
Outcome = bool | tuple[Unknown, ...]


class Evaluator:
    def __init__(self, rules: Sequence[Rule], run: Any = None) -> None:
        self.rules = rules
        self.functions = RuleFunctions()
        self.functions.state.run = run
        self.problems: list[Problem] = []
        self._reported_rule_errors: set[str] = set()

    def run(self, subjects: Sequence[Subject]) -> tuple[list[Finding], list[Unresolved]]:
        findings: list[Finding] = []
        unresolved: list[Unresolved] = []
        for _, f, u, _ in self.outcomes(subjects):
            findings.extend(f)
            unresolved.extend(u)
        return findings, unresolved

    def outcomes(
        self, subjects: Sequence[Subject], part: range | None = None,
        keep: Callable[[int, int], bool] | None = None,
    ) -> Iterator[tuple[tuple[int, int], list[Finding], list[Unresolved], list[Problem]]]:
        """What each (rule, subject) pair produced, keyed by (rule index, subject index)
        in evaluation order; only pairs that produced something.  ``part`` limits the
        subjects (by index) so that processes can share the work and merge by key;
        ``keep(rule index, subject index)`` limits the pairs."""
        for ri, rule, si, subject in pairs(self.rules, subjects, part):
            if keep is not None and not keep(ri, si):
                continue
            out = self.outcome(ri, rule, si, subject)
            if out is not None:
                yield out

    def outcome(
        self, ri: int, rule: Rule, si: int, subject: Subject,
    ) -> tuple[tuple[int, int], list[Finding], list[Unresolved], list[Problem]] | None:
        """What one (rule, subject) pair produced, keyed by their indexes; None for
        nothing."""
        findings: list[Finding] = []
        unresolved: list[Unresolved] = []
        known = len(self.problems)
        self._evaluate(rule, subject, findings, unresolved)
        if findings or unresolved or len(self.problems) > known:
            return (ri, si), findings, unresolved, self.problems[known:]
        return None

    def release(self) -> None:
        """Let go of the run and the last subject (see ``engine.pipeline``)."""
        state = self.functions.state
        state.run = state.subject = state.resource = None

    # ------------------------------------------------------------------ internals

    def _evaluate(
        self, rule: Rule, subject: Subject, findings: list[Finding], unresolved: list[Unresolved]
    ) -> None:
        state = self.functions.state
        state.resource = subject.body
        state.subject = subject
        match = rule.match
        for subpath, item in _items(subject.body, rule.each):
            if match is not None:
                if not isinstance(item, str):
                    continue
                last = ""
                for p in reversed(subpath):
                    if isinstance(p, str):
                        last = p
                        break
                text = item.text if isinstance(item, Unknown) else item
                if match.search(f"{last}={text}") is None:
                    continue
            state.item_path = subpath
            try:
                outcome = self._condition(rule.condition, item)
            except jmespath.exceptions.JMESPathError as exc:
                self._rule_error(rule, f"evaluating the condition failed: {exc}")
                return
            if outcome is False:
                continue
            prop_path, value, exists = _pick_property(item, subpath, rule.properties)
            template = rule.message
            if rule.locate is not None:
                with tracking():
                    where = compiled(rule.locate)(item, self.functions)
                if isinstance(where, str) and where:
                    prop_path, value, exists = _pick_property(
                        subject.body, (), (_parse_path(where),)
                    )
                elif isinstance(outcome, tuple):
                    # Nothing is known to match: the unknown input the outcome hinges on
                    # is what the message and the location should name.
                    hit = _unknown_leaf(subject.body, outcome)
                    if hit is not None:
                        prop_path, value, exists = hit[0], hit[1], True
                        template = rule.unresolved_message or template
            mapped = subject.locate(prop_path)
            _, whole = mapped.source.resolve(mapped.path)
            if whole:
                line, col = mapped.source.locate(mapped.path)
            else:
                # the property is absent: point at the item, or the resource itself
                item_map = subject.locate(subpath)
                line, col = item_map.source.locate(item_map.path)
            # A value the engine computed (an assignment's implicit scope) was written
            # nowhere: it has no provenance to show, least of all "literal".
            prov = _provenance(mapped, exists, line, value) if whole or mapped.origin else ""
            message = self._message(rule, template, subject, item, prop_path, value, exists, prov)
            prop_text = _path_text(prop_path)
            if outcome is True:
                f = Finding(
                    rule_id=rule.id,
                    severity=rule.severity,
                    title=rule.info.title,
                    message=message,
                    path=mapped.source.path,
                    line=line,
                    column=col,
                    resource_type=subject.type,
                    resource_name=subject.name,
                    property=prop_text,
                    remediation=rule.info.remediation,
                    provenance=prov,
                    tags=rule.info.tags,
                    resource_key=subject.resource_key,
                )
                f.suppression = _inline_suppression(rule, subject, prop_path)
                findings.append(f)
            else:
                inputs = tuple(dict.fromkeys(u.describe() for u in outcome))
                unresolved.append(
                    Unresolved(
                        rule_id=rule.id,
                        severity=rule.severity,
                        title=rule.info.title,
                        message=f"{message} -- outcome depends on: {'; '.join(inputs)}",
                        path=mapped.source.path,
                        line=line,
                        column=col,
                        resource_type=subject.type,
                        resource_name=subject.name,
                        property=prop_text,
                        inputs=inputs,
                        resource_key=subject.resource_key,
                    )
                )

    def _condition(self, cond: Condition, item: Any) -> Outcome:
        op = cond[0]
        if op == "expr":
            with tracking() as consulted:
                result = compiled(cond[2])(item, self.functions)
            if consulted:
                return tuple(consulted)
            return _jtruthy(result)
        if op == "not":
            inner = self._condition(cond[1], item)
            return inner if isinstance(inner, tuple) else not inner
        pending: list[Unknown] = []
        for c in cond[1]:
            r = self._condition(c, item)
            if isinstance(r, tuple):
                pending.extend(r)
            elif op == "all" and not r:
                return False
            elif op == "any" and r:
                return True
        if pending:
            return tuple(pending)
        return bool(op == "all")

    def _message(
        self,
        rule: Rule,
        template: str,
        subject: Subject,
        item: Any,
        prop_path: JsonPath,
        value: Any,
        exists: bool,
        prov: str,
    ) -> str:
        shown = _show(value) if exists else "absent"
        last = next((p for p in reversed(prop_path) if isinstance(p, str)), "")
        if isinstance(value, str) and last.lower() in ("primarykey", "secondarykey"):
            shown = json.dumps(mask(value))
        since = ""
        for ipath, version in rule.introduced.items():
            if (
                not exists
                and _same_path(ipath, prop_path)
                and isinstance(subject.api_version, str)
                and not isinstance(subject.api_version, Unknown)
                and subject.api_version[:10] < version[:10]
            ):
                since = (
                    f"apiVersion {subject.api_version} predates '{ipath[-1]}', "
                    f"which API version {version} introduced"
                )
        resource = f"{subject.type} '{subject.name}'"
        if subject.kind == "template":
            resource = "the template" if subject.name == "(root)" else f"nested deployment '{subject.name}'"
        elif subject.raw_name and subject.raw_name != subject.name:
            resource = f"{subject.type} '{subject.raw_name}' (resolved: '{subject.name}')"
        values = {
            "resource": resource,
            "type": subject.type,
            "name": subject.name,
            "property": _path_text(prop_path),
            "value": shown,
            "provenance": f" ({prov})" if prov else "",
            "api_version": str(subject.api_version),
            "since": f" ({since})" if since else "",
        }
        text = template
        for placeholder, expr in rule.message_exprs.items():
            try:
                with tracking():
                    v = compiled(expr)(item, self.functions)
            except jmespath.exceptions.JMESPathError:
                v = None
            # a member of a wholly unknown item ('{parameters('endpoints')}.name') is
            # shown as the unknown it is, not as if it were the name itself
            shown = _show(v) if isinstance(item, Unknown) and isinstance(v, Unknown) else _plain(v)
            text = text.replace(placeholder, shown)
        for k, v in values.items():
            text = text.replace("{" + k + "}", v)
        if since and "{since}" not in template:
            text += f" ({since})"
        if subject.condition_note:
            text += f" [{subject.condition_note}]"
        return text

    def _rule_error(self, rule: Rule, message: str) -> None:
        if rule.id in self._reported_rule_errors:
            return
        self._reported_rule_errors.add(rule.id)
        self.problems.append(Problem(rule.info.source, 1, 1, f"rule {rule.id}: {message}"))


def reads_other_files(rule: Rule) -> bool:
    """Whether the rule's outcome on a subject can depend on files other than the
    subject's own: it is about role assignments (which the run correlates across files)
    or one of its expressions calls a function that reads the run."""
    if rule.subject_kind == "role-assignment":
        return True
    parsed = [rule.locate, *rule.message_exprs.values()]
    stack: list[Condition] = [rule.condition]
    while stack:
        cond = stack.pop()
        if cond[0] == "expr":
            parsed.append(cond[2])
        elif cond[0] == "not":
            stack.append(cond[1])
        else:
            stack.extend(cond[1])
    return any(p is not None and _calls(p.parsed, CROSS_FILE_FUNCTIONS) for p in parsed)


def _calls(node: Any, names: frozenset[str]) -> bool:
    """Whether a JMESPath syntax tree calls one of ``names``."""
    if not isinstance(node, dict):
        return False
    if node.get("type") == "function_expression" and node.get("value") in names:
        return True
    return any(_calls(child, names) for child in node.get("children", ()))


class _NoRun:
    """``state.run`` while rules that read no other file are evaluated: a function that
    reads the run anyway is missing from ``CROSS_FILE_FUNCTIONS``, which must fail
    loudly rather than answer from one file."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"a rule function read the run ({name}) but is not listed in "
                           "engine.jfunctions.CROSS_FILE_FUNCTIONS")


NO_RUN: Any = _NoRun()


def pairs(
    rules: Sequence[Rule], subjects: Sequence[Subject], part: range | None = None,
) -> Iterator[tuple[int, Rule, int, Subject]]:
    """Every (rule, subject) pair a run evaluates, in evaluation order, with indexes."""
    applicable = _Applicable(subjects, part)
    for ri, rule in enumerate(rules):
        for si, subject in applicable.to(rule):
            if subject.is_builtin and not rule.include_builtin:
                continue
            yield ri, rule, si, subject


class _Applicable:
    """Subjects grouped by kind and type, so that a rule meets only the subjects it is
    about (a 5,000-hub run need not offer every hub to every role rule)."""

    def __init__(self, subjects: Sequence[Subject], part: range | None) -> None:
        self.by_kind: dict[str, list[tuple[int, Subject]]] = {}
        self.by_type: dict[tuple[str, str], list[tuple[int, Subject]]] = {}
        for i in part if part is not None else range(len(subjects)):
            s = subjects[i]
            self.by_kind.setdefault(s.kind, []).append((i, s))
            self.by_type.setdefault((s.kind, s.type_lower), []).append((i, s))

    def to(self, rule: Rule) -> list[tuple[int, Subject]]:
        if not rule.types:
            return self.by_kind.get(rule.subject_kind, [])
        found: list[tuple[int, Subject]] = []
        for t in dict.fromkeys(rule.types):
            found.extend(self.by_type.get((rule.subject_kind, t), ()))
        if len(rule.types) > 1:
            found.sort(key=lambda pair: pair[0])
        return found


def _jtruthy(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (str, list, dict)):
        return len(v) > 0
    return True


def _items(
    body: Any, each: tuple[tuple[str, ...], ...] | None
) -> Iterator[tuple[JsonPath, Any]]:
    if each is None:
        yield (), body
        return
    for pattern in each:
        yield from _walk(body, pattern)


def _leaves(path: JsonPath, value: Any) -> list[tuple[JsonPath, Any]]:
    """Every non-null scalar (and unknown) under ``value``, in document order."""
    out: list[tuple[JsonPath, Any]] = []
    try:
        _collect_leaves(path, value, out)
    except RecursionError:
        # Expressions can nest values deeper than any file does (a chain of variables
        # each wrapping the last): the slower walk with a stack of its own.
        out = []
        stack: list[tuple[JsonPath, Any]] = [(path, value)]
        while stack:
            p, v = stack.pop()
            if isinstance(v, dict):
                stack.extend((p + (k,), c) for k, c in reversed(list(v.items())))
            elif isinstance(v, list):
                stack.extend((p + (i,), c) for i, c in reversed(list(enumerate(v))))
            elif v is not None:
                out.append((p, v))
    return out


def _collect_leaves(path: JsonPath, value: Any, out: list[tuple[JsonPath, Any]]) -> None:
    if isinstance(value, dict):
        for k, c in value.items():
            _collect_leaves((*path, k), c, out)
    elif isinstance(value, list):
        for i, c in enumerate(value):
            _collect_leaves((*path, i), c, out)
    elif value is not None:
        out.append((path, value))


def _walk(body: Any, pattern: tuple[str, ...]) -> Iterator[tuple[JsonPath, Any]]:
    frontier: list[tuple[JsonPath, Any]] = [((), body)]
    for seg in pattern:
        nxt: list[tuple[JsonPath, Any]] = []
        for path, value in frontier:
            if isinstance(value, Unknown):
                # an array or object that is not known statically may hold items the
                # rule is about: the unknown itself is the item, so the rule's outcome
                # is unresolved and names it instead of passing for want of items
                nxt.append((path, value))
            elif seg == "**":
                nxt.extend(_leaves(path, value))
            elif seg == "*":
                if isinstance(value, dict):
                    nxt.extend((path + (k,), v) for k, v in value.items())
                elif isinstance(value, list):
                    nxt.extend((path + (i,), v) for i, v in enumerate(value))
            elif isinstance(value, dict):
                key = value.ci_key(seg) if isinstance(value, CIDict) else (seg if seg in value else None)
                if key is not None:
                    nxt.append((path + (key,), value[key]))
        frontier = nxt
    for path, value in frontier:
        if value is not None:
            yield path, value


def _unknown_leaf(body: Any, unknowns: tuple[Unknown, ...]) -> tuple[JsonPath, Unknown] | None:
    """Where the body holds the first (in document order) of ``unknowns`` itself
    (identity: equal text elsewhere is another input).  One unknown can fill several
    members (a whole ``permissions`` block from a parameter fills all four lists); the
    place is then what those members share."""
    found: Unknown | None = None
    paths: list[JsonPath] = []
    for path, leaf in _leaves((), body):
        if found is None and isinstance(leaf, Unknown) and any(leaf is u for u in unknowns):
            found = leaf
        if found is not None and leaf is found:
            paths.append(path)
    if found is None:
        return None
    common = paths[0]
    for path in paths[1:]:
        n = 0
        while n < min(len(common), len(path)) and common[n] == path[n]:
            n += 1
        common = common[:n]
    return common, found


def _pick_property(
    item: Any, base: JsonPath, candidates: tuple[tuple[str, ...], ...]
) -> tuple[JsonPath, Any, bool]:
    """The first candidate property present on the item (with the item's spelling)."""
    if isinstance(item, Unknown) and candidates:
        # an item not known statically has no known properties: the item is the value
        return base, item, True
    for cand in candidates:
        cur = item
        real: list[str | int] = []
        ok = True
        for seg in cand:
            if isinstance(cur, Unknown):
                # An enclosing object not known statically may hold the property: the
                # unknown is what the message shows, not "absent".
                return base + tuple(real), cur, True
            if isinstance(cur, list) and seg.isdigit() and int(seg) < len(cur):
                real.append(int(seg))
                cur = cur[int(seg)]
                continue
            if isinstance(cur, dict):
                key = cur.ci_key(seg) if isinstance(cur, CIDict) else (seg if seg in cur else None)
                if key is None:
                    ok = False
                    break
                real.append(key)
                cur = cur[key]
            else:
                ok = False
                break
        if ok:
            return base + tuple(real), cur, True
    if candidates:
        return base + candidates[0], None, False
    return base, item, True


def _parse_path(text: str) -> tuple[str, ...]:
    """``permissions[0].actions[2]`` -> ("permissions", "0", "actions", "2")."""
    return tuple(p for p in text.replace("[", ".").replace("]", "").split(".") if p)


def _same_path(a: tuple[str, ...], b: JsonPath) -> bool:
    return len(a) == len(b) and all(
        isinstance(y, str) and x.lower() == y.lower() for x, y in zip(a, b, strict=True)
    )


def _path_text(path: JsonPath) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif out:
            out += f".{p}"
        else:
            out = p
    return out


def _show(value: Any) -> str:
    if isinstance(value, Unknown):
        return mask_keys(value.text if value.text.startswith("{") else "{" + value.text + "}")
    if isinstance(value, (dict, list)):
        text = mask_keys(json.dumps(value, default=str, ensure_ascii=False))
        return text if len(text) <= 120 else text[:117] + "..."
    return mask_keys(json.dumps(value, ensure_ascii=False))


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Unknown):
        return mask_keys(value.text)
    if isinstance(value, str):
        return mask_keys(value)
    return _show(value)


def _provenance(mapped: Mapped, exists: bool, line: int, value: Any) -> str:
    if not exists:
        return ""
    if mapped.origin is not None:
        return mapped.origin.describe()
    if isinstance(value, (dict, list)):
        return ""
    return f"literal at {mapped.source.path}:{line}"


def _inline_suppression(rule: Rule, subject: Subject, prop_path: JsonPath) -> Suppression | None:
    entries = subject.suppress
    if subject.part_suppress and len(prop_path) >= 2 and prop_path[0] == "resources":
        entries = subject.part_suppress.get(str(prop_path[1]), [])
    for entry in entries:
        if matches(rule.id, rule.info.tags, entry.rule):
            line, _ = entry.where.source.locate(entry.where.path)
            return Suppression(kind="inline", reason=entry.reason,
                               location=f"{entry.where.source.path}:{line}", expires=entry.expires)
    return None
