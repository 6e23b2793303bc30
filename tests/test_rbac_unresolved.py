"""ROLE and RBAC rules facing unknown inputs: an *unresolved* result that names the
unknown input, in its message and its location, never a silent pass or an empty or
garbled placeholder."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import hub, template

DATA_CONTRIBUTOR = "4fc6c259-987e-4a07-842e-c321cc9d413f"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
PRINCIPAL = "11111111-2222-3333-4444-555555555555"
HUB_IDENTITY = "[reference(resourceId('Microsoft.Devices/IotHubs', 'hub1'), '2023-06-30', 'Full').identity.principalId]"


def role_id(guid_expr: str) -> str:
    return f"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', {guid_expr})]"


def assignment(name: str, role: str, principal: str = PRINCIPAL, scope: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": "2022-04-01",
        "name": f"[guid('{name}')]",
        "properties": {"roleDefinitionId": role, "principalId": principal},
    }
    if scope is not None:
        out["scope"] = scope
    return out


def custom_role(name: str, actions: list[str], data_actions: list[str],
                scopes: list[str] | None = None, role_name: str | None = None) -> dict[str, Any]:
    return {
        "type": "Microsoft.Authorization/roleDefinitions",
        "apiVersion": "2022-04-01",
        "name": f"[guid('{name}')]",
        "properties": {
            "roleName": role_name or name,
            "type": "CustomRole",
            "permissions": [{"actions": actions, "dataActions": data_actions}],
            "assignableScopes": scopes or ["[subscription().id]"],
        },
    }


def string_params(*names: str) -> dict[str, Any]:
    return {n: {"type": "string"} for n in names}


Run = Callable[..., tuple[int, str, str]]


def unresolved(write: Callable[..., Any], iotguard: Run, doc: dict[str, Any], rule: str) -> list[dict[str, Any]]:
    write("main.json", doc)
    _, out, _ = iotguard("check", "--no-config", "--select", rule, "--format", "json", "main.json")
    report = json.loads(out)
    assert not [f for f in report["findings"] if f["rule_id"] == rule]
    return [u for u in report["unresolved"] if u["rule_id"] == rule]


def line_of(doc: dict[str, Any], needle: str) -> int:
    text = json.dumps(doc, indent=2)
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# ----------------------------------------------------------------------------- RBAC001


def test_rbac001_is_unresolved_when_the_scope_is_a_parameter_without_value(write: Any, iotguard: Run) -> None:
    doc = template(assignment("a", role_id(f"'{DATA_CONTRIBUTOR}'"), scope="[parameters('scopeId')]"),
                   parameters=string_params("scopeId"))
    [u] = unresolved(write, iotguard, doc, "RBAC001")
    assert u["inputs"] == ["parameter 'scopeId' has no default and no value was supplied"]
    # the scope's provenance follows it: the parameter and that it has no value
    assert "IoT Hub Data Contributor at unknown scope {parameters('scopeId')} (parameter 'scopeId'" in u["message"]
    assert u["line"] == line_of(doc, '"scope": "[parameters(')


def test_rbac001_stays_quiet_on_a_hub_scope_whose_hub_name_is_unknown(write: Any, iotguard: Run) -> None:
    scope = "[resourceId('Microsoft.Devices/IotHubs', parameters('hubName'))]"
    doc = template(assignment("a", role_id(f"'{DATA_CONTRIBUTOR}'"), scope=scope),
                   parameters=string_params("hubName"))
    assert unresolved(write, iotguard, doc, "RBAC001") == []


def test_rbac001_unresolved_message_names_the_unknown_role_definition(write: Any, iotguard: Run) -> None:
    doc = template(assignment("a", role_id("parameters('roleId')")), parameters=string_params("roleId"))
    [u] = unresolved(write, iotguard, doc, "RBAC001")
    assert "grants the IoT Hub data role /subscriptions/00000000-0000-0000-0000-000000000000/providers/" \
        "Microsoft.Authorization/roleDefinitions/{parameters('roleId')} at resourceGroup scope" in u["message"]
    assert u["inputs"] == ["parameter 'roleId' has no default and no value was supplied"]


# ----------------------------------------------------------------------------- RBAC002, RBAC003


def test_rbac002_unresolved_message_says_which_grant_is_in_doubt(write: Any, iotguard: Run) -> None:
    doc = template(
        hub(disableLocalAuth=True),
        assignment("a", role_id(f"'{DATA_CONTRIBUTOR}'"), scope="Microsoft.Devices/IotHubs/hub1"),
        assignment("b", role_id("parameters('otherRole')")),
        parameters=string_params("otherRole"),
    )
    [u] = unresolved(write, iotguard, doc, "RBAC002")
    assert u["message"].endswith(
        "can list the hub's keys through another of its role assignments -- outcome depends on: "
        "parameter 'otherRole' has no default and no value was supplied")


def test_rbac002_is_unresolved_when_the_listkeys_grant_has_an_unknown_scope(write: Any, iotguard: Run) -> None:
    doc = template(
        hub(disableLocalAuth=True),
        assignment("a", role_id(f"'{DATA_CONTRIBUTOR}'"), scope="Microsoft.Devices/IotHubs/hub1"),
        assignment("b", role_id(f"'{CONTRIBUTOR}'"), scope="[parameters('where')]"),
        parameters=string_params("where"),
    )
    [u] = unresolved(write, iotguard, doc, "RBAC002")
    assert u["inputs"] == ["parameter 'where' has no default and no value was supplied"]


def test_rbac002_ignores_an_unknown_scope_of_a_role_without_listkeys(write: Any, iotguard: Run) -> None:
    reader = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
    doc = template(
        hub(disableLocalAuth=True),
        assignment("a", role_id(f"'{DATA_CONTRIBUTOR}'"), scope="Microsoft.Devices/IotHubs/hub1"),
        assignment("b", role_id(f"'{reader}'"), scope="[parameters('where')]"),
        parameters=string_params("where"),
    )
    assert unresolved(write, iotguard, doc, "RBAC002") == []


OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
NO_PID = "parameter 'pid' has no default and no value was supplied"


def test_rbac002_is_unresolved_when_the_data_role_principal_is_a_parameter_without_value(
        write: Any, iotguard: Run) -> None:
    doc = template(
        assignment("own", role_id(f"'{OWNER}'")),
        assignment("data", role_id(f"'{DATA_CONTRIBUTOR}'"), principal="[parameters('pid')]",
                   scope="[resourceId('Microsoft.Devices/IotHubs', 'hh')]"),
        parameters=string_params("pid"),
    )
    [u] = unresolved(write, iotguard, doc, "RBAC002")
    assert u["inputs"] == [NO_PID]


def test_rbac002_is_unresolved_when_the_listkeys_principal_is_a_parameter_without_value(
        write: Any, iotguard: Run) -> None:
    doc = template(
        assignment("own", role_id(f"'{OWNER}'"), principal="[parameters('pid')]"),
        assignment("data", role_id(f"'{DATA_CONTRIBUTOR}'"), scope="[resourceId('Microsoft.Devices/IotHubs', 'hh')]"),
        parameters=string_params("pid"),
    )
    [u] = unresolved(write, iotguard, doc, "RBAC002")
    assert u["inputs"] == [NO_PID]


def test_rbac002_names_both_principals_when_two_parameters_without_value_may_be_one(
        write: Any, iotguard: Run) -> None:
    doc = template(
        assignment("own", role_id(f"'{OWNER}'"), principal="[parameters('owner')]"),
        assignment("data", role_id(f"'{DATA_CONTRIBUTOR}'"), principal="[parameters('pid')]",
                   scope="[resourceId('Microsoft.Devices/IotHubs', 'hh')]"),
        parameters=string_params("pid", "owner"),
    )
    [u] = unresolved(write, iotguard, doc, "RBAC002")
    assert u["inputs"] == [NO_PID, "parameter 'owner' has no default and no value was supplied"]


def test_rbac002_fires_when_one_parameter_without_value_gets_both_roles(write: Any, iotguard: Run) -> None:
    doc = template(
        assignment("own", role_id(f"'{OWNER}'"), principal="[parameters('pid')]"),
        assignment("data", role_id(f"'{DATA_CONTRIBUTOR}'"), principal="[parameters('pid')]",
                   scope="[resourceId('Microsoft.Devices/IotHubs', 'hh')]"),
        parameters=string_params("pid"),
    )
    write("main.json", doc)
    _, out, _ = iotguard("check", "--no-config", "--select", "RBAC002", "--format", "json", "main.json")
    report = json.loads(out)
    assert [f["rule_id"] for f in report["findings"]] == ["RBAC002"]
    assert report["unresolved"] == []


def test_rbac002_a_known_second_grant_outweighs_an_unknown_principal(write: Any, iotguard: Run) -> None:
    doc = template(
        assignment("own", role_id(f"'{OWNER}'"), principal="[parameters('pid')]"),
        assignment("contrib", role_id(f"'{CONTRIBUTOR}'")),
        assignment("data", role_id(f"'{DATA_CONTRIBUTOR}'"), scope="[resourceId('Microsoft.Devices/IotHubs', 'hh')]"),
        parameters=string_params("pid"),
    )
    write("main.json", doc)
    _, out, _ = iotguard("check", "--no-config", "--select", "RBAC002", "--format", "json", "main.json")
    report = json.loads(out)
    assert [f["rule_id"] for f in report["findings"]] == ["RBAC002"]
    assert report["unresolved"] == []


def test_rbac002_ignores_an_unknown_principal_without_a_listkeys_grant(write: Any, iotguard: Run) -> None:
    doc = template(
        assignment("read", role_id(f"'{READER}'")),
        assignment("data", role_id(f"'{DATA_CONTRIBUTOR}'"), principal="[parameters('pid')]",
                   scope="[resourceId('Microsoft.Devices/IotHubs', 'hh')]"),
        parameters=string_params("pid"),
    )
    assert unresolved(write, iotguard, doc, "RBAC002") == []


def test_rbac002_ignores_an_unknown_principal_whose_listkeys_grant_is_on_another_resource(
        write: Any, iotguard: Run) -> None:
    doc = template(
        assignment("own", role_id(f"'{OWNER}'"), principal="[parameters('pid')]",
                   scope="[resourceId('Microsoft.Storage/storageAccounts', 'st')]"),
        assignment("data", role_id(f"'{DATA_CONTRIBUTOR}'"), scope="[resourceId('Microsoft.Devices/IotHubs', 'hh')]"),
        parameters=string_params("pid"),
    )
    assert unresolved(write, iotguard, doc, "RBAC002") == []


def _count_weighings(monkeypatch: Any) -> list[int]:
    from engine import rbac_functions

    weighed: list[int] = []
    real = rbac_functions._listkeys_grant

    def counting(data: Any, other: Any) -> str | None:
        weighed.append(1)
        return real(data, other)

    monkeypatch.setattr(rbac_functions, "_listkeys_grant", counting)
    return weighed


def _hub_scope(i: int) -> str:
    return f"[resourceId('Microsoft.Devices/IotHubs', 'hub{i}')]"


def _known_principal(i: int) -> str:
    return f"{i:08d}-2222-3333-4444-555555555555"


SCALE = 200


def unresolved_in_process(write: Callable[..., Any], iotguard: Run, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """RBAC002's unresolved results, evaluated in this process (``--jobs 1``) so that
    the counting of ``_count_weighings`` sees every call."""
    write("main.json", doc)
    _, out, _ = iotguard("check", "--no-config", "--jobs", "1", "--select", "RBAC002", "--format", "json", "main.json")
    report = json.loads(out)
    assert report["findings"] == []
    return [u for u in report["unresolved"] if u["rule_id"] == "RBAC002"]


def test_rbac002_weighs_unknown_data_principals_only_against_nearby_grants(
        write: Any, iotguard: Run, monkeypatch: Any) -> None:
    """Per hub, a known principal holds Contributor and the unknown one the data role:
    each data role is weighed against the grants near its hub, not every assignment of
    the run (that would be quadratic in a large run)."""
    weighed = _count_weighings(monkeypatch)
    resources: list[dict[str, Any]] = []
    for i in range(SCALE):
        resources.append(assignment(f"c{i}", role_id(f"'{CONTRIBUTOR}'"), _known_principal(i), _hub_scope(i)))
        resources.append(assignment(f"d{i}", role_id(f"'{DATA_CONTRIBUTOR}'"), "[parameters('pid')]", _hub_scope(i)))
    found = unresolved_in_process(write, iotguard, template(*resources, parameters=string_params("pid")))
    assert len(found) == SCALE and all(u["inputs"] == [NO_PID] for u in found)
    assert SCALE <= len(weighed) <= 4 * SCALE  # condition and message each ask: linear


def test_rbac002_weighs_unknown_listkeys_principals_only_against_nearby_data_roles(
        write: Any, iotguard: Run, monkeypatch: Any) -> None:
    """Per hub, a known principal holds the data role and Reader, and an unknown one
    Owner: each data role is weighed against its own hub's assignments only."""
    weighed = _count_weighings(monkeypatch)
    resources: list[dict[str, Any]] = []
    for i in range(SCALE):
        resources.append(assignment(f"d{i}", role_id(f"'{DATA_CONTRIBUTOR}'"), _known_principal(i), _hub_scope(i)))
        resources.append(assignment(f"r{i}", role_id(f"'{READER}'"), _known_principal(i), _hub_scope(i)))
        resources.append(assignment(f"o{i}", role_id(f"'{OWNER}'"), "[parameters('pid')]", _hub_scope(i)))
    found = unresolved_in_process(write, iotguard, template(*resources, parameters=string_params("pid")))
    assert len(found) == SCALE and all(u["inputs"] == [NO_PID] for u in found)
    assert SCALE <= len(weighed) <= 4 * SCALE  # condition and message each ask: linear


