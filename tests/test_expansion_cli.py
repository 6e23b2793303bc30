"""ARM expansion as ``iotguard check`` reports it: nested and linked deployments,
parameters from files and the command line, and the messages that name them."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import hub, template


def deployment(name: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": name,
        "properties": {"mode": "Incremental", **properties},
    }


def check_json(iotguard: Any, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = iotguard("check", "--no-config", "--format", "json", *args)
    return code, json.loads(out)


# ----------------------------------------------------------------------------- nested conditions


def test_a_hub_in_a_nested_deployment_with_an_unknown_condition_is_reported_as_conditional(
    write: Any, iotguard: Any
) -> None:
    dep = {**deployment("hubDeployment", template=template(hub())), "condition": "[parameters('deployHub')]"}
    write("main.json", template(dep, parameters={"deployHub": {"type": "bool"}}))
    _, report = check_json(iotguard, "--select", "HUB001", "main.json")
    [finding] = report["findings"]
    assert finding["resource_name"] == "hub1"
    assert "deployed only if its condition holds, which is unknown" in finding["message"]
    assert "parameter 'deployHub' has no default" in finding["message"]


# ----------------------------------------------------------------------------- linked templates


def test_a_resource_from_a_linked_template_is_named_as_written_in_that_template(
    write: Any, iotguard: Any
) -> None:
    link = deployment("hubModule", templateLink={"relativePath": "modules/hub.json"},
                      parameters={"hubName": {"value": "contoso-hub"}})
    write("main.json", template(link))
    linked = write("modules/hub.json", template(hub("[parameters('hubName')]"),
                                                parameters={"hubName": {"type": "string"}}))
    _, report = check_json(iotguard, "--select", "HUB001", "main.json")
    [finding] = report["findings"]
    assert "IotHubs '[parameters('hubName')]' (resolved: 'contoso-hub')" in finding["message"]
    assert "'hubModule'" not in finding["message"]
    hub_line = next(i for i, line in enumerate(linked.read_text().splitlines(), 1)
                    if '"type": "Microsoft.Devices/IotHubs"' in line)
    assert (finding["path"], finding["line"]) == ("modules/hub.json", hub_line - 1)
