"""Baselines: record today's findings, then fail only on new ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import hub, template
from tests.test_cli import GOOD


def _bad(*names: str) -> dict[str, Any]:
    return template(*(hub(n, **{**GOOD, "disableLocalAuth": False}) for n in names))


def test_baseline_then_check_passes(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("hub.json", _bad("a"))
    code, out, _ = iotguard("baseline")
    assert code == 0 and "recorded" in out
    doc = json.loads((tmp_path / ".iotguard-baseline.json").read_text())
    assert doc["findings"] and all(len(e["fingerprint"]) == 32 for e in doc["findings"])
    code, _, _ = iotguard("check", "--baseline", ".iotguard-baseline.json")
    assert code == 0


def test_new_finding_fails_despite_baseline(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad("a"))
    iotguard("baseline")
    write("hub.json", _bad("a", "b"))
    code, out, _ = iotguard("check", "--baseline", ".iotguard-baseline.json", "--format", "json")
    active = [f for f in json.loads(out)["findings"] if "suppressed" not in f]
    assert code == 1 and {f["resource_name"] for f in active} == {"b"}


def test_baseline_survives_line_moves(write: Any, iotguard: Any, tmp_path: Path) -> None:
    write("hub.json", _bad("a"))
    iotguard("baseline")
    (tmp_path / "hub.json").write_text("\n\n\n" + json.dumps(_bad("a"), indent=4))
    code, _, _ = iotguard("check", "--baseline", ".iotguard-baseline.json")
    assert code == 0


def test_fixed_findings_are_listed_as_stale(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad("a"))
    iotguard("baseline")
    write("hub.json", template(hub("a", **GOOD)))
    _, out, _ = iotguard("check", "--baseline", ".iotguard-baseline.json", "--format", "json")
    stale = json.loads(out)["stale_baseline"]
    assert stale and all(e["resource_name"] == "a" for e in stale)


def test_unreadable_baseline_is_a_usage_error(write: Any, iotguard: Any) -> None:
    write("hub.json", _bad("a"))
    write("b.json", "{not json")
    code, _, err = iotguard("check", "--baseline", "b.json")
    assert code == 2 and "b.json:1:" in err


def test_baseline_file_is_written_atomically_to_the_output_path(write: Any, iotguard: Any,
                                                                 tmp_path: Path) -> None:
    write("hub.json", _bad("a"))
    code, _, _ = iotguard("baseline", "--output", "ci/base.json")
    assert code == 0 and (tmp_path / "ci" / "base.json").is_file()
    assert [p.name for p in (tmp_path / "ci").iterdir()] == ["base.json"]
