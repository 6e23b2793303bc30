"""The shipped catalogs: operations, built-in roles, lazy loading, regeneration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine import catalog
from engine.data import generate
from engine.rbac import normalize_role
from engine.source import decode, parse_json
from tests.conftest import REPO, corpus_dir

REFERENCE = REPO.parent / "shared" / "reference"
CORPUS = corpus_dir()
needs_corpus = pytest.mark.skipif(not (CORPUS / "catalog").is_dir(), reason="corpus not available")
needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared reference not available")

# Facts sheet §4.4: the IoT Hub data actions.
HUB_DATA_ACTIONS = {
    f"microsoft.devices/iothubs/{s}" for s in (
        "devices/read", "devices/write", "devices/delete", "twins/read", "twins/write",
        "jobs/read", "jobs/write", "jobs/delete", "cloudtodevicemessages/send/action",
        "cloudtodevicemessages/feedback/action", "cloudtodevicemessages/queue/purge/action",
        "directmethods/invoke/action", "fileupload/notifications/action", "statistics/read",
        "configurations/read", "configurations/write", "configurations/delete",
        "configurations/applytoedgedevice/action", "configurations/testqueries/action",
    )
}

# Facts sheet §4.5: built-in role GUIDs.
FACTS_ROLES = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "IoT Hub Data Contributor": "4fc6c259-987e-4a07-842e-c321cc9d413f",
    "IoT Hub Data Reader": "b447c946-2db7-41ec-983d-d8bf3b1c77e3",
    "IoT Hub Registry Contributor": "4ea46cd5-c1b2-4a8e-910b-273211f9ce47",
    "IoT Hub Twin Contributor": "494bdba2-168f-4f31-a0a1-191d2f7c028c",
    "Device Provisioning Service Data Contributor": "dfce44e4-17b7-4bd1-a6d1-04996ec95633",
    "Device Provisioning Service Data Reader": "10745317-c249-44a1-a5ce-3a4353c0bbd8",
    "Device Update Administrator": "02ca0879-e8e4-47a5-a61e-5c618b76e64a",
    "Device Update Content Administrator": "0378884a-3af5-44ab-8323-f5b22f9f3c98",
    "Device Update Content Reader": "d1ee9a80-8b14-47f0-bdc2-f4a351625a7b",
    "Device Update Deployments Administrator": "e4237640-0e3d-4a46-8fda-70bc94856432",
    "Device Update Deployments Reader": "49e2f5d2-7741-4835-8efa-19e1fe35e47f",
    "Device Update Reader": "e9dba6fb-3d52-4cf0-bce3-f06ce71b9e0f",
    "Azure Device Registry Onboarding": "547f7f0a-69c0-4807-bd9e-0321dfb66a84",
    "Azure Device Registry Contributor": "a5c3590a-3a1a-4cd4-9648-ea0a32b15137",
    "Azure IoT Operations Onboarding": "7b7c71ed-33fa-4ed2-a91a-e56d5da260b5",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Azure Event Hubs Data Sender": "2b629674-e913-4c01-ae53-ef4638d8f975",
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
}


def read_json(path: Path) -> Any:
    return parse_json(decode(path.read_bytes()))


# ----------------------------------------------------------------------------- operations


def test_iot_hub_data_actions_are_those_of_the_facts_sheet() -> None:
    assert {o.name.lower() for o in catalog.iot_hub_data_actions()} == HUB_DATA_ACTIONS


def test_listkeys_operations_are_secret_returning() -> None:
    assert {o.name.lower() for o in catalog.secret_returning()} == {
        "microsoft.devices/iothubs/listkeys/action",
        "microsoft.devices/iothubs/iothubkeys/listkeys/action",
        "microsoft.devices/provisioningservices/listkeys/action",
        "microsoft.devices/provisioningservices/keys/listkeys/action",
    }


def test_operation_lookup_ignores_case() -> None:
    op = catalog.operation("MICROSOFT.DEVICES/IOTHUBS/DEVICES/READ")
    assert op is not None and op.is_data_action and op.provider == "Microsoft.Devices"


def test_catalog_covers_both_providers_without_duplicates() -> None:
    # An operation is a name on one plane: the same name may be listed once as a control
    # action and once as a data action, never twice on one plane.
    keys = [(o.name.lower(), o.is_data_action) for o in catalog.operations()]
    assert len(keys) == len(set(keys))
    assert {n.split("/", 1)[0] for n, _ in keys} == {"microsoft.devices", "microsoft.deviceupdate"}


def test_jobs_read_is_catalogued_as_a_control_action_and_as_a_data_action() -> None:
    planes = {o.is_data_action for o in catalog.operations()
              if o.name.lower() == "microsoft.devices/iothubs/jobs/read"}
    assert planes == {True, False}
    control = catalog.operation("MICROSOFT.DEVICES/IOTHUBS/JOBS/READ", is_data_action=False)
    data = catalog.operation("microsoft.devices/iothubs/jobs/read", is_data_action=True)
    assert control is not None and not control.is_data_action
    assert data is not None and data.is_data_action


def test_operation_lookup_without_a_plane_prefers_the_data_action() -> None:
    op = catalog.operation("Microsoft.Devices/IotHubs/jobs/read")
    assert op is not None and op.is_data_action
    listkeys = catalog.operation("Microsoft.Devices/iotHubs/listkeys/action")
    assert listkeys is not None and not listkeys.is_data_action and listkeys.secret_returning


def test_operation_sources_record_file_and_commit() -> None:
    dumps = [s for s in catalog.operation_sources() if s["id"].startswith("dump:")]
    assert dumps and all(len(s.get("commit", "")) == 40 for s in dumps)


# ----------------------------------------------------------------------------- roles


@pytest.mark.parametrize(("name", "guid"), sorted(FACTS_ROLES.items()))
def test_facts_sheet_roles_resolve_by_guid_and_by_name(name: str, guid: str) -> None:
    by_guid = catalog.builtin_role(guid)
    assert by_guid is not None and by_guid.name == name and by_guid.is_builtin
    assert catalog.builtin_role(name.upper()) is by_guid


def test_builtin_role_resolves_a_role_definition_id() -> None:
    rid = "/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/" \
        "B24988AC-6180-42A0-AB88-20F7382DD24C"
    role = catalog.builtin_role(rid)
    assert role is not None and role.name == "Contributor"


def test_builtin_role_resolves_a_name_written_without_spaces() -> None:
    role = catalog.builtin_role("IoTHubDataContributor")
    assert role is not None and role.guid == FACTS_ROLES["IoT Hub Data Contributor"]


@pytest.mark.parametrize("key", ["", "Not A Role", "00000000-0000-0000-0000-000000000000"])
def test_unknown_roles_resolve_to_none(key: str) -> None:
    assert catalog.builtin_role(key) is None


def test_every_builtin_role_loads_with_permissions() -> None:
    roles = catalog.builtin_roles()
    assert len(roles) == len({r.guid for r in roles}) >= 900
    for role in roles:
        assert role.permissions and role.assignable_scopes[0].value == "/"
        role.effective.grants_action("Microsoft.Devices/iotHubs/listkeys/Action")


def test_role_sources_record_the_corpus_commit() -> None:
    src = next(s for s in catalog.role_sources() if s["id"] == "builtin-roles")
    assert len(src["commit"]) == 40 and src["count"] == len(catalog.builtin_roles())


@needs_corpus
def test_catalog_roles_match_the_corpus_role_files() -> None:
    for path in sorted((CORPUS / "catalog" / "builtin-roles").glob("*.json")):
        data = read_json(path)
        role = catalog.builtin_role(data["name"])
        assert role is not None and role.name == data["roleName"], path.name
        for block, raw in zip(role.permissions, data["permissions"], strict=True):
            assert [s.value for s in block.actions] == raw["actions"]
            assert [s.value for s in block.not_actions] == raw["notActions"]
            assert [s.value for s in block.data_actions] == raw["dataActions"]
            assert [s.value for s in block.not_data_actions] == raw["notDataActions"]


@needs_reference
def test_effective_permissions_agree_with_the_reference_computations() -> None:
    # The reference computed its answers from the docs' copy of each role (some differ
    # from the newer corpus copy), so the role is read from the reference itself.
    data = read_json(REFERENCE / "azure-builtin-roles-iot.json")
    checked = 0
    for raw in data["roles"]:
        role, problems = normalize_role(raw)
        assert role is not None and not problems and role.is_builtin, raw["roleName"]
        computed = raw.get("_computed", {})
        for op, expected in computed.get("grantsActions", {}).items():
            assert (role.effective.grants_action(op) is not None) == expected, (raw["roleName"], op)
            checked += 1
        for op, expected in computed.get("grantsDataActions", {}).items():
            assert (role.effective.grants_data_action(op) is not None) == expected, (raw["roleName"], op)
            checked += 1
    assert checked > 50


# ----------------------------------------------------------------------------- loading


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_catalogs_are_not_read_when_no_role_is_resolved() -> None:
    code = (
        "from engine import catalog, permissions, assignments\n"
        "from engine.rbac import normalize_role\n"
        "role, _ = normalize_role({'Name': 'r', 'Actions': ['*']})\n"
        "role.effective.grants_action('Microsoft.Devices/iotHubs/Write')\n"
        "print(sorted(k for k, v in catalog.loaded().items() if v))"
    )
    assert run_python(code) == "[]"


def test_resolving_a_builtin_role_reads_only_the_role_catalog() -> None:
    code = (
        "from engine import catalog\n"
        "catalog.builtin_role('Reader')\n"
        "print(sorted(k for k, v in catalog.loaded().items() if v))"
    )
    assert run_python(code) == "['builtin_roles']"


# ----------------------------------------------------------------------------- regeneration


@needs_corpus
@needs_reference
def test_committed_catalogs_match_a_fresh_generation(tmp_path: Path) -> None:
    assert generate.main(["--shared", str(REFERENCE.parent), "--corpus", str(CORPUS),
                          "--output", str(tmp_path)]) == 0
    data = REPO / "engine" / "data"
    for name in ("operations.json", "builtin_roles.json"):
        fresh = (tmp_path / name).read_text(encoding="utf-8")
        assert fresh == (data / name).read_text(encoding="utf-8"), name


def _mini_shared(root: Path) -> Path:
    """A shared folder of our own with one operation listed on both planes, in the dump
    and in the docs list, and one built-in role."""
    corpus = root / "corpus"
    ops = corpus / "catalog" / "provider-operations"
    ops.mkdir(parents=True)
    both = "Microsoft.Devices/iotHubs/jobs/Read"
    (ops / "Microsoft.Devices.json").write_text(json.dumps({
        "name": "Microsoft.Devices",
        "operations": [{"name": "Microsoft.Devices/register/action", "isDataAction": False}],
        "resourceTypes": [{"operations": [
            {"name": both, "isDataAction": False, "description": "control"},
            {"name": both.replace("iotHubs", "IotHubs").lower(), "isDataAction": True, "description": "data"},
            {"name": "Microsoft.Devices/iotHubs/listkeys/Action", "isDataAction": False},
        ]}],
    }), encoding="utf-8")
    (ops / "Microsoft.DeviceUpdate.json").write_text(json.dumps({"operations": []}), encoding="utf-8")
    roles = corpus / "catalog" / "builtin-roles"
    roles.mkdir(parents=True)
    (roles / "reader.json").write_text(json.dumps({
        "name": "acdd72a7-3385-48ef-bd42-f606fba81ae7", "roleName": "Reader",
        "permissions": [{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}],
    }), encoding="utf-8")
    ref = root / "reference"
    ref.mkdir()
    (ref / "microsoft-devices-operations.json").write_text(json.dumps({
        "providers": {"Microsoft.Devices": {
            "actions": [{"operation": "Microsoft.Devices/IotHubs/Jobs/Read", "isDataAction": False},
                        {"operation": "Microsoft.Devices/IotHubs/twins/read", "isDataAction": False}],
            "dataActions": [{"operation": "Microsoft.Devices/IotHubs/jobs/read", "isDataAction": True},
                            {"operation": "Microsoft.Devices/IotHubs/twins/read", "isDataAction": True}],
        }},
    }), encoding="utf-8")
    (ref / "azure-builtin-roles-iot.json").write_text(json.dumps({"roles": []}), encoding="utf-8")
    return root


def test_generation_keeps_an_operation_listed_as_action_and_as_data_action(tmp_path: Path) -> None:
    shared = _mini_shared(tmp_path)
    data = generate.build_operations(shared, shared / "corpus")
    rows = {(o["name"].lower(), o["isDataAction"]): o["source"] for o in data["operations"]}
    assert rows[("microsoft.devices/iothubs/jobs/read", False)] == "dump:Microsoft.Devices"
    assert rows[("microsoft.devices/iothubs/jobs/read", True)] == "dump:Microsoft.Devices"
    # The docs list adds a plane the dump lacks, and repeats none the dump has.
    assert rows[("microsoft.devices/iothubs/twins/read", False)] == "docs"
    assert rows[("microsoft.devices/iothubs/twins/read", True)] == "docs"
    assert len(rows) == len(data["operations"]) == 6


def test_generation_creates_a_missing_output_folder(tmp_path: Path) -> None:
    shared = _mini_shared(tmp_path / "shared")
    out = tmp_path / "not" / "there"
    assert generate.main(["--shared", str(shared), "--output", str(out)]) == 0
    ops = json.loads((out / "operations.json").read_text(encoding="utf-8"))
    assert ops["secretReturning"] == ["Microsoft.Devices/iotHubs/listkeys/Action"]
    roles = json.loads((out / "builtin_roles.json").read_text(encoding="utf-8"))
    assert [r[1] for r in roles["roles"]] == ["Reader"]


def test_generation_reports_a_missing_corpus_instead_of_crashing(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = generate.main(["--shared", str(tmp_path), "--corpus", str(tmp_path / "nope"),
                          "--output", str(tmp_path)])
    assert code == 1 and "generate:" in capsys.readouterr().err


def test_builtin_role_file_is_one_role_per_line() -> None:
    text = (REPO / "engine" / "data" / "builtin_roles.json").read_text(encoding="utf-8")
    roles = json.loads(text)["roles"]
    assert sum(1 for line in text.splitlines() if line.startswith('["')) == len(roles)
