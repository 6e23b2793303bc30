"""HUB rules facing unknown inputs: an *unresolved* result that names the unknown input
when it could change the outcome, and a definite answer when the known parts settle it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import hub, template

Run = Callable[..., tuple[int, str, str]]


def report(write: Callable[..., Any], iotguard: Run, doc: dict[str, Any], rule: str) -> dict[str, Any]:
    write("main.json", doc)
    _, out, _ = iotguard("check", "--no-config", "--select", rule, "--format", "json", "main.json")
    result: dict[str, Any] = json.loads(out)
    return result


def diagnostics(scope: str, name: str = "logs") -> dict[str, Any]:
    return {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview",
            "name": name, "scope": scope,
            "properties": {"logs": [{"categoryGroup": "allLogs", "enabled": True}]}}


def string_params(*names: str) -> dict[str, Any]:
    return {n: {"type": "string"} for n in names}


# ----------------------------------------------------------------------------- HUB011


def test_hub011_is_unresolved_when_a_setting_for_an_unknown_hub_name_might_target_the_hub(
        write: Any, iotguard: Run) -> None:
    doc = template(hub("knownhub"),
                   diagnostics("[resourceId('Microsoft.Devices/IotHubs', parameters('hubName'))]"),
                   parameters=string_params("hubName"))
    out = report(write, iotguard, doc, "HUB011")
    assert out["findings"] == []
    [u] = out["unresolved"]
    assert u["resource_name"] == "knownhub"
    assert u["inputs"] == ["parameter 'hubName' has no default and no value was supplied"]


def test_hub011_is_unresolved_when_a_setting_scope_is_wholly_unknown(write: Any, iotguard: Run) -> None:
    doc = template(hub("knownhub"), diagnostics("[parameters('hubId')]"), parameters=string_params("hubId"))
    out = report(write, iotguard, doc, "HUB011")
    assert out["findings"] == []
    [u] = out["unresolved"]
    assert u["inputs"] == ["parameter 'hubId' has no default and no value was supplied"]


def test_hub011_is_unresolved_for_a_legacy_child_setting_of_an_unknown_hub(write: Any, iotguard: Run) -> None:
    legacy = {"type": "Microsoft.Devices/IotHubs/providers/diagnosticSettings",
              "apiVersion": "2021-05-01-preview",
              "name": "[concat(parameters('hubName'), '/Microsoft.Insights/logs')]",
              "properties": {"logs": [{"categoryGroup": "allLogs", "enabled": True}]}}
    doc = template(hub("knownhub"), legacy, parameters=string_params("hubName"))
    out = report(write, iotguard, doc, "HUB011")
    assert out["findings"] == []
    [u] = out["unresolved"]
    assert u["inputs"] == ["parameter 'hubName' has no default and no value was supplied"]


def test_hub011_still_fires_when_the_unknown_setting_targets_another_resource_type(
        write: Any, iotguard: Run) -> None:
    doc = template(hub("knownhub"),
                   diagnostics("[resourceId('Microsoft.Storage/storageAccounts', parameters('account'))]"),
                   parameters=string_params("account"))
    out = report(write, iotguard, doc, "HUB011")
    assert [f["resource_name"] for f in out["findings"]] == ["knownhub"]
    assert out["unresolved"] == []


def test_hub011_still_fires_when_only_the_subscription_of_a_setting_for_another_hub_is_unknown(
        write: Any, iotguard: Run) -> None:
    scope = "[concat('/subscriptions/', parameters('sub'), '/resourceGroups/rg/providers/Microsoft.Devices/IotHubs/other')]"
    doc = template(hub("knownhub"), diagnostics(scope), parameters=string_params("sub"))
    out = report(write, iotguard, doc, "HUB011")
    assert [f["resource_name"] for f in out["findings"]] == ["knownhub"]
    assert out["unresolved"] == []


def test_hub011_is_quiet_when_a_setting_with_an_unknown_subscription_names_the_hub(
        write: Any, iotguard: Run) -> None:
    scope = "[concat('/subscriptions/', parameters('sub'), '/resourceGroups/rg/providers/Microsoft.Devices/IotHubs/knownhub')]"
    doc = template(hub("knownhub"), diagnostics(scope), parameters=string_params("sub"))
    out = report(write, iotguard, doc, "HUB011")
    assert out["findings"] == [] and out["unresolved"] == []


def test_hub011_a_known_setting_for_the_hub_outweighs_an_unknown_one(write: Any, iotguard: Run) -> None:
    doc = template(hub("knownhub"), diagnostics("Microsoft.Devices/IotHubs/knownhub", "a"),
                   diagnostics("[parameters('hubId')]", "b"), parameters=string_params("hubId"))
    out = report(write, iotguard, doc, "HUB011")
    assert out["findings"] == [] and out["unresolved"] == []


def test_a_property_inside_an_unknown_object_is_shown_as_that_unknown_not_as_absent(
        write: Any, iotguard: Run) -> None:
    h = hub("hub1")
    h["properties"] = "[parameters('props')]"
    doc = template(h, parameters={"props": {"type": "object"}})
    [u] = report(write, iotguard, doc, "HUB001")["unresolved"]
    assert u["property"] == "properties" and "= absent" not in u["message"]
    assert "properties = {parameters('props')}" in u["message"]
    # Located at the unknown object, as written in the file.
    lines = json.dumps(doc, indent=2).splitlines()
    assert u["line"] == next(i for i, line in enumerate(lines, 1) if '"properties": "[' in line)
