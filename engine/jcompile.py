"""JMESPath expressions compiled to Python closures.

A rule's condition runs once per (rule, subject, item): on a 1,000-template run that is
tens of thousands of searches, and jmespath's tree interpreter spends about as long
dispatching on node types (a dictionary look-up and two calls per node) as the rule
functions spend working.  Compiling each parsed tree once into nested closures removes
the dispatch; the semantics are the interpreter's, node type by node type
(``jmespath.visitor.TreeInterpreter``), and function calls still go through the
function table (``Functions.call_function``), which checks arity and argument types
as before.

A compiled expression takes the value and the function table of the evaluator that
runs it (``RuleFunctions`` carry per-run state), so one compilation serves every
evaluator and every process.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from numbers import Number
from typing import Any

import jmespath.visitor

Compiled = Callable[[Any, Any], Any]  # (value, function table) -> result

_cache: dict[str, Compiled] = {}


def compiled(parsed: Any) -> Compiled:
    """The closure for a ``jmespath.parser.ParsedResult`` (cached by expression text)."""
    fn = _cache.get(parsed.expression)
    if fn is None:
        fn = _cache[parsed.expression] = _compile(parsed.parsed)
    return fn


# The interpreter's helpers, restated: jmespath keeps them private.
def _is_actual_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, Number)


def _equals(x: Any, y: Any) -> Any:
    # 0 and 1 equal False and True in Python, not in JMESPath.
    if _is_actual_number(x) and x in (0, 1):
        if isinstance(y, bool):
            return False
    elif _is_actual_number(y) and y in (0, 1) and isinstance(x, bool):
        return False
    return x == y


def _is_comparable(x: Any) -> bool:
    return _is_actual_number(x) or isinstance(x, str)


def _is_false(value: Any) -> bool:
    # Equality on purpose, as the interpreter does: JMESPath's false values are not Python's.
    return value == "" or value == [] or value == {} or value is None or value is False


_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge,
}


def _projected(elements: Any, project: Compiled, fns: Any) -> list[Any]:
    """``project`` applied to each element; null results are left out."""
    collected = []
    for element in elements:
        current = project(element, fns)
        if current is not None:
            collected.append(current)
    return collected


def _compile(node: dict[str, Any]) -> Compiled:
    kind = node["type"]
    children = node.get("children", [])

    if kind in ("subexpression", "index_expression", "pipe"):
        steps = [_compile(c) for c in children]
        if len(steps) == 2:
            first, second = steps

            def chain2(value: Any, fns: Any) -> Any:
                return second(first(value, fns), fns)
            return chain2

        def chain(value: Any, fns: Any) -> Any:
            for step in steps:
                value = step(value, fns)
            return value
        return chain

    if kind == "field":
        key = node["value"]

        def field(value: Any, fns: Any) -> Any:
            try:
                return value.get(key)
            except AttributeError:
                return None
        return field

    if kind == "comparator":
        op = node["value"]
        left, right = _compile(children[0]), _compile(children[1])
        if op == "eq":
            return lambda value, fns: _equals(left(value, fns), right(value, fns))
        if op == "ne":
            return lambda value, fns: not _equals(left(value, fns), right(value, fns))
        compare = _ORDERING[op]

        def ordering(value: Any, fns: Any) -> Any:
            a, b = left(value, fns), right(value, fns)
            if not (_is_comparable(a) and _is_comparable(b)):
                return None
            if isinstance(a, str) != isinstance(b, str):
                # The interpreter raises TypeError here, which would take the whole run
                # down; the specification makes a comparison of other types null.
                return None
            return compare(a, b)
        return ordering

    if kind in ("current", "identity"):
        return lambda value, fns: value

    if kind == "expref":
        # Functions that take an expression (sort_by, map...) run it through the
        # interpreter, as they would without compilation.
        expr = children[0]

        def expref(value: Any, fns: Any) -> Any:
            interpreter = jmespath.visitor.TreeInterpreter(jmespath.Options(custom_functions=fns))
            return jmespath.visitor._Expression(expr, interpreter)
        return expref

    if kind == "function_expression":
        name = node["value"]
        args = [_compile(c) for c in children]

        def call(value: Any, fns: Any) -> Any:
            return fns.call_function(name, [a(value, fns) for a in args])
        return call

    if kind == "filter_projection":
        base_of, project, keep = (_compile(c) for c in children)

        def filter_projection(value: Any, fns: Any) -> Any:
            base = base_of(value, fns)
            if not isinstance(base, list):
                return None
            collected = []
            for element in base:
                if not _is_false(keep(element, fns)):
                    current = project(element, fns)
                    if current is not None:
                        collected.append(current)
            return collected
        return filter_projection

    if kind == "flatten":
        inner = _compile(children[0])

        def flatten(value: Any, fns: Any) -> Any:
            base = inner(value, fns)
            if not isinstance(base, list):
                return None
            merged: list[Any] = []
            for element in base:
                if isinstance(element, list):
                    merged.extend(element)
                else:
                    merged.append(element)
            return merged
        return flatten

    if kind == "index":
        at = node["value"]

        def index(value: Any, fns: Any) -> Any:
            if not isinstance(value, list):
                return None
            try:
                return value[at]
            except IndexError:
                return None
        return index

    if kind == "slice":
        cut = slice(*children)
        return lambda value, fns: value[cut] if isinstance(value, list) else None

    if kind == "key_val_pair":
        return _compile(children[0])

    if kind == "literal":
        constant = node["value"]
        return lambda value, fns: constant

    if kind == "multi_select_dict":
        pairs = [(c["value"], _compile(c)) for c in children]

        def multi_dict(value: Any, fns: Any) -> Any:
            if value is None:
                return None
            return {k: f(value, fns) for k, f in pairs}
        return multi_dict

    if kind == "multi_select_list":
        items = [_compile(c) for c in children]

        def multi_list(value: Any, fns: Any) -> Any:
            if value is None:
                return None
            return [f(value, fns) for f in items]
        return multi_list

    if kind == "or_expression":
        left, right = _compile(children[0]), _compile(children[1])

        def either(value: Any, fns: Any) -> Any:
            matched = left(value, fns)
            if _is_false(matched):
                matched = right(value, fns)
            return matched
        return either

    if kind == "and_expression":
        left, right = _compile(children[0]), _compile(children[1])

        def both(value: Any, fns: Any) -> Any:
            matched = left(value, fns)
            if _is_false(matched):
                return matched
            return right(value, fns)
        return both

    if kind == "not_expression":
        inner = _compile(children[0])

        def negate(value: Any, fns: Any) -> Any:
            result = inner(value, fns)
            if _is_actual_number(result) and result == 0:
                return False  # !0 is false: 0 is not a false value in JMESPath
            return not result
        return negate

    if kind == "projection":
        base_of, project = _compile(children[0]), _compile(children[1])

        def projection(value: Any, fns: Any) -> Any:
            base = base_of(value, fns)
            if not isinstance(base, list):
                return None
            return _projected(base, project, fns)
        return projection

    if kind == "value_projection":
        base_of, project = _compile(children[0]), _compile(children[1])

        def value_projection(value: Any, fns: Any) -> Any:
            base = base_of(value, fns)
            try:
                elements = base.values()
            except AttributeError:
                return None
            return _projected(elements, project, fns)
        return value_projection

    # A node type of a later jmespath release: its own interpreter knows it.
    def interpreted(value: Any, fns: Any) -> Any:
        interpreter = jmespath.visitor.TreeInterpreter(jmespath.Options(custom_functions=fns))
        return interpreter.visit(node, value)  # type: ignore[arg-type]  # the stub's TypedDict
    return interpreted
