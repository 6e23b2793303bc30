"""ARM template expansion: variables, conditions, copy loops, child and symbolic
resources, nested and linked deployments, scopes and IDs, references, outputs,
provenance, located errors and bounds."""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytest

from engine.arm import expander
from engine.arm.expander import expand
from engine.arm.parameters import ParameterSource
from engine.model import Document, Expansion, Resource
from engine.source import SourceFile, parse_json
from engine.values import CIDict, Located, Unknown
from tests.conftest import hub, template

FIXTURES = Path(__file__).parent / "fixtures" / "arm"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
RG = f"{SUB}/resourceGroups/iotguard-rg"
HUB_ID = f"{RG}/providers/Microsoft.Devices/IotHubs/hub1"
LIST_KEYS = "listKeys(resourceId('Microsoft.Devices/IotHubs', 'x'), '2023-06-30')"

# ----------------------------------------------------------------------------- helpers


def tdoc(tpl: dict[str, Any] | str, path: str = "main.json") -> Document:
    text = tpl if isinstance(tpl, str) else json.dumps(tpl, indent=2)
    return Document(kind="template", source=SourceFile(path=path, text=text), data=parse_json(text))


def run(tpl: dict[str, Any] | str) -> Expansion:
    return expand(tdoc(tpl))


def fixture_doc(relative: str) -> Document:
    path = FIXTURES / relative
    text = path.read_text(encoding="utf-8")
    data = parse_json(text)
    if "arm" in data:
        return Document(
            kind="template", source=SourceFile(path=relative, text=text), data=data["arm"], root=("arm",)
        )
    return Document(kind="template", source=SourceFile(path=relative, text=text), data=data)


def fixture_loader(base: str, calls: list[str]) -> Any:
    def load(relative: str) -> Document | Located:
        calls.append(relative)
        target = os.path.join(base, relative)
        if not (FIXTURES / target).is_file():
            return Located(target, 1, 1, "file not found")
        return fixture_doc(target)

    return load


def only(exp: Expansion, type_suffix: str) -> Resource:
    hits = [r for r in exp.resources if r.type.lower().endswith(type_suffix.lower())]
    assert len(hits) == 1, [r.type for r in exp.resources]
    return hits[0]


def symbolic(resources: dict[str, Any], **extra: Any) -> dict[str, Any]:
    tpl = template(**extra)
    tpl["languageVersion"] = "2.0"
    tpl["resources"] = resources
    return tpl


def line_of(doc: Document, needle: str) -> int:
    return next(i for i, line in enumerate(doc.source.text.splitlines(), 1) if needle in line)


# ----------------------------------------------------------------------------- basics


def test_a_resource_gets_its_resource_group_id_and_ci_dict_body() -> None:
    r = run(template(hub(disableLocalAuth=True))).resources[0]
    assert r.id == HUB_ID
    assert (r.type, r.name, r.api_version) == ("Microsoft.Devices/IotHubs", "hub1", "2023-06-30")
    assert isinstance(r.body, CIDict)
    assert r.body.get("PROPERTIES").get("disablelocalauth") is True
    assert r.path == ("resources", 0)


def test_every_string_in_the_resource_is_evaluated() -> None:
    r = run(template(hub(comments="[toUpper('abc')]", tags_like=["[concat('a', 'b')]"]))).resources[0]
    assert r.body["properties"]["comments"] == "ABC"
    assert r.body["properties"]["tags_like"] == ["ab"]


def test_double_bracket_strings_are_unescaped_in_resources() -> None:
    r = run(template(hub(comments="[[not an expression]"))).resources[0]
    assert r.body["properties"]["comments"] == "[not an expression]"


def test_null_and_json_null_properties_are_absent() -> None:
    r = run(template(hub(minTlsVersion=None, comments="[json('null')]", features="None"))).resources[0]
    assert set(r.body["properties"]) == {"features"}


def test_an_expression_type_and_api_version_are_evaluated() -> None:
    res = hub()
    res["type"] = "[concat('Microsoft.Devices/', 'IotHubs')]"
    res["apiVersion"] = "[concat('2021-07-', '01')]"
    r = run(template(res)).resources[0]
    assert (r.type, r.api_version) == ("Microsoft.Devices/IotHubs", "2021-07-01")


def test_a_state_export_document_records_paths_under_its_root() -> None:
    exp = expand(fixture_doc("state-export.json"))
    r = exp.resources[0]
    assert r.name == "exported"
    assert r.path == ("arm", "resources", 0)
    assert exp.templates[0].path == ("arm",)
    origin = r.origins[("properties", "minTlsVersion")]
    assert origin.line == line_of(fixture_doc("state-export.json"), '"minTlsVersion"')


# ----------------------------------------------------------------------------- variables


def test_variables_are_evaluated_with_case_insensitive_names() -> None:
    tpl = template(
        hub("[variables('HubName')]"),
        variables={"hubname": "[concat(variables('prefix'), '1')]", "prefix": "hub"},
    )
    exp = run(tpl)
    assert exp.resources[0].name == "hub1"
    assert exp.templates[0].variables == {"hubname": "hub1", "prefix": "hub"}


def test_a_variable_cycle_is_a_located_error_and_expansion_goes_on() -> None:
    doc = tdoc(
        template(hub("[variables('a')]"), variables={"a": "[variables('b')]", "b": "[variables('a')]"})
    )
    exp = expand(doc)
    cycles = [e for e in exp.errors if "cycle" in e.message]
    assert len(cycles) == 1
    assert cycles[0].line == line_of(doc, '"b": "[variables(')
    assert isinstance(exp.resources[0].name, Unknown)