def egress_hub() -> dict[str, Any]:
    h = hub(disableLocalAuth=True, routing={"endpoints": {"eventHubs": [{
        "name": "e", "authenticationType": "identityBased",
        "endpointUri": "sb://ns1.servicebus.windows.net", "entityPath": "t"}]}})
    h["identity"] = {"type": "SystemAssigned"}
    return h


def test_rbac003_unresolved_on_an_unknown_scope_names_no_empty_data_role(write: Any, iotguard: Run) -> None:
    doc = template(egress_hub(),
                   assignment("c", role_id(f"'{CONTRIBUTOR}'"), HUB_IDENTITY, scope="[parameters('target')]"),
                   parameters=string_params("target"))
    [u] = unresolved(write, iotguard, doc, "RBAC003")
    assert "the control-plane role Contributor on its egress target {parameters('target')}; " \
        "it needs only the data role of the target -- outcome depends on: parameter 'target'" in u["message"]


def test_rbac003_unresolved_on_an_unknown_role_names_the_role_definition(write: Any, iotguard: Run) -> None:
    doc = template(egress_hub(),
                   assignment("d", role_id("parameters('role')"), HUB_IDENTITY,
                              scope="Microsoft.EventHub/namespaces/ns1"),
                   parameters=string_params("role"))
    [u] = unresolved(write, iotguard, doc, "RBAC003")
    assert "the control-plane role /subscriptions/00000000-0000-0000-0000-000000000000/providers/" \
        "Microsoft.Authorization/roleDefinitions/{parameters('role')} on its egress target" in u["message"]
    assert "it needs only Azure Event Hubs Data Sender" in u["message"]


