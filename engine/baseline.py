"""Baselines: accept today's findings, fail only on new ones.

``iotguard baseline`` records every active finding by fingerprint (rule + file +
resource + property, so moving lines does not invalidate it).  ``--baseline FILE`` marks
findings found there as suppressed (still listed in JSON/SARIF) and lists baseline
entries that no longer occur, so the file can be pruned as debt is paid.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from engine import __version__
from engine.config import ConfigError
from engine.findings import RunResult, Suppression
from engine.report.files import write_atomic

FORMAT = 1


def baseline_document(result: RunResult) -> dict[str, Any]:
    entries = sorted(
        (
            {
                "fingerprint": f.fingerprint,
                "rule_id": f.rule_id,
                "path": f.path.replace("\\", "/"),
                "resource_name": f.resource_name,
                "property": f.property,
                "message": f.message,
            }
            for f in result.active_findings
        ),
        key=lambda e: (e["path"], e["rule_id"], e["resource_name"], e["property"], e["fingerprint"]),
    )
    return {"format": FORMAT, "tool": "iotguard", "version": __version__, "findings": entries}


def write_baseline(result: RunResult, path: str) -> None:
    write_atomic(path, json.dumps(baseline_document(result), indent=2, ensure_ascii=False) + "\n")


def read_baseline(path: str, shown: str | None = None) -> list[dict[str, Any]]:
    shown = shown or path
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(shown, 1, 1, f"cannot read baseline: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(shown, exc.lineno, exc.colno, f"baseline is not valid JSON: {exc.msg}") from None
    entries = doc.get("findings") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in entries
    ):
        raise ConfigError(shown, 1, 1, 'expected an iotguard baseline: {"findings": [{"fingerprint": ...}]}'
                          "; create one with `iotguard baseline`")
    return entries


def apply_baseline(result: RunResult, path: str, shown: str | None = None) -> None:
    shown = shown or path
    entries = read_baseline(path, shown)
    # A multiset: two identical findings in the baseline accept two, not every future copy.
    remaining = Counter(e["fingerprint"] for e in entries)
    for finding in result.findings:
        if finding.suppression is not None:
            continue
        if remaining[finding.fingerprint] > 0:
            remaining[finding.fingerprint] -= 1
            finding.suppression = Suppression(kind="baseline", reason=f"accepted in baseline {shown}",
                                              location=shown)
    stale: list[dict[str, Any]] = []
    for e in entries:
        if remaining[e["fingerprint"]] > 0:
            remaining[e["fingerprint"]] -= 1
            stale.append(e)
    result.stale_baseline = stale
