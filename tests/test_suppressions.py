"""Suppressions from configuration and inline metadata: accepted with a reason, never dropped."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import hub, template
from tests.test_cli import GOOD


def _bad(name: str = "hub1") -> dict[str, Any]:
    return template(hub(name, **{**GOOD, "disableLocalAuth": False}))


def _hub001(out: str) -> list[dict[str, Any]]:
    return [f for f in json.loads(out)["findings"] if f["rule_id"] == "HUB001"]


def test_config_suppression_marks_finding_and_passes_the_run(write: Any, iotguard: Any) -> None:
    write("legacy/hub.json", _bad())
    write(".iotguard.yaml", "suppressions:\n  - {rule: HUB001, path: 'legacy/**', reason: migrating in Q3}\n")
    code, out, _ = iotguard("check", "--format", "json")
    [f] = _hub001(out)
    assert f["suppressed"]["reason"] == "migrating in Q3" and f["suppressed"]["kind"] == "config"
    assert code == 0


def test_suppression_path_glob_limits_its_reach(write: Any, iotguard: Any) -> None:
    write("legacy/hub.json", _bad())
    write("new/hub.json", _bad())
    write(".iotguard.yaml", "suppressions:\n  - {rule: HUB001, path: 'legacy/**', reason: r}\n")
    code, out, _ = iotguard("check", "--format", "json")
    active = [f for f in _hub001(out) if "suppressed" not in f]
    assert [f["path"] for f in active] == ["new/hub.json"] and code == 1


def test_suppression_resource_glob_is_case_insensitive(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub("Legacy-Hub", **{**GOOD, "disableLocalAuth": False}),
                               hub("fresh", **{**GOOD, "disableLocalAuth": False})))
    write(".iotguard.yaml", "suppressions:\n  - {rule: HUB001, resource: 'legacy-*', reason: r}\n")
    _, out, _ = iotguard("check", "--format", "json")
    assert {f["resource_name"]: "suppressed" in f for f in _hub001(out)} == {"Legacy-Hub": True, "fresh": False}


def test_suppression_by_tag(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad())
    write(".iotguard.yaml", "suppressions:\n  - {rule: entra, reason: r}\n")
    _, out, _ = iotguard("check", "--format", "json")
    assert all("suppressed" in f for f in _hub001(out))


def test_expired_suppression_stops_applying_and_is_reported(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad())
    write(".iotguard.yaml", "suppressions:\n  - {rule: HUB001, reason: r, expires: 2020-01-01}\n")
    code, out, _ = iotguard("check", "--format", "json")
    doc = json.loads(out)
    assert code == 1 and all("suppressed" not in f for f in _hub001(out))
    assert any("expired" in w["message"] and w["path"] == ".iotguard.yaml" and w["line"] == 2
               for w in doc["warnings"])


def test_inline_metadata_suppression(write: Any, iotguard: Any) -> None:
    h = hub(**{**GOOD, "disableLocalAuth": False})
    h["metadata"] = {"iotguard": {"suppress": [{"rule": "HUB001", "reason": "break-glass hub"}]}}
    write("hub.json", template(h))
    code, out, _ = iotguard("check", "--format", "json")
    [f] = _hub001(out)
    assert f["suppressed"]["kind"] == "inline" and f["suppressed"]["reason"] == "break-glass hub"
    assert code == 0


def test_suppressed_findings_hidden_in_text_unless_asked(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad())
    write(".iotguard.yaml", "suppressions:\n  - {rule: HUB001, reason: accepted risk}\n")
    _, out, _ = iotguard("check", "--no-color")
    assert "HUB001" not in out.split("suppressed")[0] or "accepted risk" not in out
    _, out, _ = iotguard("check", "--no-color", "--show-suppressed")
    assert "HUB001" in out and "accepted risk" in out


def _inline(*entries: Any) -> dict[str, Any]:
    h = hub(**{**GOOD, "disableLocalAuth": False})
    h["metadata"] = {"iotguard": {"suppress": list(entries)}}
    return template(h)


def _problems(out: str, kind: str = "errors") -> list[str]:
    return [f"{p['line']}:{p['column']} {p['message']}" for p in json.loads(out)[kind]]


def _line_of(path: Any, text: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if text in ln)


def test_inline_suppression_without_reason_is_a_located_error_and_suppresses_nothing(
        write: Any, iotguard: Any) -> None:
    path = write("hub.json", _inline({"rule": "HUB001"}))
    code, out, _ = iotguard("check", "--format", "json")
    assert code == 2 and all("suppressed" not in f for f in _hub001(out))
    [error] = _problems(out)
    entry_line = _line_of(path, '"rule": "HUB001"') - 1  # the entry's opening brace
    assert error.startswith(f"{entry_line}:") and "'reason' is required" in error


def test_inline_suppression_with_blank_reason_is_explained_in_words(write: Any, iotguard: Any) -> None:
    write("hub.json", _inline({"rule": "HUB001", "reason": "  "}))
    code, out, _ = iotguard("check", "--format", "json")
    assert code == 2 and _problems(out)[0].endswith(
        "inline suppression: reason: '  ' is not a reason of at least one non-blank character")


def test_inline_suppression_with_unknown_rule_names_the_close_match(write: Any, iotguard: Any) -> None:
    path = write("hub.json", _inline({"rule": "HUB0001", "reason": "r"}))
    code, out, _ = iotguard("check", "--format", "json")
    [error] = _problems(out)
    assert code == 2 and error.startswith(f"{_line_of(path, 'HUB0001')}:")
    assert error.endswith("rule: 'HUB0001' matches no rule id, tag or id prefix; did you mean HUB001?")


def test_inline_suppression_may_name_a_rule_outside_the_selection(write: Any, iotguard: Any) -> None:
    write("hub.json", _inline({"rule": "HUB001", "reason": "r"}))
    code, out, _ = iotguard("check", "--select", "HUB005", "--format", "json")
    assert code == 0 and _problems(out) == []


def test_inline_suppression_with_bad_expires_is_a_located_error(write: Any, iotguard: Any) -> None:
    path = write("hub.json", _inline({"rule": "HUB001", "reason": "r", "expires": "31/12/2099"}))
    code, out, _ = iotguard("check", "--format", "json")
    [error] = _problems(out)
    assert code == 2 and error.startswith(f"{_line_of(path, '31/12/2099')}:")
    assert error.endswith("expires: '31/12/2099' is not a date YYYY-MM-DD")


def test_inline_suppression_with_unknown_key_hints_the_right_one(write: Any, iotguard: Any) -> None:
    write("hub.json", _inline({"rule": "HUB001", "reasn": "r"}))
    _, out, _ = iotguard("check", "--format", "json")
    assert any("unknown key 'reasn'; did you mean 'reason'?" in e for e in _problems(out))


def test_expired_inline_suppression_stops_applying_and_says_so(write: Any, iotguard: Any) -> None:
    path = write("hub.json", _inline({"rule": "HUB001", "reason": "r", "expires": "2020-01-01"}))
    code, out, _ = iotguard("check", "--format", "json")
    assert code == 1 and all("suppressed" not in f for f in _hub001(out))
    [warning] = _problems(out, "warnings")
    assert warning.startswith(f"{_line_of(path, '2020-01-01')}:")
    assert "suppression of HUB001 expired on 2020-01-01 and no longer applies" in warning


def test_unexpired_inline_suppression_applies_and_records_its_expiry(write: Any, iotguard: Any) -> None:
    write("hub.json", _inline({"rule": "HUB001", "reason": "r", "expires": "2999-01-01"}))
    code, out, _ = iotguard("check", "--format", "json")
    [f] = _hub001(out)
    assert code == 0 and f["suppressed"]["expires"] == "2999-01-01"


def test_inline_suppression_by_prefix_like_config_ones(write: Any, iotguard: Any) -> None:
    write("hub.json", _inline({"rule": "HUB", "reason": "lab hub"}))
    _, out, _ = iotguard("check", "--format", "json")
    assert all(f["suppressed"]["reason"] == "lab hub" for f in json.loads(out)["findings"])


def test_inline_suppression_on_a_role_assignment_applies_to_rbac_rules(write: Any, iotguard: Any) -> None:
    ra = {
        "type": "Microsoft.Authorization/roleAssignments", "apiVersion": "2022-04-01",
        "name": "[guid('ra')]",
        "metadata": {"iotguard": {"suppress": [{"rule": "RBAC001", "reason": "lab resource group"}]}},
        "properties": {
            "roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                                "'4fc6c259-987e-4a07-842e-c321cc9d413f')]",
            "principalId": "11111111-2222-3333-4444-555555555555",
        },
    }
    write("ra.json", template(ra))
    code, out, _ = iotguard("check", "--no-config", "--select", "RBAC001", "--format", "json")
    [f] = json.loads(out)["findings"]
    assert f["rule_id"] == "RBAC001" and f["suppressed"]["reason"] == "lab resource group"
    assert code == 0


def test_inline_suppression_on_a_resource_covers_a_template_rule_finding_inside_it(
        write: Any, iotguard: Any) -> None:
    site = {
        "type": "Microsoft.Web/sites", "apiVersion": "2022-09-01", "name": "app",
        "metadata": {"iotguard": {"suppress": [{"rule": "HUB008", "reason": "throw-away test key"}]}},
        "properties": {"siteConfig": {"appSettings": [{
            "name": "HUB", "value": "HostName=h.azure-devices.net;SharedAccessKeyName=service;"
                                    "SharedAccessKey=q3Vd1Ks9Tf0pXz7aB2cD4eF6gH8iJ0kL1mN3oP5rS7u="}]}},
    }
    other = {**site, "name": "app2", "metadata": {}}
    write("app.json", template(site, other))
    _, out, _ = iotguard("check", "--no-config", "--select", "HUB008", "--format", "json")
    found = {f["resource_name"] + str(f["line"]): "suppressed" in f for f in json.loads(out)["findings"]}
    assert sorted(found.values()) == [False, True]


def test_inline_suppression_on_a_role_definition_resource_applies_to_role_rules(write: Any, iotguard: Any) -> None:
    role = {
        "type": "Microsoft.Authorization/roleDefinitions", "apiVersion": "2022-04-01", "name": "[guid('r')]",
        "metadata": {"iotguard": {"suppress": [{"rule": "ROLE001", "reason": "reviewed break-glass role"}]}},
        "properties": {"roleName": "Keys and reads", "type": "CustomRole",
                       "permissions": [{"actions": ["Microsoft.Devices/iotHubs/listkeys/action"],
                                        "dataActions": ["Microsoft.Devices/IotHubs/devices/read"]}],
                       "assignableScopes": ["[subscription().id]"]},
    }
    write("role.json", template(role))
    code, out, _ = iotguard("check", "--no-config", "--select", "ROLE001", "--format", "json")
    [f] = json.loads(out)["findings"]
    assert f["suppressed"]["reason"] == "reviewed break-glass role" and code == 0
