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
