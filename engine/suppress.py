"""Suppressions, from configuration or inline on a resource: accepted findings, each
with a reason.

Inline ones (``"metadata": {"iotguard": {"suppress": [{"rule": ..., "reason": ...,
"expires": ...}]}}``) are held to the same standard as configuration ones: a missing
reason, a bad date, an unknown key or rule is a located error and the entry suppresses
nothing; an expired entry stops applying and says so.

A suppressed finding stays in the result (JSON and SARIF show it as suppressed, text
with ``--show-suppressed``); it only stops counting toward the exit code.  An expired
suppression stops applying and is itself reported, so an exception granted "until the
migration" cannot outlive it silently.
"""

from __future__ import annotations

import datetime
import difflib
import fnmatch
import os
from collections.abc import Callable, Sequence
from typing import Any

from engine.config import Config, ConfigSuppression
from engine.discover import glob_match, relative_to_base
from engine.findings import Finding, Problem, RuleInfo, RunResult, Suppression
from engine.model import Mapped
from engine.selectors import matches, unknown_selector
from engine.source import JsonPath
from engine.values import ci_get

INLINE_KEYS = ("rule", "reason", "expires")
_ENTRY = 'an entry {"rule": "<id, tag or prefix>", "reason": "<why>"[, "expires": "YYYY-MM-DD"]}'


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
                message=_expired_message(entry.rule, entry.expires),
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


def _expired_message(rule: str, expires: datetime.date) -> str:
    return (f"suppression of {rule} expired on {expires.isoformat()} and no longer applies; "
            "fix the findings or renew it with a new reason")


def read_inline(
    metadata: Any, locate: Callable[[JsonPath], Mapped], today: datetime.date,
) -> tuple[list[Any], list[Problem], list[Problem]]:
    """The valid, unexpired ``InlineSuppression`` entries of a resource's ``metadata``,
    with located errors (entries that suppress nothing) and warnings (expired ones)."""
    from engine.evaluate import InlineSuppression

    errors: list[Problem] = []
    warnings: list[Problem] = []
    live: list[Any] = []
    meta = ci_get(ci_get(metadata, "iotguard"), "suppress") if isinstance(metadata, dict) else None
    if meta is None:
        return live, errors, warnings
    base: JsonPath = ("metadata", "iotguard", "suppress")

    def problem(path: JsonPath, message: str, severity: str = "error") -> Problem:
        where = locate(path)
        line, col = where.source.locate(where.path)
        return Problem(where.source.path, line, col, f"inline suppression: {message}", severity)

    if not isinstance(meta, list):
        errors.append(problem(base, f"metadata.iotguard.suppress: expected a list of {_ENTRY}"))
        return live, errors, warnings
    for i, entry in enumerate(meta):
        at: JsonPath = (*base, i)
        if not isinstance(entry, dict):
            errors.append(problem(at, f"expected {_ENTRY}"))
            continue
        bad = False
        for key in entry:
            if str(key).lower() not in INLINE_KEYS:
                guess = difflib.get_close_matches(str(key).lower(), INLINE_KEYS, n=1)
                hint = (f"; did you mean '{guess[0]}'?" if guess
                        else f"; expected one of: {', '.join(INLINE_KEYS)}")
                errors.append(problem((*at, str(key)), f"unknown key '{key}'{hint}"))
                bad = True
        rule, reason, expires = ci_get(entry, "rule"), ci_get(entry, "reason"), ci_get(entry, "expires")
        if rule is None:
            errors.append(problem(at, f"'rule' is required in {_ENTRY}"))
        elif not isinstance(rule, str) or not rule.strip():
            errors.append(problem((*at, "rule"), f"rule: {rule!r} is not a rule id, tag or id prefix"))
        if reason is None:
            errors.append(problem(at, "'reason' is required: say why the finding is accepted"))
        elif not isinstance(reason, str) or not reason.strip():
            errors.append(problem((*at, "reason"),
                                  f"reason: {reason!r} is not a reason of at least one non-blank character"))
        if not (isinstance(rule, str) and rule.strip() and isinstance(reason, str) and reason.strip()):
            bad = True
        date = None
        if expires is not None:
            try:
                if not isinstance(expires, str) or len(expires) != 10:
                    raise ValueError
                date = datetime.date.fromisoformat(expires)
            except ValueError:
                errors.append(problem((*at, "expires"), f"expires: {expires!r} is not a date YYYY-MM-DD"))
                bad = True
        if bad:
            continue
        assert isinstance(rule, str) and isinstance(reason, str)
        if date is not None and date < today:
            warnings.append(problem((*at, "expires"), _expired_message(rule, date), "warning"))
            continue
        live.append(InlineSuppression(
            rule=rule.strip(), reason=reason.strip(), where=locate(at),
            expires=date.isoformat() if date else "", rule_at=locate((*at, "rule")),
        ))
    return live, errors, warnings


def check_inline_rules(entries: list[Any], rules: Sequence[RuleInfo]) -> tuple[list[Any], list[Problem]]:
    """The entries whose rule names a loaded rule, tag or prefix, and an error for each
    other (it would silently suppress nothing)."""
    kept: list[Any] = []
    errors: list[Problem] = []
    for entry in entries:
        why = unknown_selector(entry.rule, rules)
        if why is None:
            kept.append(entry)
            continue
        where = entry.rule_at or entry.where
        line, col = where.source.locate(where.path)
        errors.append(Problem(where.source.path, line, col, f"inline suppression: rule: {why}"))
    return kept, errors
