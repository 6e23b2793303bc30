"""Baselines: record today's findings, then fail only on new ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import hub, template
from tests.test_cli import GOOD


def _bad(*names: str) -> dict[str, Any]:
    return template(*(hub(n, **{**GOOD, "disableLocalAuth": False}) for n in names))


def test_baseline_then_check_passes(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("hub.json", _bad("a"))
    code, out, _ = iotguard("baseline")
    assert code == 0 and "recorded" in out
    doc = json.loads((tmp_path / ".iotguard-baseline.json").read_text())
    assert doc["findings"] and all(len(e["fingerprint"]) == 32 for e in doc["findings"])
    code, _, _ = iotguard("check", "--baseline", ".iotguard-baseline.json")
    assert code == 0


def test_new_finding_fails_despite_baseline(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad("a"))
    iotguard("baseline")
    write("hub.json", _bad("a", "b"))
    code, out, _ = iotguard("check", "--baseline", ".iotguard-baseline.json", "--format", "json")
    active = [f for f in json.loads(out)["findings"] if "suppressed" not in f]
    assert code == 1 and {f["resource_name"] for f in active} == {"b"}


def test_baseline_survives_line_moves(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("hub.json", _bad("a"))
    iotguard("baseline")
    (tmp_path / "hub.json").write_text("\n\n\n" + json.dumps(_bad("a"), indent=4))
    code, _, _ = iotguard("check", "--baseline", ".iotguard-baseline.json")
    assert code == 0


def test_fixed_findings_are_listed_as_stale(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad("a"))
    iotguard("baseline")
    write("hub.json", template(hub("a", **GOOD)))
    _, out, _ = iotguard("check", "--baseline", ".iotguard-baseline.json", "--format", "json")
    stale = json.loads(out)["stale_baseline"]
    assert stale and all(e["resource_name"] == "a" for e in stale)


def test_unreadable_baseline_is_a_usage_error(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad("a"))
    write("b.json", "{not json")
    code, _, err = iotguard("check", "--baseline", "b.json")
    assert code == 2 and "b.json:1:" in err


def test_baseline_file_is_written_atomically_to_the_output_path(write: Any, iotguard: Any,
                                                                 tmp_path: Path) -> None:
    write("hub.json", _bad("a"))
    code, _, _ = iotguard("baseline", "--output", "ci/base.json")
    assert code == 0 and (tmp_path / "ci" / "base.json").is_file()
    assert [p.name for p in (tmp_path / "ci").iterdir()] == ["base.json"]


def _stale(out: str) -> list[dict[str, Any]]:
    stale: list[dict[str, Any]] = json.loads(out)["stale_baseline"]
    return stale


def test_baseline_names_files_relative_to_itself(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("infra/hub.json", _bad("a"))
    iotguard("baseline", "infra", "--output", "ci/base.json")
    doc = json.loads((tmp_path / "ci" / "base.json").read_text())
    assert doc["format"] == 2 and {e["path"] for e in doc["findings"]} == {"../infra/hub.json"}


def test_baseline_applies_whichever_directory_the_run_starts_in(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("infra/hub.json", _bad("a"))
    (tmp_path / "elsewhere").mkdir()
    assert iotguard("baseline", "--output", "../.iotguard-baseline.json", cwd=tmp_path / "infra")[0] == 0
    assert iotguard("check", "infra", "--baseline", ".iotguard-baseline.json")[0] == 0
    assert iotguard("check", "--baseline", "../.iotguard-baseline.json", cwd=tmp_path / "infra")[0] == 0
    assert iotguard("check", str(tmp_path / "infra"), "--baseline", str(tmp_path / ".iotguard-baseline.json"),
                    cwd=tmp_path / "elsewhere")[0] == 0


def test_baseline_of_the_first_format_is_still_read_relative_to_the_working_directory(
        write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("infra/hub.json", _bad("a"))
    _, out, _ = iotguard("check", "--format", "json")
    legacy = {"findings": [{"fingerprint": f["fingerprint"]} for f in json.loads(out)["findings"]]}
    write("ci/old-baseline.json", legacy)
    assert iotguard("check", "--baseline", "ci/old-baseline.json")[0] == 0


def test_entries_of_files_not_checked_in_this_run_are_not_stale(write: Any, iotguard: Any) -> None:
    write("a.json", _bad("a"))
    write("b.json", _bad("b"))
    iotguard("baseline")
    write("b.json", template(hub("b", **GOOD)))
    _, out, _ = iotguard("check", "a.json", "--baseline", ".iotguard-baseline.json", "--format", "json")
    assert _stale(out) == []
    _, out, _ = iotguard("check", "b.json", "--baseline", ".iotguard-baseline.json", "--format", "json")
    assert _stale(out) and {e["path"] for e in _stale(out)} == {"b.json"}


def test_entries_of_rules_that_did_not_run_are_not_stale(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad("a"))
    iotguard("baseline")
    _, out, _ = iotguard("check", "--select", "HUB005", "--baseline", ".iotguard-baseline.json", "--format", "json")
    assert _stale(out) == []


def test_stale_entries_point_at_their_line_in_the_baseline(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("hub.json", _bad("a"))
    iotguard("baseline", "--output", "ci/base.json")
    write("hub.json", template(hub("a", **GOOD)))
    _, out, _ = iotguard("check", "--baseline", "ci/base.json", "--format", "json")
    lines = (tmp_path / "ci" / "base.json").read_text().splitlines()
    [entry] = [e for e in _stale(out) if e["rule_id"] == "HUB001"]
    assert entry["baseline"] == "ci/base.json" and entry["fingerprint"] in lines[entry["line"] - 1]


def test_stale_entries_appear_in_every_ci_format(write: Any, iotguard: Any) -> None:
    import xml.etree.ElementTree as ET

    write("hub.json", _bad("a"))
    iotguard("baseline")
    write("hub.json", template(hub("a", **GOOD)))
    args = ("check", "--baseline", ".iotguard-baseline.json", "--format")
    _, sarif, _ = iotguard(*args, "sarif")
    notes = [n for n in json.loads(sarif)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
             if n.get("descriptor", {}).get("id") == "stale-baseline-entry"]
    assert notes and notes[0]["level"] == "note" and "HUB001" in notes[0]["message"]["text"]
    assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == ".iotguard-baseline.json"
    _, github, _ = iotguard(*args, "github")
    assert any(line.startswith("::notice file=.iotguard-baseline.json,line=") and "HUB001" in line
               for line in github.splitlines())
    _, junit, _ = iotguard(*args, "junit")
    suite = ET.fromstring(junit).find("testsuite[@name='.iotguard-baseline.json']")
    assert suite is not None and "HUB001" in (suite.findtext("testcase/system-out") or "")
    assert suite.get("failures") == "0" and int(suite.get("tests") or 0) >= 1


def test_baseline_with_a_broken_input_prints_the_located_error_and_exits_2(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad("a"))
    write("broken.json", '{\n "$schema": "https://schema.management.azure.com/schemas/2019-04-01/'
                         'deploymentTemplate.json#",\n "resources": [ {"type": }\n]}')
    code, out, err = iotguard("baseline", "--no-config")
    assert code == 2 and "recorded" in out
    assert "broken.json:3:" in err and "error: expecting value" in err


def test_baseline_prints_input_warnings(write: Any, iotguard: Any) -> None:
    bad = _bad("a")
    bad["resources"][0]["metadata"] = {"iotguard": {"suppress": [
        {"rule": "HUB001", "reason": "legacy", "expires": "2020-01-01"}]}}
    write("hub.json", bad)
    code, _, err = iotguard("baseline", "--no-config")
    assert code == 0 and "hub.json:" in err and "warning: " in err and "expired on 2020-01-01" in err
