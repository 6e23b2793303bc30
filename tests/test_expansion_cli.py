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


def test_templates_linking_each_other_are_a_located_cycle_error(write: Any, iotguard: Any) -> None:
    write("a.json", template(deployment("toB", templateLink={"relativePath": "sub/b.json"}), hub("hubA")))
    b = write("sub/b.json", template(deployment("toA", templateLink={"relativePath": "../a.json"}),
                                     hub("hubB")))
    code, report = check_json(iotguard, "--select", "HUB005", "a.json")
    assert code == 2
    [error] = report["errors"]
    link_line = next(i for i, line in enumerate(b.read_text().splitlines(), 1) if '"templateLink"' in line)
    assert (error["path"], error["line"]) == ("sub/b.json", link_line)
    assert "forms a cycle: a.json -> sub/b.json -> a.json" in error["message"]
    # each file expanded once: one finding per hub, not one per trip round the cycle
    assert sorted(f["resource_name"] for f in report["findings"]) == ["hubA", "hubB"]


# ----------------------------------------------------------------------------- unknown collections


def unresolved_of(iotguard: Any, rule_id: str) -> list[dict[str, Any]]:
    code, report = check_json(iotguard, "--select", rule_id, "hub.json")
    assert code == 0 and report["findings"] == []
    return [u for u in report["unresolved"] if u["rule_id"] == rule_id]


def test_hub002_routing_endpoints_from_a_parameter_without_value_are_unresolved(
    write: Any, iotguard: Any
) -> None:
    write("hub.json", template(hub(routing={"endpoints": "[parameters('endpoints')]"}),
                               parameters={"endpoints": {"type": "object"}}))
    [u] = unresolved_of(iotguard, "HUB002")
    assert u["property"] == "properties.routing.endpoints"
    assert u["inputs"] == ["parameter 'endpoints' has no default and no value was supplied"]


def test_hub002_an_event_hub_list_from_a_parameter_without_value_is_unresolved(
    write: Any, iotguard: Any
) -> None:
    write("hub.json", template(hub(routing={"endpoints": {"eventHubs": "[parameters('hubs')]"}}),
                               parameters={"hubs": {"type": "array"}}))
    [u] = unresolved_of(iotguard, "HUB002")
    assert u["property"] == "properties.routing.endpoints.eventHubs"
    assert u["inputs"] == ["parameter 'hubs' has no default and no value was supplied"]


def test_hub003_storage_endpoints_from_a_parameter_without_value_are_unresolved(
    write: Any, iotguard: Any
) -> None:
    write("hub.json", template(hub(storageEndpoints="[parameters('upload')]"),
                               parameters={"upload": {"type": "object"}}))
    [u] = unresolved_of(iotguard, "HUB003")
    assert u["property"] == "properties.storageEndpoints"
    assert u["inputs"] == ["parameter 'upload' has no default and no value was supplied"]


def test_hub004_endpoints_from_a_parameter_without_value_are_unresolved(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(routing={"endpoints": "[parameters('endpoints')]"},
                                   storageEndpoints={"$default": "[parameters('upload')]"}),
                               parameters={"endpoints": {"type": "object"}, "upload": {"type": "object"}}))
    found = unresolved_of(iotguard, "HUB004")
    assert sorted(u["property"] for u in found) == ["properties.routing.endpoints",
                                                    "properties.storageEndpoints.$default"]


# ----------------------------------------------------------------------------- parameters


PARAMETER_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"


def tagged_hub() -> dict[str, Any]:
    return template({**hub(disableLocalAuth=True, minTlsVersion="1.2"), "tags": "[parameters('tags')]"},
                    parameters={"tags": {"type": "object", "defaultValue": {}}})


def test_a_malformed_json_cli_value_is_an_error_with_exit_two(write: Any, iotguard: Any) -> None:
    write("hub.json", tagged_hub())
    code, report = check_json(iotguard, "--select", "HUB005", "-p", "tags={bad", "hub.json")
    assert code == 2
    [error] = report["errors"]
    assert error["path"] == "--parameters"
    assert error["message"].startswith("tags={bad: parameter of type object needs JSON")
    assert error["message"].endswith("(template hub.json)")
    assert report["summary"]["files_checked"] == 1


def test_a_shared_parameter_file_warning_names_each_template_it_concerns(write: Any, iotguard: Any) -> None:
    write("a.json", tagged_hub())
    write("b.json", tagged_hub())
    write("shared.json", {"$schema": PARAMETER_SCHEMA, "contentVersion": "1.0.0.0",
                          "parameters": {"tagz": {"value": {}}}})
    _, report = check_json(iotguard, "--select", "HUB005", "--parameters", "shared.json", "a.json", "b.json")
    assert [w["message"] for w in report["warnings"]] == [
        "parameter 'tagz' is not declared by template a.json; its value is ignored",
        "parameter 'tagz' is not declared by template b.json; its value is ignored",
    ]
    assert {w["path"] for w in report["warnings"]} == {"shared.json"}


def test_a_cli_value_checked_against_several_templates_names_each(write: Any, iotguard: Any) -> None:
    limited = tagged_hub()
    limited["parameters"]["sku"] = {"type": "string", "defaultValue": "S1", "allowedValues": ["S1"]}
    write("a.json", limited)
    write("b.json", limited)
    _, report = check_json(iotguard, "--select", "HUB005", "-p", "sku=F1", "a.json", "b.json")
    assert [w["message"] for w in report["warnings"]] == [
        "parameter 'sku' value 'F1' is not one of allowedValues (template a.json)",
        "parameter 'sku' value 'F1' is not one of allowedValues (template b.json)",
    ]