# ----------------------------------------------------------------------------- ROLE rules


def test_role001_unresolved_message_and_location_name_the_unknown_action(write: Any, iotguard: Run) -> None:
    doc = template(custom_role("r", ["[parameters('extra')]"], ["Microsoft.Devices/IotHubs/devices/read"]),
                   parameters=string_params("extra"))
    [u] = unresolved(write, iotguard, doc, "ROLE001")
    assert "may grant IoT Hub data actions and the hub's keys together, depending on " \
        "permissions[0].actions[0] = {parameters('extra')} (parameter 'extra'" in u["message"]
    assert u["inputs"] == ["parameter 'extra' has no default and no value was supplied"]
    assert u["line"] == line_of(doc, "\"[parameters('extra')]\"")


def test_role002_unresolved_message_names_the_unknown_action(write: Any, iotguard: Run) -> None:
    doc = template(custom_role("r", ["[parameters('act')]"], []), parameters=string_params("act"))
    [u] = unresolved(write, iotguard, doc, "ROLE002")
    assert "may grant shared access keys of IoT hubs or DPS, depending on " \
        "permissions[0].actions[0] = {parameters('act')}" in u["message"]


def test_role003_unresolved_message_names_the_unknown_data_action(write: Any, iotguard: Run) -> None:
    doc = template(custom_role("r", [], ["[parameters('data')]"]), parameters=string_params("data"))
    [u] = unresolved(write, iotguard, doc, "ROLE003")
    assert "through a wildcard, depending on permissions[0].dataActions[0] = {parameters('data')}" \
        in u["message"]
    assert u["line"] == line_of(doc, "\"[parameters('data')]\"")


