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
