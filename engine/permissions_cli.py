"""``iotguard permissions FILE...``: what each role found effectively grants, and why.

Inputs are role files in every shape, ARM templates holding ``roleDefinitions``
resources (expanded first, so a role's actions may come from parameters), and built-in
roles named on the command line (``"IoT Hub Data Reader"`` or a GUID) when no such path
exists.  Bad input is reported with its location and the other inputs are still shown;
the exit code is then 2.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from engine.discover import discover
from engine.documents import LoadError, classify, read_source
from engine.model import KIND_ROLES, KIND_TEMPLATE
from engine.rbac import RoleDefinition


@dataclass
class FoundRole:
    role: RoleDefinition
    where: str  # file:line of the role, or "built-in catalog"


def _from_file(abspath: str, display: str, errors: list[str], notes: list[str]) -> list[FoundRole]:
    from engine.rbac import normalize_role

    try:
        source, data = read_source(abspath, display)
    except LoadError as exc:
        errors.append(f"{exc.path}:{exc.line}:{exc.column}: error: {exc.message}")
        return []
    doc = classify(source, data)
    found: list[FoundRole] = []
    if doc is not None and doc.kind == KIND_ROLES:
        for item in doc.items:
            obj = data
            for step in item:
                obj = obj[step]
            role, problems = normalize_role(obj, item)
            for ppath, message in problems:
                line, col = source.locate(ppath)
                errors.append(f"{display}:{line}:{col}: error: {message}")
            if role is not None:
                line, _ = source.locate(item)
                found.append(FoundRole(role, f"{display}:{line}"))
    elif doc is not None and doc.kind == KIND_TEMPLATE:
        from engine.arm.expander import expand
        from engine.rbac import role_from_resource

        expansion = expand(doc)
        for e in expansion.errors:
            errors.append(f"{e.path}:{e.line}:{e.column}: error: {e.message}")
        for r in expansion.resources:
            if r.type.lower() == "microsoft.authorization/roledefinitions" and not r.existing \
                    and r.condition is not False:
                line, _ = r.source.locate(r.path)
                found.append(FoundRole(role_from_resource(r), f"{r.source.path}:{line}"))
    if not found:
        notes.append(f"{display}: no role definition found")
    return found


def collect(paths: Sequence[str], cwd: str) -> tuple[list[FoundRole], list[str], list[str]]:
    """The roles named by ``paths``, with located errors and notes."""
    from engine import catalog

    roles: list[FoundRole] = []
    errors: list[str] = []
    notes: list[str] = []
    for given in paths:
        if not os.path.exists(os.path.join(cwd, given)):
            builtin = catalog.builtin_role(given)
            if builtin is not None:
                roles.append(FoundRole(builtin, "built-in catalog"))
            else:
                errors.append(f"{given}: error: no such file, and no built-in role by that name or GUID")
            continue
        found = discover([given], [], cwd)
        for p in found.problems:
            errors.append(f"{p.path}: error: {p.message}")
        for abspath, display in found.files:
            roles.extend(_from_file(abspath, display, errors, notes))
    return roles, errors, notes


def run_permissions(paths: Sequence[str], fmt: str, cwd: str) -> int:
    from engine.permissions import build_report, render_text, report_json

    found, errors, notes = collect(paths, cwd)
    reports = build_report([f.role for f in found])
    if fmt == "json":
        rows = []
        for f, rep in zip(found, reports, strict=True):
            row = report_json(rep)
            row["source"] = f.where
            rows.append(row)
        sys.stdout.write(json.dumps({"roles": rows}, indent=2, ensure_ascii=False) + "\n")
    else:
        blocks = []
        for f, rep in zip(found, reports, strict=True):
            text = render_text([rep])
            head, _, rest = text.partition("\n")
            blocks.append(f"{head}\n  source: {f.where}\n{rest}")
        sys.stdout.write("\n".join(blocks))
    for n in notes:
        sys.stderr.write(f"{n}\n")
    for e in errors:
        sys.stderr.write(f"{e}\n")
    return 2 if errors else 0
