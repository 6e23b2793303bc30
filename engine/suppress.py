"""Configuration suppressions: accepted findings, each with a reason.

A suppressed finding stays in the result (JSON and SARIF show it as suppressed, text
with ``--show-suppressed``); it only stops counting toward the exit code.  An expired
suppression stops applying and is itself reported, so an exception granted "until the
migration" cannot outlive it silently.
"""

from __future__ import annotations

import datetime
import fnmatch
import os

from engine.config import Config, ConfigSuppression
from engine.discover import glob_match, relative_to_base
from engine.findings import Finding, Problem, RunResult, Suppression
from engine.selectors import matches


def selector_matches(finding: Finding, selector: str) -> bool:
    """Rule id, tag, or id prefix such as ``HUB``; the same selectors as ``--select``."""
    return matches(finding.rule_id, finding.tags, selector)


def suppression_applies(entry: ConfigSuppression, finding: Finding, cwd: str, base_dir: str) -> bool:
    if not selector_matches(finding, entry.rule):
        return False
    if entry.path:
        # Relative to the configuration file's directory; a file outside it is out of reach.
        rel = relative_to_base(os.path.normpath(os.path.join(cwd, finding.path)), base_dir)
        if rel is None or not glob_match(rel, entry.path):
            return False
    return not entry.resource or fnmatch.fnmatchcase(
        finding.resource_name.lower(), entry.resource.lower()
    )


def apply_config_suppressions(
    result: RunResult, config: Config, today: datetime.date, cwd: str | None = None
) -> None:
    cwd = cwd or os.getcwd()
    live: list[ConfigSuppression] = []
    for entry in config.suppressions:
        if entry.expires is not None and entry.expires < today:
            path, _, line = entry.location.rpartition(":")
            result.warnings.append(Problem(
                path=path, line=int(line) if line.isdigit() else 1, column=1, severity="warning",
                message=f"suppression of {entry.rule} expired on {entry.expires.isoformat()} and no "
                "longer applies; fix the findings or renew it with a new reason",
            ))
            continue
        live.append(entry)
    for finding in result.findings:
        if finding.suppression is not None:
            continue
        for entry in live:
            if suppression_applies(entry, finding, cwd, config.base_dir):
                finding.suppression = Suppression(
                    kind="config", reason=entry.reason, location=entry.location,
                    expires=entry.expires.isoformat() if entry.expires else "",
                )
                break
