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


def _config_error(tmp_path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    return exc.value


def test_broken_pyproject_with_our_table_is_a_located_error(write: Any, tmp_path: Path) -> None:
    write("pyproject.toml", '[tool.iotguard]\nfail-on = "high\nselect = []\n')
    err = _config_error(tmp_path)
    assert (err.path, err.line, err.column) == ("pyproject.toml", 2, 16)
    assert err.message.startswith("invalid TOML: ")


def test_broken_pyproject_exits_2_instead_of_running_unconfigured(write: Any, iotguard: Any) -> None:
    write("hub.json", bad_hub())
    write("pyproject.toml", "[tool.iotguard]\nfail-on = \n")
    code, _, err = iotguard("check")
    assert code == 2 and "pyproject.toml:2:" in err and "invalid TOML" in err


def test_pyproject_iotguard_that_is_no_table_is_an_error(write: Any, tmp_path: Path) -> None:
    write("pyproject.toml", "[tool]\niotguard = 5\n")
    err = _config_error(tmp_path)
    assert err.line == 2 and "tool.iotguard: expected a table" in err.message


def test_pyproject_error_names_the_key_path_at_its_line(write: Any, tmp_path: Path) -> None:
    write("pyproject.toml", '[project]\nname = "x"\n\n[tool.iotguard]\nfail-on = "high"\n'
                            'severity = { HUB004 = "low", HUB001 = "severe" }\n')
    err = _config_error(tmp_path)
    assert (err.line, err.column) == (6, 30)
    assert err.message.startswith("tool.iotguard.severity.HUB001: 'severe' is not one of critical")


def test_pyproject_errors_in_sub_tables_and_arrays_of_tables_are_located(write: Any, tmp_path: Path) -> None:
    write("pyproject.toml", '[tool.iotguard]\nfail_on = "high"\n\n[tool.iotguard.severity]\nHUB001 = "severe"\n\n'
                            '[[tool.iotguard.suppressions]]\nrule = "HUB001"\nreason = "ok"\n\n'
                            '[[tool.iotguard.suppressions]]\nrule = "HUB002"\nreason = " "\n')
    err = _config_error(tmp_path)
    assert [(line, col, msg.split(":")[0]) for line, col, msg in [(err.line, err.column, err.message), *err.more]] == [
        (2, 1, "tool.iotguard"), (5, 1, "tool.iotguard.severity.HUB001"),
        (13, 1, "tool.iotguard.suppressions.1.reason")]
    assert "did you mean 'fail-on'" in err.message


def test_pyproject_array_element_is_located(write: Any, tmp_path: Path) -> None:
    write("pyproject.toml", '[tool.iotguard]\nexclude = [\n  "a/**",\n  "",\n]\n')
    err = _config_error(tmp_path)
    assert (err.line, err.column) == (4, 3) and err.message.startswith("tool.iotguard.exclude.1: ")


def test_missing_rule_directory_is_located_at_its_config_entry(write: Any, tmp_path: Path) -> None:
    (tmp_path / "present").mkdir()
    write(".iotguard.yaml", "fail-on: high\nrules:\n  - present\n  - custom-rules\n")
    err = _config_error(tmp_path)
    assert (err.path, err.line, err.column) == (".iotguard.yaml", 4, 5)
    assert "rules.1: rule directory 'custom-rules' does not exist" in err.message


def test_missing_rule_directory_in_config_exits_2_at_the_config_line(write: Any, iotguard: Any) -> None:
    write("hub.json", bad_hub())
    write(".iotguard.yaml", "rules: [nowhere]\n")
    code, _, err = iotguard("check")
    assert code == 2 and err.startswith(".iotguard.yaml:1:9: error: rules.0: rule directory 'nowhere'")


@pytest.mark.parametrize(("config", "where", "message"), [
    ("select: [HUB, HUB0001]\n", ".iotguard.yaml:1:15", "select.1: 'HUB0001' matches no rule id, tag or id prefix; "
     "did you mean HUB001?"),
    ("ignore: 'HUB004, HBU'\n", ".iotguard.yaml:1:9", "ignore: 'HBU' matches no rule id, tag or id prefix; "
     "did you mean HUB?"),
    ("severity:\n  HUB001: low\n  HUB0004: low\n", ".iotguard.yaml:3:3", "severity.HUB0004: 'HUB0004' is not a rule id; "
     "did you mean HUB004?"),
    ("suppressions:\n  - {rule: entar, reason: r}\n", ".iotguard.yaml:2:12", "suppressions.0.rule: 'entar' matches no rule "
     "id, tag or id prefix; did you mean entra?"),
])
def test_unknown_rule_names_in_config_are_located_errors(write: Any, iotguard: Any, config: str, where: str,
                                                        message: str) -> None:
    write("hub.json", bad_hub())
    write(".iotguard.yaml", config)
    code, _, err = iotguard("check")
    assert code == 2 and f"{where}: error: {message}" in err


def test_rule_names_from_an_extra_rule_directory_are_known(write: Any, iotguard: Any) -> None:
    from tests.test_rulepack import GOOD as RULE

    write("myrules/tst001.yaml", RULE)
    write("hub.json", bad_hub())
    write(".iotguard.yaml", "rules: [myrules]\nselect: [TST001, test]\n")
    code, _, err = iotguard("check")
    assert code == 0 and err == ""


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--select", "HUB001,HUB0001", "--select: 'HUB0001' matches no rule id, tag or id prefix; did you mean HUB001?"),
    ("--ignore", "netwrk", "--ignore: 'netwrk' matches no rule id, tag or id prefix; did you mean network?"),
])
def test_unknown_rule_names_on_the_command_line_are_usage_errors(write: Any, iotguard: Any, option: str, value: str,
                                                                 message: str) -> None:
    write("hub.json", bad_hub())
    code, _, err = iotguard("check", option, value)
    assert code == 2 and f"iotguard: error: {message}" in err