def test_a_variable_copy_array_creates_a_variable() -> None:
    tpl = template(
        hub(ipFilterRules="[variables('rules')]"),
        variables={
            "copy": [
                {
                    "name": "rules",
                    "count": 2,
                    "input": {"filterName": "[concat('r', copyIndex('rules'))]", "action": "Accept"},
                }
            ],
        },
    )
    rules = run(tpl).resources[0].body["properties"]["ipFilterRules"]
    assert [r["filterName"] for r in rules] == ["r0", "r1"]


def test_a_copy_inside_a_variable_object_creates_an_array_property() -> None:
    tpl = template(
        hub(networkRuleSets="[variables('net')]"),
        variables={
            "net": {
                "defaultAction": "Deny",
                "copy": [
                    {
                        "name": "ipRules",
                        "count": 3,
                        "input": {"ipMask": "[concat('10.0.0.', copyIndex('ipRules'))]"},
                    }
                ],
            },
        },
    )
    net = run(tpl).resources[0].body["properties"]["networkRuleSets"]
    assert net["defaultAction"] == "Deny"
    assert [r["ipMask"] for r in net["ipRules"]] == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]


def test_user_defined_functions_are_callable() -> None:
    tpl = template(hub("[contoso.hubName('x')]"))
    tpl["functions"] = [
        {
            "namespace": "contoso",
            "members": {
                "hubName": {
                    "parameters": [{"name": "p", "type": "string"}],
                    "output": {"type": "string", "value": "[concat('hub-', parameters('p'))]"},
                }
            },
        }
    ]
    assert run(tpl).resources[0].name == "hub-x"


# ----------------------------------------------------------------------------- conditions


def test_a_resource_whose_condition_is_false_is_dropped() -> None:
    res = hub()
    res["condition"] = "[equals('a', 'b')]"
    assert run(template(res)).resources == []


def test_a_resource_whose_condition_is_unknown_is_kept_with_the_condition() -> None:
    res = hub()
    res["condition"] = "[parameters('deploy')]"
    r = run(template(res, parameters={"deploy": {"type": "bool"}})).resources[0]
    assert isinstance(r.condition, Unknown)
    assert r.condition.kinds == {"parameter"}


def test_a_condition_does_not_cascade_to_child_resources() -> None:
    res = hub()
    res["condition"] = False
    res["resources"] = [{"type": "certificates", "apiVersion": "2023-06-30", "name": "c1", "properties": {}}]
    exp = run(template(res))
    assert [r.type for r in exp.resources] == ["Microsoft.Devices/IotHubs/certificates"]


# ----------------------------------------------------------------------------- copy loops


def test_a_resource_copy_produces_one_resource_per_index() -> None:
    res = hub("[concat('hub', copyIndex(1))]")
    res["copy"] = {"name": "hubs", "count": 3}
    res["properties"] = {"comments": "[string(copyIndex('hubs'))]"}
    exp = run(template(res))
    assert [r.name for r in exp.resources] == ["hub1", "hub2", "hub3"]
    assert [r.copy_index for r in exp.resources] == [0, 1, 2]
    assert [r.body["properties"]["comments"] for r in exp.resources] == ["0", "1", "2"]
    assert {r.path for r in exp.resources} == {("resources", 0)}


def test_a_property_copy_builds_an_array_and_maps_items_to_the_input() -> None:
    doc = tdoc(
        template(
            hub(
                copy=[
                    {
                        "name": "ipFilterRules",
                        "count": 2,
                        "input": {
                            "filterName": "[concat('f', copyIndex('ipFilterRules'))]",
                            "action": "Reject",
                            "ipMask": "0.0.0.0/0",
                        },
                    }
                ]
            )
        )
    )
    r = expand(doc).resources[0]
    rules = r.body["properties"]["ipFilterRules"]
    assert [x["filterName"] for x in rules] == ["f0", "f1"]
    assert "copy" not in r.body["properties"]
    mapped = r.map(("properties", "ipFilterRules", 1, "ipMask"))
    assert mapped.path == ("resources", 0, "properties", "copy", 0, "input", "ipMask")


def test_property_copy_combines_with_resource_copy() -> None:
    res = hub(
        "[concat('hub', copyIndex())]",
        copy=[
            {
                "name": "ipFilterRules",
                "count": "[add(copyIndex(), 1)]",
                "input": {"filterName": "[concat('h', copyIndex(), 'r', copyIndex('ipFilterRules'))]"},
            }
        ],
    )
    res["copy"] = {"name": "hubs", "count": 2}
    exp = run(template(res))
    assert [[x["filterName"] for x in r.body["properties"]["ipFilterRules"]] for r in exp.resources] == [
        ["h0r0"],
        ["h1r0", "h1r1"],
    ]


def test_an_unknown_copy_count_keeps_one_resource_with_an_unknown_condition() -> None:
    res = hub("[concat('hub', copyIndex())]")
    res["copy"] = {"name": "hubs", "count": "[parameters('n')]"}
    exp = run(template(res, parameters={"n": {"type": "int"}}))
    assert len(exp.resources) == 1
    assert isinstance(exp.resources[0].condition, Unknown)


def test_a_copy_count_above_800_is_a_located_error() -> None:
    res = hub("[concat('hub', copyIndex())]")
    res["copy"] = {"name": "hubs", "count": 801}
    exp = run(template(res))
    assert any("exceeds ARM's limit of 800" in e.message for e in exp.errors)
    assert len(exp.resources) == 800


def test_a_negative_copy_count_is_a_located_error() -> None:
    res = hub()
    res["copy"] = {"name": "hubs", "count": -1}
    exp = run(template(res))
    assert exp.resources == []
    assert any("cannot be negative" in e.message for e in exp.errors)


# ----------------------------------------------------------------------------- child and symbolic resources


