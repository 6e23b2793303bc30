"""JSON Schema validation of YAML documents with errors located at the offending node.

Rule files and ``.iotguard.yaml`` share this: a schema mistake is reported as
``file:line:col`` of the key or value at fault, with a hint for misspelt keys.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import yaml


class YamlSyntaxError(Exception):
    """A YAML text that cannot be used; ``more`` holds further (line, column, problem)
    of the same kind (every duplicate key, not just the first)."""

    def __init__(self, line: int, column: int, problem: str,
                 more: Sequence[tuple[int, int, str]] = ()) -> None:
        super().__init__(problem)
        self.line = line
        self.column = column
        self.problem = problem
        self.more = list(more)


def load_yaml(text: str) -> tuple[yaml.Node | None, Any]:
    """The composed node tree (for positions) and the plain data of a YAML text."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)
        dups = [(key.start_mark.line + 1, key.start_mark.column + 1,
                 f"duplicate key '{key.value}' (first at line {first.start_mark.line + 1}); "
                 "YAML would keep only the last, silently dropping the first")
                for key, first in _duplicate_keys(node)]
        if dups:
            raise YamlSyntaxError(*dups[0], more=dups[1:])
        try:
            return node, yaml.load(text, Loader=loader)
        except ValueError as exc:
            # A date-shaped scalar that is no date (``expires: 2025-13-45``): PyYAML
            # refuses it while constructing, after the syntax was accepted.
            bad = _first_bad_timestamp(node)
            line, col = (bad.start_mark.line + 1, bad.start_mark.column + 1) if bad else (1, 1)
            shown = f" '{bad.value}'" if bad else ""
            raise YamlSyntaxError(line, col, f"invalid date{shown} ({exc}); expected YYYY-MM-DD") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        col = mark.column + 1 if mark is not None else 1
        raise YamlSyntaxError(line, col, getattr(exc, "problem", None) or str(exc)) from None


def _duplicate_keys(node: yaml.Node | None) -> list[tuple[yaml.ScalarNode, yaml.ScalarNode]]:
    """Every repeated key of any mapping (the repeat, the original), in file order."""
    found: list[tuple[yaml.ScalarNode, yaml.ScalarNode]] = []
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        if isinstance(n, yaml.MappingNode):
            seen: dict[str, yaml.ScalarNode] = {}
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                    if k.value in seen:
                        found.append((k, seen[k.value]))
                    else:
                        seen[k.value] = k
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return sorted(found, key=lambda d: (d[0].start_mark.line, d[0].start_mark.column))


def _first_bad_timestamp(node: yaml.Node | None) -> yaml.ScalarNode | None:
    import datetime

    stack = [node] if node is not None else []
    while stack:
        n = stack.pop(0)
        if isinstance(n, yaml.ScalarNode):
            if n.tag == "tag:yaml.org,2002:timestamp":
                try:
                    datetime.date.fromisoformat(str(n.value)[:10])
                except ValueError:
                    return n
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.extend((k, v))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return None


@dataclass(frozen=True)
class SchemaProblem:
    line: int
    column: int
    message: str


def mark_of(node: yaml.Node, path: Sequence[Any]) -> tuple[int, int]:
    """1-based line/column of the YAML node at ``path`` (or its closest ancestor)."""
    cur = node
    for step in path:
        nxt = _child(cur, step)
        if nxt is None:
            break
        cur = nxt
    return cur.start_mark.line + 1, cur.start_mark.column + 1


def key_mark(node: yaml.Node, key: str) -> tuple[int, int]:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k.start_mark.line + 1, k.start_mark.column + 1
    return node.start_mark.line + 1, node.start_mark.column + 1


def descend(node: yaml.Node, step: Any) -> yaml.Node:
    return _child(node, step) or node