def _rule_ids(out: str) -> list[tuple[str, str]]:
    return sorted((f["rule_id"], f["path"].rsplit("/", 1)[-1]) for f in json.loads(out)["findings"]
                  if "suppressed" not in f)


def test_config_exclude_is_relative_to_the_config_file_not_the_working_directory(
        write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("infra/legacy/old.json", bad_hub())
    write("infra/hub.json", bad_hub())
    write(".iotguard.yaml", "exclude: ['infra/legacy/**']\n")
    from_root = iotguard("check", "infra", "--format", "json")
    from_sub = iotguard("check", "--format", "json", cwd=tmp_path / "infra")
    (tmp_path / "elsewhere").mkdir()
    from_outside = iotguard("check", str(tmp_path / "infra"), "--config", str(tmp_path / ".iotguard.yaml"),
                            "--format", "json", cwd=tmp_path / "elsewhere")
    checked = [json.loads(out)["summary"]["files_checked"] for _, out, _ in (from_root, from_sub, from_outside)]
    assert checked == [1, 1, 1]


def test_config_exclude_does_not_reach_outside_the_config_directory(write: Any, iotguard: Any,
                                                                    tmp_path: Path) -> None:
    write("project/.iotguard.yaml", "exclude: ['legacy']\n")
    write("legacy/hub.json", bad_hub())
    code, out, _ = iotguard("check", str(tmp_path / "legacy"), "--format", "json", cwd=tmp_path / "project")
    assert json.loads(out)["summary"]["files_checked"] == 1 and code == 1


def test_config_parameter_glob_is_relative_to_the_config_file(write: Any, iotguard: Any, tmp_path: Path) -> None:
    params = {"disable": {"type": "bool", "defaultValue": True}}
    write("infra/hub.json", template(hub(**{**GOOD, "disableLocalAuth": "[parameters('disable')]"}),
                                     parameters=params))
    write("env/prod.json", {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                            "deploymentParameters.json#", "contentVersion": "1.0.0.0",
                            "parameters": {"disable": {"value": False}}})
    write(".iotguard.yaml", "parameters:\n  'infra/*.json': env/prod.json\n")
    _, from_root, _ = iotguard("check", "infra", "--format", "json")
    _, from_sub, _ = iotguard("check", "--format", "json", cwd=tmp_path / "infra")
    assert ("HUB001", "hub.json") in _rule_ids(from_root)
    assert _rule_ids(from_sub) == _rule_ids(from_root)


def test_config_suppression_path_is_relative_to_the_config_file(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("infra/lab/hub.json", bad_hub())
    write(".iotguard.yaml", "suppressions:\n  - {rule: HUB001, path: 'infra/lab/**', reason: lab}\n")
    _, from_root, _ = iotguard("check", "--format", "json")
    _, from_sub, _ = iotguard("check", "--format", "json", cwd=tmp_path / "infra" / "lab")
    assert "HUB001" not in {r for r, _ in _rule_ids(from_root)}
    assert _rule_ids(from_sub) == _rule_ids(from_root)


def test_a_duplicated_config_key_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / ".iotguard.yaml").write_text("ignore: [HUB010]\nfail-on: high\nignore: [HUB011]\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path), None)
    assert ":3:1:" in str(exc.value) and "duplicate key 'ignore' (first at line 1)" in str(exc.value)


def test_a_wrong_item_inside_an_alternative_is_named_not_the_alternative(tmp_path: Path) -> None:
    (tmp_path / ".iotguard.yaml").write_text('parameters:\n  "*.json": [p.json, 3]\n')
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path), None)
    assert ":2:22:" in str(exc.value) and "parameters.*.json.1: expected string, got integer" in str(exc.value)


def test_one_rule_given_two_severities_in_different_case_is_an_error(write: Any, tmp_path: Path, iotguard: Any) -> None:
    write("hub.json", template(hub()))
    write(".iotguard.yaml", "severity:\n  HUB005: critical\n  hub005: low\n")
    code, _, err = iotguard("check", "hub.json")
    assert code == 2 and ".iotguard.yaml:3:3:" in err and "the same rule as 'HUB005'" in err


def test_every_duplicated_config_key_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / ".iotguard.yaml").write_text("ignore: [HUB010]\nignore: [HUB011]\nfail-on: high\nfail-on: low\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path), None)
    text = str(exc.value)
    assert ":2:1:" in text and "duplicate key 'ignore'" in text
    assert ":4:1:" in text and "duplicate key 'fail-on'" in text


def test_a_bad_date_a_missing_rule_directory_and_a_schema_error_are_reported_together(
        write: Any, tmp_path: Path) -> None:
    write(".iotguard.yaml", "fail-on: urgent\nrules: [no-such-dir]\nsuppressions:\n"
                            "  - {rule: HUB001, reason: r, expires: '2030-02-30'}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(str(tmp_path))
    messages = [exc.value.message, *(m for _, _, m in exc.value.more)]
    assert len(messages) == 3
    assert any(m.startswith("fail-on:") for m in messages)
    assert any("rule directory 'no-such-dir' does not exist" in m for m in messages)
    assert any("'2030-02-30' is not a valid date" in m for m in messages)
