"""``--format json``: the stable, documented contract other formats build on.

Shape (README "JSON output")::

    {"version": "<iotguard version>", "findings": [...], "unresolved": [...],
     "errors": [...], "warnings": [...], "not_checked": [...], "summary": {...}}
"""

from __future__ import annotations

import json
from typing import Any

from engine import __version__
from engine.findings import RunResult

SCHEMA_VERSION = "1"


def to_dict(result: RunResult) -> dict[str, Any]:
    failing = {id(u) for u in result.failing_unresolved()}
    return {
        "version": __version__,
        "schema_version": SCHEMA_VERSION,
        "findings": [f.to_json() for f in result.findings],
        "unresolved": [{**u.to_json(), "failing": id(u) in failing} for u in result.unresolved],
        "errors": [e.to_json() for e in result.errors],
        "warnings": [w.to_json() for w in result.warnings],
        "not_checked": [n.to_json() for n in result.not_checked],
        "stale_baseline": [s.to_json() for s in result.stale_baseline],
        "summary": result.summary(),
    }


def render(result: RunResult, *, base_dir: str = "") -> str:
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
