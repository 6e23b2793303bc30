"""The ARM expression language: syntax, errors with offsets, evaluation rules, unknown
propagation, user-defined functions, lambdas and limits."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.arm.expressions import (
    Call,
    Evaluator,
    ExpressionError,
    Index,
    LimitError,
    Limits,
    Literal,
    Member,
    SimpleContext,
    evaluate,
    evaluate_node,
    is_expression,
    parse,
    unescape,
)
from engine.values import Unknown, tracking


def run(expr: str, ctx: SimpleContext | None = None, **kwargs: Any) -> Any:
    """Evaluate ``[expr]``."""
    return evaluate(f"[{expr}]", ctx or SimpleContext(**kwargs))


def error_of(source: str, ctx: SimpleContext | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        evaluate(source, ctx or SimpleContext())
    return info.value


HUB_KEY = (
    "concat('HostName=', 'hub1', '.azure-devices.net;SharedAccessKey=', "
    "listKeys(resourceId('Microsoft.Devices/IotHubs','hub1'),'2021-07-01').value[0].primaryKey)"
)


# --------------------------------------------------------------------------- strings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[concat('a')]", True),
        ("[]", True),
        ("[[notAnExpression]", False),
        ("[test] value", False),
        ("plain", False),
        ("[", False),
        ("]", False),
        ("", False),
    ],
)
def test_is_expression_needs_brackets_at_both_ends_and_no_double_bracket(text: str, expected: bool) -> None:
    assert is_expression(text) is expected


def test_unescape_drops_the_first_bracket_of_a_double_bracket_literal() -> None:
    assert unescape("[[x]") == "[x]"


@pytest.mark.parametrize("text", ["[x]", "[[x", "plain", "[test] value"])
def test_unescape_leaves_other_strings_unchanged(text: str) -> None:
    assert unescape(text) == text


def test_evaluate_returns_a_non_expression_string_unchanged() -> None:
    assert evaluate("[test] value", SimpleContext()) == "[test] value"


def test_evaluate_unescapes_a_double_bracket_literal_instead_of_evaluating_it() -> None:
    assert evaluate("[[concat('a', 'b')]", SimpleContext()) == "[concat('a', 'b')]"


# --------------------------------------------------------------------------- syntax


def test_string_literal_doubles_a_single_quote_to_escape_it() -> None:
    assert run("'it''s'") == "it's"


def test_integer_literal_may_be_negative() -> None:
    assert run("add(-3, 1)") == -2


def test_nested_calls_evaluate_inside_out() -> None:
    assert run("toUpper(concat('a', toLower('B')))") == "AB"


def test_function_names_are_case_insensitive() -> None:
    assert run("CONCAT('a', ToLower('B'))") == "ab"


def test_sys_namespace_reaches_the_builtin_function() -> None:
    assert run("sys.parseCidr('10.0.0.0/24').cidr") == 24


def test_member_access_on_an_object_is_case_insensitive() -> None:
    assert run("parameters('obj').NAME", parameters={"obj": {"name": "x"}}) == "x"


def test_indexer_takes_an_integer_on_arrays_and_a_string_on_objects() -> None:
    ctx = SimpleContext(parameters={"obj": {"list": [{"$default": "d"}]}})
    assert run("parameters('obj')['list'][0]['$default']", ctx) == "d"


def test_member_and_index_chain_after_a_call() -> None:
    assert run('json(\'{"a": [1, {"b": 7}]}\').a[1].b') == 7


def test_whitespace_and_newlines_between_tokens_are_ignored() -> None:
    assert run(" concat (\n 'a' ,\t'b' ) ") == "ab"


def test_bare_true_false_and_null_are_literals() -> None:
    assert run("createArray(true, false, null)") == [True, False, None]


def test_parse_builds_an_ast_of_calls_members_indexes_and_literals() -> None:
    node = parse("[parameters('a')[0].x]")
    assert isinstance(node, Member) and node.name == "x"
    assert isinstance(node.target, Index)
    call = node.target.target
    assert isinstance(call, Call) and call.key == "parameters"
    assert isinstance(call.args[0], Literal) and call.args[0].value == "a"


def test_parse_caches_the_tree_of_an_identical_source() -> None:
    assert parse("[concat('cache', 'me')]") is parse("[concat('cache', 'me')]")


def test_namespaced_name_followed_by_parenthesis_is_a_call_not_a_member() -> None:
    node = parse("[contoso.uniqueName('x')]")
    assert isinstance(node, Call) and node.namespace == "contoso" and node.short == "uniquename"


# --------------------------------------------------------------------------- errors


def test_unterminated_string_is_reported_at_its_opening_quote() -> None:
    e = error_of("[concat('abc)]")
    assert "unterminated string" in e.message and e.offset == 8


def test_unclosed_parenthesis_is_reported_at_the_parenthesis() -> None:
    e = error_of("[concat('a', 'b']")
    assert "unbalanced parenthesis" in e.message and e.offset == 7


def test_extra_closing_parenthesis_is_reported_where_it_stands() -> None:
    e = error_of("[concat('a'))]")
    assert "unbalanced parenthesis" in e.message and e.offset == 12


def test_missing_comma_between_arguments_says_what_was_expected() -> None:
    e = error_of("[concat('a' 'b')]")
    assert "expected ',' or ')'" in e.message and e.offset == 12


def test_unknown_function_is_named_with_its_offset_and_a_suggestion() -> None:
    e = error_of("[concat('a', concatt('b'))]")
    assert "unknown function 'concatt'" in e.message and "concat" in e.message.split(";")[1]
    assert e.offset == 13


def test_unknown_function_is_reported_even_in_a_branch_that_is_never_taken() -> None:
    e = error_of("[if(true(), 'a', nosuch())]")
    assert "unknown function 'nosuch'" in e.message


def test_wrong_argument_count_names_the_function() -> None:
    e = error_of("[substring()]")
    assert "'substring'" in e.message and "2 to 3 arguments" in e.message


def test_empty_expression_is_an_error() -> None:
    assert error_of("[]").message == "empty expression"


def test_double_quoted_strings_are_rejected_with_a_hint() -> None:
    assert "single quotes" in error_of('[concat("a")]').message


def test_floating_point_literal_is_rejected_with_a_hint() -> None:
    assert "float" in error_of("[add(1.5, 1)]").message


def test_trailing_comma_in_arguments_is_an_error() -> None:
    assert "expected an argument" in error_of("[concat('a',)]").message


def test_text_after_the_expression_is_an_error() -> None:
    e = error_of("[concat('a') 'b']")
    assert "after the end of the expression" in e.message and e.offset == 13


def test_unclosed_indexer_is_reported_at_its_bracket() -> None:
    e = error_of("[createArray(1)[0 ]")
    assert "expected ']'" in e.message or "unbalanced bracket" in e.message


def test_missing_object_property_is_an_error_at_the_dot() -> None:
    e = error_of("[createObject('a', 1).b]")
    assert "no property 'b'" in e.message and e.offset == 21


def test_array_index_out_of_range_is_an_error() -> None:
    assert "out of range" in error_of("[createArray(1, 2)[2]]").message


def test_undeclared_parameter_is_an_error_at_the_call() -> None:
    e = error_of("[concat('a', parameters('nope'))]")
    assert "nope" in e.message and e.offset == 13


def test_a_failing_function_reports_the_offset_of_its_own_call() -> None:
    e = error_of("[concat('x', substring('abc', 5))]")
    assert "substring" in e.message and e.offset == 13


def test_expression_error_str_is_its_message() -> None:
    assert str(ExpressionError("boom", 3)) == "boom"


# --------------------------------------------------------------------------- evaluation rules


def test_if_evaluates_only_the_chosen_branch() -> None:
    assert run("if(equals(1, 1), 'yes', parameters('undeclared'))") == "yes"


def test_if_with_an_unknown_condition_is_unknown_with_the_condition_causes() -> None:
    ctx = SimpleContext(parameters={"p": Unknown.of("parameter", "no value for p")})
    result = run("if(parameters('p'), 'a', 'b')", ctx)
    assert isinstance(result, Unknown) and result.kinds == {"parameter"}


def test_if_requires_a_boolean_condition() -> None:
    assert "bool" in error_of("[if('yes', 1, 2)]").message


def test_and_stops_at_the_first_false() -> None:
    assert run("and(false(), parameters('undeclared'))") is False


def test_or_stops_at_the_first_true() -> None:
    assert run("or(true(), parameters('undeclared'))") is True


def test_and_is_false_when_a_later_argument_is_false_despite_an_unknown() -> None:
    ctx = SimpleContext(parameters={"p": Unknown.of("parameter", "p")})
    assert run("and(parameters('p'), false())", ctx) is False


def test_and_is_unknown_when_only_unknowns_keep_it_from_being_true() -> None:
    ctx = SimpleContext(parameters={"p": Unknown.of("parameter", "p")})
    assert isinstance(run("and(true(), parameters('p'))", ctx), Unknown)


def test_or_is_true_when_a_later_argument_is_true_despite_an_unknown() -> None:
    ctx = SimpleContext(parameters={"p": Unknown.of("parameter", "p")})
    assert run("or(parameters('p'), true())", ctx) is True


def test_copy_index_reads_the_innermost_loop_from_the_context() -> None:
    assert run("copyIndex()", copy_indexes={None: 4}) == 4


def test_copy_index_adds_an_offset_to_a_named_loop() -> None:
    assert run("copyIndex('disks', 1)", copy_indexes={"Disks": 2}) == 3


def test_copy_index_outside_a_loop_is_an_error() -> None:
    assert "copyIndex" in error_of("[copyIndex()]").message


def test_variables_are_resolved_through_the_context() -> None:
    ctx = SimpleContext(parameters={"p": "x"}, variables={"v": "[concat(parameters('p'), '-v')]"})
    assert run("variables('V')", ctx) == "x-v"


def test_a_variable_that_refers_to_itself_is_an_error() -> None:
    ctx = SimpleContext(variables={"v": "[variables('v')]"})
    assert "refers to itself" in error_of("[variables('v')]", ctx).message


def test_scope_functions_return_context_placeholders() -> None:
    assert run("resourceGroup().name") == "iotguard-rg"


def test_scope_function_invalid_at_the_deployment_scope_is_an_error() -> None:
    ctx = SimpleContext(invalid_scopes={"resourceGroup"})
    assert "resourceGroup" in error_of("[resourceGroup().id]", ctx).message


def test_evaluate_node_evaluates_a_parsed_tree() -> None:
    assert evaluate_node(parse("[length('abc')]"), SimpleContext()) == 3


# --------------------------------------------------------------------------- user functions


def _udf_ctx(**kwargs: Any) -> SimpleContext:
    functions = {
        "contoso.uniqueName": (["namePrefix"], "[concat(toLower(parameters('namePrefix')), 'x')]"),
        "contoso.pair": (["a", "b"], {"first": "[parameters('a')]", "second": ["[parameters('b')]"]}),
        "contoso.leak": (["a"], "[variables('v')]"),
        "contoso.outer": (["a"], "[parameters('p')]"),
        "contoso.loop": (["a"], "[contoso.loop(parameters('a'))]"),
        "contoso.secret": (["a"], "[listKeys(parameters('a'), '2021-07-01')]"),
    }
    return SimpleContext(functions=functions, **kwargs)


def test_user_function_binds_its_parameters_to_the_arguments() -> None:
    assert run("contoso.uniqueName('ABC')", _udf_ctx()) == "abcx"


def test_user_function_output_may_be_an_object_holding_expressions() -> None:
    assert run("contoso.pair('x', 2)", _udf_ctx()) == {"first": "x", "second": [2]}


def test_user_function_sees_only_its_own_parameters() -> None:
    e = error_of("[contoso.outer('x')]", _udf_ctx(parameters={"p": "template value"}))
    assert "user-defined function" in e.message and e.offset == 1


def test_user_function_cannot_use_variables() -> None:
    e = error_of("[contoso.leak('x')]", _udf_ctx(variables={"v": 1}))
    assert "variables() cannot be used" in e.message


def test_user_function_cannot_call_list_functions() -> None:
    assert "listKeys() cannot be used" in error_of("[contoso.secret('id')]", _udf_ctx()).message


def test_user_function_with_the_wrong_argument_count_is_an_error() -> None:
    assert "expects 1 argument" in error_of("[contoso.uniqueName()]", _udf_ctx()).message


def test_undefined_user_function_is_an_unknown_function() -> None:
    assert "unknown function 'other.fn'" in error_of("[other.fn()]", _udf_ctx()).message


def test_recursive_user_function_ends_in_a_limit_error() -> None:
    with pytest.raises(LimitError):
        run("contoso.loop(1)", _udf_ctx())


# --------------------------------------------------------------------------- lambdas


def test_map_passes_item_and_index_to_the_lambda() -> None:
    expr = (
        "map(createArray('a', 'b'), "
        "lambda('x', 'i', concat(lambdaVariables('x'), string(lambdaVariables('i')))))"
    )
    assert run(expr) == ["a0", "b1"]


def test_nested_lambda_sees_the_outer_lambda_variable() -> None:
    expr = (
        "map(range(1, 2), lambda('o', map(range(0, 2), "
        "lambda('i', add(lambdaVariables('o'), lambdaVariables('i'))))))"
    )
    assert run(expr) == [[1, 2], [2, 3]]


def test_lambda_outside_a_lambda_function_is_an_error() -> None:
    assert "lambda()" in error_of("[concat(lambda('x', 1))]").message


def test_undefined_lambda_variable_is_an_error() -> None:
    assert "lambda variable 'y'" in error_of("[map(range(0, 1), lambda('x', lambdaVariables('y')))]").message


def test_lambda_parameter_names_must_be_string_literals() -> None:
    assert "string literals" in error_of("[map(range(0, 1), lambda(1, 2))]").message


# --------------------------------------------------------------------------- unknowns


def test_listkeys_connection_string_keeps_known_text_and_names_the_secret() -> None:
    result = run(HUB_KEY)
    assert isinstance(result, Unknown)
    assert "HostName=hub1.azure-devices.net;SharedAccessKey=" in result.text
    hub_id = (
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/iotguard-rg"
        "/providers/Microsoft.Devices/IotHubs/hub1"
    )
    placeholder = result.text.split("SharedAccessKey=", 1)[1]
    assert "listKeys" in placeholder and hub_id in placeholder and "primaryKey" in placeholder
    (cause,) = [c for c in result.causes if c.kind == "list"]
    assert cause.function == "listKeys" and cause.target == hub_id
    assert result.carries_secret


def test_member_access_on_an_unknown_extends_its_path() -> None:
    result = run("reference('hub').identity.principalId")
    assert isinstance(result, Unknown) and result.path == ("identity", "principalId")


def test_indexing_with_an_unknown_index_is_unknown() -> None:
    ctx = SimpleContext(parameters={"i": Unknown.of("parameter", "i")})
    assert isinstance(run("createArray(1, 2)[parameters('i')]", ctx), Unknown)


def test_strict_function_given_an_unknown_returns_an_unknown_with_its_causes() -> None:
    result = run("length(reference('hub').ipRules)")
    assert isinstance(result, Unknown) and result.kinds == {"reference"}


def test_evaluation_does_not_count_as_consulting_unknowns() -> None:
    with tracking() as consulted:
        run(f"createArray({HUB_KEY}, equals(reference('x').a, 'b'), contains(reference('x').b, 'c'))")
    assert consulted == []


def test_unknown_text_keeps_known_parts_across_nested_concatenation() -> None:
    result = run("concat(concat('a', reference('x').id), concat('b', 'c'))")
    assert isinstance(result, Unknown) and result.text == "a{reference('x').id}bc"


def test_a_composite_unknown_survives_pickling() -> None:
    import pickle

    result = run(HUB_KEY)
    copy = pickle.loads(pickle.dumps(result))
    assert copy.text == result.text and copy.causes == result.causes


# --------------------------------------------------------------------------- limits


def test_source_longer_than_the_limit_is_a_limit_error() -> None:
    ctx = SimpleContext(limits=Limits(max_expression=20))
    with pytest.raises(LimitError):
        evaluate("[concat('0123456789', 'abc')]", ctx)


def test_parse_rejects_a_source_longer_than_arms_limit() -> None:
    with pytest.raises(LimitError):
        parse("[concat('" + "a" * 30_000 + "')]")


def test_nesting_deeper_than_the_limit_is_a_limit_error() -> None:
    ctx = SimpleContext(limits=Limits(max_depth=5))
    with pytest.raises(LimitError):
        run("not(not(not(not(not(not(true()))))))", ctx)


def test_absurd_parse_nesting_is_a_limit_error_not_a_recursion_error() -> None:
    with pytest.raises(LimitError):
        parse("[" + "not(" * 500 + "true()" + ")" * 500 + "]")


def test_produced_array_longer_than_the_limit_is_a_limit_error() -> None:
    ctx = SimpleContext(limits=Limits(max_array=10))
    with pytest.raises(LimitError):
        run("range(0, 11)", ctx)


def test_string_doubling_through_variables_ends_in_a_limit_error() -> None:
    variables = {"v0": "[padLeft('', 100, 'x')]"}
    for i in range(1, 20):
        variables[f"v{i}"] = f"[concat(variables('v{i - 1}'), variables('v{i - 1}'))]"
    ctx = SimpleContext(variables=variables, limits=Limits(max_string=10_000))
    with pytest.raises(LimitError):
        run("variables('v19')", ctx)


def test_exhausted_work_budget_is_a_limit_error() -> None:
    ctx = SimpleContext(budget=5_000)
    with pytest.raises(LimitError):
        run("map(range(0, 10000), lambda('i', map(range(0, 10000), lambda('j', 1))))", ctx)


def test_limit_error_is_an_expression_error() -> None:
    assert issubclass(LimitError, ExpressionError)


# --------------------------------------------------------------------------- robustness


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abc()[],.' 0123456789-_$\"\n", max_size=40))
def test_arbitrary_text_never_escapes_as_anything_but_an_expression_error(body: str) -> None:
    try:
        evaluate("[" + body + "]", SimpleContext(parameters={"a": 1}))
    except ExpressionError as e:
        assert 0 <= e.offset <= len(body) + 1


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(["concat", "createArray", "union", "string", "json", "length", "first"]), max_size=6
    ),
    st.sampled_from(["'a'", "1", "createArray(1)", "createObject('k', 'v')", "null()"]),
)
def test_nested_builtin_calls_fail_only_with_expression_errors(names: list[str], leaf: str) -> None:
    expr = leaf
    for name in names:
        expr = f"{name}({expr})"
    with contextlib.suppress(ExpressionError):
        run(expr)


# --------------------------------------------------------------------------- real-world corpus


def _corpus_templates() -> list[Path]:
    root = Path(
        os.environ.get("IOTGUARD_CORPUS", Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus")
    )
    arm = root / "arm"
    return sorted(arm.glob("*.json")) if arm.is_dir() else []


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _load(path: Path) -> Any:
    text = re.sub(r"^\s*//.*$", "", path.read_text(encoding="utf-8-sig"), flags=re.M)
    try:
        return json.loads(text, strict=False)
    except json.JSONDecodeError:
        return None


class _CorpusContext(SimpleContext):
    """Parameters from defaults (unknown without one), any copy index 0."""

    def __init__(self, doc: dict[str, Any]) -> None:
        super().__init__(variables=doc.get("variables") or {})
        params = doc.get("parameters") or {}
        self.defaults = {
            k.lower(): (p.get("defaultValue", Unknown.of("parameter", k)) if isinstance(p, dict) else None)
            for k, p in params.items()
        }

    def parameter(self, name: str) -> Any:
        if name.lower() not in self.defaults:
            raise ExpressionError(f"parameter '{name}' is not declared")
        return Evaluator(self).evaluate_json(self.defaults[name.lower()])

    def copy_index(self, loop: str | None) -> int:
        return 0


@pytest.mark.skipif(not _corpus_templates(), reason="corpus not available (set IOTGUARD_CORPUS)")
def test_corpus_expressions_parse_or_fail_with_a_positioned_expression_error() -> None:
    parsed = failed = 0
    for path in _corpus_templates():
        doc = _load(path)
        for s in _strings(doc):
            if not is_expression(s):
                continue
            try:
                parse(s)
                parsed += 1
            except ExpressionError as e:
                failed += 1
                assert 0 <= e.offset < len(s)
    assert parsed > 50 * max(failed, 1)


@pytest.mark.skipif(not _corpus_templates(), reason="corpus not available (set IOTGUARD_CORPUS)")
def test_corpus_expressions_evaluate_without_crashing() -> None:
    for path in _corpus_templates():
        doc = _load(path)
        if not isinstance(doc, dict) or "resources" not in doc:
            continue
        ctx = _CorpusContext(doc)
        for s in _strings(doc):
            if is_expression(s):
                with contextlib.suppress(ExpressionError):
                    evaluate(s, ctx)