def test_role004_unresolved_message_names_the_unknown_scope(write: Any, iotguard: Run) -> None:
    doc = template(custom_role("r", [], [], scopes=["[parameters('scope')]"]), parameters=string_params("scope"))
    [u] = unresolved(write, iotguard, doc, "ROLE004")
    assert u["message"].startswith(
        "Custom role 'r' has an assignable scope Azure rejects: assignableScopes[0] = {parameters('scope')}")


def test_role003_on_a_wholly_unknown_permissions_list_points_at_that_list(write: Any, iotguard: Run) -> None:
    role = custom_role("r", [], [])
    role["properties"]["permissions"] = "[parameters('perms')]"
    doc = template(role, parameters={"perms": {"type": "array"}})
    [u] = unresolved(write, iotguard, doc, "ROLE003")
    # The one unknown fills every list of the block; none of them alone is the culprit.
    assert "depending on permissions[0] = {parameters('perms')} (parameter 'perms'" in u["message"]
    assert u["line"] == line_of(doc, "\"permissions\": \"[parameters('perms')]\"")


def test_an_unknown_exclusion_is_named_as_what_the_outcome_depends_on_not_as_a_grant(
        write: Any, iotguard: Run) -> None:
    role = custom_role("r", ["Microsoft.Devices/iotHubs/*"], ["Microsoft.Devices/IotHubs/*"])
    role["properties"]["permissions"][0]["notActions"] = ["[parameters('excluded')]"]
    role["properties"]["permissions"][0]["notDataActions"] = ["[parameters('dataExcluded')]"]
    doc = template(role, parameters=string_params("excluded", "dataExcluded"))
    [u] = unresolved(write, iotguard, doc, "ROLE002")
    assert "grants shared access keys" not in u["message"]
    assert "may grant shared access keys of IoT hubs or DPS, depending on " \
        "permissions[0].notActions[0] = {parameters('excluded')}" in u["message"]