def test_nested_children_get_full_type_name_and_id() -> None:
    res = hub()
    res["resources"] = [
        {
            "type": "eventHubEndpoints/ConsumerGroups",
            "apiVersion": "2023-06-30",
            "name": "events/cg",
            "properties": {"name": "cg"},
        }
    ]
    exp = run(template(res))
    child = exp.resources[1]
    assert (child.type, child.name) == (
        "Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups",
        "hub1/events/cg",
    )
    assert child.id == f"{HUB_ID}/eventHubEndpoints/events/ConsumerGroups/cg"
    assert child.body["name"] == "hub1/events/cg"
    assert child.path == ("resources", 0, "resources", 0)
    assert "resources" not in exp.resources[0].body


def test_an_object_with_a_type_key_inside_properties_is_not_a_resource() -> None:
    exp = run(template(hub(routing={"type": "Microsoft.Devices/IotHubs", "name": "fake"})))
    assert len(exp.resources) == 1


def test_symbolic_resources_carry_their_names_and_existing_flag() -> None:
    existing = {
        "type": "Microsoft.Devices/IotHubs",
        "apiVersion": "2023-06-30",
        "name": "old",
        "existing": True,
    }
    exp = run(symbolic({"newHub": hub(), "oldHub": existing}))
    assert [(r.symbolic_name, r.existing) for r in exp.resources] == [("newHub", False), ("oldHub", True)]


def test_reference_to_a_symbolic_name_targets_that_resource_id() -> None:
    ra = {
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": "2022-04-01",
        "name": "ra",
        "properties": {"principalId": "[reference('hub', '2023-06-30', 'full').identity.principalId]"},
    }
    exp = run(symbolic({"ra": ra, "hub": hub()}))
    principal = only(exp, "roleAssignments").body["properties"]["principalId"]
    assert isinstance(principal, Unknown)
    cause = principal.causes[0]
    assert (cause.kind, cause.function, cause.target) == ("reference", "reference", HUB_ID)
    assert principal.path == ("identity", "principalId")
    assert "full" in cause.detail


def test_list_keys_of_a_symbolic_name_targets_that_resource_id() -> None:
    dps = {
        "type": "Microsoft.Devices/provisioningServices",
        "apiVersion": "2022-12-12",
        "name": "dps",
        "properties": {"iotHubs": [{"connectionString": "[listKeys('hub', '2023-06-30').value[0].primaryKey]"}]},
    }
    exp = run(symbolic({"dps": dps, "hub": hub()}))
    key = only(exp, "provisioningServices").body["properties"]["iotHubs"][0]["connectionString"]
    assert isinstance(key, Unknown)
    assert [(c.kind, c.target) for c in key.causes] == [("list", HUB_ID)]


def test_property_names_that_are_expressions_are_evaluated() -> None:
    body = hub()
    body["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {
        "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', 'id1')]": {}}}
    exp = run(template(body))
    keys = list(only(exp, "IotHubs").body["identity"]["userAssignedIdentities"])
    assert len(keys) == 1 and keys[0].endswith("/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1")


def test_reference_by_plain_name_resolves_to_the_single_resource_of_that_name() -> None:
    ra = {
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": "2022-04-01",
        "name": "ra",
        "properties": {"principalId": "[reference('hub1', '2023-06-30', 'Full').identity.principalId]"},
    }
    principal = only(run(template(hub(), ra)), "roleAssignments").body["properties"]["principalId"]
    assert principal.causes[0].target == HUB_ID


def test_reference_by_resource_id_keeps_the_id() -> None:
    out = {
        "v": {
            "type": "string",
            "value": "[reference(resourceId('Microsoft.Devices/IotHubs', 'other')).hostName]",
        }
    }
    value = run(template(hub(), outputs=out)).templates[0].outputs["v"]
    assert value.causes[0].target == f"{RG}/providers/Microsoft.Devices/IotHubs/other"


# ----------------------------------------------------------------------------- scopes and IDs


def assignment(scope: Any = None, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": "2022-04-01",
        "name": "guid1",
        "properties": {"roleDefinitionId": "x", "principalId": "p"},
    }
    if scope is not None:
        res["scope"] = scope
    res.update(extra)
    return res


def test_an_extension_resource_with_a_full_id_scope() -> None:
    r = only(
        run(template(hub(), assignment("[resourceId('Microsoft.Devices/IotHubs', 'hub1')]"))),
        "roleAssignments",
    )
    assert r.scope == HUB_ID
    assert r.id == f"{HUB_ID}/providers/Microsoft.Authorization/roleAssignments/guid1"


def test_the_relative_bicep_scope_form_is_prefixed_with_the_resource_group() -> None:
    r = only(
        run(template(assignment("[format('Microsoft.Devices/IotHubs/{0}', 'hub1')]"))), "roleAssignments"
    )
    assert r.scope == HUB_ID


def test_a_bare_symbolic_name_scope_resolves_to_that_resource() -> None:
    r = only(run(symbolic({"ra": assignment("hub"), "hub": hub()})), "roleAssignments")
    assert r.scope == HUB_ID
    assert r.body["scope"] == HUB_ID


def test_a_legacy_providers_role_assignment_is_scoped_to_the_named_hub() -> None:
    legacy = assignment(
        type="Microsoft.Devices/IotHubs/providers/roleAssignments", name="hub1/Microsoft.Authorization/guid1"
    )
    r = run(template(legacy)).resources[0]
    assert r.type == "Microsoft.Devices/IotHubs/providers/roleAssignments"
    assert r.scope == HUB_ID
    assert r.id == f"{HUB_ID}/providers/Microsoft.Authorization/roleAssignments/guid1"


def test_a_legacy_role_assignment_child_is_scoped_to_its_parent() -> None:
    res = hub()
    res["resources"] = [assignment(type="providers/roleAssignments", name="Microsoft.Authorization/guid1")]
    r = run(template(res)).resources[1]
    assert r.type == "Microsoft.Devices/IotHubs/providers/roleAssignments"
    assert r.scope == HUB_ID


