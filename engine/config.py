"""Project configuration: ``.iotguard.yaml`` (found upward), ``--config FILE``, or
``[tool.iotguard]`` in ``pyproject.toml``.

Validated against ``engine/schemas/config.schema.json``; a mistake is a ``ConfigError``
located at ``file:line:col`` with a hint, and the run stops with exit code 2 before any
template is read (a half-applied configuration would silently change what is checked).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from engine.findings import RuleInfo
from engine.selectors import unknown_rule_id, unknown_selector
from engine.yamlschema import NodePositions, Positions, YamlSyntaxError, load_yaml, validate_all

CONFIG_NAMES = (".iotguard.yaml", ".iotguard.yml")


class ConfigError(Exception):
    """A configuration that cannot be used; ``more`` holds further (line, column,
    message) problems of the same file, all reported together."""

    def __init__(self, path: str, line: int, column: int, message: str,
                 more: Sequence[tuple[int, int, str]] = ()) -> None:
        lines = [f"{path}:{ln}:{col}: error: {msg}" for ln, col, msg in ((line, column, message), *more)]
        super().__init__("\n".join(lines))
        self.path = path
        self.line = line
        self.column = column
        self.message = message
        self.more = list(more)


@dataclass(frozen=True)
class ConfigSuppression:
    rule: str
    reason: str
    path: str = ""  # glob; empty = every file
    resource: str = ""  # resource name glob; empty = every resource
    expires: datetime.date | None = None
    location: str = ""  # file:line of the entry, for reports


@dataclass
class Config:
    source: str  # the file it came from
    base_dir: str  # relative paths inside the config are relative to this
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)
    fail_on: str | None = None
    rules: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    parameters: dict[str, list[str]] = field(default_factory=dict)
    suppressions: list[ConfigSuppression] = field(default_factory=list)
    # Where each setting is written, for errors found after loading (unknown rule ids).
    positions: Positions | None = field(default=None, repr=False, compare=False)
    key_prefix: tuple[str, ...] = ()  # ("tool", "iotguard") in pyproject.toml
    # (setting, selector) -> where it is written: a comma-separated string holds several.
    origins: dict[tuple[str, str], tuple[Any, ...]] = field(default_factory=dict, repr=False)

    def where(self, path: Sequence[Any]) -> tuple[int, int]:
        return self.positions.value(path) if self.positions is not None else (1, 1)

    def key_path(self, path: Sequence[Any]) -> str:
        return ".".join(str(p) for p in (*self.key_prefix, *path))


def find_config(start: str) -> str | None:
    """The nearest ``.iotguard.yaml``, or a ``pyproject.toml`` with ``[tool.iotguard]``,
    from ``start`` upward; the first directory holding either wins."""
    cur = os.path.abspath(start)
    while True:
        for name in CONFIG_NAMES:
            candidate = os.path.join(cur, name)
            if os.path.isfile(candidate):
                return candidate
        pyproject = os.path.join(cur, "pyproject.toml")
        if os.path.isfile(pyproject) and _pyproject_is_ours(pyproject):
            return pyproject
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent


def load_config(cwd: str, explicit: str | None = None) -> Config | None:
    if explicit:
        path = os.path.join(cwd, explicit)
        if not os.path.isfile(path):
            raise ConfigError(explicit, 1, 1, "configuration file not found")
    else:
        found = find_config(cwd)
        if found is None:
            return None
        path = found
    shown = _display(path, cwd)
    if os.path.basename(path) == "pyproject.toml":
        section = _pyproject_section(path, shown)
        if section is None:
            if explicit:
                raise ConfigError(shown, 1, 1, "no [tool.iotguard] table in this pyproject.toml")
            return None
        return _build(shown, os.path.dirname(os.path.abspath(path)), section,
                      TomlPositions(path, ("tool", "iotguard")), ("tool", "iotguard"))
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, 1, 1, f"cannot read configuration: {exc}") from None
    try:
        node, data = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ConfigError(shown, exc.line, exc.column, f"invalid YAML: {exc.problem}",
                          [(ln, col, f"invalid YAML: {msg}") for ln, col, msg in exc.more]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(shown, 1, 1, "expected a mapping of settings (select, ignore, suppressions, ...)")

    positions = NodePositions(node) if node is not None else None
    return _build(shown, os.path.dirname(os.path.abspath(path)), data, positions, ())


def _raise_all(shown: str, problems: list[tuple[int, int, str]]) -> None:
    if problems:
        problems = sorted(problems, key=lambda p: (p[0], p[1]))
        (line, col, message), *more = problems
        raise ConfigError(shown, line, col, message, more)


def _build(shown: str, base_dir: str, raw: dict[str, Any], positions: Positions | None,
           prefix: tuple[str, ...]) -> Config:
    data = _plain(raw)
    schema = json.loads((resources.files("engine") / "schemas" / "config.schema.json").read_text("utf-8"))
    cfg = Config(source=shown, base_dir=base_dir, positions=positions, key_prefix=prefix)
    locate = cfg.where
    # Every problem the file alone shows is reported at once: schema errors, rule
    # directories that are missing, dates that do not parse (each checked where its
    # value has the expected type, so that one mistake does not hide the others).
    problems = [(p.line, p.column, p.message)
                for p in validate_all(positions, data, schema, "configuration", prefix)]
    rules = data.get("rules")
    for i, d in enumerate(rules if isinstance(rules, list) else ()):
        if isinstance(d, str) and not os.path.isdir(os.path.join(base_dir, d)):
            line, col = locate(["rules", i])
            what = "is not a directory" if os.path.exists(os.path.join(base_dir, d)) else "does not exist"
            problems.append((line, col, f"{cfg.key_path(['rules', i])}: rule directory {d!r} {what} "
                             "(expected a directory of rule files, relative to this file)"))
    expiry: dict[int, datetime.date] = {}
    entries = data.get("suppressions")
    for i, entry in enumerate(entries if isinstance(entries, list) else ()):
        text = entry.get("expires") if isinstance(entry, dict) else None
        # Other shapes are the schema's to report ('next June').
        if isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                expiry[i] = datetime.date.fromisoformat(text)
            except ValueError:
                line, col = locate(["suppressions", i, "expires"])
                problems.append((line, col, f"{cfg.key_path(['suppressions', i, 'expires'])}: "
                                 f"{text!r} is not a valid date (expected a date YYYY-MM-DD)"))
    _raise_all(shown, problems)

    def listed(key: str) -> list[str]:
        value = data.get(key)
        if value is None:
            return []
        items = [(value, (key,))] if isinstance(value, str) else [(v, (key, i)) for i, v in enumerate(value)]
        out = []
        for item, at in items:
            for s in item.split(","):
                if s.strip():
                    out.append(s.strip())
                    cfg.origins.setdefault((key, s.strip()), at)
        return out

    cfg.select = listed("select")
    cfg.ignore = listed("ignore")
    cfg.severity = dict(data.get("severity") or {})
    cfg.fail_on = data.get("fail-on")
    cfg.rules = list(data.get("rules") or [])
    cfg.exclude = list(data.get("exclude") or [])
    for glob, files in (data.get("parameters") or {}).items():
        items = [files] if isinstance(files, str) else list(files)
        cfg.parameters[glob] = [os.path.join(base_dir, f) for f in items]
    for i, entry in enumerate(data.get("suppressions") or []):
        line, _ = locate(["suppressions", i])
        cfg.suppressions.append(ConfigSuppression(
            rule=entry["rule"], reason=entry["reason"].strip(), path=entry.get("path", ""),
            resource=entry.get("resource", ""), expires=expiry.get(i), location=f"{shown}:{line}",
        ))
    return cfg


def check_rule_names(config: Config, rules: Sequence[RuleInfo]) -> None:
    """Every rule id, tag and prefix the configuration names must exist in the loaded
    pack; all that do not are reported at once, each where it is written."""
    problems: list[tuple[int, int, str]] = []

    def report(path: Sequence[Any], message: str, at_key: bool = False) -> None:
        if config.positions is None:
            line, col = 1, 1
        elif at_key:
            line, col = config.positions.key(path[:-1], str(path[-1]))
        else:
            line, col = config.positions.value(path)
        problems.append((line, col, f"{config.key_path(path)}: {message}"))

    for key, selectors in (("select", config.select), ("ignore", config.ignore)):
        for sel in selectors:
            why = unknown_selector(sel, rules)
            if why:
                report(config.origins.get((key, sel), (key,)), why)
    first_spelling: dict[str, str] = {}
    for rule_id in config.severity:
        why = unknown_rule_id(rule_id, rules)
        if why:
            report(("severity", rule_id), why, at_key=True)
        elif rule_id.lower() in first_spelling:
            # ids are case-insensitive: two spellings would silently let one override win
            report(("severity", rule_id), f"the same rule as '{first_spelling[rule_id.lower()]}' "
                   "(rule ids are case-insensitive); give it one severity", at_key=True)
        else:
            first_spelling[rule_id.lower()] = rule_id
    for i, entry in enumerate(config.suppressions):
        why = unknown_selector(entry.rule, rules)
        if why:
            report(("suppressions", i, "rule"), why)
    _raise_all(config.source, problems)


def _plain(value: Any) -> Any:
    """YAML reads ``expires: 2027-01-31`` as a date; the schema speaks strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _pyproject_is_ours(path: str) -> bool:
    """Whether discovery should use this ``pyproject.toml``: it has a ``[tool.iotguard]``
    table, or it cannot be parsed yet mentions iotguard (then its error must be shown: a
    broken configuration must not silently turn into no configuration)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return False
    if b"iotguard" not in raw:
        return False
    import tomllib

    try:
        tool = tomllib.loads(raw.decode("utf-8-sig")).get("tool")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return True
    return isinstance(tool, dict) and "iotguard" in tool


def _pyproject_section(path: str, shown: str) -> dict[str, Any] | None:
    import tomllib

    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(shown, 1, 1, f"cannot read configuration: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(shown, 1, 1, f"cannot read configuration: not UTF-8 ({exc.reason})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib (before 3.14) only puts the position in the message.
        message = str(exc)
        at = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if at:
            line, col, message = int(at.group(1)), int(at.group(2)), message[:at.start()]
        else:
            end = message.endswith("(at end of document)")
            line, col = (text.count("\n") + 1, 1) if end else (1, 1)
            message = message.removesuffix(" (at end of document)")
        raise ConfigError(shown, line, col, f"invalid TOML: {message}") from None
    tool = doc.get("tool")
    section = tool.get("iotguard") if isinstance(tool, dict) else None
    if section is not None and not isinstance(section, dict):
        raise ConfigError(shown, *TomlPositions(path, ("tool",)).value(["iotguard"]),
                          "tool.iotguard: expected a table of settings (select, ignore, suppressions, ...)")
    return section


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _toml_key(part: str) -> str:
    part = part.strip()
    return part[1:-1] if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'" else part


class TomlPositions:
    """tomllib keeps no positions: a line scan good enough to point a user at a setting.

    Finds the table header (``[tool.iotguard.severity]``, the n-th
    ``[[tool.iotguard.suppressions]]``) nearest to the path, then the key within it, then
    any inline tables, arrays and dotted keys on the way; what it cannot find it answers
    with the closest position found so far."""

    def __init__(self, path: str, root: tuple[str, ...]) -> None:
        try:
            with open(path, encoding="utf-8-sig") as fh:
                self.text = fh.read()
        except (OSError, UnicodeDecodeError):
            self.text = ""
        self.root = root
        self.lines = self.text.splitlines(keepends=True)
        self.starts = [0]
        for ln in self.lines:
            self.starts.append(self.starts[-1] + len(ln))
        # (table path with array indexes, offset of the header, offset where its body ends)
        self.tables: list[tuple[tuple[Any, ...], int, int]] = []
        counts: dict[tuple[str, ...], int] = {}
        headers: list[tuple[tuple[Any, ...], int]] = []
        for i, ln in enumerate(self.lines):
            m = _HEADER.match(ln)
            if not m or ln.lstrip().startswith("#"):
                continue
            keys = tuple(_toml_key(k) for k in _split_dotted(m.group(2)))
            if m.group(1) == "[[":
                n = counts.get(keys, 0)
                counts[keys] = n + 1
                headers.append(((*keys, n), self.starts[i]))
            else:
                headers.append((keys, self.starts[i]))
        for j, (keys, start) in enumerate(headers):
            end = headers[j + 1][1] if j + 1 < len(headers) else len(self.text)
            self.tables.append((keys, start, end))

    def _line_col(self, offset: int) -> tuple[int, int]:
        import bisect

        i = max(0, bisect.bisect_right(self.starts, offset) - 1)
        return i + 1, offset - self.starts[i] + 1

    def value(self, path: Sequence[Any]) -> tuple[int, int]:
        full = (*self.root, *path)
        best: tuple[tuple[Any, ...], int, int] | None = None
        for table in self.tables:
            keys = table[0]
            if full[:len(keys)] == keys and (best is None or len(keys) > len(best[0])):
                best = table
        if best is None:
            return (1, 1)
        keys, start, end = best
        pos = start
        for step in full[len(keys):]:
            found = self._step(step, pos, end, first=pos == start)
            if found is None:
                break
            pos = found
        return self._line_col(pos)

    def key(self, path: Sequence[Any], key: str) -> tuple[int, int]:
        return self.value([*path, key])

    def _step(self, step: Any, pos: int, end: int, first: bool) -> int | None:
        if isinstance(step, int):
            return _element(self.text, pos, end, step)
        name = re.escape(str(step))
        # The first key of a table body starts a line; later ones follow '{', ',' or '.'.
        lead = r"(?m)^[ \t]*" if first else r"(?:(?<=[{,.\s]))"
        m = re.compile(lead + rf"(?:\"{name}\"|'{name}'|{name})[ \t]*[=.]").search(self.text, pos, end)
        if m is None:
            return None
        return m.start() + len(m.group(0)) - len(m.group(0).lstrip())


def _split_dotted(name: str) -> list[str]:
    parts, cur, quote = [], "", ""
    for ch in name:
        if quote:
            cur += ch
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            cur += ch
        elif ch == ".":
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _element(text: str, pos: int, end: int, index: int) -> int | None:
    """Offset of element ``index`` of the first array after ``pos``."""
    open_at = text.find("[", pos, end)
    if open_at < 0:
        return None
    depth, count, expecting, i = 0, -1, False, open_at
    while i < end:
        ch = text[i]
        if ch == "#":
            nl = text.find("\n", i, end)
            i = end if nl < 0 else nl
            continue
        if depth == 1 and expecting and not ch.isspace() and ch not in ",]":
            count += 1
            expecting = False
            if count == index:
                return i
        if ch in "\"'":
            close = text.find(ch, i + 1, end)
            i = end if close < 0 else close + 1
            continue
        if ch in "[{":
            depth += 1
            if depth == 1:
                expecting = True
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return None
        elif ch == "," and depth == 1:
            expecting = True
        i += 1
    return None


def _display(path: str, cwd: str) -> str:
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
