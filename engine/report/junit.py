"""``--format junit``: JUnit XML for Azure Pipelines (PublishTestResults), GitLab, Jenkins.

A testsuite per file; a testcase per rule and resource the rule was evaluated on, named
``RULE resource`` whatever its outcome (CI keeps one history per test name):

- a failure when a finding is at or above ``--fail-on``, or (``--strict``) an unresolved
  result is (message, location, remediation of every failing item);
- else skipped when an unresolved result leaves the outcome unknown, or when every finding
  is suppressed (with the reason);
- passing otherwise: no finding, or findings below ``--fail-on``.

Nothing a testcase holds is dropped: every finding and unresolved result of the rule and
resource that is not in the failure is listed in its system-out (below fail-on,
suppressed with its reason, unresolved).  Input errors are error testcases named
``input LINE:COL``; warnings (expired suppressions, parameter-file problems, linked
templates not checked) are passing testcases named ``warning LINE:COL`` with the
message in system-out; names are unique within a suite.  A template or role file no rule
applies to has one passing ``iotguard`` testcase so no suite is empty; a parameter file
gets a suite only for its own errors or warnings.  Stale baseline entries are passing
testcases of the baseline's own suite.  Counts on every suite and on the root add up, and
there is a failure exactly when findings or unresolved results fail the run.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field

from engine.findings import Finding, Problem, RunResult, Unresolved, at_least

# Characters XML 1.0 cannot carry, even escaped (control characters from hostile input).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_Key = tuple[str, str]  # (rule id, resource)


def _clean(text: str) -> str:
    return _ILLEGAL.sub("\ufffd", text)


def _norm(path: str) -> str:
    return path.replace("\\", "/")


@dataclass
class _Items:
    """What one rule reported on one resource."""

    findings: list[Finding] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)


class _Suite:
    def __init__(self, root: ET.Element, name: str) -> None:
        name = name or "iotguard"  # a problem with the command line, not with a file
        self.element = ET.SubElement(root, "testsuite", name=_clean(name))
        self.name = name
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        self._names: set[str] = set()

    def case(self, name: str) -> ET.Element:
        # Two problems at one place (or a place unknown) still get names of their own,
        # numbered in their deterministic order, so a test history never merges them.
        unique, n = name, 1
        while unique in self._names:
            n += 1
            unique = f"{name} ({n})"
        self._names.add(unique)
        self.counts["tests"] += 1
        return ET.SubElement(self.element, "testcase", classname=_clean(self.name), name=_clean(unique))


def _place(p: Problem) -> str:
    return f"{p.line}:{p.column}" if p.line else "(file)"


def render(result: RunResult, *, base_dir: str = "") -> str:
    remediation = {r.id: r.remediation.strip() for r in result.rules}
    items: dict[str, dict[_Key, _Items]] = defaultdict(lambda: defaultdict(_Items))
    for f in result.findings:
        items[_norm(f.path)][(f.rule_id, f.resource_name or f.resource_type)].findings.append(f)
    for u in result.unresolved:
        items[_norm(u.path)][(u.rule_id, u.resource_name or u.resource_type)].unresolved.append(u)
    for path, rule_id, rtype, rname in result.evaluated:
        # Evaluated with nothing to report: a passing testcase.
        items[_norm(path)].setdefault((rule_id, rname or rtype), _Items())
    errors: dict[str, list[Problem]] = defaultdict(list)
    for e in result.errors:
        errors[_norm(e.path)].append(e)
    warnings: dict[str, list[Problem]] = defaultdict(list)
    for w in sorted((*result.warnings, *result.not_checked), key=Problem.sort_key):
        warnings[_norm(w.path)].append(w)
    parameter_files = {_norm(p) for p in result.parameter_files}
    files = sorted({_norm(p) for p in result.files_checked} | set(items) | set(errors) | set(warnings))
    failing_unresolved = {id(u) for u in result.failing_unresolved()}

    root = ET.Element("testsuites", name="iotguard")
    suites: list[_Suite] = []
    for path in files:
        suite = _Suite(root, path)
        for key, found in sorted(items.get(path, {}).items()):
            rule_id, resource = key
            _rule_case(suite, rule_id, f"{rule_id} {resource}".strip(), found, result,
                       failing_unresolved, remediation.get(rule_id, ""))
        for e in errors.get(path, []):
            case = suite.case(f"input {_place(e)}")
            suite.counts["errors"] += 1
            err = ET.SubElement(case, "error", message=_clean(e.message), type="input-error")
            err.text = _clean(f"{e.path}:{e.line}:{e.column}: {e.message}")
        for w in warnings.get(path, []):
            out = ET.SubElement(suite.case(f"warning {_place(w)}"), "system-out")
            out.text = _clean(f"{w.path}:{w.line}:{w.column}: warning: {w.message}")
        if not suite.counts["tests"]:
            if path in parameter_files:
                root.remove(suite.element)
                continue
            out = ET.SubElement(suite.case("iotguard"), "system-out")
            out.text = "checked: no rule applies to anything in this file"
        suites.append(suite)
    stale_by_baseline: dict[str, list[str]] = defaultdict(list)
    for s in result.stale_baseline:
        stale_by_baseline[s.baseline].append(f"{s.baseline}:{s.line}: {s.message}")
    for baseline, lines in sorted(stale_by_baseline.items()):
        suite = _Suite(root, baseline)
        suites.append(suite)
        for text in lines:
            out = ET.SubElement(suite.case(f"stale baseline entry: {text.split(': ', 1)[0]}"), "system-out")
            out.text = _clean(text)
    if not suites:
        # Jenkins and others reject a report without a single test: say what was run.
        from engine.report.text import summary_line

        suite = _Suite(root, "iotguard")
        suites.append(suite)
        ET.SubElement(suite.case("iotguard"), "system-out").text = _clean(summary_line(result))

    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for k, v in suite.counts.items():
            suite.element.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _line(item: Finding | Unresolved) -> str:
    return f"{item.path}:{item.line}:{item.column}  {item.severity.upper()}  {item.message}"


def _rule_case(suite: _Suite, rule_id: str, name: str, found: _Items, result: RunResult,
               failing_unresolved: set[int], fix: str) -> None:
    case = suite.case(name)
    active = [f for f in found.findings if f.suppression is None]
    suppressed = [f for f in found.findings if f.suppression is not None]
    failing = [f for f in active if at_least(f.severity, result.fail_on)]
    below = [f for f in active if not at_least(f.severity, result.fail_on)]
    failing_u = [u for u in found.unresolved if id(u) in failing_unresolved]
    if failing or failing_u:
        suite.counts["failures"] += 1
        body = [_line(f) for f in failing]
        body += [f"{u.path}:{u.line}:{u.column}  {u.severity.upper()}  unresolved (--strict): {u.message}"
                 for u in failing_u]
        fix = fix or next((f.remediation for f in failing), "")
        if fix:
            body.append(f"\nHow to fix:\n{fix.strip()}")
        message = failing[0].message if failing else f"unresolved: {failing_u[0].message}"
        failure = ET.SubElement(case, "failure", message=_clean(message), type=rule_id)
        failure.text = _clean("\n".join(body))
    elif found.unresolved:
        suite.counts["skipped"] += 1
        ET.SubElement(case, "skipped", message=_clean(f"unresolved: {found.unresolved[0].message}"))
    elif suppressed and not active:
        suite.counts["skipped"] += 1
        reason = suppressed[0].suppression.reason if suppressed[0].suppression else ""
        ET.SubElement(case, "skipped", message=_clean(f"suppressed: {reason}"))
    # Everything not in the failure, so that no result of the run is lost here.
    rest = [f"below fail-on ({result.fail_on}): {_line(f)}" for f in below]
    rest += [f"suppressed ({f.suppression.kind}: {f.suppression.reason}): {_line(f)}"
             for f in suppressed if f.suppression is not None]
    rest += [f"unresolved: {_line(u)}" for u in found.unresolved if id(u) not in failing_unresolved]
    if rest:
        ET.SubElement(case, "system-out").text = _clean("\n".join(rest))
