"""README's Quick start is what CI runs, word for word; the rule docs are current."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def quick_start_blocks() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [[line for line in b.splitlines() if line.strip()] for b in blocks]


def test_quick_start_has_two_command_blocks() -> None:
    blocks = quick_start_blocks()
    assert len(blocks) == 2
    assert any("iotguard check examples/" in line for line in blocks[0])
    assert any("pytest" in line for line in blocks[1])


def test_ci_runs_the_quick_start_commands_in_order() -> None:
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    position = 0
    for block in quick_start_blocks():
        for command in block:
            matches = [i for i, line in enumerate(ci) if command in line and i >= position]
            assert matches, f"CI does not run README command: {command}"
            position = matches[0]


def test_checked_in_rule_docs_are_current() -> None:
    from engine.pipeline import load_rule_pack
    from engine.ruledocs import expected_files

    pack = load_rule_pack([], str(REPO))
    for name, text in expected_files([r.info for r in pack]).items():
        path = REPO / "docs" / "rules" / name
        assert path.is_file(), f"{path} is missing: run `iotguard docs --output docs/rules`"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run `iotguard docs --output docs/rules`")
