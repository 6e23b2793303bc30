"""Permission-pattern algebra: matching, overlap, coverage, effective permissions."""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import catalog
from engine.rbac import (
    EffectivePermissions,
    PermissionBlock,
    PermString,
    example,
    grants_some,
    pattern_covered,
    pattern_matches,
    patterns_overlap,
    unknown_pattern,
)
from engine.values import Unknown


def reference(pattern: str, op: str) -> bool:
    """The facts sheet's reference matcher (§4.2)."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), op, re.I) is not None


# Small alphabets make collisions (and so interesting overlaps) likely; upper and lower
# case exercise case-insensitivity; "." and "/" are the characters of real operations.
LETTERS = "aAbB/."
patterns = st.text(alphabet=LETTERS + "*", max_size=7)
ops = st.text(alphabet=LETTERS + "x", max_size=8)
real_ops = st.sampled_from([
    "Microsoft.Devices/iotHubs/listkeys/Action",
    "Microsoft.Devices/IotHubs/devices/read",
    "Microsoft.Devices/IotHubs/twins/write",
    "Microsoft.Devices/provisioningServices/keys/listkeys/Action",
    "Microsoft.Authorization/roleAssignments/write",
])
real_patterns = st.sampled_from([
    "*", "*/read", "Microsoft.Devices/*", "Microsoft.Devices/IotHubs/*", "microsoft.devices/iothubs/*/read",
    "*/listkeys/action", "Microsoft.Devices/*/write", "Microsoft.Authorization/*", "*/register/action",
])


def matches_none(op: str, pats: list[str]) -> bool:
    return not any(reference(p, op) for p in pats)


def strings_up_to(n: int, alphabet: str = "ab/x") -> list[str]:
    return ["".join(t) for k in range(n + 1) for t in itertools.product(alphabet, repeat=k)]


# ----------------------------------------------------------------------------- matching


@given(patterns, ops)
def test_pattern_matches_agrees_with_the_reference_matcher(pattern: str, op: str) -> None:
    assert pattern_matches(pattern, op) == reference(pattern, op)


@given(st.one_of(real_patterns, patterns), st.one_of(real_ops, ops))
def test_pattern_matches_agrees_on_real_operation_strings(pattern: str, op: str) -> None:
    assert pattern_matches(pattern, op) == reference(pattern, op)


def test_star_crosses_slashes() -> None:
    assert pattern_matches("Microsoft.Devices/*/read", "Microsoft.Devices/IotHubs/devices/read")


def test_matching_ignores_case() -> None:
    op = "Microsoft.Devices/iotHubs/listkeys/Action"
    assert pattern_matches("microsoft.devices/iothubs/listkeys/action", op)


def test_read_wildcard_does_not_match_listkeys() -> None:
    assert not pattern_matches("*/read", "Microsoft.Devices/iotHubs/listkeys/Action")


def test_regex_metacharacters_in_patterns_are_literal() -> None:
    assert not pattern_matches("Microsoft.Devices/(iotHubs)+", "Microsoft.Devices/iotHubsiotHubs")


def test_an_unknown_pattern_matches_nothing() -> None:
    assert not pattern_matches(Unknown("parameters('a')"), "Microsoft.Devices/iotHubs/Read")


# ----------------------------------------------------------------------------- overlap


@given(patterns, patterns)
@settings(max_examples=300)
def test_overlap_is_witnessed_or_refuted_by_enumeration(a: str, b: str) -> None:
    witness = example([a, b])
    assert patterns_overlap(a, b) == (witness is not None)
    if witness is not None:
        assert reference(a, witness) and reference(b, witness)
    else:
        # Every character of a shortest common string is a literal of a or b, so strings
        # up to that length are a complete check.
        bound = len(a.replace("*", "")) + len(b.replace("*", ""))
        assert not any(reference(a, s) and reference(b, s) for s in strings_up_to(min(bound, 6)))


def test_prefix_and_suffix_wildcards_overlap() -> None:
    assert patterns_overlap("Microsoft.Devices/*", "*/listkeys/action")


def test_read_and_write_wildcards_do_not_overlap() -> None:
    assert not patterns_overlap("*/read", "Microsoft.Devices/*/write")


@given(patterns, patterns)
def test_overlap_is_symmetric(a: str, b: str) -> None:
    assert patterns_overlap(a, b) == patterns_overlap(b, a)


# ----------------------------------------------------------------------------- coverage


@given(patterns, st.lists(patterns, max_size=3))
@settings(max_examples=300)
def test_coverage_is_witnessed_or_checked_by_enumeration(p: str, by: list[str]) -> None:
    covered = pattern_covered(p, by)
    witness = example([p], by)
    assert covered == (witness is None)
    if witness is not None:
        assert reference(p, witness) and matches_none(witness, by)
    else:
        assert all(not reference(p, s) or not matches_none(s, by) for s in strings_up_to(5))


def test_provider_wildcard_covers_the_hub_wildcard() -> None:
    assert pattern_covered("Microsoft.Devices/IotHubs/*", ["Microsoft.Devices/*"])


def test_read_wildcard_does_not_cover_the_hub_wildcard() -> None:
    assert not pattern_covered("Microsoft.Devices/IotHubs/*", ["Microsoft.Devices/IotHubs/*/read"])


def test_two_patterns_together_cover_what_neither_covers_alone() -> None:
    by = ["a*", "*b"]
    assert pattern_covered("a*b", by)
    assert not pattern_covered("a*", ["*b"])


def test_a_literal_is_covered_when_a_pattern_matches_it() -> None:
    assert pattern_covered("Microsoft.Devices/iotHubs/listkeys/action", ["*/listkeys/ACTION"])


def test_unknown_strings_cover_nothing() -> None:
    assert not pattern_covered("Microsoft.Devices/*", [Unknown("parameters('x')")])


# ----------------------------------------------------------------------------- grants_some


@given(patterns, patterns, st.lists(patterns, max_size=2))
@settings(max_examples=300)
def test_grants_some_is_witnessed_or_checked_by_enumeration(p: str, grant: str, removed: list[str]) -> None:
    result = grants_some(p, grant, removed)
    witness = example([p, grant], removed)
    assert result == (witness is not None)
    if witness is not None:
        assert reference(p, witness) and reference(grant, witness) and matches_none(witness, removed)
    else:
        assert not any(
            reference(p, s) and reference(grant, s) and matches_none(s, removed) for s in strings_up_to(5)
        )


def test_pathological_patterns_answer_within_the_budget() -> None:
    a = "*" + "a*" * 30
    b = "*" + "a*" * 29 + "b*"
    assert pattern_covered(a, [b, "*b*" * 12]) in (True, False)


# ----------------------------------------------------------------------------- unknowns


def test_unknown_pattern_keeps_known_parts() -> None:
    u = Unknown("Microsoft.Storage/{parameters('x')}/read")
    assert unknown_pattern(u) == "Microsoft.Storage/*/read"


def test_unknown_without_placeholder_could_be_anything() -> None:
    assert unknown_pattern(Unknown.of("parameter", "parameter 'x' has no value")) == "*"


# ----------------------------------------------------------------------------- effective


def strings(values: list[str], key: str) -> list[PermString]:
    return [PermString(v, ("permissions", 0, key, i)) for i, v in enumerate(values)]


def role_perms(actions: tuple[str, ...] = (), not_actions: tuple[str, ...] = (),
               data: tuple[str, ...] = (), not_data: tuple[str, ...] = ()) -> PermissionBlock:
    return PermissionBlock(strings(list(actions), "actions"), strings(list(not_actions), "notActions"),
                           strings(list(data), "dataActions"), strings(list(not_data), "notDataActions"))


def effective(*blocks: PermissionBlock) -> EffectivePermissions:
    return EffectivePermissions(blocks)


def test_not_actions_remove_within_their_block() -> None:
    eff = effective(role_perms(("*",), ("Microsoft.Devices/*/listkeys/action",)))
    assert eff.grants_action("Microsoft.Devices/iotHubs/listkeys/Action") is None
    assert eff.grants_action("Microsoft.Devices/iotHubs/Write") == "*"


def test_another_block_restores_what_not_actions_removed() -> None:
    eff = effective(
        role_perms(("*",), ("Microsoft.Devices/iotHubs/listkeys/action",)),
        role_perms(("Microsoft.Devices/iotHubs/*",)),
    )
    assert eff.grants_action("Microsoft.Devices/iotHubs/listkeys/Action") == "Microsoft.Devices/iotHubs/*"


def test_star_in_actions_never_grants_data_actions() -> None:
    eff = effective(role_perms(("*",)))
    assert eff.grants_data_action("Microsoft.Devices/IotHubs/devices/write") is None


def test_data_actions_minus_not_data_actions() -> None:
    eff = effective(role_perms(data=("Microsoft.Devices/IotHubs/*",), not_data=("*/write",)))
    assert eff.grants_data_action("Microsoft.Devices/IotHubs/devices/read") == "Microsoft.Devices/IotHubs/*"
    assert eff.grants_data_action("Microsoft.Devices/IotHubs/devices/write") is None


def test_action_grant_points_at_the_granting_string() -> None:
    eff = effective(role_perms(("Microsoft.Devices/iotHubs/Read", "Microsoft.Devices/*")))
    grant = eff.action_grant("Microsoft.Devices/iotHubs/listkeys/Action")
    assert grant is not None and grant.path == ("permissions", 0, "actions", 1)


def test_pattern_level_grant_for_operations_missing_from_the_catalog() -> None:
    eff = effective(role_perms(("Microsoft.Devices/*",), ("Microsoft.Devices/iotHubs/*",)))
    assert eff.grants_any_action("Microsoft.Devices/iotHubs/*") is None
    assert eff.grants_any_action("Microsoft.Devices/*/futureThing/*") == "Microsoft.Devices/*"


HUB_DATA = "Microsoft.Devices/IotHubs/*"


def covering(*blocks: PermissionBlock) -> str | None:
    grant = effective(*blocks).wildcard_covering_data(HUB_DATA, catalog.operations())
    return grant.value if grant is not None else None


def test_wildcard_covering_every_hub_data_action() -> None:
    assert covering(role_perms(data=("Microsoft.Devices/*",))) == "Microsoft.Devices/*"
    assert covering(role_perms(data=("Microsoft.Devices/IotHubs/*",))) == "Microsoft.Devices/IotHubs/*"
    assert covering(role_perms(data=("*",))) == "*"


def test_read_only_wildcard_does_not_cover_every_hub_data_action() -> None:
    assert covering(role_perms(data=("Microsoft.Devices/IotHubs/*/read",))) is None


def test_wildcard_of_two_segments_covers_every_catalogued_hub_data_action() -> None:
    # Every IoT Hub data action has at least two segments after IotHubs/, so the
    # pattern's shape (it misses a one-segment "IotHubs/x") does not matter.
    assert covering(role_perms(data=("Microsoft.Devices/IotHubs/*/*",))) == "Microsoft.Devices/IotHubs/*/*"


def test_wildcard_covering_is_case_insensitive() -> None:
    assert covering(role_perms(data=("MICROSOFT.DEVICES/iothubs/*",))) == "MICROSOFT.DEVICES/iothubs/*"


def test_wildcard_with_a_carve_out_does_not_cover_everything() -> None:
    assert covering(role_perms(data=("Microsoft.Devices/IotHubs/*",), not_data=("*/twins/write",))) is None


def test_not_data_action_that_removes_no_hub_data_action_does_not_matter() -> None:
    for unrelated in ("*/blobs/read", "Microsoft.Devices/IotHubs/notAnOperation/action",
                      "Microsoft.Devices/provisioningServices/*", "Microsoft.Storage/*"):
        assert covering(role_perms(data=("*",), not_data=(unrelated,))) == "*", unrelated


def test_carve_out_restored_by_another_block_still_grants_everything() -> None:
    assert covering(
        role_perms(data=("Microsoft.Devices/IotHubs/*",), not_data=("*/devices/delete",)),
        role_perms(data=("Microsoft.Devices/IotHubs/devices/delete",)),
    ) == "Microsoft.Devices/IotHubs/*"


def test_specific_data_actions_listing_everything_are_no_wildcard() -> None:
    every = tuple(o.name for o in catalog.iot_hub_data_actions())
    assert covering(role_perms(data=every)) is None


def test_unknown_data_action_could_be_the_covering_wildcard() -> None:
    u = Unknown("{parameters('data')}")
    eff = effective(PermissionBlock(data_actions=[PermString(u, ("d",))]))
    assert eff.wildcard_covering_data(HUB_DATA, catalog.operations()) is None
    assert eff.uncertain_wildcard_covering_data(HUB_DATA, catalog.operations()) == (u,)


def test_unknown_data_action_of_another_provider_leaves_the_answer_certain() -> None:
    u = Unknown("Microsoft.Storage/{parameters('data')}")
    eff = effective(PermissionBlock(data_actions=[PermString(u, ("d",))]))
    assert eff.uncertain_wildcard_covering_data(HUB_DATA, catalog.operations()) == ()


def test_read_only_wildcard_next_to_an_unknown_is_still_certain_when_a_write_is_removed() -> None:
    u = Unknown("{parameters('data')}")
    block = PermissionBlock(data_actions=[*strings(["*"], "dataActions"), PermString(u, ("d",))],
                            not_data_actions=strings(["*/write"], "notDataActions"))
    eff = effective(block)
    assert eff.wildcard_covering_data(HUB_DATA, catalog.operations()) is None
    assert eff.uncertain_wildcard_covering_data(HUB_DATA, catalog.operations()) == ()


def test_unknown_action_makes_a_missing_grant_uncertain() -> None:
    u = Unknown("parameters('extra')", (), ())
    eff = effective(PermissionBlock(actions=[PermString(u, ("a",))]))
    assert eff.grants_action("Microsoft.Devices/iotHubs/listkeys/Action") is None
    assert eff.uncertain_action("Microsoft.Devices/iotHubs/listkeys/Action") == (u,)


def test_unknown_not_action_makes_a_grant_uncertain() -> None:
    u = Unknown("{parameters('deny')}")
    eff = effective(PermissionBlock(actions=strings(["*"], "actions"), not_actions=[PermString(u, ("n",))]))
    assert eff.grants_action("Microsoft.Devices/iotHubs/Write") == "*"
    assert eff.uncertain_action("Microsoft.Devices/iotHubs/Write") == (u,)


def test_unknown_with_a_foreign_provider_cannot_change_an_iot_answer() -> None:
    u = Unknown("Microsoft.Storage/{parameters('x')}")
    eff = effective(PermissionBlock(actions=[PermString(u, ("a",))]))
    assert eff.uncertain_action("Microsoft.Devices/iotHubs/listkeys/Action") == ()


def test_several_wildcards_that_together_grant_every_hub_data_action_cover_it() -> None:
    parts = tuple(f"Microsoft.Devices/IotHubs/*/{verb}" for verb in ("read", "write", "delete", "action"))
    assert covering(role_perms(data=parts)) in parts


def test_an_unknown_not_data_action_makes_a_covering_wildcard_uncertain() -> None:
    u = Unknown("{parameters('d')}")
    block = PermissionBlock(data_actions=[PermString("Microsoft.Devices/IotHubs/*", ("d", 0))],
                            not_data_actions=[PermString(u, ("n", 0))])
    eff = effective(block)
    assert eff.wildcard_covering_data(HUB_DATA, catalog.operations()) is None
    assert eff.uncertain_wildcard_covering_data(HUB_DATA, catalog.operations()) == (u,)
