"""``--format junit``: JUnit XML for Azure Pipelines (PublishTestResults), GitLab, Jenkins.

A testsuite per file; a testcase per rule and resource the rule was evaluated on:

- a failure when a finding is at or above ``--fail-on`` (message, location, remediation);
- skipped when its findings are suppressed (with the reason), or when the outcome is
  unresolved (unknown before deployment; a failure with ``--strict``, as the exit code);
- passing otherwise: no finding, or findings below ``--fail-on`` (kept in system-out).

Input errors are errors; a file no rule applies to has one passing ``iotguard`` testcase
so no suite is empty; stale baseline entries are passing testcases of the baseline's own
suite, with what to prune in system-out.  Counts on every suite and on the root add up.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from engine.findings import Finding, Problem, RunResult, Unresolved, at_least

# Characters XML 1.0 cannot carry, even escaped (control characters from hostile input).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_Key = tuple[str, str]  # (rule id, resource)


def _clean(text: str) -> str:
    return _ILLEGAL.sub("\ufffd", text)


def _norm(path: str) -> str:
    return path.replace("\\", "/")


class _Suite:
    def __init__(self, root: ET.Element, name: str) -> None:
        self.element = ET.SubElement(root, "testsuite", name=_clean(name))
        self.name = name
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(self, name: str) -> ET.Element:
        self.counts["tests"] += 1
        return ET.SubElement(self.element, "testcase", classname=_clean(self.name), name=_clean(name))


def render(result: RunResult, *, base_dir: str = "") -> str:
    remediation = {r.id: r.remediation.strip() for r in result.rules}
    findings: dict[str, dict[_Key, list[Finding]]] = defaultdict(lambda: defaultdict(list))
    for f in result.findings:
        findings[_norm(f.path)][(f.rule_id, f.resource_name or f.resource_type)].append(f)
    unresolved: dict[str, dict[_Key, list[Unresolved]]] = defaultdict(lambda: defaultdict(list))
    for u in result.unresolved:
        unresolved[_norm(u.path)][(u.rule_id, u.resource_name or u.resource_type)].append(u)
    evaluated: dict[str, set[_Key]] = defaultdict(set)
    for path, rule_id, rtype, rname in result.evaluated:
        evaluated[_norm(path)].add((rule_id, rname or rtype))
    errors: dict[str, list[Problem]] = defaultdict(list)
    for e in result.errors:
        errors[_norm(e.path)].append(e)
    files = sorted({_norm(p) for p in result.files_checked} | set(findings) | set(unresolved)
                   | set(evaluated) | set(errors))

    root = ET.Element("testsuites", name="iotguard")
    suites: list[_Suite] = []
    for path in files:
        suite = _Suite(root, path)
        suites.append(suite)
        keys = set(findings.get(path, {})) | set(unresolved.get(path, {})) | evaluated.get(path, set())
        for key in sorted(keys):
            rule_id, resource = key
            name = f"{rule_id} {resource}".strip()
            if key in findings.get(path, {}):
                _finding_case(suite, name, findings[path][key], result, remediation.get(rule_id, ""))
            elif key in unresolved.get(path, {}):
                _unresolved_case(suite, name, unresolved[path][key], result)
            else:
                # The same name whether it passes or fails: CI tracks a test's history by it.
                suite.case(name)
        for e in errors.get(path, []):
            case = suite.case("input")
            suite.counts["errors"] += 1
            err = ET.SubElement(case, "error", message=_clean(e.message), type="input-error")
            err.text = _clean(f"{e.path}:{e.line}:{e.column}: {e.message}")
        if not suite.counts["tests"]:
            suite.case("iotguard")
    stale_by_baseline: dict[str, list[str]] = defaultdict(list)
    for s in result.stale_baseline:
        stale_by_baseline[s.baseline].append(f"{s.baseline}:{s.line}: {s.message}")
    for baseline, lines in sorted(stale_by_baseline.items()):
        suite = _Suite(root, baseline)
        suites.append(suite)
        for text in lines:
            out = ET.SubElement(suite.case(f"stale baseline entry: {text.split(': ', 1)[0]}"), "system-out")
            out.text = _clean(text)

    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for k, v in suite.counts.items():
            suite.element.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _finding_case(suite: _Suite, name: str, items: list[Finding], result: RunResult, fix: str) -> None:
    case = suite.case(name)
    active = [f for f in items if f.suppression is None]
    failing = [f for f in active if at_least(f.severity, result.fail_on)]
    if failing:
        suite.counts["failures"] += 1
        body = [f"{f.path}:{f.line}:{f.column}  {f.severity.upper()}  {f.message}" for f in failing]
        fix = fix or failing[0].remediation
        if fix:
            body.append(f"\nHow to fix:\n{fix.strip()}")
        failure = ET.SubElement(case, "failure", message=_clean(failing[0].message), type=failing[0].rule_id)
        failure.text = _clean("\n".join(body))
    elif not active:
        suite.counts["skipped"] += 1
        reason = items[0].suppression.reason if items[0].suppression else ""
        ET.SubElement(case, "skipped", message=_clean(f"suppressed: {reason}"))
    else:
        out = ET.SubElement(case, "system-out")
        out.text = _clean("\n".join(
            f"below fail-on ({result.fail_on}): {f.path}:{f.line}:{f.column}  "
            f"{f.severity.upper()}  {f.message}" for f in active))


def _unresolved_case(suite: _Suite, name: str, items: list[Unresolved], result: RunResult) -> None:
    case = suite.case(name)
    text = _clean("\n".join(f"{u.path}:{u.line}:{u.column}  {u.severity.upper()}  unresolved: {u.message}"
                            for u in items))
    if result.strict and any(at_least(u.severity, result.fail_on) for u in items):
        suite.counts["failures"] += 1
        failure = ET.SubElement(case, "failure", message=_clean(f"unresolved: {items[0].message}"),
                                type=items[0].rule_id)
        failure.text = text
    else:
        suite.counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=_clean(f"unresolved: {items[0].message}"))
        ET.SubElement(case, "system-out").text = text
