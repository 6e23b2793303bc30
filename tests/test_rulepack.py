"""Rule files: validation with located errors, compilation, the bundled pack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.rulepack import RuleError, bundled_rules_dir, compile_rule_text, load_rules

GOOD = """\
id: TST001
title: A test rule for the loader
severity: medium
tags: [test]
subject:
  kind: resource
  type: Microsoft.Devices/IotHubs
description: d
rationale: r
remediation: fix it
references: [https://learn.microsoft.com/azure/iot-hub/]
property: properties.x
message: "{resource} has {property} = {value}"
condition: "properties.x == `true`"
"""


def test_valid_rule_compiles() -> None:
    rule, line = compile_rule_text("t.yaml", GOOD)
    assert rule.id == "TST001" and rule.types == ("microsoft.devices/iothubs",) and line == 1


def test_unknown_key_is_reported_with_line_and_hint() -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD + "sevrity: high\n")
    assert exc.value.line == 15
    assert "unknown key 'sevrity'" in exc.value.message and "severity" in exc.value.message


def test_bad_severity_is_reported_at_its_line() -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD.replace("severity: medium", "severity: urgent"))
    assert exc.value.line == 3 and "urgent" in exc.value.message


def test_jmespath_syntax_error_is_located() -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD.replace("properties.x == `true`", "properties.x == =="))
    assert exc.value.line == 14 and "JMESPath syntax error" in exc.value.message


def test_nested_condition_error_is_located() -> None:
    text = GOOD.replace('condition: "properties.x == `true`"\n',
                        'condition:\n  all:\n    - "a"\n    - "b[["\n')
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", text)
    assert exc.value.line == 17


def test_unknown_function_is_caught_at_load_with_a_suggestion() -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD.replace("properties.x == `true`", "!is_tru(properties.x)"))
    assert exc.value.line == 14
    assert "unknown function is_tru()" in exc.value.message and "is_true()" in exc.value.message


def test_wrong_argument_count_is_caught_at_load() -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD.replace("properties.x == `true`", "ieq(properties.x)"))
    assert "ieq() takes 2 arguments, got 1" in exc.value.message


def test_function_errors_inside_message_expressions_are_caught() -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD.replace("= {value}", "= {$ no_such(name)}"))
    assert exc.value.line == 13 and "unknown function no_such()" in exc.value.message


def test_unknown_message_placeholder_is_an_error() -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD.replace("{value}", "{valeu}"))
    assert exc.value.line == 13
    assert "unknown placeholder {valeu}" in exc.value.message and "{value}" in exc.value.message


def test_every_broken_rule_file_is_reported_not_just_the_first(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.replace("severity: medium", "severity: urgent"))
    (tmp_path / "b.yaml").write_text(GOOD.replace("TST001", "TST002"))
    (tmp_path / "c.yaml").write_text(GOOD.replace("TST001", "TST003").replace("{value}", "{nope}"))
    with pytest.raises(RuleError) as exc:
        load_rules([tmp_path])
    assert [(e.path.rsplit("/", 1)[-1], e.line) for e in exc.value.all()] == [("a.yaml", 3), ("c.yaml", 13)]


def test_the_cli_prints_every_rule_file_error(tmp_path: Path, iotguard: Any) -> None:
    rules = tmp_path / "pack"
    rules.mkdir()
    (rules / "a.yaml").write_text(GOOD.replace("severity: medium", "severity: urgent"))
    (rules / "b.yaml").write_text(GOOD.replace("TST001", "TST002").replace("{value}", "{nope}"))
    code, _, err = iotguard("rules", "--rules", str(rules))
    assert code == 2 and "a.yaml:3:" in err and "b.yaml:13:" in err


def test_invalid_yaml_is_located() -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", "id: [unclosed\n")
    assert "invalid YAML" in exc.value.message


def test_missing_required_key_is_reported() -> None:
    with pytest.raises(RuleError, match="'message' is required"):
        compile_rule_text("t.yaml", GOOD.replace('message: "{resource} has {property} = {value}"\n', ""))


def test_duplicate_ids_are_reported_with_both_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(RuleError, match="duplicate rule id TST001"):
        load_rules([tmp_path])


def test_compiled_pack_is_cached_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    first = load_rules([tmp_path])
    import engine.rulepack as rp

    monkeypatch.setattr(rp, "_compile_all", lambda blobs: pytest.fail("cache not used"))
    second = load_rules([tmp_path])
    assert [r.id for r in second] == [r.id for r in first]


def test_unusable_cache_falls_back_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    blocker = tmp_path / "cachefile"
    blocker.write_text("not a directory")
    monkeypatch.setenv("IOTGUARD_CACHE_DIR", str(blocker / "sub"))
    assert [r.id for r in load_rules([tmp_path])] == ["TST001"]


def test_corrupt_cache_entry_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "a.yaml").write_text(GOOD)
    cache = tmp_path / "cache"
    monkeypatch.setenv("IOTGUARD_CACHE_DIR", str(cache))
    load_rules([rules_dir])
    for f in cache.iterdir():
        f.write_bytes(b"garbage")
    assert [r.id for r in load_rules([rules_dir])] == ["TST001"]


def test_bundled_pack_loads_and_every_rule_documents_itself() -> None:
    rules = load_rules([bundled_rules_dir()])
    assert rules
    for r in rules:
        assert r.info.description and r.info.rationale and r.info.remediation
        assert r.info.references and all(ref.startswith("https://") for ref in r.info.references)
        assert "```json" in r.info.remediation, f"{r.id} remediation lacks an ARM snippet"


def test_malformed_rule_id_is_explained_in_words_not_as_a_regex() -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD.replace("id: TST001", "id: tst-1"))
    assert exc.value.line == 1 and "'tst-1' is not upper-case letters and digits ending in three digits" in exc.value.message
    assert "[A-Z]" not in exc.value.message


@pytest.mark.parametrize("message", ["{resource has it", "value {$ properties.x"])
def test_an_unclosed_placeholder_in_a_message_is_an_error(message: str) -> None:
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD.replace('"{resource} has {property} = {value}"', f'"{message}"'))
    assert exc.value.line == 13 and "unclosed placeholder" in exc.value.message


def test_an_unresolved_message_is_checked_like_the_message() -> None:
    rule, _ = compile_rule_text("t.yaml", GOOD + 'unresolved-message: "{resource} may: {$ name}"\n')
    assert rule.unresolved_message == "{resource} may: {$ name}" and "{$ name}" in rule.message_exprs
    with pytest.raises(RuleError) as exc:
        compile_rule_text("t.yaml", GOOD + 'unresolved-message: "{valeu}"\n')
    assert "unknown placeholder {valeu} in unresolved-message" in exc.value.message
