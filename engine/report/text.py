"""``--format text``: findings grouped by file, ``path:line:col  SEVERITY  RULE  message``."""

from __future__ import annotations

import re

from engine.findings import SEVERITIES, Finding, Problem, RunResult

_COLORS = {
    "critical": "\033[1;35m",
    "high": "\033[1;31m",
    "medium": "\033[33m",
    "low": "\033[36m",
    "info": "\033[2m",
    "error": "\033[1;31m",
    "warning": "\033[33m",
    "unresolved": "\033[34m",
    "suppressed": "\033[2m",
}
_RESET = "\033[0m"
_WIDTH = max(len(s) for s in SEVERITIES)


def _paint(text: str, key: str, color: bool) -> str:
    return f"{_COLORS[key]}{text}{_RESET}" if color else text


# Control characters (C0, DEL, C1) and bidirectional overrides (Trojan Source) that a
# template can put into names and values.  Written raw, they would let a file under
# review forge report lines, move the cursor or retitle the terminal.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """``text`` with every unsafe character shown as its escape (``\\x1b``, ``\\u202e``)."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _loc(path: str, line: int, col: int) -> str:
    return f"{safe(path)}:{line}:{col}" if line else safe(path)


def render(
    result: RunResult,
    *,
    base_dir: str = "",
    color: bool = False,
    quiet: bool = False,
    verbose: bool = False,
    show_suppressed: bool = False,
) -> str:
    out: list[str] = []
    shown: list[Finding] = [
        f for f in result.findings if f.suppression is None or show_suppressed
    ]
    if quiet:
        shown = [f for f in shown if f.suppression is None and f in result.failing()]
    current = None
    for f in shown:
        if f.path != current:
            if current is not None:
                out.append("")
            current = f.path
        sev = _paint(f.severity.upper().ljust(_WIDTH), f.severity, color)
        line = f"{_loc(f.path, f.line, f.column)}  {sev}  {f.rule_id}  {safe(f.message)}"
        if f.suppression is not None:
            line = _paint(
                f"{line}  [suppressed ({f.suppression.kind}): {safe(f.suppression.reason)}]",
                "suppressed", color,
            )
        out.append(line)
    # --quiet still lists the unresolved results that fail a --strict run: the run
    # fails because of them, so they are what the user must see.
    unresolved = result.failing_unresolved() if quiet else result.unresolved
    if unresolved:
        out.append("")
        out.append(_paint("Unresolved (outcome depends on values unknown before deployment):",
                          "unresolved", color))
        for u in unresolved:
            out.append(f"{_loc(u.path, u.line, u.column)}  {u.severity.upper().ljust(_WIDTH)}  "
                       f"{u.rule_id}  {safe(u.message)}")
    problems = problem_lines(result, color=color, warnings=not quiet)
    if problems:
        out.append("")
        out.extend(problems)
    if not quiet and result.stale_baseline:
        out.append("")
        out.append(f"{len(result.stale_baseline)} baseline entr"
                   f"{'y no longer occurs' if len(result.stale_baseline) == 1 else 'ies no longer occur'}:")
        for s in result.stale_baseline:
            e = s.entry
            out.append(safe(f"  {s.baseline}:{s.line}  {e.get('rule_id', '')}  {e.get('path', '')}  "
                            f"{e.get('resource_name', '')}"))
    if verbose and result.files_skipped:
        out.append("")
        out.append("Skipped (not ARM templates, parameter files or role definitions):")
        out.extend(f"  {safe(p)}" for p in result.files_skipped)
    if not quiet or result.exit_code() != 0:
        if out:
            out.append("")
        out.append(summary_line(result))
    # --quiet on a passing run prints nothing at all, not an empty line.
    return "\n".join(out) + "\n" if out else ""


def problem_lines(result: RunResult, *, color: bool = False, warnings: bool = True) -> list[str]:
    """Input errors, then warnings and linked templates not checked, each located."""
    problems: list[tuple[str, Problem]] = [("error", e) for e in result.errors]
    if warnings:
        problems += [("warning", w) for w in result.warnings]
        problems += [("warning", n) for n in result.not_checked]
    return [f"{_loc(p.path, p.line, p.column)}  {_paint(kind, kind, color)}: {safe(p.message)}"
            for kind, p in problems]


def summary_line(result: RunResult) -> str:
    s = result.summary()
    counts = ", ".join(f"{n} {sev}" for sev, n in s["by_severity"].items() if n)
    parts = [
        f"{s['findings']} finding{'s' if s['findings'] != 1 else ''}"
        + (f" ({counts})" if counts else ""),
        f"{s['files_checked']} file{'s' if s['files_checked'] != 1 else ''} checked",
    ]
    if s["suppressed"]:
        parts.append(f"{s['suppressed']} suppressed")
    if s["unresolved"]:
        parts.append(f"{s['unresolved']} unresolved")
    if s["errors"]:
        parts.append(f"{s['errors']} error{'s' if s['errors'] != 1 else ''}")
    return "; ".join(parts) + f" -- {verdict(result)}"


def verdict(result: RunResult) -> str:
    """The outcome and, for a failure, its actual reason: with ``--strict`` a run can
    fail on unresolved results alone."""
    code = result.exit_code()
    if code != 1:
        return "error" if code == 2 else "pass"
    reasons = [what for what, items in (("findings", result.failing()),
                                        ("unresolved results", result.failing_unresolved())) if items]
    strict = ", --strict" if result.failing_unresolved() else ""
    return f"fail ({' and '.join(reasons)} at or above {result.fail_on}{strict})"
