"""``--format junit``: JUnit XML for Azure Pipelines (PublishTestResults), GitLab, Jenkins.

A testsuite per file; a testcase per rule and resource with findings (a failure when at
or above ``--fail-on``); a passing ``iotguard`` testcase per clean file so no suite is
empty; suppressed findings as skipped with their reason; input errors as errors.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict

from engine.findings import Finding, Problem, RunResult, at_least

# Characters XML 1.0 cannot carry, even escaped (control characters from hostile input).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _ILLEGAL.sub("\ufffd", text)


def render(result: RunResult, *, base_dir: str = "") -> str:
    remediation = {r.id: r.remediation.strip() for r in result.rules}
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_file[f.path.replace("\\", "/")].append(f)
    errors_by_file: dict[str, list[Problem]] = defaultdict(list)
    for e in result.errors:
        errors_by_file[e.path.replace("\\", "/")].append(e)
    files = sorted({p.replace("\\", "/") for p in result.files_checked} | set(by_file) | set(errors_by_file))

    root = ET.Element("testsuites", name="iotguard")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for path in files:
        suite = ET.SubElement(root, "testsuite", name=_clean(path))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for f in by_file.get(path, []):
            groups[(f.rule_id, f.resource_name or f.resource_type)].append(f)
        for (rule_id, resource), items in sorted(groups.items()):
            case = ET.SubElement(suite, "testcase", classname=_clean(path),
                                 name=_clean(f"{rule_id} {resource}".strip()))
            counts["tests"] += 1
            active = [f for f in items if f.suppression is None]
            failing = [f for f in active if at_least(f.severity, result.fail_on)]
            if failing:
                counts["failures"] += 1
                body = []
                for f in failing:
                    body.append(f"{f.path}:{f.line}:{f.column}  {f.severity.upper()}  {f.message}")
                fix = remediation.get(rule_id) or failing[0].remediation
                if fix:
                    body.append(f"\nHow to fix:\n{fix.strip()}")
                failure = ET.SubElement(case, "failure", message=_clean(failing[0].message), type=rule_id)
                failure.text = _clean("\n".join(body))
            elif not active:
                counts["skipped"] += 1
                reason = items[0].suppression.reason if items[0].suppression else ""
                ET.SubElement(case, "skipped", message=_clean(f"suppressed: {reason}"))
            else:
                out = ET.SubElement(case, "system-out")
                out.text = _clean("\n".join(
                    f"below fail-on ({result.fail_on}): {f.path}:{f.line}:{f.column}  "
                    f"{f.severity.upper()}  {f.message}" for f in active))
        for e in errors_by_file.get(path, []):
            case = ET.SubElement(suite, "testcase", classname=_clean(path), name="input")
            counts["tests"] += 1
            counts["errors"] += 1
            err = ET.SubElement(case, "error", message=_clean(e.message), type="input-error")
            err.text = _clean(f"{e.path}:{e.line}:{e.column}: {e.message}")
        if not counts["failures"] and not counts["errors"]:
            ET.SubElement(suite, "testcase", classname=_clean(path), name="iotguard")
            counts["tests"] += 1
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
