"""``--format github``: workflow commands that annotate the pull request diff.

Findings at or above ``--fail-on`` are errors, below it warnings (info: notices); input
errors are errors too.  Unresolved results are annotated as well, with the inputs they
depend on: errors when they fail the run (``--strict``, at or above ``--fail-on``), else
warnings (info: notices) -- a run must never fail without an annotation saying why.
Values are escaped as the runner expects, so a ``:`` or ``,`` in a path or title cannot
break the command.
"""

from __future__ import annotations

from engine.findings import RunResult, at_least


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def _command(kind: str, path: str, line: int, column: int, title: str, message: str) -> str:
    props = [f"file={_prop(path.replace(chr(92), '/'))}"]
    if line >= 1:
        props += [f"line={line}", f"col={max(column, 1)}"]
    props.append(f"title={_prop(title)}")
    return f"::{kind} {','.join(props)}::{_data(message)}"


def render(result: RunResult, *, base_dir: str = "") -> str:
    lines: list[str] = []
    for f in result.active_findings:
        if at_least(f.severity, result.fail_on):
            kind = "error"
        else:
            kind = "notice" if f.severity == "info" else "warning"
        lines.append(_command(kind, f.path, f.line, f.column, f"{f.rule_id} {f.title}", f.message))
    failing_unresolved = result.failing_unresolved()
    for u in result.unresolved:
        if any(u is v for v in failing_unresolved):
            kind = "error"
        else:
            kind = "notice" if u.severity == "info" else "warning"
        lines.append(_command(kind, u.path, u.line, u.column, f"{u.rule_id} {u.title} (unresolved)",
                              f"unresolved: {u.message}"))
    for e in result.errors:
        lines.append(_command("error", e.path, e.line, e.column, "iotguard input error", e.message))
    for w in (*result.warnings, *result.not_checked):
        lines.append(_command("warning", w.path, w.line, w.column, "iotguard warning", w.message))
    for s in result.stale_baseline:
        lines.append(_command("notice", s.baseline, s.line, 1, "iotguard stale baseline entry", s.message))
    active = result.active_findings
    failing = len(result.failing())
    unresolved = ""
    if result.unresolved:
        unresolved = f", {len(result.unresolved)} unresolved ({len(failing_unresolved)} failing)"
    files = len(result.files_checked)
    lines.append(f"iotguard: {len(active)} finding{'s' if len(active) != 1 else ''} ({failing} failing)"
                 f"{unresolved} in {files} file{'s' if files != 1 else ''}")
    return "\n".join(lines) + "\n"
