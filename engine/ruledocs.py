"""Rule documentation, generated from the rule files (``iotguard explain`` / ``docs``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from engine.findings import RuleInfo

DOCS_BASE = "https://github.com/iotguard/iotguard/blob/main/docs/rules"


def help_uri(rule_id: str) -> str:
    return f"{DOCS_BASE}/{rule_id}.md"


def render_markdown(rule: RuleInfo) -> str:
    lines = [
        f"# {rule.id}: {rule.title}",
        "",
        f"- **Severity:** {rule.severity}",
        f"- **Applies to:** {rule.subject}",
    ]
    if rule.tags:
        lines.append(f"- **Tags:** {', '.join(rule.tags)}")
    lines += ["", "## What it checks", "", rule.description, "", "## Why it matters", "",
              rule.rationale, "", "## How to fix", "", rule.remediation]
    if rule.bicep:
        lines += ["", "In Bicep:", "", "```bicep", rule.bicep, "```"]
    if rule.policy:
        lines += ["", "## Azure Policy", "", rule.policy]
    lines += ["", "## References", ""]
    lines += [f"- <{ref}>" for ref in rule.references]
    lines += [
        "",
        "## Suppressing",
        "",
        "Accept a finding with a reason in `.iotguard.yaml` (`suppressions:` with `rule: "
        f"{rule.id}`, a `path` glob and a `reason`) or inline on the resource:",
        "",
        "```json",
        f'"metadata": {{"iotguard": {{"suppress": [{{"rule": "{rule.id}", "reason": "..."}}]}}}}',
        "```",
        "",
    ]
    return "\n".join(lines)


def render_index(rules: Sequence[RuleInfo]) -> str:
    lines = ["# iotguard rules", "", "| id | severity | title | tags |", "|---|---|---|---|"]
    for r in rules:
        lines.append(f"| [{r.id}]({r.id}.md) | {r.severity} | {r.title} | {', '.join(r.tags)} |")
    return "\n".join(lines) + "\n"


def expected_files(rules: Sequence[RuleInfo]) -> dict[str, str]:
    """File name -> content of the generated docs directory."""
    out = {f"{r.id}.md": render_markdown(r) for r in rules}
    out["README.md"] = render_index(rules)
    return out


def write_docs(rules: Sequence[RuleInfo], directory: str) -> list[str]:
    from engine.report.files import write_atomic

    os.makedirs(directory, exist_ok=True)
    written = []
    for name, text in expected_files(rules).items():
        path = os.path.join(directory, name)
        write_atomic(path, text)
        written.append(path)
    return written
