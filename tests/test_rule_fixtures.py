"""Every rule has failing and passing fixtures of our own, discovered automatically.

``tests/rules/<ID>/fail-*.json`` must produce at least one finding of rule <ID>;
``tests/rules/<ID>/pass-*.json`` must produce none (and no unresolved result) of <ID>.
A fixture may be a directory (several files checked in one run).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.pipeline import Options, load_rule_pack, run
from engine.rulepack import bundled_rules_dir

HERE = Path(__file__).resolve().parent / "rules"
REPO = HERE.parent.parent
RULE_IDS = sorted(p.stem for p in bundled_rules_dir().glob("*.yaml"))


def fixtures(prefix: str) -> list[tuple[str, Path]]:
    out = []
    for rule_id in RULE_IDS:
        for f in sorted((HERE / rule_id).glob(f"{prefix}-*")):
            out.append((rule_id, f))
    return out


@pytest.fixture(scope="module")
def pack() -> list:  # type: ignore[type-arg]
    return load_rule_pack([], str(HERE))


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_every_rule_has_failing_and_passing_fixtures(rule_id: str) -> None:
    folder = HERE / rule_id
    assert list(folder.glob("fail-*")), f"rule {rule_id} has no failing fixture in {folder}"
    assert list(folder.glob("pass-*")), f"rule {rule_id} has no passing fixture in {folder}"


# RBAC strings, types, role types, GUIDs and scope segments compare case-insensitively;
# each RBAC rule keeps a fixture that fires and one that stays quiet with odd casing.
RBAC_RULES = ("ROLE001", "ROLE002", "ROLE003", "ROLE004", "RBAC001", "RBAC002", "RBAC003")


@pytest.mark.parametrize("rule_id", RBAC_RULES)
def test_every_rbac_rule_has_casing_trap_fixtures(rule_id: str) -> None:
    folder = HERE / rule_id
    assert list(folder.glob("fail-casing-*")), f"rule {rule_id} has no failing casing fixture"
    assert list(folder.glob("pass-casing-*")), f"rule {rule_id} has no passing casing fixture"


def check(path: Path, pack: list) -> object:  # type: ignore[type-arg]
    result = run(Options(paths=[str(path)], cwd=str(HERE)), pack)
    assert not result.errors, [e.message for e in result.errors]
    return result


@pytest.mark.parametrize(("rule_id", "path"), fixtures("fail"), ids=lambda v: getattr(v, "name", v))
def test_failing_fixture_fires(rule_id: str, path: Path, pack: list) -> None:  # type: ignore[type-arg]
    result = check(path, pack)
    hits = [f for f in result.findings if f.rule_id == rule_id]  # type: ignore[attr-defined]
    assert hits, f"{rule_id} did not fire on {path.name}; unresolved: " + str(
        [u.message for u in result.unresolved if u.rule_id == rule_id])  # type: ignore[attr-defined]
    for f in hits:
        # a directory fixture's findings are in one of its files
        where = f"{path.name}/" if path.is_dir() else path.name
        assert f.line >= 1 and f.column >= 1 and (where in f.path if path.is_dir() else f.path.endswith(where))


@pytest.mark.parametrize(("rule_id", "path"), fixtures("pass"), ids=lambda v: getattr(v, "name", v))
def test_passing_fixture_is_quiet(rule_id: str, path: Path, pack: list) -> None:  # type: ignore[type-arg]
    result = check(path, pack)
    hits = [f.message for f in result.findings if f.rule_id == rule_id]  # type: ignore[attr-defined]
    unresolved = [u.message for u in result.unresolved if u.rule_id == rule_id]  # type: ignore[attr-defined]
    assert not hits and not unresolved, hits + unresolved


def test_pack_has_all_26_catalog_rules(pack: list) -> None:  # type: ignore[type-arg]
    ids = {r.id for r in pack}
    # Spelt out: rule ids are public (users suppress and baseline by them).
    expected = {
        "HUB001", "HUB002", "HUB003", "HUB004", "HUB005", "HUB006", "HUB007", "HUB008",
        "HUB009", "HUB010", "HUB011",
        "DPS001", "DPS002", "DPS003",
        "ADU001", "ADU002", "ADU003", "ADU004", "ADU005",
        "ROLE001", "ROLE002", "ROLE003", "ROLE004",
        "RBAC001", "RBAC002", "RBAC003",
    }
    assert ids == expected


def test_examples_show_a_finding_of_every_family(pack: list) -> None:  # type: ignore[type-arg]
    opts = Options(cwd=str(REPO))
    opts.paths = ["examples"]
    result = run(opts, pack)
    families = {re.match(r"[A-Z]+", f.rule_id).group(0) for f in result.findings}  # type: ignore[union-attr]
    assert families == {"HUB", "DPS", "ADU", "ROLE", "RBAC"}
    assert not result.errors


def test_role_rules_never_fire_on_a_builtin_role(pack: list, tmp_path: Path) -> None:  # type: ignore[type-arg]
    """Built-in roles are no subject of ROLE rules, even when listed as `az role
    definition list` prints them (roleType BuiltInRole) next to custom roles."""
    import json

    from engine.catalog import builtin_roles

    rows = [{"roleName": r.name, "roleType": "BuiltInRole", "name": r.guid, "type":
             "Microsoft.Authorization/roleDefinitions",
             "permissions": [{"actions": [s.value for s in b.actions], "notActions": [s.value for s in b.not_actions],
                              "dataActions": [s.value for s in b.data_actions],
                              "notDataActions": [s.value for s in b.not_data_actions]} for b in r.permissions],
             "assignableScopes": ["/"]} for r in builtin_roles()]
    (tmp_path / "builtin.json").write_text(json.dumps(rows), encoding="utf-8")
    opts = Options(cwd=str(tmp_path))
    opts.paths = ["builtin.json"]
    result = run(opts, pack)
    assert not result.errors
    assert not [f for f in result.findings if f.rule_id.startswith("ROLE")]
    assert len(result.files_checked) == 1