def test_a_broken_sibling_parameter_file_is_reported_once(write: Any, iotguard: Any) -> None:
    write("main.json", tagged_hub())
    write("main.parameters.json", '{"$schema": "' + PARAMETER_SCHEMA + '", "contentVersion": "1.0.0.0",\n'
          ' "parameters": {"tags": {"value": {"a" 1}}}}\n')
    code, report = check_json(iotguard, "--select", "HUB005", ".")
    assert code == 2
    assert [(e["path"], e["line"]) for e in report["errors"]] == [("main.parameters.json", 2)]


# ----------------------------------------------------------------------------- links to odd files


def test_a_link_to_a_device_is_a_warning_not_an_endless_read(write: Any, iotguard: Any) -> None:
    write("main.json", template(deployment("zero", templateLink={"relativePath": "/dev/zero"}),
                                hub(disableLocalAuth=False)))
    code, report = check_json(iotguard, "--select", "HUB001", "main.json")
    assert code == 1 and len(report["findings"]) == 1
    [warning] = report["not_checked"]
    assert "/dev/zero not checked: not a regular file" in warning["message"]


def test_a_link_to_a_fifo_is_a_warning_not_a_hang(write: Any, iotguard: Any, tmp_path: Any) -> None:
    import os

    os.mkfifo(tmp_path / "pipe.json")
    write("main.json", template(deployment("pipe", templateLink={"relativePath": "pipe.json"})))
    _, report = check_json(iotguard, "main.json")
    assert "pipe.json not checked: not a regular file" in report["not_checked"][0]["message"]


def test_a_linked_template_also_checked_directly_reports_each_finding_once(write: Any, iotguard: Any) -> None:
    write("main.json", template(deployment("mod", templateLink={"relativePath": "modules/hub.json"})))
    write("modules/hub.json", template(hub(disableLocalAuth=False)))
    _, report = check_json(iotguard, "--select", "HUB001", ".")
    assert len(report["findings"]) == 1


def test_property_names_differing_only_in_case_are_a_located_warning(write: Any, iotguard: Any) -> None:
    text = json.dumps(template(hub(disableLocalAuth=True)), indent=1).replace(
        '"disableLocalAuth": true', '"disableLocalAuth": true,\n"DisableLocalAuth": false')
    write("hub.json", text)
    _, report = check_json(iotguard, "--select", "HUB001", "hub.json")
    [w] = [w for w in report["warnings"] if "differ only in case" in w["message"]]
    second = next(i for i, line in enumerate(text.splitlines(), 1) if '"DisableLocalAuth"' in line)
    assert w["line"] == second and "'DisableLocalAuth' and 'disableLocalAuth'" in w["message"]


def test_a_module_linked_from_the_run_is_judged_only_with_the_values_passed_to_it(
        write: Any, iotguard: Any) -> None:
    link = deployment("mod", templateLink={"relativePath": "modules/hub.json"},
                      parameters={"hubName": {"value": "linkedhub"}, "dla": {"value": True}})
    write("main.json", template(link))
    write("modules/hub.json", template(hub("[parameters('hubName')]", disableLocalAuth="[parameters('dla')]"),
                                       parameters={"hubName": {"type": "string"}, "dla": {"type": "bool"}}))
    _, report = check_json(iotguard, "--select", "HUB001,HUB011", "--strict", ".")
    assert report["unresolved"] == []
    assert [f["rule_id"] for f in report["findings"]] == ["HUB011"]
    assert "(resolved: 'linkedhub')" in report["findings"][0]["message"]


def test_a_staged_module_linked_from_a_context_template_is_judged_with_what_it_is_passed(
    write: Any, iotguard: Any
) -> None:
    # The pre-commit hook stages the module alone and reads the rest as context: the
    # module's findings come from the context template's deployment, and still count.
    link = deployment("hubModule", templateLink={"relativePath": "modules/hub.json"},
                      parameters={"hubName": {"value": "contoso-hub"}})
    write("main.json", template(link, hub("context-hub")))
    write("modules/hub.json", template(hub("[parameters('hubName')]"),
                                       parameters={"hubName": {"type": "string"}}))
    _, report = check_json(iotguard, "--select", "HUB001", "--context", ".", "modules/hub.json")
    assert [(f["path"], f["resource_name"]) for f in report["findings"]] == [
        ("modules/hub.json", "contoso-hub")]


def test_rules_are_not_evaluated_on_a_file_read_only_as_context(write: Any, tmp_path: Any) -> None:
    from engine import pipeline
    from engine.rulepack import bundled_rules_dir, load_rules

    assignment = {
        "type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
        "name": "[guid('a')]",
        "properties": {"principalId": "[parameters('who')]",
                       "roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/"
                                           "roleDefinitions', '4fc6c259-987e-4a07-842e-c321cc9d413f')]"}}
    path = write("other/hub.json", template(
        hub("hub1", disableLocalAuth="[parameters('off')]"), assignment,
        parameters={"off": {"type": "bool", "defaultValue": False}, "who": {"type": "string"}}))
    rules = load_rules([bundled_rules_dir()])
    plan = pipeline._Plan(rules, [r.info for r in rules], frozenset({"other/hub.json"}))
    loaded = pipeline._FileWork(pipeline.Options(), str(tmp_path), [], {}, plan)(
        (str(path), "other/hub.json"))
    # Its resources still correlate with the run; nothing is evaluated on them.
    hub_resource, ra = loaded.resources
    assert loaded.context and hub_resource.name == "hub1"
    assert (loaded.subjects, loaded.outcomes, loaded.evaluated) == ([], [], [])
    # Provenance travels only where the run reads it: an assignment's principal.
    assert not hub_resource.origins and ra.map(("properties", "principalId")).origin.name == "who"
