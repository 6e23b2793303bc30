"""The ARM template function library, function by function.

Expected values come from the examples in Microsoft's template-function and Bicep CIDR
documentation where there is one."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from engine.arm.expressions import ExpressionError, LimitError, Limits, SimpleContext, evaluate
from engine.arm.functions import NAMES, Composite, iter_specs
from engine.values import Unknown

SUB = "00000000-0000-0000-0000-000000000000"
RG_ID = f"/subscriptions/{SUB}/resourceGroups/iotguard-rg"


def run(expr: str, ctx: SimpleContext | None = None, **kwargs: Any) -> Any:
    return evaluate(f"[{expr}]", ctx or SimpleContext(**kwargs))


def fails(expr: str, ctx: SimpleContext | None = None) -> str:
    with pytest.raises(ExpressionError) as info:
        run(expr, ctx)
    return info.value.message


def unknown_param(name: str = "p") -> SimpleContext:
    return SimpleContext(parameters={name: Unknown.of("parameter", f"no value for {name}")})


# --------------------------------------------------------------------------- array and object


def test_array_wraps_a_single_value() -> None:
    assert run("array('a')") == ["a"]


def test_array_keeps_an_array() -> None:
    assert run("array(createArray(1, 2))") == [1, 2]


def test_concat_joins_strings() -> None:
    assert run("concat('prefix', '-', 'x')") == "prefix-x"


def test_concat_renders_integers_inside_strings() -> None:
    assert run("concat('vm', copyIndex(1))", copy_indexes={None: 0}) == "vm1"


def test_concat_joins_arrays() -> None:
    assert run("concat(createArray('1-1'), createArray('2-1', '2-2'))") == ["1-1", "2-1", "2-2"]


def test_concat_rejects_mixing_arrays_and_strings() -> None:
    assert "cannot be mixed" in fails("concat(createArray(1), 'a')")


def test_concat_rejects_objects() -> None:
    assert "concat()" in fails("concat('a', createObject())")


def test_contains_string_search_is_case_sensitive() -> None:
    assert run("createArray(contains('OneTwoThree', 'e'), contains('OneTwoThree', 'two'))") == [True, False]


def test_contains_object_key_lookup_is_case_insensitive() -> None:
    assert run("contains(createObject('one', 'a'), 'ONE')") is True


def test_contains_object_looks_at_keys_not_values() -> None:
    assert run("contains(createObject('one', 'a'), 'a')") is False


def test_contains_array_tests_membership() -> None:
    assert run(
        "createArray(contains(createArray('one', 'two'), 'two'), contains(createArray('one'), 'four'))"
    ) == [
        True,
        False,
    ]


def test_contains_on_a_composite_is_true_when_the_known_text_holds_the_item() -> None:
    assert run("contains(concat('HostName=', reference('x').host), 'HostName')") is True


def test_contains_in_an_array_with_an_unknown_element_is_unknown_when_not_found() -> None:
    assert isinstance(run("contains(createArray(reference('x').a, 'b'), 'c')"), Unknown)


def test_contains_in_an_array_with_an_unknown_element_is_true_when_found() -> None:
    assert run("contains(createArray(reference('x').a, 'c'), 'c')") is True


def test_create_array_collects_its_arguments() -> None:
    assert run("createArray(1, 'a', createObject())") == [1, "a", {}]


def test_create_object_builds_a_case_insensitive_object() -> None:
    assert run("createObject('Key', 'v').key") == "v"


def test_create_object_needs_key_value_pairs() -> None:
    assert "even number" in fails("createObject('a')")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("empty('')", True),
        ("empty(createArray())", True),
        ("empty(createObject())", True),
        ("empty(null())", True),
    ],
)
def test_empty_is_true_for_empty_string_array_object_and_null(expr: str, expected: bool) -> None:
    assert run(expr) is expected


def test_empty_is_false_for_a_non_empty_string() -> None:
    assert run("empty('a')") is False


def test_empty_of_a_composite_with_known_text_is_false() -> None:
    assert run("empty(concat('a', reference('x').id))") is False


def test_empty_of_an_unknown_is_unknown() -> None:
    assert isinstance(run("empty(reference('x').id)"), Unknown)


def test_first_and_last_of_a_string_are_characters() -> None:
    assert run("createArray(first('One Two'), last('One Two'))") == ["O", "o"]


def test_first_and_last_of_an_array_are_elements() -> None:
    assert run("createArray(first(createArray(1, 2, 3)), last(createArray(1, 2, 3)))") == [1, 3]


def test_first_of_an_empty_array_is_null() -> None:
    assert run("first(createArray())") is None


def test_index_of_a_string_is_case_insensitive() -> None:
    assert run("createArray(indexOf('abcdef', 'CD'), lastIndexOf('test', 't'), indexOf('abcdef', 'z'))") == [
        2,
        3,
        -1,
    ]


def test_index_of_an_array_uses_deep_equality() -> None:
    assert run("indexOf(createArray('a', createArray(1), 'b'), createArray(1))") == 1


def test_last_index_of_an_array_finds_the_last_match() -> None:
    assert run("lastIndexOf(createArray('a', 'b', 'a'), 'a')") == 2


def test_intersection_of_objects_keeps_equal_members() -> None:
    expr = (
        "intersection(createObject('one', 'a', 'two', 'b', 'three', 'c'), "
        "createObject('one', 'a', 'two', 'z', 'three', 'c'))"
    )
    assert run(expr) == {"one": "a", "three": "c"}


def test_intersection_of_arrays_keeps_common_elements_in_order() -> None:
    assert run("intersection(createArray('one', 'two', 'three'), createArray('two', 'three'))") == [
        "two",
        "three",
    ]


def test_length_counts_strings_arrays_and_objects() -> None:
    assert run("createArray(length('abc'), length(createArray(1, 2)), length(createObject('a', 1)))") == [
        3,
        2,
        1,
    ]


def test_min_and_max_take_integers_or_one_array() -> None:
    assert run("createArray(min(6, 4, 5), max(createArray(0, 3, 2)))") == [4, 3]


def test_min_of_strings_is_an_error() -> None:
    assert "min()" in fails("min('a', 'b')")


def test_range_counts_from_the_start_index() -> None:
    assert run("range(1, 3)") == [1, 2, 3]


def test_range_with_a_negative_count_is_an_error() -> None:
    assert "negative" in fails("range(0, -1)")


def test_skip_and_take_work_on_strings() -> None:
    assert run("createArray(skip('one two three', 4), take('one two three', 2))") == ["two three", "on"]


def test_skip_and_take_work_on_arrays_and_clamp_counts() -> None:
    assert run(
        "createArray(skip(createArray(1, 2), 5), take(createArray(1, 2), -1), take(createArray(1, 2), 1))"
    ) == [
        [],
        [],
        [1],
    ]


def test_union_of_objects_lets_later_values_win() -> None:
    expr = "union(createObject('one', 'a', 'three', 'c1'), createObject('three', 'c2', 'four', 'd'))"
    assert run(expr) == {"one": "a", "three": "c2", "four": "d"}


def test_union_merges_nested_objects_but_replaces_nested_arrays() -> None:
    expr = (
        "union("
        "createObject('property', createObject('one', 'a', 'three', 'c1'), "
        "'nestedArray', createArray(1, 2)), "
        "createObject('property', createObject('three', 'c2', 'four', 'd'), "
        "'nestedArray', createArray(3, 4)))"
    )
    assert run(expr) == {"property": {"one": "a", "three": "c2", "four": "d"}, "nestedArray": [3, 4]}


def test_union_of_arrays_drops_duplicates_keeping_first_positions() -> None:
    assert run("union(createArray('one', 'two', 'three'), createArray('three', 'four', 'one'))") == [
        "one",
        "two",
        "three",
        "four",
    ]


def test_union_of_an_array_and_an_object_is_an_error() -> None:
    assert "union()" in fails("union(createArray(1), createObject())")


def test_items_turns_an_object_into_sorted_key_value_pairs() -> None:
    assert run("items(createObject('b', 2, 'a', 1))") == [{"key": "a", "value": 1}, {"key": "b", "value": 2}]


def test_object_keys_lists_keys_in_order() -> None:
    assert run("objectKeys(createObject('b', 2, 'a', 1))") == ["b", "a"]


def test_shallow_merge_replaces_nested_objects() -> None:
    expr = (
        "shallowMerge(createArray("
        "createObject('a', createObject('x', 1)), createObject('a', createObject('y', 2))))"
    )
    assert run(expr) == {"a": {"y": 2}}


def test_flatten_concatenates_inner_arrays() -> None:
    assert run("flatten(createArray(createArray(1), createArray(2, 3)))") == [1, 2, 3]


def test_try_get_returns_null_for_a_missing_key_or_index() -> None:
    assert run("createArray(tryGet(createObject('a', 1), 'b'), tryGet(createArray(1), 3))") == [None, None]


def test_try_get_walks_several_keys_case_insensitively() -> None:
    assert run("tryGet(createObject('a', createObject('B', 5)), 'A', 'b')") == 5


def test_index_from_end_is_one_based() -> None:
    assert run("createArray(indexFromEnd(createArray(1, 2, 3), 1), tryIndexFromEnd(createArray(1), 2))") == [
        3,
        None,
    ]


def test_index_from_end_out_of_range_is_an_error() -> None:
    assert "out of range" in fails("indexFromEnd(createArray(1), 2)")


# --------------------------------------------------------------------------- lambda functions


def test_filter_keeps_items_the_lambda_accepts() -> None:
    assert run("filter(range(0, 5), lambda('x', greater(lambdaVariables('x'), 2)))") == [3, 4]


def test_filter_with_an_unknown_decision_is_unknown() -> None:
    expr = "filter(createArray(1), lambda('x', equals(reference('r').v, lambdaVariables('x'))))"
    assert isinstance(run(expr), Unknown)


def test_filter_lambda_must_return_a_bool() -> None:
    assert "must return a bool" in fails("filter(range(0, 2), lambda('x', 1))")


def test_reduce_folds_from_the_initial_value() -> None:
    assert (
        run(
            "reduce(range(1, 4), 0, "
            "lambda('cur', 'next', add(lambdaVariables('cur'), lambdaVariables('next'))))"
        )
        == 10
    )


def test_sort_orders_by_the_lambda_comparison() -> None:
    assert run(
        "sort(createArray(3, 1, 2), lambda('a', 'b', less(lambdaVariables('a'), lambdaVariables('b'))))"
    ) == [
        1,
        2,
        3,
    ]


def test_to_object_builds_keys_and_optional_values() -> None:
    expr = (
        "toObject(createArray('a', 'b'), "
        "lambda('x', lambdaVariables('x')), lambda('x', toUpper(lambdaVariables('x'))))"
    )
    assert run(expr) == {"a": "A", "b": "B"}


def test_group_by_collects_items_under_the_lambda_key() -> None:
    assert run("groupBy(createArray('ab', 'ac', 'b'), lambda('x', first(lambdaVariables('x'))))") == {
        "a": ["ab", "ac"],
        "b": ["b"],
    }


def test_map_values_transforms_object_values() -> None:
    assert run("mapValues(createObject('a', 1), lambda('v', mul(lambdaVariables('v'), 10)))") == {"a": 10}


def test_lambda_function_without_a_lambda_argument_is_an_error() -> None:
    assert "lambda" in fails("map(createArray(1), 'x')")


# --------------------------------------------------------------------------- CIDR


def test_parse_cidr_describes_an_ipv4_range() -> None:
    assert run("parseCidr('10.144.0.0/20')") == {
        "network": "10.144.0.0",
        "netmask": "255.255.240.0",
        "broadcast": "10.144.15.255",
        "firstUsable": "10.144.0.1",
        "lastUsable": "10.144.15.254",
        "cidr": 20,
    }


def test_parse_cidr_describes_an_ipv6_range_without_broadcast() -> None:
    assert run("parseCidr('fdad:3236:5555::/48')") == {
        "network": "fdad:3236:5555::",
        "netmask": "ffff:ffff:ffff::",
        "firstUsable": "fdad:3236:5555::",
        "lastUsable": "fdad:3236:5555:ffff:ffff:ffff:ffff:ffff",
        "cidr": 48,
    }


def test_cidr_subnet_returns_the_indexed_subnet() -> None:
    assert run("map(range(0, 3), lambda('i', cidrSubnet('10.144.0.0/20', 24, lambdaVariables('i'))))") == [
        "10.144.0.0/24",
        "10.144.1.0/24",
        "10.144.2.0/24",
    ]


def test_cidr_subnet_of_ipv6() -> None:
    assert run("cidrSubnet('fdad:3236:5555::/48', 52, 1)") == "fdad:3236:5555:1000::/52"


def test_cidr_host_index_zero_is_the_first_usable_address() -> None:
    assert run("createArray(cidrHost('10.144.3.0/24', 0), cidrHost('fdad:3236:5555:3000::/52', 4))") == [
        "10.144.3.1",
        "fdad:3236:5555:3000::5",
    ]


def test_cidr_host_beyond_the_range_is_an_error() -> None:
    assert "out of range" in fails("cidrHost('10.0.0.0/30', 2)")


def test_cidr_subnet_smaller_prefix_is_an_error() -> None:
    assert "newCIDR" in fails("cidrSubnet('10.0.0.0/16', 8, 0)")


def test_parse_cidr_rejects_an_invalid_network() -> None:
    assert "not a valid CIDR" in fails("parseCidr('10.0.0.300/24')")


# --------------------------------------------------------------------------- comparison


def test_coalesce_returns_the_first_non_null() -> None:
    assert run("coalesce(null(), null(), 'c', 'd')") == "c"


def test_coalesce_of_only_nulls_is_null() -> None:
    assert run("coalesce(null(), null())") is None


def test_coalesce_with_an_unknown_before_a_known_value_is_unknown() -> None:
    result = run("coalesce(null(), parameters('p'), 'default')", unknown_param())
    assert isinstance(result, Unknown) and result.kinds == {"parameter"}


def test_coalesce_ignores_an_unknown_after_a_known_value() -> None:
    assert run("coalesce('known', parameters('p'))", unknown_param()) == "known"


def test_equals_is_case_sensitive_for_strings() -> None:
    assert run("createArray(equals('a', 'a'), equals('a', 'A'))") == [True, False]


def test_equals_compares_arrays_and_objects_deeply() -> None:
    expr = (
        "createArray("
        "equals(createArray(1, createObject('a', 1)), createArray(1, createObject('a', 1))), "
        "equals(createArray(1), createArray(1, 2)))"
    )
    assert run(expr) == [True, False]


def test_equals_does_not_confuse_integers_and_strings_or_bools() -> None:
    assert run("createArray(equals(1, '1'), equals(1, true()))") == [False, False]


def test_equals_with_an_unknown_is_unknown() -> None:
    assert isinstance(run("equals(reference('x').a, 'b')"), Unknown)


def test_equals_decided_by_known_parts_despite_an_unknown() -> None:
    assert run("equals(createArray(reference('x').a, 1), createArray('b', 2))") is False


def test_equals_is_false_when_the_known_prefix_of_a_composite_differs() -> None:
    assert run("equals(concat('keyBased-', reference('x').id), 'identityBased')") is False


def test_equals_is_unknown_when_a_composite_could_still_match() -> None:
    assert isinstance(run("equals(concat('key', reference('x').id), 'keyBased')"), Unknown)


def test_ordering_functions_compare_integers() -> None:
    assert run("createArray(less(1, 2), lessOrEquals(2, 2), greater(1, 2), greaterOrEquals(3, 2))") == [
        True,
        True,
        False,
        True,
    ]


def test_ordering_functions_compare_strings_ordinally() -> None:
    assert run("createArray(less('A', 'a'), greater('b', 'a'))") == [True, True]


def test_ordering_a_string_and_an_integer_is_an_error() -> None:
    assert "less()" in fails("less(1, 'a')")


# --------------------------------------------------------------------------- date


def test_date_time_add_keeps_the_format_of_the_base_value() -> None:
    assert run("dateTimeAdd('2020-04-07 14:53:14Z', 'P3Y')") == "2023-04-07 14:53:14Z"


def test_date_time_add_accepts_negative_and_time_durations() -> None:
    assert run(
        "createArray(dateTimeAdd('2020-04-07T14:53:14Z', '-P9D'), "
        "dateTimeAdd('2020-04-07T14:53:14Z', 'PT1H30M'))"
    ) == [
        "2020-03-29T14:53:14Z",
        "2020-04-07T16:23:14Z",
    ]


def test_date_time_add_clamps_month_arithmetic_to_the_month_end() -> None:
    assert run("dateTimeAdd('2020-01-31T00:00:00Z', 'P1M')") == "2020-02-29T00:00:00Z"


def test_date_time_add_applies_a_dotnet_format() -> None:
    assert run("dateTimeAdd('2020-04-07T14:53:14Z', 'P1D', 'yyyy-MM-dd HH:mm')") == "2020-04-08 14:53"


def test_date_time_add_supports_standard_format_letters() -> None:
    assert run("dateTimeAdd('2020-04-07T14:53:14Z', 'PT0S', 'u')") == "2020-04-07 14:53:14Z"


def test_date_time_add_rejects_a_bad_duration() -> None:
    assert "ISO 8601 duration" in fails("dateTimeAdd('2020-04-07T14:53:14Z', 'three days')")


def test_date_time_from_epoch_gives_an_iso_utc_time() -> None:
    assert run("dateTimeFromEpoch(1683040573)") == "2023-05-02T15:16:13Z"


def test_date_time_to_epoch_is_the_inverse() -> None:
    assert run("dateTimeToEpoch('2023-05-02T15:16:13Z')") == 1683040573


def test_utc_now_is_a_runtime_unknown() -> None:
    result = run("utcNow('u')")
    assert isinstance(result, Unknown) and result.kinds == {"runtime"} and "utcNow" in result.text


# --------------------------------------------------------------------------- deployment and scope


def test_deployment_and_environment_come_from_the_context() -> None:
    assert run("createArray(deployment().name, environment().name)") == ["iotguard-deployment", "AzureCloud"]


def test_subscription_tenant_and_management_group_come_from_the_context() -> None:
    assert run("createArray(subscription().subscriptionId, tenant().tenantId, managementGroup().name)") == [
        SUB,
        SUB,
        "iotguard-mg",
    ]


def test_management_group_with_a_name_describes_that_group() -> None:
    assert run("managementGroup('mg2').id") == "/providers/Microsoft.Management/managementGroups/mg2"


def test_parameters_lookup_is_case_insensitive() -> None:
    assert run("parameters('HUBNAME')", parameters={"hubName": "h"}) == "h"


# --------------------------------------------------------------------------- logical


def test_bool_converts_strings_and_integers() -> None:
    assert run("createArray(bool('TRUE'), bool('false'), bool(0), bool(2))") == [True, False, False, True]


def test_bool_rejects_other_strings() -> None:
    assert "bool()" in fails("bool('yes')")


def test_true_false_and_not() -> None:
    assert run("createArray(true(), false(), not(true()))") == [True, False, False]


def test_not_of_an_unknown_is_unknown() -> None:
    assert isinstance(run("not(parameters('p'))", unknown_param()), Unknown)


# --------------------------------------------------------------------------- numeric


def test_arithmetic_uses_integers() -> None:
    assert run("createArray(add(5, 3), sub(7, 3), mul(5, 3), div(8, 3), mod(7, 3))") == [8, 4, 15, 2, 1]


def test_div_and_mod_truncate_toward_zero_like_dotnet() -> None:
    assert run("createArray(div(-7, 2), mod(-7, 2))") == [-3, -1]


def test_division_by_zero_is_an_error() -> None:
    assert "division by zero" in fails("div(1, 0)")


def test_integer_overflow_is_an_error() -> None:
    assert "overflow" in fails("mul(9223372036854775807, 2)")


def test_arithmetic_rejects_strings() -> None:
    assert "add()" in fails("add('1', 2)")


def test_int_parses_strings_and_truncates_floats() -> None:
    assert run("createArray(int('4'), int(' -2 '), int(float('2.7')))") == [4, -2, 2]


def test_int_rejects_a_non_integer_string() -> None:
    assert "int()" in fails("int('4.5')")


def test_float_parses_strings() -> None:
    assert run("float('1.5')") == 1.5


# --------------------------------------------------------------------------- object


def test_json_parses_objects_into_case_insensitive_objects() -> None:
    assert run('json(\'{"a": {"B": [1, true, null]}}\').A.b') == [1, True, None]


def test_json_null_is_null() -> None:
    assert run("json('null')") is None


def test_json_accepts_single_quoted_strings_like_arm() -> None:
    assert run("json('{''one'': ''a''}')") == {"one": "a"}


def test_json_rejects_malformed_text() -> None:
    assert "json()" in fails("json('{\"a\": ')")


def test_null_function_is_null() -> None:
    assert run("null()") is None


# --------------------------------------------------------------------------- resource IDs


def test_resource_id_defaults_to_the_deployment_resource_group() -> None:
    assert (
        run("resourceId('Microsoft.Devices/IotHubs', 'hub1')")
        == f"{RG_ID}/providers/Microsoft.Devices/IotHubs/hub1"
    )


def test_resource_id_of_a_child_type_interleaves_types_and_names() -> None:
    assert run("resourceId('Microsoft.Devices/IotHubs/IotHubKeys', 'hub1', 'iothubowner')") == (
        f"{RG_ID}/providers/Microsoft.Devices/IotHubs/hub1/IotHubKeys/iothubowner"
    )


def test_resource_id_accepts_a_slash_separated_name() -> None:
    assert run(
        "resourceId('Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups', 'hub', 'events/cg')"
    ) == (f"{RG_ID}/providers/Microsoft.Devices/IotHubs/hub/eventHubEndpoints/events/ConsumerGroups/cg")


def test_resource_id_with_a_resource_group_argument() -> None:
    assert run("resourceId('otherRg', 'Microsoft.Storage/storageAccounts', 'st')") == (
        f"/subscriptions/{SUB}/resourceGroups/otherRg/providers/Microsoft.Storage/storageAccounts/st"
    )


def test_resource_id_with_subscription_and_resource_group_arguments() -> None:
    assert run("resourceId('sub1', 'rg1', 'Microsoft.Storage/storageAccounts', 'st')") == (
        "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/st"
    )


def test_resource_id_outside_a_resource_group_deployment_is_subscription_level() -> None:
    ctx = SimpleContext(invalid_scopes={"resourceGroup"})
    assert run("resourceId('Microsoft.Authorization/roleDefinitions', 'g')", ctx) == (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/g"
    )


def test_resource_id_with_too_few_names_is_an_error() -> None:
    assert "needs 2 name segments" in fails("resourceId('Microsoft.Devices/IotHubs/certificates', 'hub')")


def test_resource_id_without_a_type_is_an_error() -> None:
    assert "resource type" in fails("resourceId('a', 'b')")


def test_resource_id_with_an_unknown_name_keeps_the_known_id_text() -> None:
    result = run("resourceId('Microsoft.Devices/IotHubs', parameters('p'))", unknown_param())
    assert isinstance(result, Composite)
    assert result.text.startswith(f"{RG_ID}/providers/Microsoft.Devices/IotHubs/{{")


def test_subscription_resource_id_has_no_resource_group() -> None:
    assert run("subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'g')") == (
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/g"
    )


def test_subscription_resource_id_with_a_subscription_argument() -> None:
    assert run("subscriptionResourceId('s2', 'Microsoft.Resources/resourceGroups', 'rg')") == (
        "/subscriptions/s2/providers/Microsoft.Resources/resourceGroups/rg"
    )


def test_tenant_resource_id_starts_at_providers() -> None:
    assert run("tenantResourceId('Microsoft.Authorization/roleDefinitions', 'g')") == (
        "/providers/Microsoft.Authorization/roleDefinitions/g"
    )


def test_extension_resource_id_appends_to_the_base_id() -> None:
    assert (
        run(
            "extensionResourceId(resourceId('Microsoft.Devices/IotHubs', 'h'), "
            "'Microsoft.Authorization/roleAssignments', 'g')"
        )
        == f"{RG_ID}/providers/Microsoft.Devices/IotHubs/h"
        "/providers/Microsoft.Authorization/roleAssignments/g"
    )


def test_management_group_resource_id_uses_the_deployment_management_group() -> None:
    assert run("managementGroupResourceId('Microsoft.Authorization/roleDefinitions', 'g')") == (
        "/providers/Microsoft.Management/managementGroups/iotguard-mg/providers/Microsoft.Authorization/roleDefinitions/g"
    )


# --------------------------------------------------------------------------- runtime resource functions


class _RecordingContext(SimpleContext):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, Any, bool, str]] = []

    def reference(self, target: Any, api_version: Any, full: bool, function: str) -> Any:
        self.calls.append((target, api_version, full, function))
        return super().reference(target, api_version, full, function)


def test_reference_passes_target_api_version_and_full_to_the_context() -> None:
    ctx = _RecordingContext()
    run("reference(resourceId('Microsoft.Devices/IotHubs', 'h'), '2023-06-30', 'Full')", ctx)
    assert ctx.calls == [(f"{RG_ID}/providers/Microsoft.Devices/IotHubs/h", "2023-06-30", True, "reference")]


def test_references_goes_through_the_context_as_references() -> None:
    ctx = _RecordingContext()
    run("references('hubs')", ctx)
    assert ctx.calls == [("hubs", None, False, "references")]


def test_reference_result_is_a_reference_unknown_naming_the_target() -> None:
    result = run("reference('stg').primaryEndpoints.blob")
    assert isinstance(result, Unknown) and result.causes[0].target == "stg"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("listKeys", "listKeys"),
        ("listkeys", "listKeys"),
        ("LISTSECRETS", "listSecrets"),
        ("listAccountSas", "listAccountSas"),
        ("listFooBar", "listFooBar"),
    ],
)
def test_list_functions_give_secret_unknowns_recording_function_target_and_api(
    written: str, canonical: str
) -> None:
    result = run(f"{written}('/some/id', '2021-01-01')")
    assert isinstance(result, Unknown) and result.carries_secret
    (cause,) = result.causes
    assert (cause.kind, cause.function, cause.target) == ("list", canonical, "/some/id")
    assert "2021-01-01" in cause.detail


def test_list_result_member_access_extends_the_placeholder() -> None:
    result = run("listKeys('st', '2021-01-01').keys[0].value")
    assert isinstance(result, Unknown) and result.text.endswith(".keys[0].value")


def test_providers_is_a_runtime_unknown() -> None:
    result = run("providers('Microsoft.Storage', 'storageAccounts').apiVersions[0]")
    assert isinstance(result, Unknown) and result.kinds == {"runtime"}


def test_pick_zones_is_a_three_zone_placeholder() -> None:
    assert run(
        "createArray(pickZones('Microsoft.Compute', 'virtualMachines', 'westus2'), "
        "pickZones('Microsoft.Compute', 'virtualMachines', 'westus2', 2, 1))"
    ) == [
        ["1"],
        ["2", "3"],
    ]


# --------------------------------------------------------------------------- string


def test_base64_round_trips_through_base64_to_string() -> None:
    assert run("createArray(base64('one, two, three'), base64ToString(base64('one, two, three')))") == [
        "b25lLCB0d28sIHRocmVl",
        "one, two, three",
    ]


def test_base64_to_json_accepts_arms_single_quoted_json() -> None:
    assert run("base64ToJson(base64('{''one'': ''a'', ''two'': ''b''}'))") == {"one": "a", "two": "b"}


def test_base64_to_string_rejects_invalid_base64() -> None:
    assert "base64" in fails("base64ToString('***')")


def test_data_uri_encodes_as_utf8_base64() -> None:
    assert run("dataUri('Hello')") == "data:text/plain;charset=utf8;base64,SGVsbG8="


def test_data_uri_to_string_decodes() -> None:
    assert run("dataUriToString('data:;base64,SGVsbG8sIFdvcmxkIQ==')") == "Hello, World!"


def test_starts_with_and_ends_with_are_case_insensitive() -> None:
    assert run(
        "createArray(startsWith('abcdef', 'A'), endsWith('abcdef', 'F'), startsWith('abcdef', 'e'))"
    ) == [
        True,
        True,
        False,
    ]


def test_starts_with_decides_from_the_known_prefix_of_a_composite() -> None:
    assert run("startsWith(concat('https://', reference('x').host), 'HTTPS')") is True


def test_format_applies_dotnet_composite_formatting() -> None:
    assert run("format('{0}, {1}. Formatted number: {2:N0}', 'Hello', 'User', 8175133)") == (
        "Hello, User. Formatted number: 8,175,133"
    )


def test_format_escapes_braces_by_doubling() -> None:
    assert run("format('{{{0}}}', 'x')") == "{x}"


def test_format_supports_alignment_and_integer_specifiers() -> None:
    assert (
        run("format('[{0,4}|{1,-3}|{2:D3}|{3:X}|{4:F1}]', 'ab', 'c', 7, 255, 2)") == "[  ab|c  |007|FF|2.0]"
    )


def test_format_renders_booleans_like_arm() -> None:
    assert run("format('{0}', true())") == "True"


def test_format_index_out_of_range_is_an_error() -> None:
    assert "out of range" in fails("format('{1}', 'a')")


def test_format_keeps_known_text_around_an_unknown() -> None:
    result = run("format('https://{0}.blob.core.windows.net/{1}', parameters('p'), 'c')", unknown_param())
    assert (
        isinstance(result, Unknown)
        and result.text.startswith("https://{")
        and result.text.endswith(".blob.core.windows.net/c")
    )


def test_guid_is_a_deterministic_version_5_uuid() -> None:
    first, second, other = run("createArray(guid('a', 'b'), guid('a', 'b'), guid('a', 'c'))")
    assert first == second != other
    assert uuid.UUID(first).version == 5


def test_guid_is_uuid5_over_the_dash_joined_arguments() -> None:
    namespace = uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")
    assert run("guid('scope', 'principal')") == str(uuid.uuid5(namespace, "scope-principal"))


def test_join_concatenates_array_elements_with_a_delimiter() -> None:
    assert run("join(createArray('a', 'b', 1), ',')") == "a,b,1"


def test_new_guid_is_a_runtime_unknown() -> None:
    result = run("newGuid()")
    assert isinstance(result, Unknown) and result.kinds == {"runtime"}


def test_pad_left_pads_to_the_total_length() -> None:
    assert run("createArray(padLeft('123', 10, '0'), padLeft(7, 3), padLeft('abcd', 2))") == [
        "0000000123",
        "  7",
        "abcd",
    ]


def test_pad_left_rejects_a_multi_character_pad() -> None:
    assert "single character" in fails("padLeft('1', 3, 'ab')")


def test_pad_left_beyond_the_string_limit_is_a_limit_error() -> None:
    with pytest.raises(LimitError):
        run("padLeft('1', 2000000000)")


def test_replace_is_case_sensitive() -> None:
    assert run("createArray(replace('123-123-1234', '-', ''), replace('aA', 'a', 'x'))") == [
        "1231231234",
        "xA",
    ]


def test_replace_applies_to_the_known_text_of_a_composite() -> None:
    result = run("replace(concat('a-b-', reference('x').id), '-', '.')")
    assert isinstance(result, Unknown) and result.text == "a.b.{reference('x').id}"


def test_replace_growth_beyond_the_string_limit_is_a_limit_error() -> None:
    ctx = SimpleContext(limits=Limits(max_string=1000))
    with pytest.raises(LimitError):
        run("replace(padLeft('', 500, 'a'), 'a', 'aaa')", ctx)


def test_split_on_one_delimiter() -> None:
    assert run("split('one,two,three', ',')") == ["one", "two", "three"]


def test_split_on_any_of_several_delimiters() -> None:
    assert run("split('one;two,three', createArray(',', ';'))") == ["one", "two", "three"]


def test_split_prefers_the_earliest_separator_then_the_first_listed() -> None:
    assert run("split('a--b-c', createArray('-', '--'))") == ["a", "", "b", "c"]


def test_join_keeps_known_text_around_an_unknown_element() -> None:
    result = run("join(createArray('a', reference('x').id, 'b'), '/')")
    assert isinstance(result, Unknown) and result.text == "a/{reference('x').id}/b"


def test_string_renders_objects_and_arrays_as_compact_json() -> None:
    assert run(
        "createArray(string(createObject('valueA', 10, 'valueB', 'Example Text')), "
        "string(createArray('a', 'b')))"
    ) == [
        '{"valueA":10,"valueB":"Example Text"}',
        '["a","b"]',
    ]


def test_string_renders_scalars_like_arm() -> None:
    assert run("createArray(string(5), string(true()), string(false()), string('x'))") == [
        "5",
        "True",
        "False",
        "x",
    ]


def test_string_of_an_object_holding_an_unknown_keeps_the_known_json() -> None:
    result = run("string(createObject('a', reference('x').id))")
    assert isinstance(result, Unknown) and result.text == "{\"a\":{reference('x').id}}"


def test_substring_takes_start_and_length() -> None:
    assert run("createArray(substring('hello there', 6, 5), substring('hello', 2))") == ["there", "llo"]


@pytest.mark.parametrize("args", ["'abc', -1", "'abc', 4", "'abc', 1, 3", "'abc', 1, -1"])
def test_substring_out_of_bounds_is_an_error(args: str) -> None:
    assert "substring()" in fails(f"substring({args})")


def test_to_lower_to_upper_and_trim() -> None:
    assert run("createArray(toLower('One Two'), toUpper('One Two'), trim('  one two  '))") == [
        "one two",
        "ONE TWO",
        "one two",
    ]


def test_to_lower_changes_only_the_known_text_of_a_composite() -> None:
    result = run("toLower(concat('HostName=', reference('Hub').hostName))")
    assert isinstance(result, Unknown) and result.text == "hostname={reference('Hub').hostName}"


def test_trim_strips_only_the_outer_known_text_of_a_composite() -> None:
    result = run("trim(concat('  a ', reference('x').id, ' b  '))")
    assert isinstance(result, Unknown) and result.text == "a {reference('x').id} b"


def test_unique_string_is_a_deterministic_13_character_lowercase_placeholder() -> None:
    first, second, other = run(
        "createArray(uniqueString('a', 'b'), uniqueString('a', 'b'), uniqueString('b'))"
    )
    assert first == second != other
    assert re.fullmatch(r"[a-z2-7]{13}", first)


def test_uri_resolves_relative_to_the_base() -> None:
    assert run(
        "createArray(uri('http://contoso.org/firstpath', 'myscript.sh'), "
        "uri('http://contoso.org/firstpath/', 'myscript.sh'))"
    ) == [
        "http://contoso.org/myscript.sh",
        "http://contoso.org/firstpath/myscript.sh",
    ]


def test_uri_needs_an_absolute_base() -> None:
    assert "absolute" in fails("uri('relative/path', 'x')")


def test_uri_component_escapes_and_unescapes() -> None:
    url = "http://contoso.com/resources/nested/azuredeploy.json"
    assert run(f"createArray(uriComponent('{url}'), uriComponentToString(uriComponent('{url}')))") == [
        "http%3A%2F%2Fcontoso.com%2Fresources%2Fnested%2Fazuredeploy.json",
        url,
    ]


# --------------------------------------------------------------------------- registry


def test_every_function_of_the_documented_list_is_registered() -> None:
    documented = [
        "array",
        "concat",
        "contains",
        "createArray",
        "empty",
        "first",
        "indexOf",
        "intersection",
        "last",
        "lastIndexOf",
        "length",
        "min",
        "max",
        "range",
        "skip",
        "take",
        "union",
        "parseCidr",
        "cidrSubnet",
        "cidrHost",
        "coalesce",
        "equals",
        "less",
        "lessOrEquals",
        "greater",
        "greaterOrEquals",
        "dateTimeAdd",
        "dateTimeFromEpoch",
        "dateTimeToEpoch",
        "utcNow",
        "deployment",
        "environment",
        "parameters",
        "variables",
        "and",
        "bool",
        "false",
        "if",
        "not",
        "or",
        "true",
        "add",
        "copyIndex",
        "div",
        "float",
        "int",
        "mod",
        "mul",
        "sub",
        "createObject",
        "items",
        "json",
        "null",
        "extensionResourceId",
        "pickZones",
        "providers",
        "reference",
        "references",
        "resourceId",
        "subscriptionResourceId",
        "tenantResourceId",
        "managementGroup",
        "resourceGroup",
        "subscription",
        "tenant",
        "base64",
        "base64ToJson",
        "base64ToString",
        "dataUri",
        "dataUriToString",
        "endsWith",
        "format",
        "guid",
        "join",
        "newGuid",
        "padLeft",
        "replace",
        "split",
        "startsWith",
        "string",
        "substring",
        "toLower",
        "toUpper",
        "trim",
        "uniqueString",
        "uri",
        "uriComponent",
        "uriComponentToString",
    ]
    assert {n.lower() for n in documented} <= set(NAMES)


def test_registered_names_are_lower_case_keys_of_their_canonical_names() -> None:
    assert all(spec.name.lower() in NAMES for spec in iter_specs())
