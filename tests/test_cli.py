"""The command line: discovery, exit codes, formats, errors that never stop the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import hub, template

GOOD = {"disableLocalAuth": True, "disableDeviceSAS": True, "disableModuleSAS": True,
        "minTlsVersion": "1.2", "publicNetworkAccess": "Disabled"}


def good_hub() -> dict[str, Any]:
    diag = {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview",
            "name": "logs", "scope": "Microsoft.Devices/IotHubs/hub1", "properties": {}}
    return template(hub(**GOOD), diag)


def bad_hub() -> dict[str, Any]:
    return template(hub(**{**GOOD, "disableLocalAuth": False}))


def test_clean_template_exits_zero(write: Any, iotguard: Any) -> None:
    write("infra/hub.json", good_hub())
    code, out, _ = iotguard("check", "infra")
    assert code == 0, out
    assert "0 findings" in out


def test_finding_at_or_above_fail_on_exits_one(write: Any, iotguard: Any) -> None:
    write("hub.json", bad_hub())
    code, out, _ = iotguard("check", "hub.json")
    assert code == 1
    assert "HUB001" in out and "hub.json:" in out


def test_fail_on_raises_the_threshold(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(**{**GOOD, "minTlsVersion": "1.0"})))  # HUB005 medium, HUB011 low
    assert iotguard("check", "--fail-on", "high")[0] == 0
    assert iotguard("check", "--fail-on", "medium")[0] == 1


def test_default_path_is_the_working_directory(write: Any, iotguard: Any) -> None:
    write("a/b/c/hub.json", bad_hub())
    code, out, _ = iotguard("check")
    assert code == 1 and "a/b/c/hub.json" in out


def test_jsonc_files_are_discovered(write: Any, iotguard: Any) -> None:
    write("hub.jsonc", "// comment\n" + json.dumps(bad_hub()))
    code, out, _ = iotguard("check")
    assert code == 1 and "hub.jsonc" in out


def test_git_and_node_modules_are_skipped(write: Any, iotguard: Any) -> None:
    write(".git/hub.json", bad_hub())
    write("node_modules/pkg/hub.json", bad_hub())
    code, out, _ = iotguard("check")
    assert code == 0, out


def test_exclude_glob_skips_matches(write: Any, iotguard: Any) -> None:
    write("legacy/old/hub.json", bad_hub())
    write("new/hub.json", good_hub())
    assert iotguard("check", "--exclude", "legacy/**")[0] == 0
    assert iotguard("check", "--exclude", "legacy")[0] == 0
    assert iotguard("check")[0] == 1


def test_other_json_is_skipped_silently_and_listed_with_verbose(write: Any, iotguard: Any) -> None:
    write("package.json", {"name": "x", "version": "1.0.0"})
    code, out, _ = iotguard("check")
    assert code == 0 and "package.json" not in out
    code, out, _ = iotguard("check", "--verbose")
    assert "package.json" in out


def test_parse_error_exits_two_and_other_files_are_still_checked(write: Any, iotguard: Any) -> None:
    write("broken.json", '{\n  "resources": [\n')
    write("hub.json", bad_hub())
    code, out, _ = iotguard("check")
    assert code == 2
    assert "broken.json:" in out and "HUB001" in out


def test_parse_error_is_located(write: Any, iotguard: Any) -> None:
    write("broken.json", '{\n  "a": 1\n  "b": 2\n}')
    code, out, _ = iotguard("check", "--format", "json")
    data = json.loads(out)
    assert code == 2
    assert data["errors"][0]["path"] == "broken.json"
    assert (data["errors"][0]["line"], data["errors"][0]["column"]) == (3, 3)


def test_missing_path_is_a_usage_error(iotguard: Any) -> None:
    code, out, _ = iotguard("check", "does-not-exist")
    assert code == 2 and "does-not-exist" in out


def test_unknown_option_exits_two(iotguard: Any) -> None:
    with pytest.raises(SystemExit) as exc:
        iotguard("check", "--bogus")
    assert exc.value.code == 2


def test_json_output_contract(write: Any, iotguard: Any) -> None:
    write("hub.json", bad_hub())
    code, out, _ = iotguard("check", "--format", "json")
    data = json.loads(out)
    assert set(data) >= {"version", "findings", "unresolved", "errors", "summary"}
    f = next(f for f in data["findings"] if f["rule_id"] == "HUB001")
    for key in ("rule_id", "severity", "title", "message", "path", "line", "column",
                "resource_type", "resource_name", "property", "remediation"):
        assert key in f
    assert f["resource_name"] == "hub1" and f["property"] == "properties.disableLocalAuth"
    assert data["summary"]["exit_code"] == code == 1


def test_output_order_is_deterministic(write: Any, iotguard: Any) -> None:
    write("b.json", bad_hub())
    write("a.json", bad_hub())
    out1 = iotguard("check", "--format", "json")[1]
    out2 = iotguard("check", "--format", "json", "b.json", "a.json")[1]
    keys = [(f["path"], f["line"], f["rule_id"]) for f in json.loads(out1)["findings"]]
    assert keys == sorted(keys)
    assert out1 == out2


def test_output_file_is_written_and_stdout_stays_empty(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("hub.json", bad_hub())
    code, out, _ = iotguard("check", "--format", "json", "--output", "report/out.json")
    assert code == 1 and out == ""
    assert json.loads((tmp_path / "report/out.json").read_text())["findings"]


def test_no_colour_when_not_a_tty(write: Any, iotguard: Any) -> None:
    write("hub.json", bad_hub())
    assert "\033[" not in iotguard("check")[1]


def test_quiet_prints_only_failing_findings(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(**{**GOOD, "disableLocalAuth": False})))
    out = iotguard("check", "--quiet")[1]
    assert "HUB001" in out and "HUB011" not in out  # HUB011 is low: below the gate


def test_quiet_prints_nothing_at_all_on_a_passing_run(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(**GOOD)))
    code, out, err = iotguard("check", "--quiet", "--select", "HUB001")
    assert (code, out, err) == (0, "", "")


def test_rules_lists_the_pack(iotguard: Any) -> None:
    code, out, _ = iotguard("rules")
    assert code == 0
    assert "HUB001" in out and "high" in out


def test_explain_prints_the_rule_doc(iotguard: Any) -> None:
    code, out, _ = iotguard("explain", "hub001")
    assert code == 0 and out.startswith("# HUB001") and "## How to fix" in out


def test_explain_unknown_rule_suggests(iotguard: Any) -> None:
    code, _, err = iotguard("explain", "HUB0001")
    assert code == 2 and "HUB" in err


def test_select_and_ignore_by_id_tag_and_prefix(write: Any, iotguard: Any) -> None:
    write("hub.json", bad_hub())
    ids = lambda out: {f["rule_id"] for f in json.loads(out)["findings"]}  # noqa: E731
    assert ids(iotguard("check", "-f", "json", "--select", "HUB001")[1]) == {"HUB001"}
    assert "HUB001" not in ids(iotguard("check", "-f", "json", "--ignore", "entra")[1])
    assert ids(iotguard("check", "-f", "json", "--select", "HUB")[1]) <= {f"HUB{n:03d}" for n in range(1, 12)}


CUS001 = """\
id: CUS001
title: Hubs must be tagged with an owner
severity: low
subject: {kind: resource, type: Microsoft.Devices/IotHubs}
description: d
rationale: r
remediation: "add tags"
references: [https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources]
message: "{resource} has no owner tag"
condition: "!present(tags.owner)"
"""


def test_extra_rule_directory(write: Any, iotguard: Any) -> None:
    write("myrules/CUS001.yaml", CUS001)
    write("hub.json", good_hub())
    code, out, _ = iotguard("check", "--rules", "myrules", "--fail-on", "low", "hub.json")
    assert code == 1 and "CUS001" in out


def test_same_rule_directory_named_twice_is_loaded_once(write: Any, iotguard: Any) -> None:
    write("myrules/CUS001.yaml", CUS001)
    write("hub.json", good_hub())
    code, out, err = iotguard("check", "--rules", "myrules", "--rules", "./myrules/",
                              "--fail-on", "low", "hub.json")
    assert code == 1 and "CUS001" in out and "duplicate" not in err


def test_invalid_extra_rule_is_a_located_error(write: Any, iotguard: Any) -> None:
    write("myrules/bad.yaml", "id: CUS001\ntitle: x\nseverity: urgent\n")
    code, _, err = iotguard("check", "--rules", "myrules")
    assert code == 2 and "bad.yaml:" in err


def test_a_rule_file_error_names_the_file_as_input_files_are_named(write: Any, iotguard: Any) -> None:
    import json

    write("myrules/bad.yaml", "id: CUS001\ntitle: x\nseverity: urgent\n")
    code, out, err = iotguard("check", "--rules", "myrules", "--format", "json")
    assert code == 2 and err.startswith("myrules/bad.yaml:")
    assert {e["path"] for e in json.loads(out)["errors"]} == {"myrules/bad.yaml"}
    code, _, err = iotguard("rules", "--rules", "myrules")
    assert code == 2 and err.startswith("myrules/bad.yaml:")


def test_python_dash_m_engine_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "engine", "rules"], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent),
                                             "PATH": "/usr/bin:/bin", "IOTGUARD_NO_CACHE": "1"})
    assert proc.returncode == 0 and "HUB001" in proc.stdout


def test_unwritable_output_is_a_clear_error_with_exit_2(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("hub.json", bad_hub())
    (tmp_path / "out").mkdir()
    code, _, err = iotguard("check", "hub.json", "--output", "out")
    assert code == 2 and "cannot write out" in err and "Traceback" not in err


def test_a_fifo_named_json_is_skipped_not_read(write: Any, iotguard: Any, tmp_path: Path) -> None:
    import os

    write("hub.json", bad_hub())
    os.mkfifo(tmp_path / "pipe.json")
    code, out, _ = iotguard("check", ".")
    assert code == 1 and "hub.json" in out


def test_a_broken_sibling_parameter_file_in_the_run_is_reported_once(write: Any, iotguard: Any) -> None:
    write("main.json", template(hub(**GOOD)))
    write("main.parameters.json", '{"$schema": "https://schema.management.azure.com/schemas/'
          '2019-04-01/deploymentParameters.json#", "parameters": {')
    code, out, _ = iotguard("check", "--no-config", ".")
    assert code == 2 and out.count("main.parameters.json:1:") == 1


def test_a_broken_sibling_parameter_file_outside_the_run_is_still_reported(write: Any, iotguard: Any) -> None:
    write("main.json", template(hub(**GOOD)))
    write("main.parameters.json", '{"parameters": ')
    code, out, _ = iotguard("check", "--no-config", "main.json")
    assert code == 2 and out.count("main.parameters.json:1:") == 1


def test_a_missing_rules_directory_on_the_command_line_is_a_usage_error(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(**GOOD)))
    code, _, err = iotguard("check", "--rules", "no-such-pack", "hub.json")
    assert code == 2 and err.strip() == "iotguard: error: --rules no-such-pack: no such directory"


def test_context_files_are_read_for_correlation_but_not_reported_on(write: Any, iotguard: Any) -> None:
    write("good.json", template(hub(**GOOD)))
    write("other/bad.json", template(hub(name="hub2", **{**GOOD, "disableLocalAuth": False})))
    write("other/broken.json", '{"resources": [')
    code, out, _ = iotguard("check", "--no-config", "--context", ".", "good.json")
    assert code == 0 and "bad.json" not in out and "broken.json" not in out
    assert "1 file checked" in out


def test_a_parameter_file_given_alone_checks_its_template_with_it(write: Any, iotguard: Any) -> None:
    h = hub(**{**GOOD, "disableLocalAuth": "[parameters('local')]"})
    write("hub.json", template(h, parameters={"local": {"type": "bool", "defaultValue": True}}))
    write("hub.parameters.json", {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                                  "deploymentParameters.json#", "parameters": {"local": {"value": False}}})
    code, out, _ = iotguard("check", "--no-config", "--select", "HUB001", "hub.parameters.json")
    assert code == 1 and "hub.json:" in out and "parameter file hub.parameters.json" in out


def test_text_output_escapes_control_and_bidi_characters_from_templates(write: Any, iotguard: Any) -> None:
    evil = "evil\u001b[2J\u0007\r\nFAKE.json:1:1  PASS\u202e"
    write("hub.json", template(hub(name=evil, **{**GOOD, "disableLocalAuth": False})))
    _, out, _ = iotguard("check", "--no-config", "--select", "HUB001", "hub.json")
    assert "\u001b" not in out and "\r" not in out and "\u202e" not in out
    assert "evil\\x1b[2J\\x07\\r\\nFAKE.json:1:1  PASS\\u202e" in out
    assert not any(line.startswith("FAKE") for line in out.splitlines())


def test_quiet_strict_lists_the_unresolved_results_that_fail_the_run(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(**{**GOOD, "minTlsVersion": "[parameters('tls')]"}),
                               parameters={"tls": {"type": "string"}}))
    code, out, _ = iotguard("check", "--no-config", "--select", "HUB005", "--strict", "--quiet", "hub.json")
    assert code == 1 and "HUB005" in out and "parameter 'tls'" in out


def _local_auth_hub() -> dict[str, Any]:
    h = hub(**{**GOOD, "disableLocalAuth": "[parameters('local')]"})
    return template(h, parameters={"local": {"type": "bool", "defaultValue": True}})


PARAMS_OFF = {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
              "parameters": {"local": {"value": False}}}


def test_a_config_mapped_parameter_file_given_alone_checks_the_templates_it_maps_to(
        write: Any, iotguard: Any) -> None:
    write("infra/hub.json", _local_auth_hub())
    write("env/prod.parameters.json", PARAMS_OFF)
    write(".iotguard.yaml", 'parameters:\n  "infra/*.json": [env/prod.parameters.json]\n')
    code, out, _ = iotguard("check", "--select", "HUB001", "--context", ".", "env/prod.parameters.json")
    assert code == 1 and "infra/hub.json:" in out and "parameter file env/prod.parameters.json" in out


def test_a_template_brought_in_by_its_parameter_file_still_honours_excludes(write: Any, iotguard: Any) -> None:
    write("apps/hub.json", _local_auth_hub())
    write("apps/hub.parameters.json", PARAMS_OFF)
    code, out, _ = iotguard("check", "--no-config", "--select", "HUB001", "--exclude", "apps/hub.json", ".")
    assert code == 0 and "HUB001" not in out


def test_a_fifo_as_baseline_is_an_error_not_a_hang(write: Any, iotguard: Any, tmp_path: Any) -> None:
    import os

    write("hub.json", template(hub(**GOOD)))
    os.mkfifo(tmp_path / "base.json")
    code, _, err = iotguard("check", "--no-config", "--baseline", "base.json", "hub.json")
    assert code == 2 and "not a regular file" in err


def test_baseline_to_an_unwritable_place_is_a_clear_error(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(**GOOD)))
    code, _, err = iotguard("baseline", "--no-config", "hub.json", "--output", ".")
    assert code == 2 and err.startswith("iotguard: error: cannot write .")


def test_config_errors_escape_control_characters(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(**GOOD)))
    write(".iotguard.yaml", '"sel\\e[2Ject": 1\n')
    code, _, err = iotguard("check", "hub.json")
    assert code == 2 and "\x1b" not in err and "\\x1b[2J" in err


def test_main_returns_with_nothing_left_frozen(write: Any, iotguard: Any) -> None:
    import gc

    write("t.json", bad_hub())
    code, _, _ = iotguard("check", "t.json")
    assert code == 1
    # The run's objects are frozen while it reports; a caller that goes on gets them back.
    assert gc.get_freeze_count() == 0


def test_the_command_and_python_m_engine_use_the_entry_that_leaves_objects_frozen() -> None:
    import tomllib

    root = Path(__file__).resolve().parent.parent
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["iotguard"] == "engine.cli:entry"
    assert "entry()" in (root / "engine" / "__main__.py").read_text()


def test_a_file_named_like_an_option_is_checked_as_a_file(write: Any, iotguard: Any) -> None:
    # pre-commit passes a staged '-x.json' at the repository root as it is.
    write("-x.json", template(hub(**{**GOOD, "disableLocalAuth": False})))
    code, out, err = iotguard("check", "--no-config", "--select", "HUB001", "-x.json")
    assert code == 1 and "-x.json:" in out, err


def test_an_option_is_an_option_even_when_a_file_has_its_name(write: Any, iotguard: Any) -> None:
    write("--quiet", "not json")
    write("hub.json", template(hub(**GOOD)))
    code, out, err = iotguard("check", "--no-config", "--quiet", "hub.json")
    assert code == 0 and "--quiet" not in out + err


def test_a_key_written_twice_is_a_located_warning_and_the_later_value_counts(
        write: Any, iotguard: Any) -> None:
    text = json.dumps(template(hub(**GOOD)), indent=2).replace(
        '"disableLocalAuth": true,', '"disableLocalAuth": true,\n"disableLocalAuth": false,')
    write("hub.json", text)
    code, out, _ = iotguard("check", "--no-config", "--select", "HUB001", "hub.json")
    later = next(i for i, line in enumerate(text.splitlines(), 1) if '"disableLocalAuth": false' in line)
    assert code == 1 and f"hub.json:{later}:1  warning: 'disableLocalAuth' is written twice" in out
    assert f"(first at line {later - 1})" in out
