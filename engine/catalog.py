"""The shipped catalogs: IoT RBAC operations and every built-in role definition.

Both files live in ``engine/data`` (package data of the wheel) and are read with
``importlib.resources`` on first use only: a run without roles or role assignments never
parses them.  Built-in roles are stored compactly and turned into ``RoleDefinition``s one
at a time, when a look-up asks for them.  ``engine/data/README.md`` says where the data
comes from and how to regenerate it.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from engine.rbac import PermissionBlock, PermString, RoleDefinition, guid_of
from engine.values import Unknown


@dataclass(frozen=True)
class Operation:
    """One RBAC operation of a resource provider, as ``az provider operation show``
    lists it (spelling kept: compare case-insensitively)."""

    name: str
    is_data_action: bool
    description: str = ""
    secret_returning: bool = False

    @property
    def provider(self) -> str:
        return self.name.split("/", 1)[0]


def _read(name: str) -> Any:
    text = resources.files("engine").joinpath("data", name).read_text(encoding="utf-8")
    return json.loads(text)


_OpIndex = dict[tuple[str, bool], Operation]  # (lower-case name, is data action) -> operation


@functools.cache
def _operations_data() -> tuple[tuple[Operation, ...], _OpIndex, list[dict[str, Any]]]:
    data = _read("operations.json")
    secret = {s.lower() for s in data.get("secretReturning", [])}
    # Keys are returned by POST control actions only; a data action of the same name
    # (none today) would not hand out keys.
    ops = tuple(
        Operation(o["name"], bool(o["isDataAction"]), o.get("description", ""),
                  not o["isDataAction"] and o["name"].lower() in secret)
        for o in data["operations"]
    )
    return ops, {(o.name.lower(), o.is_data_action): o for o in ops}, list(data.get("sources", []))


def operations() -> tuple[Operation, ...]:
    """Every Microsoft.Devices and Microsoft.DeviceUpdate operation (actions and data
    actions)."""
    return _operations_data()[0]


def operation(name: str, is_data_action: bool | None = None) -> Operation | None:
    """The catalog entry for an operation name (case-insensitive).  A name can be both a
    control action and a data action (``Microsoft.Devices/IotHubs/jobs/read``):
    ``is_data_action`` picks the plane; without it the data action is preferred."""
    if isinstance(name, Unknown):
        return None
    index = _operations_data()[1]
    planes = (True, False) if is_data_action is None else (is_data_action,)
    return next((op for plane in planes if (op := index.get((name.lower(), plane))) is not None), None)


def iot_hub_data_actions() -> tuple[Operation, ...]:
    """The IoT Hub data-plane operations (``Microsoft.Devices/IotHubs/...`` data actions)."""
    prefix = "microsoft.devices/iothubs/"
    return tuple(o for o in operations() if o.is_data_action and o.name.lower().startswith(prefix))


def secret_returning() -> tuple[Operation, ...]:
    """Control-plane operations whose response holds shared access keys (listkeys)."""
    return tuple(o for o in operations() if o.secret_returning)


def operation_sources() -> list[dict[str, Any]]:
    return _operations_data()[2]


# ----------------------------------------------------------------------------- roles


@dataclass(frozen=True)
class _RoleIndex:
    by_guid: dict[str, list[Any]]
    by_name: dict[str, list[Any]]
    sources: list[dict[str, Any]]


_SPACES = re.compile(r"\s+")


@functools.cache
def _roles() -> _RoleIndex:
    data = _read("builtin_roles.json")
    by_guid: dict[str, list[Any]] = {}
    by_name: dict[str, list[Any]] = {}
    for entry in data["roles"]:
        by_guid[entry[0].lower()] = entry
        by_name.setdefault(entry[1].lower(), entry)
        # microsoft/azure-roles and some tooling spell names without spaces
        # ("IoTHubDataContributor").
        by_name.setdefault(_SPACES.sub("", entry[1].lower()), entry)
    return _RoleIndex(by_guid, by_name, list(data.get("sources", [])))


_LIST_KEYS = ("actions", "notActions", "dataActions", "notDataActions")


@functools.cache
def _role(guid: str) -> RoleDefinition:
    entry = _roles().by_guid[guid]
    blocks: list[PermissionBlock] = []
    for i, compact in enumerate(entry[2]):
        lists: list[list[PermString]] = []
        for k, key in enumerate(_LIST_KEYS):
            values = compact[k] if k < len(compact) else []
            lists.append([PermString(v, ("permissions", i, key, j)) for j, v in enumerate(values)])
        cond = compact[4] if len(compact) > 4 else None
        blocks.append(PermissionBlock(
            lists[0], lists[1], lists[2], lists[3], path=("permissions", i),
            list_paths={key.lower(): ("permissions", i, key) for key in _LIST_KEYS},
            condition=cond,
        ))
    return RoleDefinition(
        guid=entry[0],
        name=entry[1],
        role_type="BuiltInRole",
        is_builtin=True,
        permissions=blocks,
        assignable_scopes=[PermString("/", ("assignableScopes", 0))],
        shape="cli",
        member_paths={"guid": ("name",), "name": ("roleName",), "permissions": ("permissions",),
                      "assignablescopes": ("assignableScopes",)},
    )


def builtin_role(guid_or_name: str) -> RoleDefinition | None:
    """A built-in role by GUID, role-definition ID or display name (case-insensitive;
    names also match with spaces removed).  Unknown values resolve to None."""
    if not isinstance(guid_or_name, str) or isinstance(guid_or_name, Unknown):
        return None
    key = guid_of(guid_or_name)
    index = _roles()
    if key and key in index.by_guid:
        return _role(key)
    low = guid_or_name.strip().lower()
    entry = index.by_name.get(low) or index.by_name.get(_SPACES.sub("", low))
    return _role(entry[0]) if entry is not None else None


def builtin_roles() -> list[RoleDefinition]:
    """Every built-in role (loads them all; for reports and tests)."""
    return [_role(g) for g in _roles().by_guid]


def role_sources() -> list[dict[str, Any]]:
    return _roles().sources


def loaded() -> dict[str, bool]:
    """Which catalog files have been read in this process (start-up cost checks)."""
    return {
        "operations": _operations_data.cache_info().currsize > 0,
        "builtin_roles": _roles.cache_info().currsize > 0,
    }
