"""Rule selectors: how ``--select``, ``--ignore``, configuration and suppressions name
rules, and the check that each one names something.

A selector is a rule id (``HUB001``), a tag (``entra``) or an alphabetic id prefix
(``HUB``), all case-insensitive.  A selector that matches no rule of the loaded pack is
an error rather than a no-op: in CI a typo would otherwise enable or silence nothing
while looking as if it did.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from engine.findings import RuleInfo


def matches(rule_id: str, tags: Iterable[str], selector: str) -> bool:
    s = selector.strip().lower()
    rid = rule_id.lower()
    return rid == s or s in (t.lower() for t in tags) or (s.isalpha() and rid.startswith(s))


def _alpha_prefix(rule_id: str) -> str:
    n = 0
    while n < len(rule_id) and rule_id[n].isalpha():
        n += 1
    return rule_id[:n]


def _suggest(word: str, candidates: Iterable[str]) -> str:
    by_lower = {c.lower(): c for c in candidates if c}
    close = difflib.get_close_matches(word.strip().lower(), list(by_lower), n=1)
    return f"; did you mean {by_lower[close[0]]}?" if close else "; `iotguard rules` lists them"


def unknown_selector(selector: str, rules: Sequence[RuleInfo]) -> str | None:
    """Why ``selector`` is unusable (names no loaded rule, tag or prefix), or None."""
    if any(matches(r.id, r.tags, selector) for r in rules):
        return None
    candidates = [r.id for r in rules] + [t for r in rules for t in r.tags]
    candidates += [_alpha_prefix(r.id) for r in rules]
    return f"{selector!r} matches no rule id, tag or id prefix{_suggest(selector, candidates)}"


def unknown_rule_id(rule_id: str, rules: Sequence[RuleInfo]) -> str | None:
    """Why ``rule_id`` is not the id of a loaded rule (severity overrides name one rule)."""
    if any(r.id.lower() == rule_id.strip().lower() for r in rules):
        return None
    return f"{rule_id!r} is not a rule id{_suggest(rule_id, [r.id for r in rules])}"
