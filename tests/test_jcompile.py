"""Compiled JMESPath (``engine.jcompile``) gives what jmespath's interpreter gives."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest

from engine.jcompile import compiled
from engine.jfunctions import RuleFunctions
from engine.values import CIDict, Unknown, tracking

DATA: Any = CIDict({
    "name": "hub1",
    "zero": 0,
    "one": 1,
    "flag": True,
    "off": False,
    "empty": "",
    "none": None,
    "list": [1, 2, 3, 0, None, [4, 5]],
    "words": ["b", "a", "c"],
    "objs": [CIDict({"k": "x", "n": 2}), CIDict({"k": "y", "n": 0}), CIDict({"n": 5})],
    "map": CIDict({"a": CIDict({"v": 1}), "b": CIDict({"v": 2}), "c": "s"}),
    "Properties": CIDict({"DisableLocalAuth": False, "routing": CIDict({"endpoints": []})}),
    "unknown": Unknown("parameters('x')"),
})

EXPRESSIONS = [
    "name", "missing", "properties.disableLocalAuth", "Properties.routing.endpoints",
    "name.length", "list[0]", "list[-1]", "list[10]", "name[0]", "list[1:3]", "list[::-1]",
    "list[]", "list[*]", "objs[*].k", "objs[].n", "objs[?n > `1`].k", "objs[?k == 'x']",
    "objs[?!k]", "map.*.v", "map.*", "name.*", "list[?@]", "`0` == `false`", "`1` == `true`",
    "zero == `false`", "one != `true`", "flag == `true`", "zero < one", "name < 'z'",
    "none >= `1`", "!zero", "!one", "!empty", "!list", "!none", "!flag",
    "empty || 'fallback'", "zero || 'fallback'", "off && 'x'", "list && 'x'",
    "[name, zero, missing]", "{n: name, z: zero}", "none.[a, b]", "none.{a: a}",
    "length(words)", "sort(words)", "sort_by(objs[?k], &k)[].k", "max_by(objs, &n).n",
    "map(&n, objs)", "join(',', words)", "contains(words, 'a')", "words | [0]",
    "list[] | length(@)", "@", "unknown", "unknown.field", "unknown == 'x'", "!unknown",
    "not_null(missing, name)", "type(map)", "keys(map)", "values(map)[0]", "list[][]",
    "ieq(name, 'HUB1')", "iin('A', words)", "present(properties.disableLocalAuth)",
    "is_true(flag)", "`[1, 2]`", "'lit'",
]


def _interpreted(expression: str, functions: RuleFunctions) -> Any:
    return jmespath.search(expression, DATA, options=jmespath.Options(custom_functions=functions))


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_compiled_expression_gives_what_the_interpreter_gives(expression: str) -> None:
    functions = RuleFunctions()
    with tracking() as interpreted_consulted:
        expected = _interpreted(expression, functions)
    with tracking() as compiled_consulted:
        actual = compiled(jmespath.compile(expression))(DATA, functions)
    assert actual == expected
    assert type(actual) is type(expected)
    # Decisions that hinge on an unknown are recorded the same way.
    assert compiled_consulted == interpreted_consulted


@pytest.mark.parametrize("expression", ["length(`1`)", "nope(name)", "length(name, name)"])
def test_compiled_errors_are_the_interpreters(expression: str) -> None:
    functions = RuleFunctions()
    with pytest.raises(Exception) as interpreted:
        _interpreted(expression, functions)
    with pytest.raises(type(interpreted.value)):
        compiled(jmespath.compile(expression))(DATA, functions)


def test_one_compilation_serves_every_identical_expression() -> None:
    assert compiled(jmespath.compile("a.b")) is compiled(jmespath.compile("a.b"))


def test_ordering_a_string_against_a_number_is_null_not_a_crash() -> None:
    # jmespath's interpreter raises TypeError here; the specification says null.
    assert compiled(jmespath.compile("name < `1`"))(DATA, RuleFunctions()) is None


def test_a_node_type_it_does_not_know_is_left_to_the_interpreter() -> None:
    from engine.jcompile import _compile

    node = {"type": "field", "value": "name"}
    unknown_kind = {"type": "future_node", "children": [node]}
    fn = _compile(unknown_kind)
    with pytest.raises(NotImplementedError):  # jmespath's own default_visit
        fn(DATA, RuleFunctions())
    assert _compile({"type": "subexpression", "children": [node]})(DATA, RuleFunctions()) == "hub1"
