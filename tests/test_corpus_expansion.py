"""Every real template of the shared corpus expands without an exception.

The corpus is third-party material and is never copied into the repository: it is read
from ``$IOTGUARD_CORPUS/arm`` (default ``<repo>/../shared/corpus``) and the tests skip
when it is absent.  Each run prints, per file, the resources found and how many body
values stayed unresolved (``Unknown``), with the sibling ``*.parameters.json`` applied
when there is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.arm.expander import ParameterSource, expand
from engine.documents import classify
from engine.model import KIND_PARAMETERS, KIND_TEMPLATE, Document
from engine.source import SourceError, SourceFile, decode, parse_json
from engine.values import Located, Unknown
from tests.conftest import corpus_dir

ARM = corpus_dir() / "arm"
FILES = sorted(ARM.glob("*.json")) if ARM.is_dir() else []


def load(path: Path) -> Document | None:
    text = decode(path.read_bytes())
    return classify(SourceFile(path=path.name, text=text), parse_json(text))


def unresolved(value: Any) -> int:
    if isinstance(value, Unknown):
        return 1
    if isinstance(value, dict):
        return sum(unresolved(v) for v in value.values())
    if isinstance(value, list):
        return sum(unresolved(v) for v in value)
    return 0


@pytest.mark.skipif(not FILES, reason="corpus not available (set IOTGUARD_CORPUS)")
@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_template_expands_without_an_exception(path: Path) -> None:
    if "INVALID-JSON" in path.name:
        with pytest.raises(SourceError) as info:
            parse_json(decode(path.read_bytes()))
        assert info.value.line >= 1
        print(f"{path.name}: parse error at {info.value.line}:{info.value.column}: {info.value.message}")
        return
    doc = load(path)
    if doc is None or doc.kind != KIND_TEMPLATE:
        pytest.skip("not a template")
    sources = []
    sibling = path.with_name(path.name[: -len(".json")] + ".parameters.json")
    if sibling.is_file():
        params = load(sibling)
        assert params is not None and params.kind == KIND_PARAMETERS
        sources.append(ParameterSource(kind="file", document=params))
    exp = expand(doc, sources)
    assert all(isinstance(m, Located) for m in exp.errors + exp.warnings)
    assert exp.templates and exp.templates[0].path == doc.root
    assert all(r.path[: len(doc.root)] == doc.root for r in exp.resources if r.source is doc.source)
    count = sum(unresolved(r.body) for r in exp.resources)
    print(
        f"{path.name}: {len(exp.resources)} resources, {count} unresolved values, "
        f"{len(exp.errors)} errors, {len(exp.warnings)} warnings, {len(exp.not_checked)} not checked"
    )
