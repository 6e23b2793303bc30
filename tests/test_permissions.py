"""The ``permissions`` report: granted IoT operations per role, verdicts, rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import catalog
from engine.permissions import build_report, render_json, render_text
from engine.rbac import PermissionBlock, PermString, RoleDefinition, normalize_role
from engine.source import decode, parse_json
from engine.values import Unknown, UnknownCause
from tests.conftest import corpus_dir

FIXTURES = Path(__file__).parent / "fixtures" / "roles"


def builtin(name: str) -> RoleDefinition:
    role = catalog.builtin_role(name)
    assert role is not None
    return role


def fixture_role(name: str) -> RoleDefinition:
    role, _ = normalize_role(json.loads((FIXTURES / name).read_text(encoding="utf-8")))
    assert role is not None
    return role


# ----------------------------------------------------------------------------- verdicts


def test_iot_hub_data_reader_grants_only_read_data_actions_and_file_upload_notifications() -> None:
    [rep] = build_report([builtin("IoT Hub Data Reader")])
    assert rep.lines and all(ln.is_data_action for ln in rep.lines)
    assert {ln.operation.lower() for ln in rep.lines if not ln.operation.lower().endswith("/read")} == {
        "microsoft.devices/iothubs/fileupload/notifications/action"}
    assert rep.verdict == "IoT Hub data access: read only"
    assert rep.hub_data == "read" and not rep.holds_hub_keys


def test_contributor_holds_hub_keys_through_its_wildcard() -> None:
    [rep] = build_report([builtin("Contributor")])
    listkeys = {ln.operation.lower(): ln.granted_by for ln in rep.lines if ln.secret_returning}
    assert listkeys["microsoft.devices/iothubs/listkeys/action"] == "*"
    assert rep.holds_hub_keys and rep.verdict.startswith("holds hub keys: full data-plane access")
    assert rep.hub_data == "none"


def test_reader_has_read_only_control_plane_and_no_keys() -> None:
    [rep] = build_report([builtin("Reader")])
    assert rep.verdict == "IoT control plane: read only"
    assert not rep.holds_hub_keys and all(not ln.secret_returning for ln in rep.lines)


def test_iot_hub_data_contributor_has_every_data_action() -> None:
    [rep] = build_report([builtin("IoT Hub Data Contributor")])
    assert rep.hub_data == "all" and rep.verdict == "IoT Hub data access: every data action"


def test_twin_contributor_reads_and_writes_hub_data() -> None:
    [rep] = build_report([builtin("IoT Hub Twin Contributor")])
    assert rep.verdict == "IoT Hub data access: read and write"


def test_role_without_iot_operations_has_no_iot_access() -> None:
    [rep] = build_report([builtin("Storage Blob Data Reader")])
    assert (rep.verdict, rep.lines) == ("no IoT access", [])


def test_custom_role_reports_the_granting_string_and_its_path() -> None:
    [rep] = build_report([fixture_role("portal-hub-keys.json")])
    line = next(ln for ln in rep.lines if ln.operation.lower() == "microsoft.devices/iothubs/listkeys/action")
    assert line.granted_by == "Microsoft.Devices/iotHubs/*"
    assert line.path == ("properties", "permissions", 0, "actions", 0)
    assert rep.verdict.startswith("holds hub keys")


def test_unknown_permission_strings_are_reported_as_unresolved() -> None:
    u = Unknown("Microsoft.Devices/{parameters('suffix')}",
                (UnknownCause("parameter", "parameter 'suffix' has no value"),))
    role = RoleDefinition(guid="", name="templated", role_type="CustomRole", is_builtin=False,
                          permissions=[PermissionBlock(actions=[PermString(u, ("a", 0))])])
    [rep] = build_report([role])
    assert rep.unresolved and "parameter 'suffix' has no value" in rep.unresolved[0]
    assert "unresolved" in rep.verdict


def test_an_empty_role_list_gives_an_empty_report() -> None:
    assert build_report([]) == [] and render_text([]) == ""


# ----------------------------------------------------------------------------- rendering


def test_text_puts_the_verdict_before_the_table() -> None:
    text = render_text(build_report([builtin("IoT Hub Data Reader")]))
    lines = text.splitlines()
    assert lines[0].startswith("IoT Hub Data Reader") and "b447c946-2db7-41ec-983d-d8bf3b1c77e3" in lines[0]
    assert lines[1] == "  verdict: IoT Hub data access: read only"
    assert lines[2].split() == ["OPERATION", "PLANE", "GRANTED", "BY", "NOTE"]


def test_text_table_columns_are_aligned() -> None:
    text = render_text(build_report([builtin("Contributor")]))
    rows = [ln for ln in text.splitlines()[2:] if ln.startswith("  Microsoft.") or "OPERATION" in ln]
    starts = {ln.index(" control ") if " control " in ln else ln.index(" PLANE ") for ln in rows}
    assert len(starts) == 1


def test_text_marks_key_returning_operations() -> None:
    text = render_text(build_report([builtin("Owner")]))
    assert any("listkeys" in ln and ln.rstrip().endswith("returns keys") for ln in text.splitlines())


def test_text_says_when_nothing_is_granted() -> None:
    text = render_text(build_report([builtin("AcrPull")]))
    assert "grants no Microsoft.Devices or Microsoft.DeviceUpdate operation" in text


def test_json_report_lists_roles_with_verdicts_and_operations() -> None:
    data = json.loads(render_json(build_report([builtin("IoT Hub Data Reader"), builtin("Contributor")])))
    reader, contributor = data["roles"]
    assert (reader["name"], reader["isBuiltIn"]) == ("IoT Hub Data Reader", True)
    assert reader["iotHubData"] == "read"
    assert contributor["holdsHubKeys"] is True
    assert {"operation", "isDataAction", "grantedBy", "secretReturning"} <= set(contributor["operations"][0])


# ----------------------------------------------------------------------------- done-when


def corpus_role_files() -> list[Path]:
    folder = corpus_dir() / "roles"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.mark.skipif(not corpus_role_files(), reason="corpus not available (set IOTGUARD_CORPUS)")
def test_every_corpus_role_file_gets_a_report() -> None:
    roles: list[RoleDefinition] = []
    for path in corpus_role_files():
        data = parse_json(decode(path.read_bytes()))
        for obj in data if isinstance(data, list) else [data]:
            role, _ = normalize_role(obj)
            assert role is not None, path.name
            roles.append(role)
    reports = build_report(roles)
    assert len(reports) == len(roles) and all(r.verdict for r in reports)
    json.loads(render_json(reports))


def test_every_builtin_role_gets_a_report() -> None:
    reports = build_report(catalog.builtin_roles())
    assert all(r.verdict for r in reports)
    keys = {r.name for r in reports if r.holds_hub_keys}
    assert {"Owner", "Contributor", "Azure Device Registry Onboarding"} <= keys
    assert not keys & {"Reader", "User Access Administrator", "IoT Hub Data Contributor"}
