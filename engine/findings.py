"""Findings, unresolved results and the outcome of one run: what reporters consume.

Reporters never evaluate rules; they format a ``RunResult``.  Everything here is plain
data with a deterministic order (path, line, rule id).
"""

from __future__ import annotations

import builtins
import hashlib
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_RANK = {s: i for i, s in enumerate(reversed(SEVERITIES))}  # info=0 .. critical=4


def at_least(severity: str, threshold: str) -> bool:
    return SEVERITY_RANK[severity] >= SEVERITY_RANK[threshold]


@dataclass(frozen=True)
class RuleInfo:
    """A rule's documentation and metadata (no condition)."""

    id: str
    title: str
    severity: str
    description: str
    rationale: str
    remediation: str
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    subject: str = ""  # human text of what the rule applies to
    bicep: str = ""  # the Bicep equivalent of the fix, when given
    policy: str = ""  # matching Azure Policy built-in, when one exists
    source: str = ""  # the rule file it was loaded from


@dataclass
class Suppression:
    """Why a finding is accepted: from config, inline metadata, or a baseline."""

    kind: str  # "config" | "inline" | "baseline"
    reason: str
    location: str = ""  # where the suppression itself is written (file:line)
    expires: str = ""


@dataclass
class Finding:
    rule_id: str
    severity: str
    title: str
    message: str
    path: str
    line: int
    column: int
    resource_type: str = ""
    resource_name: str = ""
    property: str = ""
    remediation: str = ""
    provenance: str = ""
    tags: tuple[str, ...] = ()
    suppression: Suppression | None = None
    # The resource identity used for fingerprints: survives line moves.
    resource_key: str = ""

    # ``builtins.property``: the ``property`` field above shadows the builtin here.
    @builtins.property
    def fingerprint(self) -> str:
        return self.fingerprint_at(self.path)

    def fingerprint_at(self, path: str) -> str:
        """The fingerprint with the file named as ``path`` (a baseline names files
        relative to itself, not to the directory a run happens to start in)."""
        basis = "|".join(
            (self.rule_id, path.replace("\\", "/"), self.resource_key or self.resource_name,
             self.property)
        )
        return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]

    def sort_key(self) -> tuple[Any, ...]:
        return (self.path, self.line, self.column, self.rule_id, self.property, self.message)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "property": self.property,
            "remediation": self.remediation,
            "provenance": self.provenance,
            "tags": list(self.tags),
            "fingerprint": self.fingerprint,
        }
        if self.suppression is not None:
            out["suppressed"] = {
                "kind": self.suppression.kind,
                "reason": self.suppression.reason,
                "location": self.suppression.location,
                "expires": self.suppression.expires,
            }
        return out


@dataclass
class Unresolved:
    """A rule whose outcome hinges on a value that cannot be known statically."""

    rule_id: str
    severity: str
    title: str
    message: str
    path: str
    line: int
    column: int
    resource_type: str = ""
    resource_name: str = ""
    property: str = ""
    inputs: tuple[str, ...] = ()  # what is unknown, in words
    resource_key: str = ""  # as on ``Finding``: the identity fingerprints use

    @builtins.property
    def fingerprint(self) -> str:
        """Stable across line moves like a finding's, and distinct from the fingerprint
        of a finding on the same rule, resource and property: both can occur in one run
        (different items of one resource), and code scanning must not merge them."""
        basis = "|".join(("unresolved", self.rule_id, self.path.replace("\\", "/"),
                          self.resource_key or self.resource_name, self.property))
        return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]

    def sort_key(self) -> tuple[Any, ...]:
        return (self.path, self.line, self.column, self.rule_id, self.property)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "resource_type": self.resource_type,
            "resource_name": self.resource_name,
            "property": self.property,
            "inputs": list(self.inputs),
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True)
class Problem:
    """An input error or warning: file, line, column, what was expected."""

    path: str
    line: int
    column: int
    message: str
    severity: str = "error"  # "error" | "warning"

    def sort_key(self) -> tuple[Any, ...]:
        return (self.path, self.line, self.column, self.message)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "column": self.column,
                "message": self.message}


@dataclass(frozen=True)
class StaleBaselineEntry:
    """A baseline entry for a file and rule this run checked that no longer occurs."""

    entry: dict[str, Any]  # as recorded in the baseline
    baseline: str  # the baseline file, as given
    line: int  # where the entry is written in it

    @builtins.property
    def message(self) -> str:
        e = self.entry
        what = f"{e.get('rule_id', '?')} on {e.get('resource_name') or 'the file'} in {e.get('path', '?')}"
        return f"baseline entry no longer occurs ({what}); remove it from the baseline"

    def to_json(self) -> dict[str, Any]:
        return {**self.entry, "baseline": self.baseline, "line": self.line}


@dataclass
class RunResult:
    findings: list[Finding] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    rules: list[RuleInfo] = field(default_factory=list)
    files_checked: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    # Those of files_checked that are parameter files: checked through the templates that
    # use them, so no rule is evaluated on them (JUnit gives them no suite of their own).
    parameter_files: list[str] = field(default_factory=list)
    not_checked: list[Problem] = field(default_factory=list)  # linked templates not followed
    stale_baseline: list[StaleBaselineEntry] = field(default_factory=list)
    # Every (file, rule id, resource type, resource name) a rule was evaluated on, so
    # reports can show what passed, not only what failed (JUnit).
    evaluated: list[tuple[str, str, str, str]] = field(default_factory=list)
    fail_on: str = "medium"
    strict: bool = False

    def sort(self) -> None:
        self.findings.sort(key=Finding.sort_key)
        self.unresolved.sort(key=Unresolved.sort_key)
        self.errors.sort(key=Problem.sort_key)
        self.warnings.sort(key=Problem.sort_key)
        self.not_checked.sort(key=Problem.sort_key)
        self.files_checked.sort()
        self.files_skipped.sort()
        self.parameter_files.sort()
        self.evaluated.sort()

    @property
    def active_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.suppression is None]

    def failing(self) -> list[Finding]:
        return [f for f in self.active_findings if at_least(f.severity, self.fail_on)]

    def failing_unresolved(self) -> list[Unresolved]:
        """Unresolved results that fail the run: only with ``--strict``, and only at or
        above ``--fail-on``, like findings."""
        if not self.strict:
            return []
        return [u for u in self.unresolved if at_least(u.severity, self.fail_on)]

    def exit_code(self) -> int:
        if self.errors:
            return 2
        if self.failing() or self.failing_unresolved():
            return 1
        return 0

    def summary(self) -> dict[str, Any]:
        by_sev = {s: 0 for s in SEVERITIES}
        for f in self.active_findings:
            by_sev[f.severity] += 1
        return {
            "files_checked": len(self.files_checked),
            "files_skipped": len(self.files_skipped),
            "findings": len(self.active_findings),
            "suppressed": len(self.findings) - len(self.active_findings),
            "by_severity": by_sev,
            "unresolved": len(self.unresolved),
            # with --strict, the unresolved results at or above fail-on fail the run
            "failing_unresolved": len(self.failing_unresolved()),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "fail_on": self.fail_on,
            "exit_code": self.exit_code(),
        }
