"""``iotguard permissions``: the effective IoT operations of each role, with a verdict,
driven through ``engine.permissions_cli.run_permissions``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.permissions_cli import run_permissions
from tests.conftest import corpus_dir, template

LISTKEYS = "Microsoft.Devices/iotHubs/listkeys/action"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *paths: str,
        fmt: str = "text") -> tuple[int, str, str]:
    code = run_permissions(list(paths), fmt, str(tmp_path))
    out, err = capsys.readouterr()
    return code, out, err


def roles_by_name(out: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in json.loads(out)["roles"]}


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=2), encoding="utf-8")
    return path


def cli_role(name: str, guid: str, actions: list[str]) -> dict[str, Any]:
    return {"roleName": name, "roleType": "CustomRole", "name": guid,
            "permissions": [{"actions": actions, "notActions": [], "dataActions": [], "notDataActions": []}],
            "assignableScopes": [SUB]}


# ----------------------------------------------------------------------------- built-ins


def test_builtin_data_reader_shows_only_read_data_actions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, capsys, "IoT Hub Data Reader", fmt="json")
    role = roles_by_name(out)["IoT Hub Data Reader"]
    assert code == 0 and err == ""
    assert role["kind"] == "built-in" and role["source"] is None and not role["holdsHubKeys"]
    ops = role["operations"]
    assert ops and all(o["isDataAction"] for o in ops)
    # Receiving file-upload notifications is the one non-``/read`` data action it holds.
    assert all(o["operation"].lower().endswith(("/read", "/notifications/action")) for o in ops)
    assert not any("listkeys" in o["operation"].lower() for o in ops)


def test_builtin_data_reader_text_has_no_listkeys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(tmp_path, capsys, "iot hub data reader")
    assert code == 0
    assert "verdict: IoT Hub data access: read only" in out and "built-in role catalog" in out
    assert "listkeys" not in out.lower() and " action " not in out


def test_builtin_contributor_by_guid_shows_listkeys_granted_by_star(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(tmp_path, capsys, "b24988ac-6180-42a0-ab88-20f7382dd24c", fmt="json")
    role = roles_by_name(out)["Contributor"]
    grant = next(o for o in role["operations"] if o["operation"].lower() == LISTKEYS.lower())
    assert code == 0 and grant["grantedBy"] == "*" and grant["grantedAt"] is None
    assert role["holdsHubKeys"] and role["verdict"].startswith("holds hub keys: full data-plane access")


def test_builtin_prefix_and_text_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(tmp_path, capsys, "builtin:Contributor")
    assert code == 0
    assert out.startswith("Contributor  (built-in, b24988ac-6180-42a0-ab88-20f7382dd24c)")
    assert "verdict: holds hub keys" in out and "GRANTED BY" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("Microsoft.Devices/iotHubs/listkeys/"))
    assert row.split()[1:] == ["action", "*", "returns", "keys"]


def test_unknown_builtin_name_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(tmp_path, capsys, "IoT Hub Data Wizard", "builtin:Nope", "Reader")
    assert code == 2
    assert "IoT Hub Data Wizard: error: no such file or directory, and no built-in role" in err
    assert "builtin:Nope: error: no built-in role" in err
    assert out.startswith("Reader  (built-in")


def test_every_builtin_role_in_the_catalog_loads_and_reports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.catalog import builtin_roles

    roles = builtin_roles()
    assert len(roles) >= 100
    code, out, err = run(tmp_path, capsys, *(r.guid for r in roles), fmt="json")
    reported = json.loads(out)["roles"]
    assert code == 0 and err == ""
    assert [r["guid"] for r in reported] == [r.guid for r in roles]
    assert all(r["verdict"] and r["isBuiltIn"] for r in reported)


# ----------------------------------------------------------------------------- files


def test_custom_role_with_listkeys_gets_the_hub_keys_verdict(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "role.json", {"Name": "Reader+", "IsCustom": True, "Description": "d",
                                  "Actions": ["Microsoft.Devices/IotHubs/read", LISTKEYS],
                                  "DataActions": ["Microsoft.Devices/IotHubs/devices/read"],
                                  "AssignableScopes": [SUB]})
    code, out, err = run(tmp_path, capsys, "role.json")
    assert code == 0 and err == ""
    assert "Reader+  (custom)" in out and "source: role.json:1" in out
    assert "verdict: holds hub keys: full data-plane access" in out
    lines = (tmp_path / "role.json").read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if LISTKEYS in text)
    assert f"{LISTKEYS} (role.json:{line})" in out


def test_portal_shape_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "portal.json", {"properties": {
        "roleName": "Portal keys", "description": "", "assignableScopes": [SUB],
        "permissions": [{"actions": ["Microsoft.Devices/*"], "notActions": [], "dataActions": [],
                         "notDataActions": []}]}})
    code, out, _ = run(tmp_path, capsys, "portal.json", fmt="json")
    role = roles_by_name(out)["Portal keys"]
    assert code == 0 and role["holdsHubKeys"] and role["kind"] == "custom"


def test_az_list_array_gives_a_report_per_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "roles.json", [
        cli_role("A", "11111111-1111-1111-1111-111111111111", ["Microsoft.Devices/IotHubs/read"]),
        cli_role("B", "22222222-2222-2222-2222-222222222222", [LISTKEYS]),
    ])
    code, out, _ = run(tmp_path, capsys, "roles.json", fmt="json")
    roles = roles_by_name(out)
    assert code == 0 and set(roles) == {"A", "B"}
    assert roles["A"]["guid"] == "11111111-1111-1111-1111-111111111111"
    assert not roles["A"]["holdsHubKeys"] and roles["B"]["holdsHubKeys"]
    assert roles["A"]["source"]["file"] == "roles.json" and roles["B"]["source"]["line"] > roles["A"]["source"]["line"]


def test_bad_json_is_located_and_the_other_file_still_reported(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "bad.json", '{"Name": "x",\n  "Actions": [}')
    write(tmp_path, "good.json", cli_role("Good", "33333333-3333-3333-3333-333333333333", [LISTKEYS]))
    code, out, err = run(tmp_path, capsys, "bad.json", "good.json")
    assert code == 2
    assert err.startswith("bad.json:2:") and ": error: " in err
    assert "no role definition" not in err  # the parse error says it all
    assert "Good  (custom, 33333333-3333-3333-3333-333333333333)" in out


def test_file_without_a_role_is_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "package.json", {"name": "web", "version": "1.0.0"})
    code, out, err = run(tmp_path, capsys, "package.json")
    assert code == 0 and out == ""
    assert err == "package.json: warning: no role definition found in this file\n"


def test_json_format_parses_and_carries_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "sub/role.json", cli_role("A", "11111111-1111-1111-1111-111111111111", [LISTKEYS]))
    write(tmp_path, "sub/params.txt", "not json, not ours")
    code, out, err = run(tmp_path, capsys, "sub", "Reader", fmt="json")
    data = json.loads(out)
    assert code == 0 and err == ""
    [custom, reader] = data["roles"]
    assert custom["source"] == {"file": "sub/role.json", "line": 1, "column": 1}
    [op] = [o for o in custom["operations"] if o["operation"].lower() == LISTKEYS.lower()]
    assert op["grantedBy"] == LISTKEYS and op["grantedAt"]["file"] == "sub/role.json"
    assert reader["name"] == "Reader" and reader["source"] is None
    assert {"verdict", "holdsHubKeys", "operations", "unresolved", "kind"} <= set(custom)


def test_role_definition_inside_a_template_is_expanded(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = {"type": "Microsoft.Authorization/roleDefinitions", "apiVersion": "2022-04-01",
           "name": "[guid('r')]", "properties": {
               "roleName": "[parameters('n')]", "type": "CustomRole",
               "permissions": [{"actions": ["[parameters('a')]"]}],
               "assignableScopes": ["[subscription().id]"]}}
    write(tmp_path, "t.json", template(res, parameters={"n": {"type": "string", "defaultValue": "Keys"},
                                                        "a": {"type": "string", "defaultValue": LISTKEYS}}))
    code, out, err = run(tmp_path, capsys, "t.json", fmt="json")
    role = roles_by_name(out)["Keys"]
    assert code == 0 and err == "" and role["holdsHubKeys"]
    [op] = role["operations"]
    # The pattern is written in the parameter's default, not at the expression using it.
    text = (tmp_path / "t.json").read_text(encoding="utf-8").splitlines()
    assert LISTKEYS in text[op["grantedAt"]["line"] - 1]


def test_template_without_role_definitions_is_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "hub.json", template({"type": "Microsoft.Devices/IotHubs", "apiVersion": "2023-06-30",
                                          "name": "h", "location": "westeurope",
                                          "sku": {"name": "S1", "capacity": 1}}))
    code, _, err = run(tmp_path, capsys, "hub.json")
    assert code == 0 and "hub.json: warning: no role definition found" in err


# ----------------------------------------------------------------------------- corpus


CORPUS_ROLES = corpus_dir() / "roles"


@pytest.mark.skipif(not CORPUS_ROLES.is_dir(), reason="corpus not available")
def test_every_corpus_role_file_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in CORPUS_ROLES.rglob("*") if p.suffix.lower() in (".json", ".jsonc"))
    assert files
    code, out, err = run(tmp_path, capsys, *files, fmt="json")
    assert code == 0, err
    sources = {r["source"]["file"] for r in json.loads(out)["roles"]}
    assert "warning: no role definition" not in err
    assert len(sources) == len(files)
