"""``--format github``: workflow commands that annotate the pull request diff.

Findings at or above ``--fail-on`` are errors, below it warnings (info: notices); input
errors are errors too.  Values are escaped as the runner expects, so a ``:`` or ``,`` in
a path or title cannot break the command.
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
    for e in result.errors:
        lines.append(_command("error", e.path, e.line, e.column, "iotguard input error", e.message))
    for w in (*result.warnings, *result.not_checked):
        lines.append(_command("warning", w.path, w.line, w.column, "iotguard warning", w.message))
    for s in result.stale_baseline:
        lines.append(_command("notice", s.baseline, s.line, 1, "iotguard stale baseline entry", s.message))
    active = result.active_findings
    failing = len(result.failing())
    lines.append(f"iotguard: {len(active)} finding{'s' if len(active) != 1 else ''} ({failing} failing) "
                 f"in {len(result.files_checked)} file{'s' if len(result.files_checked) != 1 else ''}")
    return "\n".join(lines) + "\n"
