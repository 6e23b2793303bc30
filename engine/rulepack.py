"""Loading, validating and compiling the YAML rule pack.

Rule files are validated against ``engine/schemas/rule.schema.json`` (also usable by
editors); unknown keys, bad severities, JMESPath syntax errors and duplicate ids are
reported with file:line:column.  A validated pack is cached by content hash so that a
pre-commit run does not pay for YAML parsing and schema validation every time.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jmespath
import jmespath.exceptions
import jmespath.parser

from engine import __version__
from engine.findings import RuleInfo

CACHE_FORMAT = 2


class RuleError(Exception):
    """A rule file that cannot be used.  ``more`` holds the problems of the pack's other
    files (or further ones of this file), so one run reports them all."""

    def __init__(self, path: str, line: int, column: int, message: str,
                 more: Sequence[RuleError] = ()) -> None:
        super().__init__(f"{path}:{line}:{column}: {message}")
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        self.more = list(more)

    def all(self) -> list[RuleError]:
        return [self, *self.more]


# A compiled condition: ("expr", source, parsed) | ("all", [..]) | ("any", [..]) | ("not", c)
Condition = tuple[Any, ...]


@dataclass
class Rule:
    info: RuleInfo
    subject_kind: str
    types: tuple[str, ...]  # lower-cased resource types (kind: resource)
    include_builtin: bool
    message: str
    condition: Condition
    # The message of an unresolved result placed at the unknown input it hinges on
    # (``locate`` found nothing to point at); "" for ``message``.
    unresolved_message: str = ""
    each: tuple[tuple[str, ...], ...] | None = None
    locate: jmespath.parser.ParsedResult | None = None
    match: re.Pattern[str] | None = None
    properties: tuple[tuple[str, ...], ...] = ()
    introduced: dict[tuple[str, ...], str] = field(default_factory=dict)
    message_exprs: dict[str, jmespath.parser.ParsedResult] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def severity(self) -> str:
        return self.info.severity


def split_path(text: str) -> tuple[str, ...]:
    """``properties.storageEndpoints."$default".connectionString`` -> its segments."""
    out: list[str] = []
    buf = ""
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            out.append(buf)
            buf = ""
        else:
            buf += ch
    out.append(buf)
    return tuple(p for p in out if p)


def bundled_rules_dir() -> Path:
    """The rule pack shipped inside the package (``engine/rules``), falling back to the
    repository's ``rules/`` when running from a source checkout."""
    packaged = Path(str(resources.files("engine"))) / "rules"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "rules"


def is_bundled(source: str) -> bool:
    """Whether a rule was loaded from ``source`` in the bundled pack (whose rules have
    pages under docs/rules/), not from a user's rule directory."""
    if not source:
        return False
    try:
        return Path(source).resolve().parent == bundled_rules_dir().resolve()
    except OSError:
        return False


