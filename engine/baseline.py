"""Baselines: accept today's findings, fail only on new ones.

``iotguard baseline`` records every active finding by fingerprint (rule + file +
resource + property, so moving lines does not invalidate it).  Files are named relative
to the baseline file itself, so the same baseline matches whichever directory a run
starts in.  ``--baseline FILE`` marks findings found there as suppressed (still listed
in JSON/SARIF) and lists baseline entries that no longer occur, so the file can be
pruned as debt is paid.  Only entries of files this run checked, for rules it ran, can
be stale: checking one file says nothing about the others.
"""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from typing import Any

from engine import __version__
from engine.config import ConfigError
from engine.findings import Finding, RunResult, StaleBaselineEntry, Suppression
from engine.report.files import write_atomic

# 2: paths (and so fingerprints) relative to the baseline file; 1: relative to the
# working directory of the run that wrote it.
FORMAT = 2


def _relative(path: str, cwd: str, base: str) -> str:
    absolute = os.path.normpath(os.path.join(cwd, path))
    try:
        rel = os.path.relpath(absolute, base)
    except ValueError:  # another drive on Windows
        rel = absolute
    return rel.replace(os.sep, "/")


def baseline_document(result: RunResult, base: str = "", cwd: str = "") -> dict[str, Any]:
    """The baseline of ``result``, files named relative to ``base`` (the directory of
    the baseline file; the run's paths are relative to ``cwd``)."""

    def at(f: Finding) -> str:
        return _relative(f.path, cwd, base) if base else f.path.replace("\\", "/")

    entries = sorted(
        (
            {
                "fingerprint": f.fingerprint_at(at(f)),
                "rule_id": f.rule_id,
                "path": at(f),
                "resource_name": f.resource_name,
                "property": f.property,
                "message": f.message,
            }
            for f in result.active_findings
        ),
        key=lambda e: (e["path"], e["rule_id"], e["resource_name"], e["property"], e["fingerprint"]),
    )
    return {"format": FORMAT, "tool": "iotguard", "version": __version__,
            "paths": "relative to this file", "findings": entries}


def write_baseline(result: RunResult, path: str, cwd: str = "") -> None:
    cwd = cwd or os.getcwd()
    doc = baseline_document(result, os.path.dirname(os.path.abspath(os.path.join(cwd, path))), cwd)
    write_atomic(path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def read_baseline(path: str, shown: str | None = None) -> tuple[int, list[dict[str, Any]], list[int]]:
    """(format, entries, the line each entry's fingerprint is written on)."""
    shown = shown or path
    try:
        # A FIFO or device would be read forever.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(shown, 1, 1, "cannot read baseline: not a regular file")
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
    fmt = doc.get("format")
    fmt = fmt if isinstance(fmt, int) and not isinstance(fmt, bool) else 1
    # Entries are written in order, so each fingerprint is found after the previous one.
    lines: list[int] = []
    cursor = 0
    for e in entries:
        at = text.find(json.dumps(e["fingerprint"]), cursor)
        if at < 0:
            lines.append(1)
            continue
        lines.append(text.count("\n", 0, at) + 1)
        cursor = at + 1
    return fmt, entries, lines


def apply_baseline(result: RunResult, path: str, shown: str | None = None, cwd: str = "") -> None:
    shown = shown or path
    cwd = cwd or os.getcwd()
    fmt, entries, lines = read_baseline(path, shown)
    base = os.path.dirname(os.path.abspath(os.path.join(cwd, path))) if fmt >= 2 else cwd

    def at(p: str) -> str:
        return _relative(p, cwd, base)

    # A multiset: two identical findings in the baseline accept two, not every future copy.
    remaining = Counter(e["fingerprint"] for e in entries)
    for finding in result.findings:
        fp = finding.fingerprint_at(at(finding.path))
        if remaining[fp] > 0:
            # Still occurring, even if a configuration suppression got to it first.
            remaining[fp] -= 1
            if finding.suppression is None:
                finding.suppression = Suppression(kind="baseline", reason=f"accepted in baseline {shown}",
                                                  location=shown)
    checked = {at(p) for p in result.files_checked}
    checked |= {at(f.path) for f in result.findings} | {at(u.path) for u in result.unresolved}
    ran = {r.id.lower() for r in result.rules}
    stale: list[StaleBaselineEntry] = []
    for e, line in zip(entries, lines, strict=True):
        if remaining[e["fingerprint"]] <= 0:
            continue
        remaining[e["fingerprint"]] -= 1
        if str(e.get("path", "")).replace("\\", "/") in checked and str(e.get("rule_id", "")).lower() in ran:
            stale.append(StaleBaselineEntry(entry=e, baseline=shown, line=line))
    result.stale_baseline = stale