def test_subscription_management_group_and_tenant_templates_compose_their_ids() -> None:
    cases = {
        "subscriptionDeploymentTemplate": f"{SUB}/providers/Microsoft.Authorization/roleAssignments/guid1",
        "managementGroupDeploymentTemplate": "/providers/Microsoft.Management/managementGroups/iotguard-mg"
        "/providers/Microsoft.Authorization/roleAssignments/guid1",
        "tenantDeploymentTemplate": "/providers/Microsoft.Authorization/roleAssignments/guid1",
    }
    for schema, expected in cases.items():
        tpl = template(assignment())
        tpl["$schema"] = f"https://schema.management.azure.com/schemas/2019-08-01/{schema}.json#"
        exp = run(tpl)
        assert exp.resources[0].id == expected
        assert (
            exp.templates[0].schema_scope
            == {
                "subscriptionDeploymentTemplate": "subscription",
                "managementGroupDeploymentTemplate": "managementGroup",
                "tenantDeploymentTemplate": "tenant",
            }[schema]
        )


def test_an_unknown_name_keeps_known_parts_of_the_id() -> None:
    r = run(template(hub("[parameters('h')]"), parameters={"h": {"type": "string"}})).resources[0]
    assert isinstance(r.id, Unknown)
    assert r.id.text == f"{RG}/providers/Microsoft.Devices/IotHubs/{{parameters('h')}}"
    assert r.id.kinds == {"parameter"}


# ----------------------------------------------------------------------------- nested deployments


