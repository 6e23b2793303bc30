"""A resource whose condition is unknown may not be deployed: when it is what would keep a
rule quiet (a DPS link needing local auth, a diagnostic setting, a data-role assignment),
the outcome hinges on that condition and is unresolved, never a silent pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "arm" / "unknown-condition"


@pytest.mark.parametrize(("fixture", "rule", "parameter", "extra"), [
    ("dps-link.json", "HUB001", "useDps", ()),
    ("diagnostic-setting.json", "HUB011", "d2", ("-p", "useDps=true")),
    ("role-assignment.json", "ADU001", "ra", ()),
])
def test_an_exempting_resource_of_unknown_condition_makes_the_rule_unresolved(
        fixture: str, rule: str, parameter: str, extra: tuple[str, ...], tmp_path: Path, iotguard: Any) -> None:
    shutil.copy(FIXTURES / fixture, tmp_path / fixture)
    _, out, _ = iotguard("check", "--no-config", "--select", rule, "--format", "json", *extra, fixture)
    report = json.loads(out)
    assert [f for f in report["findings"] if f["rule_id"] == rule] == []
    [u] = [u for u in report["unresolved"] if u["rule_id"] == rule]
    assert any(f"parameter '{parameter}'" in i for i in u["inputs"])


@pytest.mark.parametrize(("fixture", "rule", "value"), [
    ("dps-link.json", "HUB001", "useDps=false"),
    ("role-assignment.json", "ADU001", "ra=false"),
])
def test_with_the_condition_known_false_the_rule_fires(
        fixture: str, rule: str, value: str, tmp_path: Path, iotguard: Any) -> None:
    shutil.copy(FIXTURES / fixture, tmp_path / fixture)
    _, out, _ = iotguard("check", "--no-config", "--select", rule, "--format", "json", "-p", value, fixture)
    assert [f["rule_id"] for f in json.loads(out)["findings"]] == [rule]


def _dps(write: Any, *hubs: dict[str, Any]) -> None:
    from tests.conftest import template

    dps = {"type": "Microsoft.Devices/provisioningServices", "apiVersion": "2022-02-05", "name": "dps",
           "location": "westeurope", "sku": {"name": "S1", "capacity": 1},
           "properties": {"iotHubs": [{"location": "westeurope", "connectionString": "[parameters('cs')]"}]}}
    write("t.json", template(*hubs, dps, parameters={"cs": {"type": "securestring"}}))


@pytest.mark.parametrize("hubs", [(), ({"disableLocalAuth": False},)])
def test_an_unknown_dps_link_is_no_question_when_no_hub_of_the_run_disables_local_auth(
        hubs: tuple[dict[str, Any], ...], write: Any, iotguard: Any) -> None:
    from tests.conftest import hub

    _dps(write, *(hub(**h) for h in hubs))
    _, out, _ = iotguard("check", "--no-config", "--select", "DPS001", "--strict", "--format", "json", "t.json")
    report = json.loads(out)
    assert report["findings"] == [] and report["unresolved"] == []


def test_an_unknown_dps_link_is_unresolved_when_a_hub_of_the_run_disables_local_auth(
        write: Any, iotguard: Any) -> None:
    from tests.conftest import hub

    _dps(write, hub(disableLocalAuth=True))
    _, out, _ = iotguard("check", "--no-config", "--select", "DPS001", "--format", "json", "t.json")
    [u] = json.loads(out)["unresolved"]
    assert any("parameter 'cs'" in i for i in u["inputs"])


def test_hub009_keys_of_a_resource_type_outside_the_rule_are_no_question_even_with_unknown_name(
        write: Any, iotguard: Any) -> None:
    from tests.conftest import template

    out_key = {"type": "string", "value": "[listKeys(resourceId('Microsoft.DocumentDB/databaseAccounts', "
                                           "parameters('n')), '2023-04-15').primaryMasterKey]"}
    write("t.json", template(parameters={"n": {"type": "string"}}, outputs={"k": out_key}))
    _, out, _ = iotguard("check", "--no-config", "--select", "HUB009", "--format", "json", "t.json")
    report = json.loads(out)
    assert report["findings"] == [] and report["unresolved"] == []
