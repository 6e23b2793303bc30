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
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from engine.yamlschema import YamlSyntaxError, load_yaml, mark_of, validate_all

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
        if os.path.isfile(pyproject) and _pyproject_section(pyproject) is not None:
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
        section = _pyproject_section(path)
        if section is None:
            if explicit:
                raise ConfigError(shown, 1, 1, "no [tool.iotguard] table in this pyproject.toml")
            return None
        return _build(shown, os.path.dirname(os.path.abspath(path)), section, None,
                      _toml_locator(path))
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(shown, 1, 1, f"cannot read configuration: {exc}") from None
    try:
        node, data = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ConfigError(shown, exc.line, exc.column, f"invalid YAML: {exc.problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(shown, 1, 1, "expected a mapping of settings (select, ignore, suppressions, ...)")

    def locate(path_: list[Any]) -> tuple[int, int]:
        return mark_of(node, path_) if node is not None else (1, 1)

    return _build(shown, os.path.dirname(os.path.abspath(path)), data, node, locate)


def _build(shown: str, base_dir: str, raw: dict[str, Any], node: yaml.Node | None,
           locate: Any) -> Config:
    data = _plain(raw)
    schema = json.loads((resources.files("engine") / "schemas" / "config.schema.json").read_text("utf-8"))
    problems = validate_all(node, data, schema, "configuration")
    if problems:
        first = problems[0]
        if node is None:
            # No marks (``pyproject.toml``): the first problem, at its table.
            line, col = locate(_first_error_path(data, schema))
            raise ConfigError(shown, line, col, first.message)
        problems.sort(key=lambda p: (p.line, p.column))
        first = problems[0]
        raise ConfigError(shown, first.line, first.column, first.message,
                          [(p.line, p.column, p.message) for p in problems[1:]])

    def listed(value: Any) -> list[str]:
        if value is None:
            return []
        items = [value] if isinstance(value, str) else value
        return [s.strip() for item in items for s in item.split(",") if s.strip()]

    cfg = Config(source=shown, base_dir=base_dir)
    cfg.select = listed(data.get("select"))
    cfg.ignore = listed(data.get("ignore"))
    cfg.severity = dict(data.get("severity") or {})
    cfg.fail_on = data.get("fail-on")
    cfg.rules = list(data.get("rules") or [])
    cfg.exclude = list(data.get("exclude") or [])
    for glob, files in (data.get("parameters") or {}).items():
        items = [files] if isinstance(files, str) else list(files)
        cfg.parameters[glob] = [os.path.join(base_dir, f) for f in items]
    for i, entry in enumerate(data.get("suppressions") or []):
        line, _ = locate(["suppressions", i])
        expires = None
        if entry.get("expires"):
            try:
                expires = datetime.date.fromisoformat(entry["expires"])
            except ValueError:
                eline, ecol = locate(["suppressions", i, "expires"])
                raise ConfigError(shown, eline, ecol,
                                  f"expires: {entry['expires']!r} is not a valid date (YYYY-MM-DD)") from None
        cfg.suppressions.append(ConfigSuppression(
            rule=entry["rule"], reason=entry["reason"].strip(), path=entry.get("path", ""),
            resource=entry.get("resource", ""), expires=expires, location=f"{shown}:{line}",
        ))
    return cfg


def _plain(value: Any) -> Any:
    """YAML reads ``expires: 2027-01-31`` as a date; the schema speaks strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _first_error_path(data: Any, schema: Any) -> list[Any]:
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data),
                    key=lambda e: [str(p) for p in e.absolute_path])
    return list(errors[0].absolute_path) if errors else []


def _pyproject_section(path: str) -> dict[str, Any] | None:
    import tomllib

    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    section = doc.get("tool", {}).get("iotguard")
    return section if isinstance(section, dict) else None


def _toml_locator(path: str) -> Any:
    """tomllib keeps no positions: find the key's line by text, which is enough to point
    a user at the setting (TOML keys are unique within ``[tool.iotguard]``)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        lines = []
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith("[tool.iotguard")), 0)

    def locate(path_: list[Any]) -> tuple[int, int]:
        keys = [p for p in path_ if isinstance(p, str)]
        if keys:
            for i in range(start, len(lines)):
                stripped = lines[i].lstrip()
                if stripped.startswith((keys[-1], f'"{keys[-1]}"')):
                    return i + 1, len(lines[i]) - len(stripped) + 1
        return start + 1, 1

    return locate


def _display(path: str, cwd: str) -> str:
    try:
        rel = os.path.relpath(path, cwd)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
