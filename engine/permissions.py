"""The ``iotguard permissions`` report: what IoT operations each role effectively grants.

For every role, each Microsoft.Devices and Microsoft.DeviceUpdate operation of the
catalog that the role grants after ``notActions``/``notDataActions``, with the string
that grants it, under a one-line verdict that puts the security reading first: a role
that can list hub keys holds full data-plane access whatever its data actions say
(facts §1.5).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.catalog import Operation, operations
from engine.rbac import RoleDefinition
from engine.source import JsonPath
from engine.values import Unknown

_HUB_KEYS = (
    "microsoft.devices/iothubs/listkeys/action",
    "microsoft.devices/iothubs/iothubkeys/listkeys/action",
)
_HUB_DATA = "microsoft.devices/iothubs/"
_DPS = "microsoft.devices/provisioningservices/"
_ADU = "microsoft.deviceupdate/"
# Receiving file-upload notifications only reads the notification queue; the built-in
# IoT Hub Data Reader holds it next to its ``*/read`` wildcard.
_READ_LIKE_ACTIONS = ("microsoft.devices/iothubs/fileupload/notifications/action",)


@dataclass(frozen=True)
class ReportLine:
    operation: str
    is_data_action: bool
    granted_by: str
    path: JsonPath  # where the granting string is, in the role's coordinates
    secret_returning: bool = False


@dataclass
class RoleReport:
    role: RoleDefinition
    verdict: str
    lines: list[ReportLine] = field(default_factory=list)
    holds_hub_keys: bool = False
    holds_dps_keys: bool = False
    hub_data: str = "none"  # none | read | write | all
    unresolved: list[str] = field(default_factory=list)  # unknown strings that could change it

    @property
    def name(self) -> str:
        return _show(self.role.name) or "(unnamed role)"

    @property
    def guid(self) -> str:
        return _show(self.role.guid)


def _show(value: Any) -> str:
    if isinstance(value, Unknown):
        return value.text if value.text.startswith("{") else "{" + value.text + "}"
    return value if isinstance(value, str) else ""


def _is_read(name: str) -> bool:
    low = name.lower()
    return low.endswith("/read") or low in _READ_LIKE_ACTIONS


def _access(ops: Sequence[Operation]) -> str:
    return "read only" if all(_is_read(o.name) for o in ops) else "read and write"


def report_role(role: RoleDefinition, catalog_ops: Sequence[Operation] | None = None) -> RoleReport:
    ops = operations() if catalog_ops is None else catalog_ops
    eff = role.effective
    lines: list[ReportLine] = []
    granted: list[Operation] = []
    unknown: dict[str, None] = {}
    for op in ops:
        if op.is_data_action:
            grant = eff.data_action_grant(op.name)
            flips = eff.uncertain_data_action(op.name)
        else:
            grant = eff.action_grant(op.name)
            flips = eff.uncertain_action(op.name)
        for u in flips:
            unknown.setdefault(f"{_show(u)}: {u.describe()}", None)
        if grant is None:
            continue
        granted.append(op)
        lines.append(ReportLine(op.name, op.is_data_action, grant.value, grant.path, op.secret_returning))
    lines.sort(key=lambda x: (not x.secret_returning, not x.is_data_action, x.operation.lower()))

    names = {o.name.lower() for o in granted}
    hub_keys = any(k in names for k in _HUB_KEYS)
    dps_keys = any(o.secret_returning and o.name.lower().startswith(_DPS) for o in granted)
    hub_data_ops = [o for o in granted if o.is_data_action and o.name.lower().startswith(_HUB_DATA)]
    all_hub_data = [o for o in ops if o.is_data_action and o.name.lower().startswith(_HUB_DATA)]
    dps_data = [o for o in granted if o.is_data_action and o.name.lower().startswith(_DPS)]
    adu_data = [o for o in granted if o.is_data_action and o.name.lower().startswith(_ADU)]
    control = [o for o in granted if not o.is_data_action and not o.secret_returning]

    hub_data = "none"
    if hub_data_ops:
        if len(hub_data_ops) == len(all_hub_data):
            hub_data = "all"
        else:
            hub_data = "read" if _access(hub_data_ops) == "read only" else "write"

    parts: list[str] = []
    if hub_keys:
        parts.append("holds hub keys: full data-plane access")
    if hub_data == "all":
        parts.append("IoT Hub data access: every data action")
    elif hub_data != "none":
        parts.append(f"IoT Hub data access: {_access(hub_data_ops)}")
    if dps_keys:
        parts.append("holds DPS keys: full provisioning data-plane access")
    if dps_data:
        parts.append(f"DPS data access: {_access(dps_data)}")
    if adu_data:
        parts.append(f"Device Update data access: {_access(adu_data)}")
    if control:
        parts.append(f"IoT control plane: {_access(control)}")
    verdict = "; ".join(parts) if parts else "no IoT access"
    if unknown:
        verdict += f" (unresolved: {len(unknown)} unknown permission string(s) could change this)"
    return RoleReport(
        role=role, verdict=verdict, lines=lines, holds_hub_keys=hub_keys, holds_dps_keys=dps_keys,
        hub_data=hub_data, unresolved=list(unknown),
    )


def build_report(roles: Sequence[RoleDefinition]) -> list[RoleReport]:
    """One report per role, in the given order."""
    if not roles:
        return []
    ops = operations()
    return [report_role(r, ops) for r in roles]


def _kind(role: RoleDefinition) -> str:
    return "built-in" if role.is_builtin else "custom"


def render_text(reports: Sequence[RoleReport]) -> str:
    """Per role: a heading, the verdict, then an aligned table of granted operations."""
    out: list[str] = []
    for rep in reports:
        ident = f"{_kind(rep.role)}, {rep.guid}" if rep.guid else _kind(rep.role)
        out.append(f"{rep.name}  ({ident})")
        out.append(f"  verdict: {rep.verdict}")
        if rep.lines:
            rows = [("OPERATION", "PLANE", "GRANTED BY", "NOTE")] + [
                (ln.operation, "data" if ln.is_data_action else "control", _show(ln.granted_by),
                 "returns keys" if ln.secret_returning else "")
                for ln in rep.lines
            ]
            width = [max(len(r[i]) for r in rows) for i in range(3)]
            for r in rows:
                text = f"  {r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:<{width[2]}}  {r[3]}"
                out.append(text.rstrip())
        else:
            out.append("  (grants no Microsoft.Devices or Microsoft.DeviceUpdate operation)")
        for u in rep.unresolved:
            out.append(f"  unresolved: {u}")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n" if out else ""


def report_json(rep: RoleReport) -> dict[str, Any]:
    return {
        "name": rep.name,
        "guid": rep.guid,
        "roleType": rep.role.role_type,
        "isBuiltIn": rep.role.is_builtin,
        "verdict": rep.verdict,
        "holdsHubKeys": rep.holds_hub_keys,
        "holdsDpsKeys": rep.holds_dps_keys,
        "iotHubData": rep.hub_data,
        "operations": [
            {
                "operation": ln.operation,
                "isDataAction": ln.is_data_action,
                "grantedBy": _show(ln.granted_by),
                "secretReturning": ln.secret_returning,
            }
            for ln in rep.lines
        ],
        "unresolved": rep.unresolved,
    }


def render_json(reports: Sequence[RoleReport]) -> str:
    return json.dumps({"roles": [report_json(r) for r in reports]}, indent=2, ensure_ascii=False) + "\n"