def _child(node: yaml.Node, step: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(step):
                found: yaml.Node = v
                return found
    elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
        child: yaml.Node = node.value[step]
        return child
    return None


def short_message(err: Any) -> str:
    if err.validator in ("anyOf", "oneOf", "type"):
        # "5 is not valid under any of the given schemas" names no remedy; the
        # alternatives' types usually do.
        kinds = ([err.validator_value] if err.validator == "type"
                 else [sub.get("type") for sub in err.validator_value if isinstance(sub, dict)])
        if kinds and all(isinstance(k, str) for k in kinds) and not isinstance(err.instance, dict):
            names = ["mapping" if k == "object" else str(k) for k in kinds]
            import jsonschema

            checker = jsonschema.Draft202012Validator.TYPE_CHECKER  # the schema's own type names
            got = next((t for t in ("boolean", "integer", "number", "string", "array", "null")
                        if checker.is_type(err.instance, t)), type(err.instance).__name__)
            return f"expected {' or '.join(dict.fromkeys(names))}, got {got}"
    if err.validator == "pattern":
        # A regular expression is no explanation: schemas say in words what they expect.
        expected = err.schema.get("x-expected") if isinstance(err.schema, dict) else None
        if expected:
            return f"{err.instance!r} is not {expected}"
    if err.validator == "enum":
        return f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    if err.validator == "required":
        return str(err.message).replace("is a required property", "is required")
    if err.validator == "oneOf" and isinstance(err.instance, dict):
        return (
            "expected a JMESPath string or a mapping with exactly one of 'all', 'any', 'not'"
            if set(err.instance) - {"kind", "type", "include-builtin"}
            else str(err.message)
        )
    return str(err.message)


class Positions(Protocol):
    """Where a value (or a mapping's key) is written in the source, 1-based."""

    def value(self, path: Sequence[Any]) -> tuple[int, int]: ...

    def key(self, path: Sequence[Any], key: str) -> tuple[int, int]: ...


class NodePositions:
    """Positions from a composed YAML node tree."""

    def __init__(self, node: yaml.Node) -> None:
        self.node = node

    def value(self, path: Sequence[Any]) -> tuple[int, int]:
        return mark_of(self.node, path)

    def key(self, path: Sequence[Any], key: str) -> tuple[int, int]:
        parent = self.node
        for step in path:
            parent = descend(parent, step)
        return key_mark(parent, key)


def validate(node: yaml.Node | None, data: Any, schema: Any, what: str = "document") -> SchemaProblem | None:
    """The first schema violation of ``data`` (composed as ``node``), located, or None."""
    found = validate_all(node, data, schema, what)
    return found[0] if found else None


def validate_all(
    where: yaml.Node | Positions | None, data: Any, schema: Any, what: str = "document",
    prefix: Sequence[str] = (),
) -> list[SchemaProblem]:
    """Every schema violation of ``data``, located, one per place and message, in
    document-path order: a user fixing a configuration should see all of them at once.
    ``prefix`` is prepended to the key paths named in messages (``tool.iotguard``)."""
    import jsonschema

    positions = NodePositions(where) if isinstance(where, yaml.Node) else where
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    out: list[SchemaProblem] = []
    for err in errors:
        problem = _problem(positions, _narrowed(err, validator), what, list(prefix))
        if problem not in out:
            out.append(problem)
    return out


def _narrowed(err: Any, validator: Any) -> Any:
    """For an anyOf/oneOf error where one alternative has the value's type, the error
    inside that alternative: ``[p.json, 3]`` against "a string or an array of strings" is
    wrong at item 1, not for being an array."""
    while err.validator in ("anyOf", "oneOf") and err.context:
        alts = err.validator_value
        fitting = {i for i, alt in enumerate(alts)
                   if isinstance(alt, dict) and isinstance(alt.get("type"), str)
                   and validator.is_type(err.instance, alt["type"])}
        if len(fitting) != 1:
            break
        (i,) = fitting
        inner = [e for e in err.context if e.relative_schema_path and e.relative_schema_path[0] == i]
        if not inner:
            break
        err = max(inner, key=lambda e: len(e.absolute_path))
    return err


def _problem(positions: Positions | None, err: Any, what: str, prefix: list[str]) -> SchemaProblem:
    path = list(err.absolute_path)
    named = ".".join(str(p) for p in (*prefix, *path))
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in known]
        if extra:
            line, col = positions.key(path, str(extra[0])) if positions else (1, 1)
            guess = difflib.get_close_matches(str(extra[0]), known, n=1)
            hint = f"; did you mean '{guess[0]}'?" if guess else f"; expected one of: {', '.join(known)}"
            return SchemaProblem(line, col, f"{named + ': ' if named else ''}unknown key '{extra[0]}'{hint}")
    line, col = positions.value(path) if positions else (1, 1)
    return SchemaProblem(line, col, f"{named or what}: {short_message(err)}")
