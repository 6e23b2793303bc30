"""The whole rule pack over the shared corpus of real third-party templates and roles.

Completes without an exception, reports every input error with a location, and prints
the per-rule counts (run with ``-s`` to see them) so changes in what the pack finds on
real-world files are reviewed, not noticed by accident.  Skips when the corpus is absent
(``IOTGUARD_CORPUS``, default ``<repo>/../shared/corpus``).
"""

from __future__ import annotations

from collections import Counter

import pytest

from engine.pipeline import Options, load_rule_pack, run
from tests.conftest import REPO, corpus_dir

CORPUS = corpus_dir()


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus not available (set IOTGUARD_CORPUS)")
def test_rule_pack_runs_over_the_corpus_and_prints_per_rule_counts() -> None:
    pack = load_rule_pack([], str(REPO))
    opts = Options(cwd=str(CORPUS))
    opts.paths = ["."]
    result = run(opts, pack)
    result.sort()

    assert result.files_checked, "the corpus produced no checkable file"
    for problem in result.errors:
        assert problem.path and problem.line >= 1 and problem.message, problem

    found = Counter(f.rule_id for f in result.findings)
    unresolved = Counter(u.rule_id for u in result.unresolved)
    lines = [f"corpus: {len(result.files_checked)} files checked, {len(result.errors)} input errors, "
             f"{len(result.not_checked)} linked templates not checked"]
    for rule in pack:
        lines.append(f"  {rule.id:8} {found[rule.id]:5} findings {unresolved[rule.id]:5} unresolved")
    print("\n".join(lines))
    assert set(found) <= {r.id for r in pack}
