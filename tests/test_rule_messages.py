"""Rule messages name the property that is actually at fault."""

from __future__ import annotations

from typing import Any

from tests.conftest import hub, template


def test_hub010_names_module_sas_when_only_device_sas_is_disabled(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(disableDeviceSAS=True, disableModuleSAS=False)))
    _, out, _ = iotguard("check", "--no-config", "--select", "HUB010", "hub.json")
    assert "properties.disableModuleSAS = false" in out


def test_adu001_says_where_the_linked_hub_id_came_from(write: Any, iotguard: Any) -> None:
    instance = {
        "type": "Microsoft.DeviceUpdate/accounts/instances", "apiVersion": "2023-07-01",
        "name": "adu1/inst1", "location": "westeurope",
        "properties": {"iotHubs": [{"resourceId": "[resourceId('Microsoft.Devices/IotHubs', parameters('hubName'))]"}]},
    }
    write("adu.json", template(instance, parameters={"hubName": {"type": "string", "defaultValue": "hub7"}}))
    _, out, _ = iotguard("check", "--no-config", "--select", "ADU001", "adu.json")
    assert "links hub /subscriptions/" in out and "/IotHubs/hub7 (expression at adu.json:" in out


def test_a_finding_on_a_duplicated_key_points_at_the_key_whose_value_counts(write: Any, iotguard: Any) -> None:
    import json

    text = json.dumps(template(hub(disableLocalAuth=True)), indent=1).replace(
        '"disableLocalAuth": true', '"disableLocalAuth": true,\n"disableLocalAuth": false')
    assert '"disableLocalAuth": false' in text
    path = write("hub.json", text)
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if '"disableLocalAuth": false' in s)
    _, out, _ = iotguard("check", "--no-config", "--select", "HUB001", "hub.json")
    assert f"hub.json:{line}:" in out


def test_a_known_grant_that_an_unknown_not_action_may_remove_is_unresolved(write: Any, iotguard: Any) -> None:
    import json

    role = {
        "type": "Microsoft.Authorization/roleDefinitions", "apiVersion": "2022-04-01",
        "name": "[guid('keys-role')]",
        "properties": {
            "roleName": "Key reader", "type": "CustomRole",
            "permissions": [{"actions": ["Microsoft.Devices/iotHubs/listkeys/action"],
                             "notActions": ["[parameters('blocked')]"]}],
            "assignableScopes": ["[subscription().id]"],
        },
    }
    write("role.json", template(role, parameters={"blocked": {"type": "string"}}))
    _, out, _ = iotguard("check", "--no-config", "--select", "ROLE002", "--format", "json")
    report = json.loads(out)
    assert report["findings"] == []
    [u] = report["unresolved"]
    assert u["rule_id"] == "ROLE002" and any("blocked" in i for i in u["inputs"])


def _json(out: str) -> Any:
    import json

    return json.loads(out)


def test_dps001_unresolved_names_the_unknown_link_instead_of_a_blank(write: Any, iotguard: Any) -> None:
    dps = {"type": "Microsoft.Devices/provisioningServices", "apiVersion": "2022-02-05", "name": "dps",
           "location": "westeurope", "sku": {"name": "S1", "capacity": 1},
           "properties": {"iotHubs": [{"location": "westeurope", "connectionString": "[parameters('cs')]"}]}}
    write("dps.json", template(hub(disableLocalAuth=True), dps, parameters={"cs": {"type": "securestring"}}))
    _, out, _ = iotguard("check", "--no-config", "--select", "DPS001", "--format", "json")
    [u] = _json(out)["unresolved"]
    assert "links a hub with a shared access key (properties.iotHubs[0].connectionString = " \
           "{parameters('cs')}" in u["message"]


def test_rbac001_says_when_the_scope_is_the_implicit_deployment_scope(write: Any, iotguard: Any) -> None:
    ra = {"type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01", "name": "[guid('a')]",
          "properties": {"roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                                             "'4fc6c259-987e-4a07-842e-c321cc9d413f')]",
                         "principalId": "11111111-2222-3333-4444-555555555555"}}
    write("ra.json", template(ra))
    _, out, _ = iotguard("check", "--no-config", "--select", "RBAC001", "--format", "json")
    [f] = _json(out)["findings"]
    assert f["message"].startswith("Microsoft.Authorization/roleAssignments '[guid('a')]' (resolved: '")
    assert "(no scope property, so the deployment scope): it covers" in f["message"]
    assert f["provenance"] == ""  # computed, not written anywhere: no "literal at"


def test_hub008_reports_a_secure_parameter_default_at_the_default_value(write: Any, iotguard: Any) -> None:
    import json

    key = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg=="
    doc = template(parameters={"storageConnection": {
        "type": "securestring",
        "defaultValue": f"DefaultEndpointsProtocol=https;AccountName=st;AccountKey={key}"}})
    path = write("main.json", doc)
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if '"defaultValue"' in s)
    _, out, _ = iotguard("check", "--no-config", "--select", "HUB008", "--format", "json", "main.json")
    [f] = json.loads(out)["findings"]
    assert (f["line"], f["column"]) == (line, 7)
    assert "parameters.storageConnection = DefaultEndpointsProtocol=https;AccountName=st;AccountKey=Zm9v..." \
        in f["message"]
    assert f"parameter 'storageConnection', default at main.json:{line}" in f["message"]


def test_no_message_repeats_a_literal_key(write: Any, iotguard: Any) -> None:
    key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MTIzNDU2Nzg5MA=="
    conn = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={key};EndpointSuffix=core.windows.net"
    h = hub(storageEndpoints={"$default": {"connectionString": conn, "containerName": "c"}},
            routing={"endpoints": {"cosmosDBSqlContainers": [{"name": "c", "endpointUri": "https://c.documents.azure.com",
                                                               "primaryKey": key, "databaseName": "d",
                                                               "containerName": "x"}]}})
    write("hub.json", template(h))
    for fmt in ("text", "json", "sarif", "github", "junit"):
        _, out, _ = iotguard("check", "--no-config", "--format", fmt, "hub.json")
        assert key not in out and key[:20] not in out, fmt
        assert "AccountKey=QUJD..." in out, fmt
