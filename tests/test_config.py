"""Configuration: discovery, validation with located errors, and its effect on a run."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from engine.config import ConfigError, find_config, load_config
from tests.conftest import hub, template
from tests.test_cli import GOOD, bad_hub


def test_config_is_found_in_a_parent_directory(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "fail-on: high\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert find_config(str(tmp_path / "a" / "b")) == str(tmp_path / ".iotguard.yaml")


def test_pyproject_without_iotguard_table_is_not_a_config(write: Any, tmp_path: Path) -> None:
    write("pyproject.toml", "[project]\nname = 'x'\n")
    assert load_config(str(tmp_path)) is None


def test_pyproject_tool_table_is_read(write: Any, tmp_path: Path) -> None:
    write("pyproject.toml", "[tool.iotguard]\nfail-on = 'high'\nignore = ['HUB004']\n")
    cfg = load_config(str(tmp_path))
    assert cfg is not None and cfg.fail_on == "high" and cfg.ignore == ["HUB004"]


def test_misspelt_key_is_located_with_a_hint(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "select: [HUB]\nfail_on: high\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    assert (exc.value.line, exc.value.column) == (2, 1)
    assert "did you mean 'fail-on'" in exc.value.message


def test_every_mistake_is_reported_at_once_in_file_order(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "fail-on: hgh\nselct: [HUB]\nignore: 5\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    lines = str(exc.value).splitlines()
    assert [line.split(": error:")[0].rsplit(":", 2)[1:] for line in lines] == [
        ["1", "10"], ["2", "1"], ["3", "9"]]


def test_wrong_type_names_the_accepted_types(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "ignore: 5\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    assert exc.value.message == "ignore: expected string or array, got integer"


def test_suppression_without_reason_is_rejected_at_its_line(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "suppressions:\n  - rule: HUB001\n    path: legacy/**\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    assert exc.value.line == 2 and "reason" in exc.value.message


def test_bad_severity_value_names_the_choices(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "severity:\n  HUB004: severe\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    assert exc.value.line == 2 and "critical" in exc.value.message


def test_unquoted_yaml_date_is_accepted_for_expires(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "suppressions:\n  - {rule: HUB001, reason: legacy, expires: 2030-01-31}\n")
    cfg = load_config(str(tmp_path))
    assert cfg is not None and cfg.suppressions[0].expires == datetime.date(2030, 1, 31)


def test_invalid_config_exits_2_with_location(write: Any, iotguard: Any) -> None:
    write(".iotguard.yaml", "fail-on: [high\n")
    write("hub.json", bad_hub())
    code, _, err = iotguard("check")
    assert code == 2 and ".iotguard.yaml:" in err and "invalid YAML" in err


def test_config_fail_on_changes_the_exit_code(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(**{**GOOD, "minTlsVersion": "1.0"})))
    code, out, _ = iotguard("check", "--format", "json")
    sev = {f["severity"] for f in json.loads(out)["findings"] if f["rule_id"] == "HUB005"}
    assert sev and code == 1
    write(".iotguard.yaml", "fail-on: critical\n")
    code, _, _ = iotguard("check")
    assert code == 0


def test_config_ignore_drops_the_rule(write: Any, iotguard: Any) -> None:
    write("hub.json", bad_hub())
    write(".iotguard.yaml", "ignore: [entra]\n")
    _, out, _ = iotguard("check", "--format", "json")
    assert "HUB001" not in {f["rule_id"] for f in json.loads(out)["findings"]}


def test_config_severity_override_applies(write: Any, iotguard: Any) -> None:
    write("hub.json", bad_hub())
    write(".iotguard.yaml", "severity: {HUB001: low}\n")
    _, out, _ = iotguard("check", "--format", "json")
    found = [f for f in json.loads(out)["findings"] if f["rule_id"] == "HUB001"]
    assert found and all(f["severity"] == "low" for f in found)


def test_no_config_flag_ignores_the_file(write: Any, iotguard: Any) -> None:
    write("hub.json", bad_hub())
    write(".iotguard.yaml", "fail-on: critical\n")
    code, _, _ = iotguard("check", "--no-config")
    assert code == 1


def test_parameter_mapping_applies_to_matching_templates(write: Any, iotguard: Any) -> None:
    params = {"disable": {"type": "bool", "defaultValue": True}}
    write("infra/hub.json", template(hub(**{**GOOD, "disableLocalAuth": "[parameters('disable')]"}),
                                     parameters=params))
    write("env/prod.json", {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                            "deploymentParameters.json#", "contentVersion": "1.0.0.0",
                            "parameters": {"disable": {"value": False}}})
    write(".iotguard.yaml", "parameters:\n  'infra/*.json': env/prod.json\nexclude: [env]\n")
    _, out, _ = iotguard("check", "--format", "json")
    assert "HUB001" in {f["rule_id"] for f in json.loads(out)["findings"]}


def test_impossible_expiry_date_is_a_located_error(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "suppressions:\n  - rule: HUB005\n    path: '**'\n    reason: r\n    expires: 2025-13-45\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    assert (exc.value.line, exc.value.column) == (5, 14) and "invalid date" in exc.value.message


def test_blank_reason_is_explained_in_words_not_as_a_regex(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "suppressions:\n  - {rule: HUB001, reason: '   '}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    assert exc.value.message == "suppressions.0.reason: '   ' is not a reason of at least one non-blank character"
    assert "\\S" not in str(exc.value)


def test_malformed_expires_is_explained_in_words_not_as_a_regex(write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "suppressions:\n  - {rule: HUB001, reason: r, expires: 'next June'}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    assert exc.value.message == "suppressions.0.expires: 'next June' is not a date YYYY-MM-DD"
    assert "\\d" not in str(exc.value)
