"""``iotguard permissions``: the effective IoT operations of each role, with a verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import corpus_dir, template

LISTKEYS = "Microsoft.Devices/iotHubs/listkeys/action"


def _ops(out: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in json.loads(out)["roles"]}


def test_builtin_data_reader_shows_only_read_data_actions(iotguard: Any) -> None:
    code, out, _ = iotguard("permissions", "IoT Hub Data Reader", "--format", "json")
    role = _ops(out)["IoT Hub Data Reader"]
    assert code == 0 and not role["holdsHubKeys"]
    data = [o for o in role["operations"] if o["isDataAction"]]
    assert data and all(o["operation"].lower().endswith(("/read", "/notifications/action")) for o in data)
    assert not any(o["operation"].lower() == LISTKEYS.lower() for o in role["operations"])


def test_builtin_contributor_shows_listkeys_granted_by_star(iotguard: Any) -> None:
    code, out, _ = iotguard("permissions", "b24988ac-6180-42a0-ab88-20f7382dd24c", "--format", "json")
    role = _ops(out)["Contributor"]
    grant = next(o for o in role["operations"] if o["operation"].lower() == LISTKEYS.lower())
    assert code == 0 and grant["grantedBy"] == "*" and role["holdsHubKeys"]


def test_custom_role_with_listkeys_gets_the_hub_keys_verdict(write: Any, iotguard: Any) -> None:
    write("role.json", {"Name": "Reader+", "IsCustom": True, "Description": "d",
                        "Actions": ["Microsoft.Devices/IotHubs/read", LISTKEYS],
                        "DataActions": ["Microsoft.Devices/IotHubs/devices/read"],
                        "AssignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000000"]})
    code, out, _ = iotguard("permissions", "role.json")
    assert code == 0 and "holds hub keys" in out and "role.json:1" in out


def test_az_list_array_gives_a_report_per_role(write: Any, iotguard: Any) -> None:
    role = {"roleName": "A", "roleType": "CustomRole", "name": "11111111-1111-1111-1111-111111111111",
            "permissions": [{"actions": ["Microsoft.Devices/IotHubs/read"], "notActions": [],
                             "dataActions": [], "notDataActions": []}],
            "assignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000000"]}
    write("roles.json", [role, {**role, "roleName": "B", "name": "22222222-2222-2222-2222-222222222222"}])
    _, out, _ = iotguard("permissions", "roles.json", "--format", "json")
    assert set(_ops(out)) == {"A", "B"}


def test_role_definition_inside_a_template_is_expanded(write: Any, iotguard: Any) -> None:
    res = {"type": "Microsoft.Authorization/roleDefinitions", "apiVersion": "2022-04-01",
           "name": "[guid('r')]", "properties": {
               "roleName": "[parameters('n')]", "type": "CustomRole",
               "permissions": [{"actions": ["[parameters('a')]"]}],
               "assignableScopes": ["[subscription().id]"]}}
    write("t.json", template(res, parameters={"n": {"type": "string", "defaultValue": "Keys"},
                                              "a": {"type": "string", "defaultValue": LISTKEYS}}))
    code, out, _ = iotguard("permissions", "t.json", "--format", "json")
    assert code == 0 and _ops(out)["Keys"]["holdsHubKeys"]


def test_bad_file_is_located_and_the_others_still_reported(write: Any, iotguard: Any) -> None:
    write("bad.json", '{"Name": "x",\n  "Actions": [}')
    code, out, err = iotguard("permissions", "bad.json", "Contributor")
    assert code == 2 and "bad.json:2:" in err and "Contributor" in out


def test_unknown_builtin_name_is_an_error(iotguard: Any) -> None:
    code, _, err = iotguard("permissions", "IoT Hub Data Wizard")
    assert code == 2 and "no built-in role" in err


@pytest.mark.skipif(not (corpus_dir() / "roles").is_dir(), reason="corpus not available")
def test_every_corpus_role_file_loads(iotguard: Any) -> None:
    files = sorted(str(p) for p in (corpus_dir() / "roles").rglob("*.json"))
    code, out, err = iotguard("permissions", *files, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["roles"]


def test_every_builtin_role_reports() -> None:
    from engine.catalog import builtin_roles
    from engine.permissions import build_report

    roles = builtin_roles()
    assert len(build_report(roles)) == len(roles) >= 100


def test_text_table_names_the_granting_pattern(iotguard: Any, tmp_path: Path) -> None:
    _, out, _ = iotguard("permissions", "Contributor")
    assert "verdict: holds hub keys" in out and "GRANTED BY" in out
