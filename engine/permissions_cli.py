"""``iotguard permissions FILE...``: what each role found effectively grants, and why.

Inputs are role files in every shape (``az role definition list`` arrays, single
objects, the PascalCase ``az role definition create`` input, portal
``{"properties": {...}}``), ARM templates holding ``roleDefinitions`` resources (expanded
first, with the sibling ``<name>.parameters.json`` like ``iotguard check``, so a role's
actions may come from parameters), directories of those, and built-in roles named on the
command line (``"IoT Hub Data Reader"``, a GUID, or ``builtin:Contributor``) when no such
path exists.

Bad input is reported as ``file:line:col: error: ...`` on stderr, the other inputs are
still reported, and the exit code is then 2.  A file holding no role is a warning only:
pointing the command at a mixed directory is normal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from engine import catalog
from engine.discover import discover, display_path
from engine.documents import LoadError, classify, read_source, stray_entries
from engine.model import KIND_ROLES, KIND_TEMPLATE, Document, Resource
from engine.permissions import RoleReport, build_report, report_json
from engine.rbac import RoleDefinition, looks_like_role, normalize_role, role_from_resource
from engine.source import JsonPath, SourceFile
from engine.values import Located

BUILTIN_PREFIX = "builtin:"
_ROLE_DEFINITIONS = "microsoft.authorization/roledefinitions"


@dataclass(frozen=True)
class Where:
    """A place in an input file (1-based line and column)."""

    file: str
    line: int
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column}


# Maps a permission string's path, in the role's own coordinates, to where it was written.
Locator = Callable[[JsonPath], "Where | None"]


def _no_location(_: JsonPath) -> Where | None:
    return None


@dataclass
class FoundRole:
    role: RoleDefinition
    where: Where | None  # None: the built-in role catalog
    locate: Locator = _no_location


@dataclass
class Collected:
    roles: list[FoundRole] = field(default_factory=list)
    diagnostics: list[Located] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def error(self, path: str, message: str, line: int = 0, column: int = 0) -> None:
        self.diagnostics.append(Located(path, line, column, message))

    def warning(self, path: str, message: str, line: int = 0, column: int = 0) -> None:
        self.diagnostics.append(Located(path, line, column, message, "warning"))


# ----------------------------------------------------------------------------- locating


def _file_locator(source: SourceFile) -> Callable[[JsonPath], Where]:
    def locate(path: JsonPath) -> Where:
        line, col = source.locate(path)
        return Where(source.path, line, col)

    return locate


def _resource_locator(resource: Resource) -> Callable[[JsonPath], Where]:
    def locate(path: JsonPath) -> Where:
        mapped = resource.map(path)
        origin = mapped.origin
        # A pattern that came from a parameter or variable is "written" where its value
        # is, not at the ``[parameters('x')]`` expression that pulled it in.
        if origin is not None and origin.kind != "expression" and origin.file and origin.line:
            return Where(origin.file, origin.line, origin.column)
        line, col = mapped.source.locate(mapped.path)
        return Where(mapped.source.path, line, col)

    return locate


# ----------------------------------------------------------------------------- reading


def _roles_in_document(doc: Document, out: Collected) -> list[FoundRole]:
    data = doc.data
    found: list[FoundRole] = []
    locate = _file_locator(doc.source)
    for item in doc.items:
        obj = _at(data, item)
        role, problems = normalize_role(obj, item)
        for ppath, message in problems:
            where = locate(ppath)
            out.error(where.file, message, where.line, where.column)
        if role is not None:
            found.append(FoundRole(role, locate(item), locate))
    return found


def _at(data: Any, path: JsonPath) -> Any:
    for step in path:
        data = data[step]
    return data


def _fallback_roles(source: SourceFile, data: Any, out: Collected) -> Document | None:
    """Role objects that ``classify`` does not recognise but the RBAC reader does.

    ``classify`` asks for more evidence (scopes or a description next to ``Actions``)
    because ``iotguard check`` sees every JSON file of a repository; here the user named
    the file as holding roles, so the looser RBAC test applies, and an array may mix roles
    with other values (those are skipped with a warning).
    """
    if isinstance(data, Mapping):
        return Document(KIND_ROLES, source, data, items=[()]) if looks_like_role(data) else None
    if not isinstance(data, list):
        return None
    items: list[JsonPath] = [(i,) for i, x in enumerate(data) if looks_like_role(x)]
    return Document(KIND_ROLES, source, data, items=items) if items else None


def _warn_strays(doc: Document, out: Collected) -> None:
    # The user named this file as holding roles, so other entries are worth a word but
    # not an error (``check``, a gate, makes them errors).
    for i in stray_entries(doc):
        line, col = doc.source.locate((i,))
        out.warning(doc.source.path, "not a role definition; skipped", line, col)


def _parameter_sources(abspath: str, cwd: str, out: Collected) -> list[Any]:
    """The sibling ``<stem>.parameters<ext>`` file, as ``iotguard check`` uses it."""
    stem, ext = os.path.splitext(abspath)
    sibling = f"{stem}.parameters{ext}"
    if not os.path.isfile(sibling):
        return []
    from engine.arm.expander import ParameterSource

    try:
        source, data = read_source(sibling, display_path(sibling, cwd))
    except LoadError as exc:
        out.error(exc.path, exc.message, exc.line, exc.column)
        return []
    doc = classify(source, data, as_parameters=True)
    if doc is None:
        out.error(source.path, "not a parameter file: expected a deploymentParameters.json document "
                  "or an object of {\"name\": {\"value\": ...}}", 1, 1)
        return []
    doc.abspath = sibling
    return [ParameterSource(kind="file", document=doc)]


def _roles_in_template(doc: Document, abspath: str, cwd: str, out: Collected) -> list[FoundRole]:
    from engine.arm.expander import expand

    base_dir = os.path.dirname(abspath)

    def load_template(relative: str) -> Document | Located:
        target = os.path.normpath(os.path.join(base_dir, relative))
        try:
            source, data = read_source(target, display_path(target, cwd))
        except LoadError as exc:
            return Located(exc.path, exc.line, exc.column, exc.message)
        linked = classify(source, data)
        if linked is None or linked.kind != KIND_TEMPLATE:
            return Located(source.path, 1, 1, "linked file is not an ARM template")
        linked.abspath = target
        return linked

    doc.abspath = abspath
    try:
        expansion = expand(doc, _parameter_sources(abspath, cwd, out), load_template=load_template)
    except RecursionError:
        out.error(doc.source.path, "template nesting is too deep to expand", 1, 1)
        return []
    out.diagnostics.extend(expansion.errors)
    out.diagnostics.extend(expansion.warnings)
    for nc in expansion.not_checked:
        line, col = nc.source.locate(nc.path)
        out.warning(nc.source.path, f"linked template {nc.target} not checked: {nc.reason}", line, col)
    found: list[FoundRole] = []
    for r in expansion.resources:
        # A role that is only referenced (``existing``) or whose condition is false is
        # not defined by this deployment; an unknown condition still may be.
        if r.type_lower != _ROLE_DEFINITIONS or r.existing or r.condition is False:
            continue
        locate = _resource_locator(r)
        line, col = r.source.locate(r.path)
        found.append(FoundRole(role_from_resource(r), Where(r.source.path, line, col), locate))
    return found


def _from_file(abspath: str, display: str, cwd: str, out: Collected) -> list[FoundRole] | None:
    """The roles in one file; None when the file could not be read (already reported)."""
    try:
        source, data = read_source(abspath, display)
    except LoadError as exc:
        out.error(exc.path, exc.message, exc.line, exc.column)
        return None
    doc = classify(source, data)
    if doc is None:
        doc = _fallback_roles(source, data, out)
    if doc is not None and doc.kind == KIND_ROLES:
        _warn_strays(doc, out)
        return _roles_in_document(doc, out)
    if doc is not None and doc.kind == KIND_TEMPLATE:
        return _roles_in_template(doc, abspath, cwd, out)
    return []


def _builtin(name: str) -> RoleDefinition | None:
    key = name[len(BUILTIN_PREFIX):] if name.lower().startswith(BUILTIN_PREFIX) else name
    return catalog.builtin_role(key.strip()) if key.strip() else None


def collect(paths: Sequence[str], cwd: str) -> Collected:
    """The roles named by ``paths`` in order, with located errors and warnings."""
    out = Collected()
    seen: set[str] = set()
    for given in paths:
        explicit = given.lower().startswith(BUILTIN_PREFIX)
        if explicit or not os.path.exists(os.path.join(cwd, given)):
            role = _builtin(given)
            if role is not None:
                out.roles.append(FoundRole(role, None))
            elif explicit:
                out.error(given, "no built-in role by that name or GUID")
            else:
                out.error(given, "no such file or directory, and no built-in role by that name or GUID")
            continue
        discovered = discover([given], [], cwd)
        for p in discovered.problems:
            out.error(p.path, p.message, p.line, p.column)
        is_dir = os.path.isdir(os.path.join(cwd, given))
        before = len(out.roles)
        for abspath, display in discovered.files:
            real = os.path.realpath(abspath)
            if real in seen:
                continue
            seen.add(real)
            found = _from_file(abspath, display, cwd, out)
            if found is None:
                continue
            # In a directory, parameter files and unrelated JSON are expected company;
            # only a named file without roles is worth a warning each.
            if not found and not is_dir:
                out.warning(display, "no role definition found in this file")
            out.roles.extend(found)
        if is_dir and len(out.roles) == before:
            out.warning(display_path(os.path.abspath(os.path.join(cwd, given)), cwd),
                        f"no role definition found in {len(discovered.files)} file(s) under this directory")
    return out


# ----------------------------------------------------------------------------- output


def _kind(role: RoleDefinition) -> str:
    return "built-in" if role.is_builtin else "custom"


def _source_text(found: FoundRole) -> str:
    return str(found.where) if found.where is not None else "built-in role catalog"


def render_text(found: Sequence[FoundRole], reports: Sequence[RoleReport]) -> str:
    """Per role: a heading with kind and GUID, its source, the verdict, then a table of
    granted operations with the pattern granting each and where that pattern is."""
    out: list[str] = []
    for f, rep in zip(found, reports, strict=True):
        ident = f"{_kind(rep.role)}, {rep.guid}" if rep.guid else _kind(rep.role)
        out.append(f"{rep.name}  ({ident})")
        out.append(f"  source: {_source_text(f)}")
        out.append(f"  verdict: {rep.verdict}")
        if rep.lines:
            rows = [("OPERATION", "KIND", "GRANTED BY", "NOTE")]
            for ln in rep.lines:
                at = f.locate(ln.path)
                granted = f"{ln.granted_by} ({at})" if at is not None else ln.granted_by
                rows.append((ln.operation, "dataAction" if ln.is_data_action else "action", granted,
                             "returns keys" if ln.secret_returning else ""))
            width = [max(len(r[i]) for r in rows) for i in range(3)]
            for r in rows:
                out.append(f"  {r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:<{width[2]}}  {r[3]}".rstrip())
        else:
            out.append("  (grants no Microsoft.Devices or Microsoft.DeviceUpdate operation)")
        for u in rep.unresolved:
            out.append(f"  unresolved: {u}")
        out.append("")
    return "\n".join(out)


def render_json(found: Sequence[FoundRole], reports: Sequence[RoleReport]) -> str:
    """``engine.permissions.report_json`` per role, plus where the role and each granting
    pattern were read (``null`` for the built-in catalog)."""
    rows: list[dict[str, Any]] = []
    for f, rep in zip(found, reports, strict=True):
        row = report_json(rep)
        row["kind"] = _kind(rep.role)
        row["source"] = f.where.as_json() if f.where is not None else None
        for op, ln in zip(row["operations"], rep.lines, strict=True):
            at = f.locate(ln.path)
            op["grantedAt"] = at.as_json() if at is not None else None
        rows.append(row)
    return json.dumps({"roles": rows}, indent=2, ensure_ascii=False) + "\n"


def _diagnostic(d: Located) -> str:
    where = f"{d.path}:{d.line}:{d.column}" if d.line else d.path
    return f"{where}: {d.severity}: {d.message}\n"


def run_permissions(paths: Sequence[str], fmt: str, cwd: str,
                    stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Report every role named by ``paths``; 0, or 2 when an input failed or a name was
    unknown."""
    # Resolved at call time, not as defaults, so test capture of sys.stdout applies.
    out_stream = sys.stdout if stdout is None else stdout
    err_stream = sys.stderr if stderr is None else stderr
    if fmt not in ("text", "json"):
        err_stream.write(f"iotguard: error: unknown format {fmt!r}; expected text or json\n")
        return 2
    collected = collect(paths, cwd)
    found = collected.roles
    reports = build_report([f.role for f in found])
    if fmt == "json":
        out_stream.write(render_json(found, reports))
    else:
        out_stream.write(render_text(found, reports))
    for d in collected.diagnostics:
        err_stream.write(_diagnostic(d))
    return 2 if collected.failed else 0
