"""Kind detection from content, not file names."""

from __future__ import annotations

from typing import Any

import pytest

from engine.documents import LoadError, classify, read_source
from engine.source import SourceFile

SCHEMAS = [
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#",
    "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
    "https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#",
    "https://schema.management.azure.com/schemas/2019-08-01/tenantDeploymentTemplate.json#",
]


def kind(data: Any, **kw: Any) -> str | None:
    doc = classify(SourceFile("x.json", ""), data, **kw)
    return doc.kind if doc else None


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_template_scope_schema_is_a_template(schema: str) -> None:
    assert kind({"$schema": schema, "resources": []}) == "template"


def test_schema_less_object_with_resources_and_content_version_is_a_template() -> None:
    assert kind({"contentVersion": "1.0.0.0", "resources": {}}) == "template"


def test_parameter_file_by_schema() -> None:
    data = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0", "parameters": {}}
    assert kind(data) == "parameters"


def test_bare_parameters_only_when_given_as_parameter_file() -> None:
    data = {"hubName": {"value": "x"}}
    assert kind(data) is None
    assert kind(data, as_parameters=True) == "parameters"


def test_state_export_template_under_arm_key() -> None:
    data = {"arm": {"$schema": SCHEMAS[0], "resources": []}, "devices": {}}
    doc = classify(SourceFile("x.json", ""), data)
    assert doc is not None and doc.kind == "template" and doc.root == ("arm",)


def test_cli_role_definition_shape() -> None:
    role = {"roleName": "r", "permissions": [{"actions": []}], "assignableScopes": ["/"]}
    assert kind(role) == "roles"


def test_input_file_role_shape() -> None:
    role = {"Name": "r", "IsCustom": True, "Actions": ["*/read"], "AssignableScopes": ["/subscriptions/x"]}
    assert kind(role) == "roles"


def test_portal_role_shape() -> None:
    role = {"properties": {"roleName": "r", "permissions": [{"actions": []}], "assignableScopes": []}}
    assert kind(role) == "roles"


def test_array_of_roles_lists_each_item() -> None:
    roles = [{"roleName": "a", "permissions": [], "assignableScopes": []}] * 3
    doc = classify(SourceFile("x.json", ""), roles)
    assert doc is not None and doc.items == [(0,), (1,), (2,)]


def test_a_role_list_with_a_stray_entry_is_still_a_role_list() -> None:
    roles = [{"roleName": "a", "permissions": [], "assignableScopes": []}, {"note": "x"}, 7]
    assert kind(roles) == "roles"


def test_the_stray_entry_of_a_role_list_is_a_located_error(write: Any, iotguard: Any) -> None:
    write("roles.json", '[\n  {"roleName": "ok", "permissions": [{"actions": ["Microsoft.Devices/iotHubs/listkeys/action"]}],'
          ' "assignableScopes": ["/subscriptions/x"]},\n  {"roleNme": "typo", "permisions": []}\n]\n')
    code, out, err = iotguard("check", "--no-config", "roles.json")
    assert code == 2
    assert "roles.json:3:3" in out + err and "entry 1 of this role-definition list is not a role definition" in out + err
    assert "ROLE002" in out  # the good entry is still checked


@pytest.mark.parametrize("data", [
    {"name": "my-package", "version": "1.0.0", "dependencies": {}},
    {"compilerOptions": {"strict": True}},
    [1, 2, 3],
    [],
    "just a string",
    42,
])
def test_other_json_is_not_ours(data: Any) -> None:
    assert kind(data) is None


def test_read_source_reports_empty_file(tmp_path: Any) -> None:
    p = tmp_path / "e.json"
    p.write_text("  \n")
    with pytest.raises(LoadError, match="empty"):
        read_source(str(p), "e.json")


def test_read_source_reports_missing_file(tmp_path: Any) -> None:
    with pytest.raises(LoadError, match="cannot read"):
        read_source(str(tmp_path / "nope.json"), "nope.json")


def test_minimal_input_file_role_is_checked_like_permissions_reads_it() -> None:
    from engine.documents import looks_like_role

    assert looks_like_role({"Name": "x", "Actions": ["Microsoft.Devices/iotHubs/listkeys/action"]})
    assert not looks_like_role({"name": "my-package", "version": "1.0.0"})
