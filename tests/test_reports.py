"""SARIF, JUnit and GitHub annotations: what CI systems read from a run."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from engine.findings import Finding, Problem, RuleInfo, RunResult, Suppression, Unresolved
from engine.report import github, junit, sarif
from engine.report.files import write_atomic
from engine.rulepack import bundled_rules_dir
from tests.conftest import REPO, hub, template

SARIF_SCHEMA = Path(os.environ.get("IOTGUARD_SHARED", REPO.parent / "shared")) / "reference" / "sarif-schema-2.1.0.json"

RULE = RuleInfo("HUB001", "Hub allows local auth", "high", "desc", "why", "set disableLocalAuth",
                references=("https://learn.microsoft.com/x",), tags=("entra",),
                source=str(bundled_rules_dir() / "HUB001.yaml"))
LOW = RuleInfo("HUB011", "No diagnostics", "low", "d", "w", "add one", tags=("logging",))


def finding(line: int = 12, **kw: Any) -> Finding:
    base: dict[str, Any] = dict(rule_id="HUB001", severity="high", title=RULE.title, message="local auth <on> & \"open\"",
                                path="infra/hub one.json", line=line, column=9, resource_type="Microsoft.Devices/IotHubs",
                                resource_name="hub1", property="properties.disableLocalAuth",
                                resource_key="microsoft.devices/iothubs|hub1", tags=("entra",))
    base.update(kw)
    return Finding(**base)


def result(*findings: Finding, **kw: Any) -> RunResult:
    r = RunResult(findings=list(findings), rules=[RULE, LOW], files_checked=["infra/hub one.json"], **kw)
    r.sort()
    return r


def test_sarif_validates_against_the_2_1_0_schema() -> None:
    if not SARIF_SCHEMA.is_file():
        pytest.skip("SARIF schema not available (shared material absent)")
    import jsonschema

    r = result(finding(), finding(rule_id="HUB011", severity="low", line=30,
                                  suppression=Suppression("config", "accepted")),
               errors=[Problem("bad.json", 3, 4, "expected ','")],
               unresolved=[Unresolved("HUB001", "high", RULE.title, "m", "x.json", 2, 3, inputs=("parameter 'p'",))])
    doc = json.loads(sarif.render(r, base_dir=str(REPO)))
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(doc)


def test_sarif_from_the_cli_validates_against_the_2_1_0_schema(write: Any, iotguard: Any, tmp_path: Path) -> None:
    """Real output, with every kind of result a run produces: findings, a suppressed
    finding, an unresolved result, an input error, a file outside the working
    directory (absolute URI) and a stale baseline entry."""
    if not SARIF_SCHEMA.is_file():
        pytest.skip("SARIF schema not available (shared material absent)")
    import jsonschema

    from tests.conftest import hub, template
    from tests.test_cli import GOOD, bad_hub

    h = hub(**{**GOOD, "disableLocalAuth": False, "minTlsVersion": "1.0",
               "publicNetworkAccess": "[parameters('access')]"})
    h["metadata"] = {"iotguard": {"suppress": [{"rule": "HUB005", "reason": "old devices"}]}}
    write("work/infra/hub.json", template(h, parameters={"access": {"type": "string"}}))
    write("work/infra/broken.json", '{"resources": [')
    outside = write("shared/hub.json", bad_hub())
    write("work/old.json", template(hub("gone", **{**GOOD, "disableLocalAuth": False})))
    work = tmp_path / "work"
    iotguard("baseline", "old.json", cwd=work)
    write("work/old.json", template(hub("gone", **GOOD)))
    code, out, _ = iotguard("check", "infra", "old.json", str(outside), "--format", "sarif",
                            "--baseline", ".iotguard-baseline.json", cwd=work)
    doc = json.loads(out)
    run = doc["runs"][0]
    results = run["results"]
    assert code == 2
    assert any(r.get("suppressions") for r in results) and any(r.get("kind") == "review" for r in results)
    assert any(r["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": outside.as_uri()}
               for r in results)
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert {n["level"] for n in notes} >= {"error", "note"}
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(doc)


def test_sarif_describes_every_rule_that_ran_with_numeric_security_severity() -> None:
    doc = json.loads(sarif.render(result()))
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["HUB001", "HUB011"]
    assert float(rules[0]["properties"]["security-severity"]) >= 7.0
    assert rules[0]["defaultConfiguration"]["level"] == "error" and rules[1]["defaultConfiguration"]["level"] == "note"
    assert rules[0]["helpUri"].endswith("/docs/rules/HUB001.md") and "set disableLocalAuth" in rules[0]["help"]["markdown"]


def test_sarif_result_has_relative_uri_region_and_rule_index() -> None:
    res = json.loads(sarif.render(result(finding())))["runs"][0]["results"][0]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "infra/hub%20one.json", "uriBaseId": "SRCROOT"}
    assert loc["region"] == {"startLine": 12, "startColumn": 9}
    assert res["ruleIndex"] == 0 and res["level"] == "error"


def test_sarif_path_outside_the_run_directory_is_a_file_uri_without_base() -> None:
    res = json.loads(sarif.render(result(finding(path="/srv/other dir/hub.json"))))["runs"][0]["results"][0]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "file:///srv/other%20dir/hub.json"}


def test_sarif_for_a_file_outside_the_working_directory(write: Any, iotguard: Any, tmp_path: Path) -> None:
    from tests.test_cli import bad_hub

    hub_file = write("elsewhere/hub.json", bad_hub())
    (tmp_path / "work").mkdir()
    _, out, _ = iotguard("check", "--format", "sarif", str(hub_file), cwd=tmp_path / "work")
    [loc] = {json.dumps(r["locations"][0]["physicalLocation"]["artifactLocation"])
             for r in json.loads(out)["runs"][0]["results"]}
    assert json.loads(loc) == {"uri": hub_file.as_uri()}


def test_sarif_fingerprint_survives_a_line_move() -> None:
    a = json.loads(sarif.render(result(finding(line=12))))["runs"][0]["results"][0]
    b = json.loads(sarif.render(result(finding(line=40))))["runs"][0]["results"][0]
    assert a["partialFingerprints"] == b["partialFingerprints"]


def test_sarif_suppressed_result_carries_its_justification() -> None:
    f = finding(suppression=Suppression("inline", "break-glass hub"))
    res = json.loads(sarif.render(result(f)))["runs"][0]["results"][0]
    assert res["suppressions"] == [{"kind": "inSource", "status": "accepted", "justification": "break-glass hub"}]


def test_sarif_input_errors_are_tool_notifications() -> None:
    doc = json.loads(sarif.render(result(errors=[Problem("bad.json", 3, 4, "expected ','")])))
    inv = doc["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    assert inv["toolExecutionNotifications"][0]["level"] == "error"
    assert inv["toolExecutionNotifications"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 3


def test_sarif_output_is_deterministic() -> None:
    assert sarif.render(result(finding())) == sarif.render(result(finding()))


def test_junit_failure_carries_message_location_and_remediation() -> None:
    root = ET.fromstring(junit.render(result(finding())))
    assert root.get("failures") == "1"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "infra/hub one.json"
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("type") == "HUB001"
    assert "infra/hub one.json:12:9" in (failure.text or "") and "set disableLocalAuth" in (failure.text or "")
    assert failure.get("message") == 'local auth <on> & "open"'


def test_junit_suppressed_finding_is_skipped_with_reason() -> None:
    root = ET.fromstring(junit.render(result(finding(suppression=Suppression("config", "migrating")))))
    skipped = root.find("testsuite/testcase/skipped")
    assert skipped is not None and skipped.get("message") == "suppressed: migrating"
    assert root.get("failures") == "0"


def test_junit_finding_below_fail_on_passes() -> None:
    root = ET.fromstring(junit.render(result(finding(rule_id="HUB011", severity="low"))))
    assert root.get("failures") == "0" and root.find("testsuite/testcase/system-out") is not None


def test_junit_clean_file_has_a_passing_case_and_errors_are_errors() -> None:
    r = result(errors=[Problem("bad.json", 1, 2, "truncated")])
    root = ET.fromstring(junit.render(r))
    names = {s.get("name"): s for s in root.findall("testsuite")}
    assert names["infra/hub one.json"].find("testcase[@name='iotguard']") is not None
    assert names["bad.json"].get("errors") == "1"


HUB = ("infra/hub one.json", "Microsoft.Devices/IotHubs", "hub1")


def evaluated(*rule_ids: str) -> list[tuple[str, str, str, str]]:
    return [(HUB[0], rule_id, HUB[1], HUB[2]) for rule_id in rule_ids]


def _cases(root: ET.Element) -> dict[str, str]:
    """testcase name -> outcome (failure, error, skipped or passed)."""
    out = {}
    for case in root.iter("testcase"):
        kinds = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
        out[case.get("name") or ""] = kinds[0] if kinds else "passed"
    return out


def test_junit_rules_evaluated_without_finding_are_passing_testcases() -> None:
    r = result(finding(), evaluated=evaluated("HUB001", "HUB011"))
    assert _cases(ET.fromstring(junit.render(r))) == {"HUB001 hub1": "failure", "HUB011 hub1": "passed"}


def test_junit_unresolved_is_skipped_or_with_strict_a_failure() -> None:
    u = Unresolved("HUB001", "high", RULE.title, "m", HUB[0], 2, 3, HUB[1], HUB[2], inputs=("parameter 'p'",))
    r = result(unresolved=[u], evaluated=evaluated("HUB001"))
    assert _cases(ET.fromstring(junit.render(r))) == {"HUB001 hub1": "skipped"}
    r.strict = True
    assert _cases(ET.fromstring(junit.render(r))) == {"HUB001 hub1": "failure"}


def test_junit_counts_add_up_on_every_suite_and_the_root() -> None:
    from engine.findings import StaleBaselineEntry

    u = Unresolved("HUB005", "medium", "tls", "m", HUB[0], 2, 3, HUB[1], HUB[2])
    r = result(finding(), finding(rule_id="HUB011", severity="low", suppression=Suppression("config", "ok")),
               unresolved=[u], errors=[Problem("bad.json", 1, 2, "truncated"), Problem(HUB[0], 1, 1, "odd")],
               evaluated=evaluated("HUB001", "HUB002", "HUB005", "HUB011"),
               stale_baseline=[StaleBaselineEntry({"rule_id": "HUB003", "path": "x.json"}, "base.json", 7)])
    root = ET.fromstring(junit.render(r))
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        expected = {"tests": len(cases), "failures": len(suite.findall("testcase/failure")),
                    "errors": len(suite.findall("testcase/error")), "skipped": len(suite.findall("testcase/skipped"))}
        assert {k: int(suite.get(k) or -1) for k in expected} == expected
        for k, v in expected.items():
            totals[k] += v
    assert {k: int(root.get(k) or -1) for k in totals} == totals == {"tests": 7, "failures": 1, "errors": 2,
                                                                       "skipped": 2}


def test_junit_from_the_cli_has_a_passing_case_per_rule_and_resource(write: Any, iotguard: Any) -> None:
    from tests.test_cli import good_hub

    write("hub.json", good_hub())
    _, out, _ = iotguard("check", "--format", "junit")
    cases = _cases(ET.fromstring(out))
    assert cases["HUB001 hub1"] == "passed" and cases["HUB005 hub1"] == "passed"
    assert set(cases.values()) == {"passed"}


def test_junit_strips_characters_xml_cannot_carry() -> None:
    text = junit.render(result(finding(message="bad \x01 byte")))
    assert "\x01" not in text and ET.fromstring(text) is not None


def test_github_annotation_format_and_escaping() -> None:
    out = github.render(result(finding(message="50% done\nnext", path="a,b:c.json")))
    first = out.splitlines()[0]
    assert first.startswith("::error file=a%2Cb%3Ac.json,line=12,col=9,title=HUB001 Hub allows local auth::")
    assert first.endswith("50%25 done%0Anext")


def test_github_levels_follow_fail_on() -> None:
    r = result(finding(), finding(rule_id="HUB011", severity="low"), finding(rule_id="X", severity="info"))
    kinds = [line.split(" ", 1)[0] for line in github.render(r).splitlines()[:-1]]
    assert sorted(kinds) == ["::error", "::notice", "::warning"]


def test_atomic_write_replaces_and_leaves_no_temp_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "r.sarif"
    write_atomic(str(target), "one")
    write_atomic(str(target), "two")
    assert target.read_text() == "two"

    def boom(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(str(target), "three")
    assert target.read_text() == "two" and sorted(p.name for p in target.parent.iterdir()) == ["r.sarif"]


def test_cli_writes_text_and_sarif_in_one_run(write: Any, iotguard: Any, tmp_path: Path) -> None:
    from tests.test_cli import bad_hub

    write("hub.json", bad_hub())
    code, out, _ = iotguard("check", "--no-color", "--sarif-file", "r/out.sarif", "--junit-file", "r/out.xml")
    assert code == 1 and "HUB001" in out
    doc = json.loads((tmp_path / "r" / "out.sarif").read_text())
    assert any(r["ruleId"] == "HUB001" for r in doc["runs"][0]["results"])
    assert ET.parse(tmp_path / "r" / "out.xml").getroot().get("failures") != "0"


def test_atomic_write_leaves_a_readable_file(tmp_path: Any) -> None:
    import os

    from engine.report.files import write_atomic

    target = tmp_path / "out.sarif"
    old = os.umask(0o022)
    try:
        write_atomic(str(target), "{}")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


def _unresolved(severity: str = "high", rule_id: str = "HUB001") -> Unresolved:
    return Unresolved(rule_id, severity, RULE.title, "disableLocalAuth = {parameters('p')} -- outcome depends on: "
                      "parameter 'p' has no value", HUB[0], 2, 3, HUB[1], HUB[2], "properties.disableLocalAuth",
                      inputs=("parameter 'p' has no value",), resource_key="microsoft.devices/iothubs|hub1")


def test_github_unresolved_failing_the_run_under_strict_is_an_error_annotation() -> None:
    r = result(unresolved=[_unresolved()], strict=True)
    assert r.exit_code() == 1
    first = github.render(r).splitlines()[0]
    assert first.startswith("::error file=infra/hub one.json,line=2,col=3,title=HUB001 Hub allows local auth "
                            "(unresolved)::unresolved: ")
    assert "parameter 'p' has no value" in first


def test_github_unresolved_not_failing_the_run_is_a_warning_or_for_info_a_notice() -> None:
    r = result(unresolved=[_unresolved(), _unresolved("low", "HUB011"), _unresolved("info", "X")], strict=True)
    kinds = sorted(line.split(" ", 1)[0] for line in github.render(r).splitlines()[:-1])
    assert kinds == ["::error", "::notice", "::warning"]
    r.strict = False
    kinds = sorted(line.split(" ", 1)[0] for line in github.render(r).splitlines()[:-1])
    assert kinds == ["::notice", "::warning", "::warning"] and r.exit_code() == 0


def test_text_verdict_names_unresolved_results_when_they_alone_fail_the_run() -> None:
    from engine.report import text

    r = result(unresolved=[_unresolved()], strict=True)
    assert text.summary_line(r).endswith("-- fail (unresolved results at or above medium, --strict)")
    r = result(finding(), unresolved=[_unresolved()], strict=True)
    assert text.summary_line(r).endswith("-- fail (findings and unresolved results at or above medium, --strict)")
    r = result(finding(), unresolved=[_unresolved()])
    assert text.summary_line(r).endswith("-- fail (findings at or above medium)")


def test_sarif_unresolved_failing_under_strict_has_the_severity_level() -> None:
    r = result(unresolved=[_unresolved(), _unresolved("low", "HUB011")], strict=True)
    levels = {res["ruleId"]: (res["kind"], res["level"]) for res in sarif.to_dict(r)["runs"][0]["results"]}
    assert levels == {"HUB001": ("fail", "error"), "HUB011": ("review", "none")}
    r.strict = False
    levels = {res["ruleId"]: (res["kind"], res["level"]) for res in sarif.to_dict(r)["runs"][0]["results"]}
    assert levels == {"HUB001": ("review", "none"), "HUB011": ("review", "none")}


def test_sarif_unresolved_fingerprint_survives_a_line_move_and_differs_from_a_finding() -> None:
    moved = _unresolved()
    moved.line = 40

    def fp(r: RunResult) -> set[str]:
        return {res["partialFingerprints"]["iotguardFindingHash/v1"] for res in sarif.to_dict(r)["runs"][0]["results"]}

    assert fp(result(unresolved=[_unresolved()])) == fp(result(unresolved=[moved]))
    assert len(fp(result(finding(), unresolved=[_unresolved()]))) == 2


def test_strict_run_failing_on_unresolved_annotates_why(write: Any, iotguard: Any) -> None:
    from tests.conftest import hub, template

    write("hub.json", template(hub(disableLocalAuth="[parameters('dla')]", minTlsVersion="1.2",
                                   publicNetworkAccess="Disabled", disableDeviceSAS=True, disableModuleSAS=True),
                               parameters={"dla": {"type": "bool"}}))
    code, out, _ = iotguard("check", "--no-config", "--strict", "--format", "github")
    errors = [line for line in out.splitlines() if line.startswith("::error")]
    assert code == 1 and errors and all("(unresolved)" in e and "parameter 'dla'" in e for e in errors)


def _junit_text(r: RunResult) -> str:
    root = ET.fromstring(junit.render(r))
    return "\n".join(t for e in root.iter() for t in (e.text, *e.attrib.values()) if t)


def test_junit_unresolved_result_beside_a_finding_of_the_same_rule_and_resource_is_kept() -> None:
    u = _unresolved()
    u.message, u.property = "routing endpoint unresolved", "properties.routing"
    r = result(finding(), unresolved=[u], evaluated=evaluated("HUB001"))
    root = ET.fromstring(junit.render(r))
    assert _cases(root) == {"HUB001 hub1": "failure"}
    out = root.find("testsuite/testcase/system-out")
    assert out is not None and "unresolved: infra/hub one.json:2:3  HIGH  routing endpoint unresolved" in (out.text or "")


def test_junit_strict_failure_lists_the_failing_finding_and_the_failing_unresolved_result() -> None:
    u = _unresolved()
    u.message = "routing endpoint unresolved"
    r = result(finding(), unresolved=[u], evaluated=evaluated("HUB001"), strict=True)
    failure = ET.fromstring(junit.render(r)).find("testsuite/testcase/failure")
    assert failure is not None
    assert "local auth" in (failure.text or "") and "unresolved (--strict): routing endpoint unresolved" in (failure.text or "")


def test_junit_every_finding_and_unresolved_result_appears() -> None:
    items = [finding(message="f-high"), finding(rule_id="HUB001", severity="low", message="f-low", line=20),
             finding(message="f-suppressed", line=30, suppression=Suppression("config", "accepted")),
             finding(rule_id="HUB011", severity="low", message="f-suppressed-2", suppression=Suppression("inline", "ok"))]
    u1, u2 = _unresolved(), _unresolved("low", "HUB011")
    u1.message, u2.message = "u-high", "u-low"
    for strict in (False, True):
        text = _junit_text(result(*items, unresolved=[u1, u2], evaluated=evaluated("HUB001", "HUB011"), strict=strict))
        for message in ("f-high", "f-low", "f-suppressed", "f-suppressed-2", "u-high", "u-low"):
            assert message in text, (strict, message)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("severity", ["high", "low"])
def test_junit_has_a_failure_exactly_when_the_run_fails(strict: bool, severity: str) -> None:
    cases = [result(finding(severity=severity), strict=strict),
             result(unresolved=[_unresolved(severity)], strict=strict),
             result(finding(rule_id="HUB011", severity="low"), unresolved=[_unresolved(severity)], strict=strict),
             result(finding(severity=severity, suppression=Suppression("config", "x")), strict=strict)]
    for r in cases:
        failures = int(ET.fromstring(junit.render(r)).get("failures") or 0)
        assert (failures > 0) == (r.exit_code() == 1)


def test_junit_warnings_are_passing_testcases_carrying_the_message() -> None:
    r = result(finding(), warnings=[Problem(HUB[0], 13, 45, "suppression of HUB006 expired on 2025-01-01", "warning"),
                                    Problem("p.parameters.json", 1, 9, "parameter 'zzz' is not declared", "warning")],
               not_checked=[Problem(HUB[0], 40, 7, "linked template https://x/t.json not checked", "warning")])
    root = ET.fromstring(junit.render(r))
    assert _cases(root) == {"HUB001 hub1": "failure", "warning 13:45": "passed", "warning 40:7": "passed",
                            "warning 1:9": "passed"}
    texts = [e.text or "" for e in root.iter("system-out")]
    assert "infra/hub one.json:13:45: warning: suppression of HUB006 expired on 2025-01-01" in texts
    assert any("linked template https://x/t.json not checked" in t for t in texts)
    assert "p.parameters.json" in {s.get("name") for s in root.findall("testsuite")}


def test_junit_input_errors_in_one_file_have_unique_stable_names() -> None:
    r = result(errors=[Problem("bad.json", 4, 2, "b"), Problem("bad.json", 4, 2, "a"), Problem("bad.json", 1, 1, "c"),
                       Problem("bad.json", 0, 0, "no such file")])
    suite = next(s for s in ET.fromstring(junit.render(r)).findall("testsuite") if s.get("name") == "bad.json")
    names = [c.get("name") for c in suite.findall("testcase")]
    assert names == ["input (file)", "input 1:1", "input 4:2", "input 4:2 (2)"]
    assert suite.get("errors") == "4"


def test_junit_parameter_file_gets_no_dummy_suite(write: Any, iotguard: Any) -> None:
    from tests.test_cli import good_hub

    write("hub.json", good_hub())
    write("hub.parameters.json", {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                                             "deploymentParameters.json#", "contentVersion": "1.0.0.0", "parameters": {}})
    _, out, _ = iotguard("check", "--no-config", "--format", "junit")
    assert [s.get("name") for s in ET.fromstring(out).findall("testsuite")] == ["hub.json"]


def test_junit_parameter_file_warning_is_in_its_suite(write: Any, iotguard: Any) -> None:
    from tests.test_cli import good_hub

    write("hub.json", good_hub())
    write("hub.parameters.json", {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                                             "deploymentParameters.json#", "contentVersion": "1.0.0.0",
                                  "parameters": {"zzz": {"value": 1}}})
    _, out, _ = iotguard("check", "--no-config", "--format", "junit")
    suite = next(s for s in ET.fromstring(out).findall("testsuite") if s.get("name") == "hub.parameters.json")
    assert [c.get("name", "").split(" ")[0] for c in suite.findall("testcase")] == ["warning"]
    assert "'zzz'" in (suite.findtext("testcase/system-out") or "")


def test_junit_run_with_nothing_to_test_still_has_one_testcase() -> None:
    r = RunResult(files_checked=["p.parameters.json"], parameter_files=["p.parameters.json"])
    root = ET.fromstring(junit.render(r))
    assert root.get("tests") == "1" and "1 file checked -- pass" in (root.findtext("testsuite/testcase/system-out") or "")


_SIDE_FILES = ("--sarif-file", "out/r.sarif", "--junit-file", "out/r.xml", "--json-file", "out/r.json")


def _side_reports(tmp_path: Path) -> tuple[dict[str, Any], ET.Element, dict[str, Any]]:
    return (json.loads((tmp_path / "out/r.sarif").read_text()), ET.parse(tmp_path / "out/r.xml").getroot(),
            json.loads((tmp_path / "out/r.json").read_text()))


def test_config_error_still_writes_every_requested_report_file(write: Any, iotguard: Any, tmp_path: Path) -> None:
    from tests.test_cli import good_hub

    write("hub.json", good_hub())
    write(".iotguard.yaml", "fail-on: high\nexclude: 5\n")
    code, out, err = iotguard("check", *_SIDE_FILES)
    assert code == 2 and ".iotguard.yaml:2:10: error: exclude" in err and out == ""
    doc, junit_root, js = _side_reports(tmp_path)
    inv = doc["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False and doc["runs"][0]["results"] == []
    note = inv["toolExecutionNotifications"][0]
    assert note["level"] == "error" and note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == ".iotguard.yaml"
    assert _cases(junit_root) == {"input 2:10": "error"}
    assert [(e["path"], e["line"]) for e in js["errors"]] == [(".iotguard.yaml", 2)]
    assert js["summary"]["exit_code"] == 2


def test_unusable_baseline_writes_the_error_not_the_findings(write: Any, iotguard: Any, tmp_path: Path) -> None:
    from tests.test_cli import bad_hub

    write("hub.json", bad_hub())
    write("base.json", "{\n  \"findings\": [,]\n}")
    code, _, err = iotguard("check", "--no-config", "--baseline", "base.json", *_SIDE_FILES)
    assert code == 2 and "base.json:2:" in err
    doc, junit_root, js = _side_reports(tmp_path)
    assert doc["runs"][0]["results"] == [] and doc["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert set(_cases(junit_root).values()) == {"error"}
    assert js["findings"] == [] and js["errors"][0]["path"] == "base.json"


def test_invalid_rule_file_is_reported_in_the_machine_format_on_stdout(write: Any, iotguard: Any) -> None:
    write("myrules/bad.yaml", "id: CUS001\ntitle: x\nseverity: urgent\n")
    code, out, err = iotguard("check", "--no-config", "--rules", "myrules", "--format", "sarif")
    notes = json.loads(out)["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert code == 2 and "bad.yaml:" in err
    assert notes and all(n["level"] == "error" for n in notes)
    assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("bad.yaml")


def test_sarif_custom_rule_help_uri_is_its_first_reference_or_absent() -> None:
    custom = RuleInfo("ORG001", "Org hub naming", "low", "d", "w", "f", references=("https://wiki.example/org001",),
                      source="policy/iot-rules/ORG001.yaml")
    bare = RuleInfo("ORG002", "Org tags", "low", "d", "w", "f", source="policy/iot-rules/ORG002.yaml")
    r = RunResult(rules=[RULE, custom, bare])
    uris = {d["id"]: d.get("helpUri") for d in sarif.to_dict(r)["runs"][0]["tool"]["driver"]["rules"]}
    assert uris == {"HUB001": "https://github.com/iotguard/iotguard/blob/main/docs/rules/HUB001.md",
                    "ORG001": "https://wiki.example/org001", "ORG002": None}


def test_sarif_help_uri_from_the_cli_only_links_docs_of_bundled_rules(write: Any, iotguard: Any) -> None:
    from tests.test_cli import CUS001, good_hub

    write("myrules/CUS001.yaml", CUS001)
    write("hub.json", good_hub())
    _, out, _ = iotguard("check", "--no-config", "--rules", "myrules", "--format", "sarif")
    uris = {d["id"]: d.get("helpUri", "") for d in json.loads(out)["runs"][0]["tool"]["driver"]["rules"]}
    assert uris["HUB001"].endswith("/docs/rules/HUB001.md") and (REPO / "docs/rules/HUB001.md").is_file()
    assert "/docs/rules/" not in uris["CUS001"]


def test_a_usage_error_still_writes_the_requested_report_files(write: Any, iotguard: Any, tmp_path: Any) -> None:
    import json as _json

    write("hub.json", template(hub()))
    code, _, err = iotguard("check", "--no-config", "--select", "HUB0001", "--sarif-file", "r.sarif",
                            "--junit-file", "r.xml", "--json-file", "r.json", "hub.json")
    assert code == 2 and "did you mean HUB001?" in err
    sarif = _json.loads((tmp_path / "r.sarif").read_text())
    [inv] = sarif["runs"][0]["invocations"]
    assert inv["executionSuccessful"] is False and "locations" not in inv["toolExecutionNotifications"][0]
    assert 'testsuite name="iotguard"' in (tmp_path / "r.xml").read_text()
    assert "HUB0001" in _json.loads((tmp_path / "r.json").read_text())["errors"][0]["message"]


def test_json_marks_the_unresolved_results_that_fail_a_strict_run(write: Any, iotguard: Any) -> None:
    import json as _json

    write("hub.json", template(hub(minTlsVersion="[parameters('tls')]"), parameters={"tls": {"type": "string"}}))
    for strict, failing in ((False, False), (True, True)):
        _, out, _ = iotguard("check", "--no-config", "--select", "HUB005", "--format", "json",
                             *(["--strict"] if strict else []), "hub.json")
        report = _json.loads(out)
        assert [u["failing"] for u in report["unresolved"]] == [failing]
        assert report["summary"]["failing_unresolved"] == int(failing)