def _rule_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise RuleError(str(directory), 1, 1, "rule directory does not exist")
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def _cache_path(digest: str) -> Path | None:
    base = os.environ.get("IOTGUARD_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    if os.environ.get("IOTGUARD_CACHE_DIR"):
        return root / f"rules-{digest}.pickle"
    return root / "iotguard" / f"rules-{digest}.pickle"


def load_rules(directories: Sequence[Path]) -> list[Rule]:
    """Load every rule file of ``directories`` (in order), validated and compiled.

    Raises ``RuleError`` naming the first problem of every file that has one (``more``);
    duplicate ids across directories are errors too.
    """
    files: list[Path] = []
    for d in directories:
        files.extend(_rule_files(d))
    blobs = [(str(f), f.read_bytes()) for f in files]
    h = hashlib.sha256(f"{CACHE_FORMAT}|{__version__}|{jmespath.__version__}".encode())
    for name, blob in blobs:
        h.update(name.encode() + b"\0" + hashlib.sha256(blob).digest())
    digest = h.hexdigest()[:40]
    cached = _read_cache(digest)
    if cached is not None:
        return cached
    rules = _compile_all(blobs)
    _write_cache(digest, rules)
    return rules


def _read_cache(digest: str) -> list[Rule] | None:
    if os.environ.get("IOTGUARD_NO_CACHE"):
        return None
    path = _cache_path(digest)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        if isinstance(data, list) and all(isinstance(r, Rule) for r in data):
            return data
    except Exception:
        return None
    return None


def _write_cache(digest: str, rules: list[Rule]) -> None:
    if os.environ.get("IOTGUARD_NO_CACHE"):
        return
    path = _cache_path(digest)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(rules, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except Exception:
        return


def _compile_all(blobs: list[tuple[str, bytes]]) -> list[Rule]:
    rules: list[Rule] = []
    problems: list[RuleError] = []
    seen: dict[str, tuple[str, int]] = {}
    for name, blob in blobs:
        try:
            rule, id_line = compile_rule_text(name, blob.decode("utf-8", errors="replace"))
        except RuleError as exc:
            problems.extend(exc.all())
            continue
        if rule.id in seen:
            other, other_line = seen[rule.id]
            problems.append(RuleError(
                name, id_line, 1, f"duplicate rule id {rule.id} (also in {other}:{other_line})"))
            continue
        seen[rule.id] = (name, id_line)
        rules.append(rule)
    if problems:
        raise RuleError(problems[0].path, problems[0].line, problems[0].column,
                        problems[0].message, problems[1:])
    rules.sort(key=lambda r: r.id)
    return rules


def _schema() -> Any:
    text = (resources.files("engine") / "schemas" / "rule.schema.json").read_text("utf-8")
    import json

    return json.loads(text)






def compile_rule_text(name: str, text: str) -> tuple[Rule, int]:
    """Validate and compile one rule file; returns the rule and the line of its id."""
    # Imported here: a run that finds the compiled pack in the cache never parses YAML.
    from engine.yamlschema import YamlSyntaxError, load_yaml, mark_of, validate

    try:
        node, data = load_yaml(text)
    except YamlSyntaxError as exc:
        more = [RuleError(name, ln, col, f"invalid YAML: {msg}") for ln, col, msg in exc.more]
        raise RuleError(name, exc.line, exc.column, f"invalid YAML: {exc.problem}", more) from None
    if node is None or not isinstance(data, dict):
        raise RuleError(name, 1, 1, "expected a mapping with the rule's keys")

    problem = validate(node, data, _schema(), "rule")
    if problem is not None:
        raise RuleError(name, problem.line, problem.column, problem.message)

    def compile_expr(src: str, ypath: list[Any]) -> jmespath.parser.ParsedResult:
        try:
            parsed = jmespath.compile(src)
            problem = _function_problem(parsed.parsed)
            if problem:
                line, col = mark_of(node, ypath)
                raise RuleError(name, line, col, f"in '{src}': {problem}")
            return parsed
        except jmespath.exceptions.ParseError as exc:
            line, col = mark_of(node, ypath)
            raise RuleError(
                name, line, col, f"JMESPath syntax error in '{src}': {exc.msg} at offset {exc.lex_position}"
            ) from None
        except jmespath.exceptions.JMESPathError as exc:
            line, col = mark_of(node, ypath)
            raise RuleError(name, line, col, f"invalid JMESPath '{src}': {exc}") from None

    def compile_cond(c: Any, ypath: list[Any]) -> Condition:
        if isinstance(c, str):
            return ("expr", c, compile_expr(c, ypath))
        (op, arg), = c.items()
        if op == "not":
            return ("not", compile_cond(arg, ypath + ["not"]))
        return (op, tuple(compile_cond(x, ypath + [op, i]) for i, x in enumerate(arg)))

    condition = compile_cond(data["condition"], ["condition"])
    message = data["message"]
    match = None
    if "match" in data:
        try:
            match = re.compile(data["match"], re.I)
        except re.error as exc:
            line, col = mark_of(node, ["match"])
            raise RuleError(name, line, col, f"invalid regular expression in 'match': {exc}") from None

    message_exprs: dict[str, jmespath.parser.ParsedResult] = {}
    unresolved_message = data.get("unresolved-message", "")
    for key, text in (("message", message), ("unresolved-message", unresolved_message)):
        for m in re.finditer(r"\{\$\s*([^}]*)\}", text):
            message_exprs[m.group(0)] = compile_expr(m.group(1), [key])
        # A "{" that opens no complete placeholder ("{resource", "{$ x") prints as written.
        rest = re.sub(r"\{\$\s*[^}]*\}|\{[A-Za-z_][A-Za-z0-9_]*\}", "", text)
        unclosed = re.search(r"\{[$A-Za-z_]", rest)
        if unclosed:
            line, col = mark_of(node, [key])
            raise RuleError(name, line, col, (
                f"unclosed placeholder '{rest[unclosed.start():unclosed.start() + 20]}' in {key}; "
                "expected {name} or {$ <JMESPath>}"))
        for m in re.finditer(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", text):
            if m.group(1) not in MESSAGE_PLACEHOLDERS:
                line, col = mark_of(node, [key])
                raise RuleError(name, line, col, (
                    f"unknown placeholder {{{m.group(1)}}} in {key}; expected one of "
                    + ", ".join("{" + p + "}" for p in MESSAGE_PLACEHOLDERS) + " or {$ <JMESPath>}"))

    subject = data["subject"]
    types = subject.get("type", ())
    if isinstance(types, str):
        types = (types,)
    if subject["kind"] == "resource" and not types:
        line, col = mark_of(node, ["subject"])
        raise RuleError(name, line, col, "subject: kind 'resource' needs a 'type'")
    props = data.get("property", ())
    if isinstance(props, str):
        props = (props,)
    info = RuleInfo(
        id=data["id"],
        title=data["title"],
        severity=data["severity"],
        description=data["description"].strip(),
        rationale=data["rationale"].strip(),
        remediation=data["remediation"].strip(),
        references=tuple(data["references"]),
        tags=tuple(data.get("tags", ())),
        subject=_subject_text(subject),
        bicep=data.get("bicep", "").strip(),
        policy=data.get("policy", "").strip(),
        source=name,
    )
    rule = Rule(
        info=info,
        subject_kind=subject["kind"],
        types=tuple(t.lower() for t in types),
        include_builtin=bool(subject.get("include-builtin", False)),
        message=message.strip(),
        unresolved_message=unresolved_message.strip(),
        condition=condition,
        each=_each(data.get("each")),
        locate=compile_expr(data["locate"], ["locate"]) if "locate" in data else None,
        match=match,
        properties=tuple(split_path(p) for p in props),
        introduced={split_path(k): v for k, v in data.get("introduced", {}).items()},
        message_exprs=message_exprs,
    )
    return rule, mark_of(node, ["id"])[0]


# What ``engine.evaluate`` substitutes in a message (besides ``{$ <JMESPath>}``).
MESSAGE_PLACEHOLDERS = ("resource", "type", "name", "property", "value", "provenance",
                        "api_version", "since")


def _function_problem(ast: Any) -> str:
    """The first call in a parsed JMESPath expression to a function the rule language
    does not have, or with the wrong number of arguments; "" when every call is sound.
    Checked at load so that a typo fails the pack, not one subject at run time."""
    from engine.jfunctions import RuleFunctions

    table: dict[str, Any] = RuleFunctions.FUNCTION_TABLE
    stack = [ast]
    while stack:
        n = stack.pop()
        if not isinstance(n, dict):
            continue
        if n.get("type") == "function_expression":
            fname = n.get("value")
            args = n.get("children", [])
            spec = table.get(fname) if isinstance(fname, str) else None
            if spec is None:
                close = difflib.get_close_matches(str(fname), list(table), n=1)
                hint = f" (did you mean {close[0]}()?)" if close else ""
                return f"unknown function {fname}(){hint}"
            sig = spec["signature"]
            variadic = bool(sig) and bool(sig[-1].get("variadic"))
            if (variadic and len(args) < len(sig)) or (not variadic and len(args) != len(sig)):
                want = f"at least {len(sig)}" if variadic else str(len(sig))
                return f"{fname}() takes {want} argument{'s' if want != '1' else ''}, got {len(args)}"
        stack.extend(n.get("children", ()))
    return ""


def _each(value: Any) -> tuple[tuple[str, ...], ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    return tuple(split_path(v) for v in items)






def _subject_text(subject: dict[str, Any]) -> str:
    kind = subject["kind"]
    if kind == "resource":
        t = subject.get("type", ())
        return ", ".join([t] if isinstance(t, str) else t)
    return {
        "role-definition": "custom role definitions",
        "role-assignment": "Microsoft.Authorization/roleAssignments",
        "template": "whole templates (parameters, variables, outputs)",
    }[kind]
