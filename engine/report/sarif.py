"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning and Azure DevOps.

Every rule that ran is a ``reportingDescriptor`` (GitHub reads ``security-severity`` from
its properties); results carry a relative ``uri`` under ``%SRCROOT%`` (an absolute
``file:`` URI for files outside it) and a fingerprint that survives line moves; suppressed
findings keep their justification; input errors and stale baseline entries are tool
notifications, so a broken file is visible in the same upload.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from engine import __version__
from engine.findings import Finding, Problem, RuleInfo, RunResult, Unresolved

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/iotguard/iotguard"
HELP_BASE = "https://github.com/iotguard/iotguard/blob/main/docs/rules/"
FINGERPRINT_KEY = "iotguardFindingHash/v1"
# GitHub code scanning maps these scores to critical (>= 9), high (>= 7), medium (>= 4), low.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}


def _artifact(path: str) -> dict[str, Any]:
    """A path relative to the run's directory is a relative ``uri`` under ``SRCROOT``; a
    path outside it (shown absolute) is a ``file:`` URI of its own, since an absolute
    reference must not be resolved against a base."""
    if os.path.isabs(path) or PureWindowsPath(path).is_absolute():
        absolute = PureWindowsPath(path) if PureWindowsPath(path).drive else PurePosixPath(path)
        return {"uri": absolute.as_uri()}
    return {"uri": quote(path.replace("\\", "/"), safe="/"), "uriBaseId": "SRCROOT"}


def _camel(title: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(w[:1].upper() + w[1:] for w in words) or "Rule"


def _help_uri(info: RuleInfo) -> str:
    """Only the bundled rules have a page in our docs; a custom rule's own first
    reference is its documentation, if it has one."""
    from engine.rulepack import is_bundled

    if is_bundled(info.source):
        return f"{HELP_BASE}{info.id}.md"
    return next((r for r in info.references if r.startswith(("https://", "http://"))), "")


def _descriptor(info: RuleInfo) -> dict[str, Any]:
    refs = "".join(f"\n- {r}" for r in info.references)
    markdown = (
        f"**{info.title}** ({info.severity})\n\n{info.description.strip()}\n\n"
        f"**Why it matters**\n\n{info.rationale.strip()}\n\n"
        f"**How to fix**\n\n{info.remediation.strip()}\n"
        + (f"\n**References**\n{refs}\n" if refs else "")
    )
    text = (f"{info.description.strip()}\n\nWhy: {info.rationale.strip()}\n\n"
            f"Fix: {info.remediation.strip()}")
    out: dict[str, Any] = {
        "id": info.id,
        "name": _camel(info.title),
        "shortDescription": {"text": info.title},
        "fullDescription": {"text": info.description.strip() or info.title},
    }
    help_uri = _help_uri(info)
    if help_uri:
        out["helpUri"] = help_uri
    out.update({
        "help": {"text": text, "markdown": markdown},
        "defaultConfiguration": {"level": LEVEL[info.severity]},
        "properties": {
            "tags": sorted({*info.tags, "security"}),
            "security-severity": SECURITY_SEVERITY[info.severity],
            "precision": "high",
            "problem.severity": "error" if LEVEL[info.severity] == "error" else "warning",
        },
    })
    return out


def _location(path: str, line: int, column: int) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(path)}
    if line >= 1:
        physical["region"] = {"startLine": line, "startColumn": max(column, 1)}
    return {"physicalLocation": physical}


def _resource_location(f: Finding | Unresolved) -> dict[str, Any]:
    loc = _location(f.path, f.line, f.column)
    if f.resource_name or f.resource_type:
        loc["logicalLocations"] = [{
            "name": f.resource_name, "kind": "resource",
            "fullyQualifiedName": f"{f.resource_type}/{f.resource_name}".strip("/"),
        }]
    return loc


def _result(f: Finding, index: int) -> dict[str, Any]:
    loc = _resource_location(f)
    out: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "level": LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [loc],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": {"severity": f.severity, "property": f.property, "provenance": f.provenance,
                       "resourceType": f.resource_type},
    }
    if f.suppression is not None:
        out["suppressions"] = [{
            "kind": "inSource" if f.suppression.kind == "inline" else "external",
            "status": "accepted",
            "justification": f.suppression.reason,
        }]
    return out


def _notification(p: Problem, level: str) -> dict[str, Any]:
    out: dict[str, Any] = {"level": level, "message": {"text": p.message}}
    if p.path:  # "" for a problem with the command line itself, which is no artifact
        out["locations"] = [_location(p.path, p.line, p.column)]
    return out


def to_dict(result: RunResult, base_dir: str = "") -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for info in result.rules:
        if info.id not in index:
            index[info.id] = len(rules)
            rules.append(_descriptor(info))
    results: list[dict[str, Any]] = []
    for f in result.findings:
        if f.rule_id not in index:  # a finding of a rule the run did not list: describe it anyway
            index[f.rule_id] = len(rules)
            rules.append(_descriptor(RuleInfo(f.rule_id, f.title, f.severity, "", "", f.remediation,
                                              tags=f.tags)))
        results.append(_result(f, index[f.rule_id]))
    failing_unresolved = result.failing_unresolved()
    for u in result.unresolved:
        if u.rule_id not in index:
            index[u.rule_id] = len(rules)
            rules.append(_descriptor(RuleInfo(u.rule_id, u.title, u.severity, "", "", "")))
        # A review item unless --strict makes it fail the run: then it is as serious
        # as a finding of that severity, and code scanning must show it so.
        fails = any(u is v for v in failing_unresolved)
        results.append({
            "ruleId": u.rule_id, "ruleIndex": index[u.rule_id],
            "kind": "fail" if fails else "review", "level": LEVEL[u.severity] if fails else "none",
            "message": {"text": f"unresolved: {u.message}"},
            "locations": [_resource_location(u)],
            "partialFingerprints": {FINGERPRINT_KEY: u.fingerprint},
            "properties": {"severity": u.severity, "property": u.property, "inputs": list(u.inputs),
                           "unresolved": True, "resourceType": u.resource_type},
        })
    notifications = [_notification(e, "error") for e in result.errors]
    notifications += [_notification(w, "warning") for w in (*result.warnings, *result.not_checked)]
    # Not a problem of the run, but the baseline file wants pruning: say so where it is.
    notifications += [
        {**_notification(Problem(s.baseline, s.line, 1, s.message, "note"), "note"),
         "descriptor": {"id": "stale-baseline-entry"},
         "properties": {"baselineEntry": s.entry}}
        for s in result.stale_baseline
    ]
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "iotguard", "version": __version__, "semanticVersion": __version__,
            "informationUri": INFORMATION_URI, "rules": rules,
        }},
        "invocations": [{"executionSuccessful": not result.errors,
                         "toolExecutionNotifications": notifications}],
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if base_dir:
        run["originalUriBaseIds"] = {"SRCROOT": {"uri": Path(base_dir).resolve().as_uri().rstrip("/") + "/"}}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(result: RunResult, *, base_dir: str = "") -> str:
    return json.dumps(to_dict(result, base_dir), indent=2, ensure_ascii=False) + "\n"