def nested(template_body: dict[str, Any], scope: str | None = "inner", **props: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {"mode": "Incremental", "template": template_body, **props}
    if scope is not None:
        properties["expressionEvaluationOptions"] = {"scope": scope}
    return {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": "inner1",
        "properties": properties,
    }


def test_an_inner_nested_deployment_gets_its_parameters_from_the_parent() -> None:
    inner_tpl = template(
        hub("[parameters('name')]"), parameters={"name": {"type": "string"}, "key": {"type": "string"}}
    )
    dep = nested(
        inner_tpl,
        "Inner",
        parameters={
            "name": {"value": "[concat(parameters('p'), '1')]"},
            "key": {"value": f"[{LIST_KEYS}.value[0].primaryKey]"},
        },
    )
    exp = run(template(dep, parameters={"p": {"type": "string", "defaultValue": "hub"}}))
    assert [r.type for r in exp.resources] == ["Microsoft.Resources/deployments", "Microsoft.Devices/IotHubs"]
    nested_hub = exp.resources[1]
    assert (nested_hub.name, nested_hub.deployment) == ("hub1", ("inner1",))
    assert nested_hub.path == ("resources", 0, "properties", "template", "resources", 0)
    inner = exp.templates[1]
    assert inner.deployment == ("inner1",)
    assert inner.parameter_types == {"name": "string", "key": "string"}
    passed = exp.resources[0].body["properties"]["parameters"]["key"]["value"]
    assert isinstance(passed, Unknown) and passed.carries_secret
    assert "template" not in exp.resources[0].body["properties"]


def test_an_inner_nested_parameter_may_be_a_key_vault_reference() -> None:
    inner_tpl = template(
        hub(comments="[parameters('secret')]"), parameters={"secret": {"type": "securestring"}}
    )
    dep = nested(
        inner_tpl, parameters={"secret": {"reference": {"keyVault": {"id": "kv"}, "secretName": "s"}}}
    )
    value = run(template(dep)).resources[1].body["properties"]["comments"]
    assert isinstance(value, Unknown) and value.kinds == {"keyvault"}


def test_an_outer_nested_deployment_reads_the_parent_parameters_and_variables() -> None:
    inner_tpl = template(hub("[variables('v')]", comments="[parameters('p')]"), variables={"v": "ignored"})
    dep = nested(inner_tpl, scope=None)
    exp = run(
        template(
            dep,
            parameters={"p": {"type": "string", "defaultValue": "from-parent"}},
            variables={"v": "parent-hub"},
        )
    )
    nested_hub = exp.resources[1]
    assert nested_hub.name == "parent-hub"
    assert nested_hub.body["properties"]["comments"] == "from-parent"


def test_a_nested_deployment_into_another_resource_group_uses_it_in_ids() -> None:
    dep = nested(template(hub()), resourceGroup=None)
    dep["resourceGroup"] = "other-rg"
    exp = run(template(dep))
    assert (
        exp.resources[0].id
        == f"{SUB}/resourceGroups/other-rg/providers/Microsoft.Resources/deployments/inner1"
    )
    assert exp.resources[1].id == f"{SUB}/resourceGroups/other-rg/providers/Microsoft.Devices/IotHubs/hub1"


OTHER_SUB = "11111111-1111-1111-1111-111111111111"
SCOPE_PROBES = {
    "rg": "[resourceGroup().name]",
    "sub": "[subscription().subscriptionId]",
    "storage": "[resourceId('Microsoft.Storage/storageAccounts', 's')]",
}


def cross_group(dep: dict[str, Any], group: str = "other-rg", sub: str | None = OTHER_SUB) -> dict[str, Any]:
    out = {**dep, "resourceGroup": group}
    if sub is not None:
        out["subscriptionId"] = sub
    return out


def test_an_outer_nested_deployment_evaluates_scope_functions_in_the_parents_context() -> None:
    exp = run(template(cross_group(nested(template(hub(**SCOPE_PROBES)), scope=None))))
    assert dict(only(exp, "/IotHubs").body["properties"]) == {
        "rg": "iotguard-rg",
        "sub": "00000000-0000-0000-0000-000000000000",
        "storage": f"{RG}/providers/Microsoft.Storage/storageAccounts/s",
    }


def test_resources_of_an_outer_nested_deployment_still_deploy_into_its_target_group() -> None:
    exp = run(template(cross_group(nested(template(hub("[concat('h-', resourceGroup().name)]")), scope=None))))
    assert only(exp, "/IotHubs").id == (
        f"/subscriptions/{OTHER_SUB}/resourceGroups/other-rg/providers/Microsoft.Devices/IotHubs/h-iotguard-rg"
    )


def test_an_inner_nested_deployment_evaluates_scope_functions_in_its_target() -> None:
    exp = run(template(cross_group(nested(template(hub(**SCOPE_PROBES)), scope="inner"))))
    assert dict(only(exp, "/IotHubs").body["properties"]) == {
        "rg": "other-rg",
        "sub": OTHER_SUB,
        "storage": f"/subscriptions/{OTHER_SUB}/resourceGroups/other-rg/providers/Microsoft.Storage/storageAccounts/s",
    }


def test_an_outer_deployment_inside_an_inner_one_sees_the_inner_ones_target() -> None:
    grandchild = cross_group(nested(template(hub(**SCOPE_PROBES)), scope=None), "third-rg", sub=None)
    exp = run(template(cross_group(nested(template(grandchild), scope="inner"))))
    hub_ = only(exp, "/IotHubs")
    assert hub_.body["properties"]["rg"] == "other-rg"
    assert hub_.body["properties"]["sub"] == OTHER_SUB
    assert hub_.id == f"/subscriptions/{OTHER_SUB}/resourceGroups/third-rg/providers/Microsoft.Devices/IotHubs/hub1"


def test_nested_outputs_are_evaluated_in_the_nested_template() -> None:
    inner_tpl = template(
        hub(),
        outputs={"id": {"type": "string", "value": "[resourceId('Microsoft.Devices/IotHubs', 'hub1')]"}},
    )
    exp = run(template(nested(inner_tpl)))
    assert exp.templates[1].outputs == {"id": HUB_ID}


def conditional(dep: dict[str, Any], condition: Any) -> dict[str, Any]:
    return {**dep, "condition": condition}


def test_resources_of_a_nested_deployment_whose_condition_is_false_do_not_exist() -> None:
    exp = run(template(conditional(nested(template(hub())), "[equals(1, 2)]")))
    assert exp.resources == []


def test_resources_of_a_nested_deployment_whose_condition_is_unknown_carry_that_condition() -> None:
    dep = conditional(nested(template(hub())), "[parameters('deployHub')]")
    exp = run(template(dep, parameters={"deployHub": {"type": "bool"}}))
    nested_hub = only(exp, "/IotHubs")
    assert isinstance(nested_hub.condition, Unknown)
    assert [c.target for c in nested_hub.condition.causes] == ["deployHub"]
    assert isinstance(exp.templates[1].condition, Unknown)


def test_a_nested_resource_condition_is_combined_with_its_deployments_condition() -> None:
    inner_hub = conditional(hub(), "[parameters('withHub')]")
    inner_tpl = template(inner_hub, parameters={"withHub": {"type": "bool"}})
    dep = conditional(nested(inner_tpl), "[parameters('deployHub')]")
    exp = run(template(dep, parameters={"deployHub": {"type": "bool"}}))
    condition = only(exp, "/IotHubs").condition
    assert isinstance(condition, Unknown)
    assert {c.target for c in condition.causes} == {"deployHub", "withHub"}


def test_a_false_inner_condition_wins_over_an_unknown_deployment_condition() -> None:
    dep = conditional(nested(template(conditional(hub(), False))), "[parameters('deployHub')]")
    exp = run(template(dep, parameters={"deployHub": {"type": "bool"}}))
    assert [r.type for r in exp.resources] == ["Microsoft.Resources/deployments"]


def test_resources_of_a_linked_deployment_whose_condition_is_unknown_carry_that_condition() -> None:
    main = parse_json((FIXTURES / "linked/main.json").read_text(encoding="utf-8"))
    main["parameters"]["deployHub"] = {"type": "bool"}
    main["resources"][0]["condition"] = "[parameters('deployHub')]"
    exp = expand(tdoc(main, path="linked/main.json"), load_template=fixture_loader("linked", []))
    linked = [r for r in exp.resources if r.deployment[:1] == ("hubModule",)]
    assert {r.type for r in linked} >= {"Microsoft.Devices/IotHubs", "Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups"}
    for r in linked:
        assert isinstance(r.condition, Unknown), r.type
        assert [c.target for c in r.condition.causes] == ["deployHub"]


def test_relative_path_links_are_loaded_and_expanded_recursively() -> None:
    calls: list[str] = []
    exp = expand(fixture_doc("linked/main.json"), load_template=fixture_loader("linked", calls))
    assert calls == ["modules/hub.json", "modules/groups.json"]
    hub_r = only(exp, "/IotHubs")
    assert (hub_r.name, hub_r.deployment, hub_r.source.path) == (
        "fx-hub",
        ("hubModule",),
        "linked/modules/hub.json",
    )
    group = only(exp, "/ConsumerGroups")
    assert group.name == "fx-hub/events/adum"
    assert group.deployment == ("hubModule", "consumerGroups")
    assert [t.source.path for t in exp.templates] == [
        "linked/main.json",
        "linked/modules/hub.json",
        "linked/modules/groups.json",
    ]


def test_a_uri_template_link_is_listed_as_not_checked() -> None:
    exp = expand(fixture_doc("linked/main.json"), load_template=fixture_loader("linked", []))
    assert [(n.target, n.path) for n in exp.not_checked] == [
        ("https://example.invalid/templates/remote.json", ("resources", 1, "properties", "templateLink"))
    ]


def test_without_a_loader_relative_links_are_not_checked() -> None:
    exp = expand(fixture_doc("linked/main.json"))
    assert [n.target for n in exp.not_checked] == [
        "modules/hub.json",
        "https://example.invalid/templates/remote.json",
    ]


def test_a_missing_linked_file_is_not_checked_with_the_loader_reason() -> None:
    tpl = template(
        {
            "type": "Microsoft.Resources/deployments",
            "apiVersion": "2022-09-01",
            "name": "d",
            "properties": {"templateLink": {"relativePath": "nope.json"}},
        }
    )
    exp = expand(tdoc(tpl), load_template=fixture_loader("linked", []))
    assert [(n.target, n.reason) for n in exp.not_checked] == [("nope.json", "file not found")]


def test_nested_deployments_stop_at_ten_levels() -> None:
    body = template(hub("deepest"))
    for level in range(11):
        body = template({**nested(body), "name": f"level{level}"})
    exp = run(body)
    assert [e.message for e in exp.errors] == ["nested deployments deeper than 10 levels are not expanded"]
    assert "deepest" not in [r.name for r in exp.resources]


def test_a_template_that_links_itself_is_a_located_cycle_error_and_is_not_expanded_again() -> None:
    calls: list[str] = []
    doc = fixture_doc("linked/self.json")
    exp = expand(doc, load_template=fixture_loader("linked", calls))
    assert calls == ["self.json"]
    [error] = exp.errors
    assert error.message == ("templateLink 'self.json' forms a cycle: linked/self.json -> linked/self.json; "
                             "the linked template is not expanded again")
    assert (error.path, error.line) == ("linked/self.json", line_of(doc, '"templateLink"'))
    assert [r.deployment for r in exp.resources] == [()]


def test_a_template_linked_twice_side_by_side_is_not_a_cycle() -> None:
    link = {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "properties": {"templateLink": {"relativePath": "modules/groups.json"},
                       "parameters": {"hubName": {"value": "hub1"}}},
    }
    tpl = template({**link, "name": "first"}, {**link, "name": "second"})
    exp = expand(tdoc(tpl, path="linked/main.json"), load_template=fixture_loader("linked", []))
    assert exp.errors == []
    assert [r.deployment for r in exp.resources if r.type.endswith("ConsumerGroups")] == [
        ("first",), ("second",)
    ]


# ----------------------------------------------------------------------------- outputs


def test_outputs_are_evaluated_with_copy_and_condition() -> None:
    outputs = {
        "name": {"type": "string", "value": "[concat('hub', '1')]"},
        "skipped": {"condition": "[equals(1, 2)]", "type": "string", "value": "x"},
        "list": {"type": "array", "copy": {"count": 2, "input": "[concat('i', copyIndex())]"}},
    }
    exp = run(template(outputs=outputs))
    assert exp.templates[0].outputs == {"name": "hub1", "list": ["i0", "i1"]}


def test_a_list_keys_output_is_an_unknown_that_carries_a_secret() -> None:
    outputs = {
        "cs": {
            "type": "string",
            "value": "[concat('HostName=hub1.azure-devices.net;SharedAccessKey=', "
            "listKeys(resourceId('Microsoft.Devices/IotHubs', 'hub1'), '2023-06-30').value[0].primaryKey)]",
        }
    }
    tpl = run(template(hub(), outputs=outputs)).templates[0]
    value = tpl.outputs["cs"]
    assert isinstance(value, Unknown) and value.carries_secret
    assert value.text.startswith("HostName=hub1.azure-devices.net;SharedAccessKey={")
    assert tpl.map(("outputs", "cs")).path == ("outputs", "cs", "value")


# ----------------------------------------------------------------------------- provenance


def test_a_variable_origin_names_the_variable_and_its_line() -> None:
    doc = tdoc(template(hub("[variables('n')]"), variables={"n": "hub1"}))
    origin = expand(doc).resources[0].origins[("name",)]
    line = line_of(doc, '"n": "hub1"')
    assert origin.describe() == f"variable 'n' at main.json:{line}"


def test_an_expression_origin_names_what_it_read_and_where() -> None:
    doc = tdoc(
        template(
            hub("[concat(parameters('env'), variables('suffix'))]"),
            parameters={"env": {"type": "string", "defaultValue": "dev"}},
            variables={"suffix": "-hub"},
        )
    )
    origin = expand(doc).resources[0].origins[("name",)]
    expr_line = line_of(doc, '"name": "[concat(')
    default_line = line_of(doc, '"defaultValue": "dev"')
    var_line = line_of(doc, '"suffix": "-hub"')
    assert origin.kind == "expression"
    assert origin.describe() == (
        f"expression at main.json:{expr_line} using parameter 'env' (default at main.json:{default_line}), "
        f"variable 'suffix' (at main.json:{var_line})"
    )


def parameter_file(values: dict[str, Any], path: str = "main.parameters.json") -> ParameterSource:
    text = json.dumps({"parameters": {k: {"value": v} for k, v in values.items()}}, indent=2)
    return ParameterSource(kind="file", document=Document(
        kind="parameters", source=SourceFile(path=path, text=text), data=parse_json(text)))


def pline(source: ParameterSource, needle: str = '"value"') -> int:
    assert source.document is not None
    return line_of(source.document, needle)


SETTINGS = {"settings": {"type": "object", "defaultValue": {"tls": "1.0"}}}


def test_a_variable_origin_names_what_the_variable_read() -> None:
    doc = tdoc(template(hub("[variables('n')]"), parameters={"env": {"type": "string"}},
                        variables={"n": "[concat(parameters('env'), '-hub')]"}))
    pfile = parameter_file({"env": "prod"})
    origin = expand(doc, [pfile]).resources[0].origins[("name",)]
    var_line, value_line = line_of(doc, '"n": '), pline(pfile)
    assert origin.describe() == (
        f"variable 'n' at main.json:{var_line} using parameter 'env' "
        f"(parameter file main.parameters.json:{value_line})"
    )


def test_an_expression_through_a_variable_names_the_parameter_file_behind_it() -> None:
    doc = tdoc(template(hub(minTlsVersion="[variables('cfg').tls]"), parameters=SETTINGS,
                        variables={"cfg": "[parameters('settings')]"}))
    pfile = parameter_file({"settings": {"tls": "1.1"}})
    origin = expand(doc, [pfile]).resources[0].origins[("properties", "minTlsVersion")]
    expr_line, var_line, value_line = line_of(doc, '"minTlsVersion"'), line_of(doc, '"cfg"'), pline(pfile)
    expected = (
        f"expression at main.json:{expr_line} using variable 'cfg' (at main.json:{var_line}) "
        f"using parameter 'settings' (parameter file main.parameters.json:{value_line})"
    )
    assert origin.describe() == expected
    assert pickle.loads(pickle.dumps(origin)).describe() == expected  # --jobs workers


def test_a_structured_variable_used_whole_gives_each_sub_value_only_what_it_read() -> None:
    res = hub()
    res["properties"] = "[variables('hubProps')]"
    hub_props = {"disableLocalAuth": "[variables('dla')]", "minTlsVersion": "[variables('cfg').tls]",
                 "comments": "written here"}
    doc = tdoc(template(res, parameters={**SETTINGS, "localAuth": {"type": "bool", "defaultValue": True}},
                        variables={"dla": "[not(parameters('localAuth'))]", "cfg": "[parameters('settings')]",
                                   "hubProps": hub_props}))
    pfile = parameter_file({"settings": {"tls": "1.1"}})
    r = expand(doc, [pfile]).resources[0]
    hub_props_line = line_of(doc, '"hubProps"')
    at = f"variable 'hubProps' at main.json:{hub_props_line}"
    cfg_line, dla_line, value_line = line_of(doc, '"cfg"'), line_of(doc, '"dla"'), pline(pfile)
    default_line = line_of(doc, '"defaultValue": true')
    tls = r.map(("properties", "minTlsVersion"))
    assert tls.origin is not None and tls.origin.describe() == (
        f"{at} using variable 'cfg' (at main.json:{cfg_line}) using parameter 'settings' "
        f"(parameter file main.parameters.json:{value_line})"
    )
    assert tls.path[-2:] == ("hubProps", "minTlsVersion")  # located where it is written
    local_auth = r.map(("properties", "disableLocalAuth")).origin
    assert local_auth is not None and local_auth.describe() == (
        f"{at} using variable 'dla' (at main.json:{dla_line}) using parameter 'localAuth' "
        f"(default at main.json:{default_line})"
    )
    comments = r.map(("properties", "comments")).origin
    assert comments is not None and comments.describe() == at


def test_a_parameter_passed_from_a_variable_names_the_variable_and_what_it_read() -> None:
    inner_tpl = template(hub(comments="[concat(parameters('x'), '!')]"), parameters={"x": {"type": "string"}})
    dep = nested(inner_tpl, parameters={"x": {"value": "[variables('v')]"}})
    doc = tdoc(template(dep, parameters={"p": {"type": "string", "defaultValue": "a"}},
                        variables={"v": "[parameters('p')]"}))
    origin = only(expand(doc), "/IotHubs").origins[("properties", "comments")]
    expr_line, var_line, default_line = (line_of(doc, '"comments"'), line_of(doc, '"v": '),
                                         line_of(doc, '"defaultValue": "a"'))
    assert origin.describe() == (
        f"expression at main.json:{expr_line} using parameter 'x' (variable 'v' at main.json:{var_line} "
        f"using parameter 'p' (default at main.json:{default_line}))"
    )


def test_provenance_names_an_input_reached_twice_only_once() -> None:
    doc = tdoc(template(hub("[concat(variables('a'), variables('b'))]"),
                        parameters={"p": {"type": "string", "defaultValue": "x"}},
                        variables={"a": "[parameters('p')]", "b": "[concat(parameters('p'), 'y')]"}))
    text = expand(doc).resources[0].origins[("name",)].describe()
    assert text.count("parameter 'p'") == 1
    assert "variable 'a'" in text and "variable 'b'" in text


def test_provenance_through_a_long_chain_of_variables_stays_short() -> None:
    chain = {f"v{i}": f"[concat(variables('v{i + 1}'), variables('v{i + 1}'))]" for i in range(40)}
    chain["v40"] = "[parameters('p')]"
    doc = tdoc(template(hub("[variables('v0')]"), parameters={"p": {"type": "string", "defaultValue": "x"}},
                        variables=chain))
    text = expand(doc).resources[0].origins[("name",)].describe()
    assert text.startswith("variable 'v0' at main.json:") and "variable 'v1'" in text
    assert "variable 'v9'" not in text and "parameter 'p'" not in text
    assert len(text) < 1000


def test_literals_need_no_origin() -> None:
    r = run(template(hub(disableLocalAuth=True))).resources[0]
    assert ("properties", "disableLocalAuth") not in r.origins
    assert r.map(("properties", "disableLocalAuth")).path == (
        "resources",
        0,
        "properties",
        "disableLocalAuth",
    )


# ----------------------------------------------------------------------------- errors


def test_a_malformed_expression_is_a_located_error_and_an_unknown_value() -> None:
    doc = tdoc(template(hub(comments="[concat('a', ]", disableLocalAuth=True)))
    exp = expand(doc)
    assert len(exp.errors) == 1
    error = exp.errors[0]
    assert (error.path, error.line) == ("main.json", line_of(doc, '"comments"'))
    assert "offset" in error.message
    value = exp.resources[0].body["properties"]["comments"]
    assert isinstance(value, Unknown) and value.kinds == {"error"}
    assert exp.resources[0].body["properties"]["disableLocalAuth"] is True


def test_an_unknown_function_and_an_undeclared_parameter_are_errors() -> None:
    exp = run(template(hub(comments="[noSuchFunction()]", features="[parameters('missing')]")))
    messages = " | ".join(e.message for e in exp.errors)
    assert "unknown function 'noSuchFunction'" in messages
    assert "parameter 'missing' is not declared" in messages


def test_an_error_repeated_by_a_copy_loop_is_reported_once() -> None:
    res = hub("[concat('hub', copyIndex())]", comments="[bad(]")
    res["copy"] = {"name": "hubs", "count": 5}
    exp = run(template(res))
    assert len(exp.errors) == 1
    assert len(exp.resources) == 5


@pytest.mark.parametrize(
    "tpl",
    [
        {"$schema": "x/deploymentTemplate.json#", "resources": "x"},
        {"$schema": "x/deploymentTemplate.json#", "resources": [1, "two", None]},
        {
            "$schema": "x/deploymentTemplate.json#",
            "parameters": [],
            "variables": 3,
            "outputs": "o",
            "resources": [],
        },
        {"$schema": "x/deploymentTemplate.json#", "resources": [{"name": "no-type"}]},
        {"$schema": "x/deploymentTemplate.json#", "resources": [{"type": 5, "name": "n"}]},
        {
            "$schema": "x/deploymentTemplate.json#",
            "resources": [{"type": "A.B/c", "apiVersion": "1", "name": 7}],
        },
        {
            "$schema": "x/deploymentTemplate.json#",
            "resources": [
                {"type": "A.B/c", "apiVersion": "1", "name": "n", "copy": {"name": "l", "count": "many"}}
            ],
        },
        {
            "$schema": "x/deploymentTemplate.json#",
            "resources": [
                {
                    "type": "Microsoft.Resources/deployments",
                    "apiVersion": "1",
                    "name": "d",
                    "properties": {"template": "t", "parameters": 4},
                }
            ],
        },
    ],
)
def test_wrong_shapes_are_located_errors_never_exceptions(tpl: dict[str, Any]) -> None:
    exp = run(tpl)
    assert exp.errors
    assert all(isinstance(e, Located) and e.line >= 1 for e in exp.errors)


def test_properties_that_are_not_an_object_are_an_error_and_absent() -> None:
    res = hub()
    res["properties"] = []
    exp = run(template(res))
    assert "properties" not in exp.resources[0].body
    assert [e.message for e in exp.errors] == ["'properties' must be an object; ignored"]


def test_a_name_that_does_not_fit_its_type_is_an_error() -> None:
    res = hub()
    res["type"] = "Microsoft.Devices/IotHubs/certificates"
    exp = run(template(res))
    assert any("does not fit type" in e.message for e in exp.errors)


def test_a_template_that_is_not_an_object_is_an_error() -> None:
    exp = expand(Document(kind="template", source=SourceFile(path="x.json", text="[]"), data=[]))
    assert [e.message for e in exp.errors] == ["an ARM template must be a JSON object"]


# ----------------------------------------------------------------------------- bounds


def test_the_work_budget_stops_a_runaway_template(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expander, "MAX_WORK", 50_000)
    inner = {"name": "b", "count": 800, "input": {"x": "[copyIndex('b')]"}}
    res = hub(copy=[{"name": "a", "count": 800, "input": {"copy": [inner]}}])
    res["copy"] = {"name": "hubs", "count": 800}
    start = time.perf_counter()
    exp = run(template(res))
    assert time.perf_counter() - start < 5
    assert [e.message for e in exp.errors if "units of work" in e.message]


def test_the_default_work_budget_bounds_values_that_grow_exponentially() -> None:
    variables = {"v0": "[createArray(1, 2, 3, 4, 5, 6, 7, 8)]"}
    for i in range(1, 40):
        variables[f"v{i}"] = (
            f"[createArray(variables('v{i - 1}'), variables('v{i - 1}'), variables('v{i - 1}'))]"
        )
    res = hub(routing="[variables('v39')]")
    start = time.perf_counter()
    exp = run(template(res, variables=variables))
    assert time.perf_counter() - start < 20
    assert [e.message for e in exp.errors] == [
        f"expansion stopped: the file needs more than {expander.MAX_WORK:,} units of work"
    ]


def test_the_resource_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(expander, "MAX_RESOURCES", 100)
    res = hub("[concat('hub', copyIndex())]")
    res["copy"] = {"name": "hubs", "count": 300}
    exp = run(template(res))
    assert any("more than 100 resources" in e.message for e in exp.errors)
    assert len(exp.resources) <= 100


def test_deeply_nested_inline_templates_never_raise_recursion_errors() -> None:
    body: dict[str, Any] = template(hub())
    for _ in range(30):
        body = template(nested(body, scope="inner"))
    exp = run(body)
    assert any("deeper than 10 levels" in e.message for e in exp.errors)


def test_a_typical_template_expands_in_about_a_millisecond() -> None:
    res = hub(
        "[parameters('name')]",
        disableLocalAuth="[parameters('off')]",
        routing={"endpoints": {"eventHubs": [{"name": "e", "connectionString": "[variables('cs')]"}]}},
    )
    tpl = template(
        res,
        parameters={
            "name": {"type": "string", "defaultValue": "hub1"},
            "off": {"type": "bool", "defaultValue": False},
        },
        variables={"cs": "[concat('Endpoint=sb://x/;SharedAccessKey=', 'k')]"},
    )
    doc = tdoc(tpl)
    expand(doc)
    start = time.perf_counter()
    for _ in range(50):
        expand(doc)
    assert (time.perf_counter() - start) / 50 < 0.005
