"""Role definitions: shape detection, normalisation, paths, ARM resources, rule bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jmespath
import pytest

from engine.model import Resource
from engine.rbac import looks_like_role, normalize_role, role_body, role_from_resource
from engine.source import SourceFile, decode, parse_json
from engine.values import Unknown, UnknownCause, to_cidicts
from tests.conftest import corpus_dir

FIXTURES = Path(__file__).parent / "fixtures" / "roles"


def load(name: str) -> tuple[SourceFile, Any]:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return SourceFile(path=name, text=text), json.loads(text)


def line_of(source: SourceFile, needle: str) -> int:
    return next(i for i, line in enumerate(source.text.splitlines(), 1) if needle in line)


# ----------------------------------------------------------------------------- detection


@pytest.mark.parametrize("obj", [
    {"roleName": "r", "permissions": [], "assignableScopes": []},
    {"permissions": [], "assignableScopes": ["/subscriptions/x"]},
    {"Name": "r", "Actions": ["*"]},
    {"Name": "r", "Permissions": [{"Actions": []}]},
    {"name": "r", "isCustom": True},
    {"properties": {"roleName": "r", "permissions": []}},
    {"NAME": "r", "ASSIGNABLESCOPES": []},
], ids=["cli", "cli-without-roleName", "input", "input-permissions", "input-camel", "portal", "upper-case"])
def test_role_shapes_are_detected(obj: dict[str, Any]) -> None:
    assert looks_like_role(obj)


@pytest.mark.parametrize("obj", [
    {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
     "resources": [], "name": "x", "actions": []},
    {"name": "hub", "properties": {"disableLocalAuth": True}},
    {"name": "only a name"},
    [{"roleName": "r", "permissions": []}],
    "permissions",
], ids=["template", "resource", "name-only", "list", "string"])
def test_other_json_is_not_a_role(obj: Any) -> None:
    assert not looks_like_role(obj)


# ----------------------------------------------------------------------------- shapes


def test_cli_shape_takes_display_name_from_roleName_and_guid_from_name() -> None:
    _, data = load("cli-list-two-roles.json")
    role, problems = normalize_role(data[0], (0,))
    assert problems == []
    assert role is not None
    assert (role.name, role.guid, role.shape, role.role_type, role.is_builtin) == (
        "IoT team lead", "11111111-2222-3333-4444-555555555555", "cli", "CustomRole", False)


def test_builtin_role_type_marks_the_role_builtin_and_lowercases_its_guid() -> None:
    _, data = load("cli-list-two-roles.json")
    role, _ = normalize_role(data[1], (1,))
    assert role is not None and role.is_builtin and role.role_type == "BuiltInRole"
    assert role.guid == "00000000-aaaa-bbbb-cccc-000000000000"


def test_input_shape_takes_display_name_from_Name_and_guid_from_Id() -> None:
    role, _ = normalize_role({"Name": "Ops", "Id": "85E460B3-89E9-48BA-9DCD-A8A99D64A674", "IsCustom": True,
                              "Actions": ["*/read"], "AssignableScopes": ["/subscriptions/s"]})
    assert role is not None
    assert (role.name, role.guid, role.shape, role.is_builtin) == (
        "Ops", "85e460b3-89e9-48ba-9dcd-a8a99d64a674", "input", False)


def test_is_custom_false_marks_the_role_builtin() -> None:
    role, _ = normalize_role({"Name": "Reader", "IsCustom": False, "Actions": ["*/read"]})
    assert role is not None and role.is_builtin


def test_flat_input_lists_form_one_permission_block() -> None:
    _, data = load("input-flat-camel.json")
    role, problems = normalize_role(data)
    assert problems == [] and role is not None
    assert role.effective.grants_action("Microsoft.Devices/iotHubs/listkeys/Action") == \
        "Microsoft.Devices/iotHubs/listkeys/action"
    assert role.effective.grants_data_action("Microsoft.Devices/IotHubs/devices/read") is not None


def test_portal_shape_reads_the_properties_object() -> None:
    _, data = load("portal-hub-keys.json")
    role, problems = normalize_role(data)
    assert problems == [] and role is not None
    assert (role.name, role.shape, role.guid) == ("Portal hub admin", "portal", "")
    assert role.assignable_scopes[0].path == ("properties", "assignableScopes", 0)


def test_arm_fragment_takes_guid_from_name_and_custom_type_from_properties() -> None:
    obj = {"name": "c9a07a05-a1fc-53fe-a565-5eed25597c03", "type": "Microsoft.Authorization/roleDefinitions",
           "apiVersion": "2018-01-01-preview",
           "properties": {"roleName": "App owners", "type": "customRole", "permissions": [{"actions": ["*"]}],
                          "assignableScopes": ["${current_scope_resource_id}"]}}
    role, _ = normalize_role(obj)
    assert role is not None
    assert (role.shape, role.guid, role.is_builtin) == ("arm", "c9a07a05-a1fc-53fe-a565-5eed25597c03", False)


def test_several_blocks_unite_and_remove_only_within_their_own_block() -> None:
    _, data = load("cli-list-two-roles.json")
    role, _ = normalize_role(data[0], (0,))
    assert role is not None
    eff = role.effective
    assert eff.grants_action("Microsoft.Devices/iotHubs/listkeys/Action") is None
    assert eff.grants_action("Microsoft.Devices/iotHubs/iotHubKeys/listkeys/Action") == "Microsoft.Devices/*"
    assert eff.grants_data_action("Microsoft.Devices/IotHubs/twins/read") == "Microsoft.Devices/IotHubs/*"
    assert eff.grants_data_action("Microsoft.Devices/IotHubs/twins/write") is None


# ----------------------------------------------------------------------------- bad input


def test_wrong_types_are_skipped_and_reported_with_their_paths() -> None:
    _, data = load("input-bad-types.json")
    role, problems = normalize_role(data, ())
    assert role is not None
    paths = [p for p, _ in problems]
    assert paths == [
        ("Actions", 1), ("NotActions",), ("DataActions",), ("Permissions", 0), ("AssignableScopes", 1)]
    assert [s.value for s in role.permissions[0].actions] == [
        "Microsoft.Devices/IotHubs/read", "Microsoft.Devices/*/write"]


def test_problem_messages_spell_keys_as_the_file_does() -> None:
    _, data = load("input-bad-types.json")
    _, problems = normalize_role(data, ())
    assert problems[0][1] == "'Actions' entry should be a string, got a number; ignored"


def test_a_bare_string_where_a_list_belongs_still_counts() -> None:
    _, data = load("input-bad-types.json")
    role, problems = normalize_role(data, ())
    assert role is not None
    assert role.effective.grants_action("Microsoft.Devices/iotHubs/Write") is None
    assert role.effective.grants_action("Microsoft.Devices/iotHubs/certificates/Write") is not None
    assert any("should be a list of strings, got a string" in m for _, m in problems)


def test_later_valid_blocks_survive_a_bad_block() -> None:
    _, data = load("input-bad-types.json")
    role, _ = normalize_role(data, ())
    assert role is not None
    assert role.effective.grants_action("Microsoft.Devices/provisioningServices/listkeys/Action") is not None


def test_a_non_object_role_is_a_problem_not_a_crash() -> None:
    role, problems = normalize_role(["not", "a", "role"], (3,))
    assert role is None and problems[0][0] == (3,)


@pytest.mark.parametrize("value", [None, 1, "x", True, {"a": 1}, [1, [2]]])
def test_any_member_type_is_tolerated(value: Any) -> None:
    obj = {"roleName": value, "name": value, "description": value, "permissions": [
        {"actions": value, "notActions": value, "dataActions": value, "notDataActions": value,
         "condition": value}],
        "assignableScopes": value, "roleType": value}
    role, _ = normalize_role(obj)
    assert role is not None
    role_body(role)
    role.effective.grants_action("Microsoft.Devices/iotHubs/Write")


# ----------------------------------------------------------------------------- locations


def test_granting_string_locates_to_its_line_in_the_file() -> None:
    source, data = load("cli-list-two-roles.json")
    role, _ = normalize_role(data[0], (0,))
    assert role is not None
    grant = role.effective.action_grant("Microsoft.Devices/iotHubs/Write")
    assert grant is not None
    assert source.locate(grant.path)[0] == line_of(source, '"actions": ["Microsoft.Devices/*"]')


def test_body_paths_map_back_to_file_paths() -> None:
    source, data = load("portal-hub-keys.json")
    role, _ = normalize_role(data)
    assert role is not None
    path = role.source_path(("permissions", 0, "dataActions", 0))
    assert path == ("properties", "permissions", 0, "dataActions", 0)
    assert source.locate(path)[0] == line_of(source, '"Microsoft.Devices/IotHubs/twins/read"')


def test_body_paths_of_a_role_inside_a_list_keep_the_item_prefix() -> None:
    _, data = load("cli-list-two-roles.json")
    role, _ = normalize_role(data[0], (0,))
    assert role is not None
    assert role.source_path(("permissions", 1, "notDataActions", 0)) == (
        0, "permissions", 1, "notDataActions", 0)
    assert role.source_path(("name",)) == (0, "roleName")
    assert role.source_path(("assignableScopes", "0")) == (0, "assignableScopes", 0)


def test_granting_string_has_a_rule_language_body_path() -> None:
    _, data = load("cli-list-two-roles.json")
    role, _ = normalize_role(data[0], (0,))
    assert role is not None
    grant = role.effective.data_action_grant("Microsoft.Devices/IotHubs/devices/read")
    assert grant is not None and role.body_path(grant) == "permissions[1].dataActions[0]"
    assert jmespath.search(role.body_path(grant), role_body(role)) == grant.value


def test_flat_input_lists_map_back_to_the_top_level_keys() -> None:
    _, data = load("input-flat-camel.json")
    role, _ = normalize_role(data)
    assert role is not None
    assert role.source_path(("permissions", 0, "actions", 1)) == ("actions", 1)


# ----------------------------------------------------------------------------- rule bodies


def test_role_body_is_queryable_with_jmespath() -> None:
    _, data = load("cli-list-two-roles.json")
    role, _ = normalize_role(data[0], (0,))
    assert role is not None
    body = role_body(role)
    assert jmespath.search("permissions[1].dataActions[0]", body) == "Microsoft.Devices/IotHubs/*"
    assert jmespath.search("[guid, name, roleType, isBuiltIn]", body) == [
        "11111111-2222-3333-4444-555555555555", "IoT team lead", "CustomRole", False]
    assert body.get("ASSIGNABLESCOPES") == ["/subscriptions/00000000-0000-0000-0000-000000000000"]


# ----------------------------------------------------------------------------- ARM resources


def role_resource(properties: Any, name: Any = "4a1b2c3d-0000-4000-8000-000000000001") -> Resource:
    body = to_cidicts({"type": "Microsoft.Authorization/roleDefinitions", "apiVersion": "2022-04-01",
                       "name": name, "properties": properties})
    source = SourceFile(path="main.json", text="{}")
    return Resource(type="Microsoft.Authorization/roleDefinitions", name=name,
                    id=f"/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{name}",
                    body=body, source=source, path=("resources", 2))


def test_resource_role_keeps_body_paths_and_guid_from_its_name() -> None:
    role = role_from_resource(role_resource({
        "roleName": "Hub keys", "type": "CustomRole",
        "permissions": [{"actions": ["Microsoft.Devices/iotHubs/listkeys/action"]}],
        "assignableScopes": ["/subscriptions/s"],
    }))
    assert (role.guid, role.name, role.shape, role.path) == (
        "4a1b2c3d-0000-4000-8000-000000000001", "Hub keys", "arm", ("resources", 2))
    grant = role.effective.action_grant("Microsoft.Devices/iotHubs/listkeys/Action")
    assert grant is not None and grant.path == ("properties", "permissions", 0, "actions", 0)
    assert role.source_path(("permissions", 0, "actions", 0)) == (
        "properties", "permissions", 0, "actions", 0)


def test_resource_role_with_an_unknown_actions_list_is_uncertain_not_granting() -> None:
    cause = UnknownCause("parameter", "parameter 'actions' has no value")
    unknown = Unknown("parameters('actions')", (cause,))
    role = role_from_resource(role_resource({"roleName": "r", "permissions": [{"actions": unknown}]}))
    eff = role.effective
    assert eff.grants_action("Microsoft.Devices/iotHubs/listkeys/Action") is None
    assert eff.uncertain_action("Microsoft.Devices/iotHubs/listkeys/Action") == (unknown,)


def test_resource_role_with_unknown_properties_is_entirely_uncertain() -> None:
    unknown = Unknown("reference('x')", (UnknownCause("reference", "reference('x')"),))
    role = role_from_resource(role_resource(unknown))
    assert role.effective.uncertain_data_action("Microsoft.Devices/IotHubs/devices/write") == (unknown,)


def test_resource_role_with_an_unknown_name_keeps_the_unknown_guid() -> None:
    name = Unknown("guid({parameters('seed')})")
    role = role_from_resource(role_resource({"roleName": "r", "permissions": []}, name=name))
    assert isinstance(role.guid, Unknown)


# ----------------------------------------------------------------------------- corpus


def corpus_roles() -> list[Path]:
    folder = corpus_dir() / "roles"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.mark.skipif(not corpus_roles(), reason="corpus not available (set IOTGUARD_CORPUS)")
@pytest.mark.parametrize("path", corpus_roles(), ids=lambda p: p.name)
def test_every_corpus_role_file_loads_without_problems(path: Path) -> None:
    data = parse_json(decode(path.read_bytes()))
    items = list(enumerate(data)) if isinstance(data, list) else [(None, data)]
    for i, obj in items:
        assert looks_like_role(obj)
        role, problems = normalize_role(obj, () if i is None else (i,))
        assert problems == []
        assert role is not None and role.name and role.permissions


@pytest.mark.skipif(not corpus_roles(), reason="corpus not available (set IOTGUARD_CORPUS)")
def test_powershell_test_role_has_an_upper_case_guid_normalised() -> None:
    data = parse_json(decode((corpus_dir() / "roles" / "azps-test-RoleDefinition.json").read_bytes()))
    role, _ = normalize_role(data)
    assert role is not None and role.guid == "85e460b3-89e9-48ba-9dcd-a8a99d64a674"
