"""The ARM template expression language: lexer, parser, AST and evaluator.

A JSON string value that starts with ``[`` and ends with ``]`` (and does not start with
``[[``) is an expression.  Inside it: single-quoted string literals (``''`` escapes a
quote), integer literals, calls ``name(arg, ...)`` with case-insensitive names
(``ns.name`` for namespaced ones), member access ``.prop`` and indexers ``[expr]``.

Offsets in errors are 0-based character offsets into the whole JSON string value, so the
leading ``[`` is offset 0 and the first character of the expression is offset 1.

The AST is a handful of slotted classes; ``parse`` is cached because the same expression
text recurs across copy loops and across the files of one run.  Evaluation is a plain
recursive walk (``Evaluator``) that delegates every function to ``engine.arm.functions``.
Statically unknown values are ``engine.values.Unknown`` instances; functions propagate
them (see ``engine.arm.functions``).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from engine.values import CIDict, Unknown, ci_get, merge_causes

if TYPE_CHECKING:
    from engine.arm.functions import Spec

__all__ = [
    "Call",
    "EvalContext",
    "Evaluator",
    "ExpressionError",
    "Index",
    "Lambda",
    "LimitError",
    "Limits",
    "Literal",
    "Member",
    "Node",
    "SimpleContext",
    "evaluate",
    "evaluate_node",
    "is_expression",
    "parse",
    "unescape",
]


# --------------------------------------------------------------------------- errors


class ExpressionError(Exception):
    """A malformed or failing expression.

    ``offset`` is the 0-based character offset inside the JSON string value (the leading
    ``[`` is offset 0).  Offset 0 therefore also means "no better position known"; the
    evaluator replaces it with the offset of the failing call.
    """

    message: str
    offset: int

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return self.message


class LimitError(ExpressionError):
    """An evaluation bound (depth, size, source length, total work) was exceeded."""


@dataclass(frozen=True)
class Limits:
    max_depth: int = 64  # expression nesting depth
    max_string: int = 1_048_576  # length of any produced string
    max_array: int = 100_000  # length of any produced array (range(), split(), ...)
    max_expression: int = 24_576  # source length of one expression (ARM's own limit)


_DEFAULT_LIMITS = Limits()

# The parser is recursive; this bound keeps it far below Python's recursion limit whatever
# ``Limits.max_depth`` a caller configures (the evaluator enforces the configured value).
_PARSE_MAX_DEPTH = 128


# --------------------------------------------------------------------------- AST


class Node:
    __slots__ = ("offset",)
    offset: int


class Literal(Node):
    __slots__ = ("value",)

    def __init__(self, value: Any, offset: int) -> None:
        self.value = value
        self.offset = offset

    def __repr__(self) -> str:
        return f"Literal({self.value!r})"


class Call(Node):
    """``name(args)``.  ``key`` is the lower-cased full name, ``namespace`` the lower-cased
    namespace (``None`` without one), ``spec`` the built-in function (``None`` for a
    user-defined function, resolved through the context at evaluation time)."""

    __slots__ = ("args", "end", "key", "name", "namespace", "short", "spec")

    def __init__(
        self,
        name: str,
        args: tuple[Node, ...],
        offset: int,
        end: int,
        spec: Spec | None,
    ) -> None:
        self.name = name
        self.key = name.lower()
        ns, dot, short = self.key.rpartition(".")
        self.namespace = ns if dot else None
        self.short = short
        self.args = args
        self.offset = offset
        self.end = end
        self.spec = spec

    def __repr__(self) -> str:
        return f"Call({self.name!r}, {list(self.args)!r})"


class Member(Node):
    __slots__ = ("name", "target")

    def __init__(self, target: Node, name: str, offset: int) -> None:
        self.target = target
        self.name = name
        self.offset = offset

    def __repr__(self) -> str:
        return f"Member({self.target!r}, {self.name!r})"


class Index(Node):
    __slots__ = ("index", "target")

    def __init__(self, target: Node, index: Node, offset: int) -> None:
        self.target = target
        self.index = index
        self.offset = offset

    def __repr__(self) -> str:
        return f"Index({self.target!r}, {self.index!r})"


class Lambda:
    """A ``lambda('x', body)`` argument of ``map``/``filter``/...: parameter names and the
    unevaluated body, invoked through ``Evaluator.invoke``."""

    __slots__ = ("body", "offset", "params")

    def __init__(self, params: tuple[str, ...], body: Node, offset: int) -> None:
        self.params = params
        self.body = body
        self.offset = offset


# --------------------------------------------------------------------------- strings


def is_expression(s: str) -> bool:
    """True for a JSON string value that ARM evaluates.

    ``"[]"`` counts as an (empty, hence invalid) expression, following the schema regex
    ``^\\[([^\\[].*)?\\]$``; how ARM itself treats ``"[]"`` is unverified [U].
    """
    return len(s) >= 2 and s[0] == "[" and s[-1] == "]" and not s.startswith("[[")


def unescape(s: str) -> str:
    """``'[[x]'`` -> ``'[x]'``; any other string unchanged."""
    if len(s) >= 3 and s.startswith("[[") and s[-1] == "]":
        return s[1:]
    return s


# --------------------------------------------------------------------------- lexer

# Token kinds.
_EOF = "end of expression"
_STR = "string"
_INT = "integer"
_IDENT = "name"
_PUNCT = frozenset("(),.[]")


def _ident_start(c: str) -> bool:
    return c.isalpha() or c == "_" or c == "$"


def _ident_char(c: str) -> bool:
    return c.isalnum() or c == "_" or c == "$"


def _tokenize(source: str, start: int, stop: int) -> list[tuple[str, Any, int]]:
    """Tokens of ``source[start:stop]`` as ``(kind, value, offset)``; punctuation tokens use
    the character itself as kind."""
    tokens: list[tuple[str, Any, int]] = []
    append = tokens.append
    i = start
    while i < stop:
        c = source[i]
        if c.isspace():
            i += 1
        elif c in _PUNCT:
            append((c, c, i))
            i += 1
        elif c == "'":
            begin = i
            i += 1
            chunks: list[str] = []
            while True:
                j = source.find("'", i, stop)
                if j < 0:
                    raise ExpressionError("unterminated string literal", begin)
                chunks.append(source[i:j])
                if j + 1 < stop and source[j + 1] == "'":
                    chunks.append("'")
                    i = j + 2
                    continue
                i = j + 1
                break
            append((_STR, "".join(chunks), begin))
        elif c.isdigit() or (c == "-" and i + 1 < stop and source[i + 1].isdigit()):
            begin = i
            i += 1
            while i < stop and source[i].isdigit():
                i += 1
            if i + 1 < stop and source[i] == "." and source[i + 1].isdigit():
                raise ExpressionError(
                    "floating-point literals are not supported; use float('...') or json('...')",
                    begin,
                )
            append((_INT, int(source[begin:i]), begin))
        elif _ident_start(c):
            begin = i
            i += 1
            while i < stop and _ident_char(source[i]):
                i += 1
            append((_IDENT, source[begin:i], begin))
        elif c == '"':
            raise ExpressionError("string literals use single quotes, not double quotes", i)
        else:
            raise ExpressionError(f"unexpected character {c!r}", i)
    append((_EOF, None, stop))
    return tokens


# --------------------------------------------------------------------------- parser


def _describe(tok: tuple[str, Any, int]) -> str:
    kind, value, _ = tok
    if kind == _EOF:
        return "the end of the expression"
    if kind == _STR:
        return "a string literal"
    if kind == _INT:
        return f"the number {value}"
    if kind == _IDENT:
        return f"'{value}'"
    return f"'{kind}'"


# Bare ``true``/``false``/``null`` are accepted as literals; whether ARM accepts them
# without parentheses is unverified [U], and accepting them avoids false errors.
_BARE_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}


class _Parser:
    __slots__ = ("pos", "source", "tokens")

    def __init__(self, source: str, tokens: list[tuple[str, Any, int]]) -> None:
        self.source = source
        self.tokens = tokens
        self.pos = 0

    def peek(self, ahead: int = 0) -> tuple[str, Any, int]:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else self.tokens[-1]

    def take(self) -> tuple[str, Any, int]:
        tok = self.tokens[self.pos]
        if tok[0] != _EOF:
            self.pos += 1
        return tok

    def expression(self, depth: int) -> Node:
        if depth > _PARSE_MAX_DEPTH:
            raise LimitError(f"expression nested more than {_PARSE_MAX_DEPTH} levels deep", self.peek()[2])
        node = self.primary(depth)
        while True:
            kind, _, offset = self.peek()
            if kind == ".":
                self.take()
                name_tok = self.take()
                if name_tok[0] == _IDENT:
                    node = Member(node, name_tok[1], offset)
                elif name_tok[0] == _INT and name_tok[1] >= 0:
                    # ``.0`` is not ARM syntax, but saying so beats "unexpected number".
                    raise ExpressionError("use [n] to index an array, not .n", offset)
                else:
                    raise ExpressionError(
                        f"expected a property name after '.', found {_describe(name_tok)}",
                        name_tok[2],
                    )
            elif kind == "[":
                self.take()
                index = self.expression(depth + 1)
                close = self.take()
                if close[0] != "]":
                    if close[0] == _EOF:
                        raise ExpressionError(
                            f"unbalanced bracket: '[' at offset {offset} is not closed", offset
                        )
                    raise ExpressionError(f"expected ']', found {_describe(close)}", close[2])
                node = Index(node, index, offset)
            else:
                return node

    def primary(self, depth: int) -> Node:
        tok = self.take()
        kind, value, offset = tok
        if kind in (_STR, _INT):
            return Literal(value, offset)
        if kind == _IDENT:
            name = value
            # ``ns.fn(`` is a namespaced call; a member access can only follow a complete
            # primary, so there is no ambiguity here.
            if self.peek()[0] == "." and self.peek(1)[0] == _IDENT and self.peek(2)[0] == "(":
                self.take()
                name = f"{name}.{self.take()[1]}"
            if self.peek()[0] != "(":
                if "." not in name and name.lower() in _BARE_LITERALS:
                    return Literal(_BARE_LITERALS[name.lower()], offset)
                raise ExpressionError(f"expected '(' after function name '{name}'", self.peek()[2])
            open_offset = self.take()[2]
            args: list[Node] = []
            if self.peek()[0] == ")":
                end = self.take()[2]
            else:
                while True:
                    if self.peek()[0] in (",", ")"):
                        raise ExpressionError(
                            f"expected an argument, found {_describe(self.peek())}", self.peek()[2]
                        )
                    args.append(self.expression(depth + 1))
                    sep = self.take()
                    if sep[0] == ",":
                        continue
                    if sep[0] == ")":
                        end = sep[2]
                        break
                    if sep[0] == _EOF:
                        raise ExpressionError(
                            f"unbalanced parenthesis: '(' at offset {open_offset} is not closed",
                            open_offset,
                        )
                    raise ExpressionError(f"expected ',' or ')', found {_describe(sep)}", sep[2])
            return Call(name, tuple(args), offset, end, _resolve(name, len(args), offset))
        if kind == _EOF:
            raise ExpressionError("expected an expression", offset)
        if kind == ")":
            raise ExpressionError("unbalanced parenthesis: unexpected ')'", offset)
        raise ExpressionError(f"unexpected {_describe(tok)}", offset)


def _resolve(name: str, argc: int, offset: int) -> Spec | None:
    """The built-in function for ``name`` (arity checked), or ``None`` for a namespaced
    user-defined function."""
    from engine.arm import functions

    key = name.lower()
    ns, dot, _ = key.rpartition(".")
    spec = functions.lookup(key)
    if spec is None:
        if dot and ns != "sys":
            return None
        hint = difflib.get_close_matches(key, functions.NAMES, n=1)
        suffix = f"; did you mean '{functions.canonical_name(hint[0])}'?" if hint else ""
        raise ExpressionError(f"unknown function '{name}'{suffix}", offset)
    spec.check_arity(name, argc, offset)
    return spec


@functools.lru_cache(maxsize=32_768)
def _parse_cached(source: str) -> Node:
    if not is_expression(source):
        raise ExpressionError("not an expression: it must start with '[' and end with ']'", 0)
    tokens = _tokenize(source, 1, len(source) - 1)
    if tokens[0][0] == _EOF:
        raise ExpressionError("empty expression", 0)
    parser = _Parser(source, tokens)
    try:
        node = parser.expression(0)
    except RecursionError:
        raise LimitError("expression nested too deeply", 0) from None
    tail = parser.peek()
    if tail[0] != _EOF:
        if tail[0] == ")":
            raise ExpressionError("unbalanced parenthesis: unexpected ')'", tail[2])
        raise ExpressionError(f"unexpected {_describe(tail)} after the end of the expression", tail[2])
    return node


def parse(source: str) -> Node:
    """Parse one JSON string value (including its brackets) into an AST.  Cached.

    Raises ``ExpressionError`` (with an offset) for malformed input and ``LimitError`` for
    a source longer than ARM's limit of ``Limits.max_expression`` characters."""
    if len(source) > _DEFAULT_LIMITS.max_expression:
        raise LimitError(
            f"expression is {len(source)} characters long; ARM allows at most "
            f"{_DEFAULT_LIMITS.max_expression}",
            0,
        )
    return _parse_cached(source)


# --------------------------------------------------------------------------- context


class EvalContext(Protocol):
    limits: Limits

    def parameter(self, name: str) -> Any: ...

    def variable(self, name: str) -> Any: ...

    def copy_index(self, loop: str | None) -> int: ...

    def scope_value(self, name: str) -> Any: ...

    def reference(self, target: Any, api_version: Any, full: bool, function: str) -> Any: ...

    def list_target(self, target: Any) -> Any: ...

    def user_function(self, namespace: str, name: str) -> tuple[list[str], Any] | None: ...

    def charge(self, units: int) -> None: ...


# --------------------------------------------------------------------------- evaluator


def kind_of(value: Any) -> str:
    """The ARM type name of a value, for messages."""
    if isinstance(value, Unknown):
        return "unknown"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


class Evaluator:
    """One evaluation: the context, the current nesting depth, lambda variable scopes and,
    inside a user-defined function, that function's parameters.

    Function implementations in ``engine.arm.functions`` receive the evaluator to evaluate
    lazy arguments, invoke lambdas and reach the context."""

    __slots__ = ("ctx", "depth", "limits", "scopes", "udf", "udf_params")

    def __init__(
        self,
        ctx: EvalContext,
        depth: int = 0,
        udf: str | None = None,
        udf_params: CIDict | None = None,
    ) -> None:
        self.ctx = ctx
        self.limits = ctx.limits
        self.depth = depth
        self.scopes: list[dict[str, Any]] = []
        self.udf = udf
        self.udf_params = udf_params

    # ---------------------------------------------------------------- walking

    def eval(self, node: Node) -> Any:
        t = type(node)
        if t is Literal:
            return node.value  # type: ignore[attr-defined]
        self.depth += 1
        try:
            if self.depth > self.limits.max_depth:
                raise LimitError(
                    f"expression nesting exceeds the limit of {self.limits.max_depth}", node.offset
                )
            if t is Call:
                return self.call(node)  # type: ignore[arg-type]
            if t is Member:
                return self.member(node)  # type: ignore[arg-type]
            if t is Index:
                return self.index(node)  # type: ignore[arg-type]
            raise ExpressionError(f"cannot evaluate {t.__name__}", node.offset)
        finally:
            self.depth -= 1

    def call(self, node: Call) -> Any:
        self.ctx.charge(1)
        spec = node.spec
        try:
            if spec is None:
                return self.call_user_function(node)
            if spec.lazy:
                result = spec.impl(self, list(node.args), node)
            else:
                if spec.takes_lambda:
                    args = [self.argument(a) for a in node.args]
                else:
                    args = [self.eval(a) for a in node.args]
                if spec.strict:
                    for a in args:
                        if isinstance(a, Unknown):
                            from engine.arm.functions import unknown_call

                            return unknown_call(spec.name, args)
                result = spec.impl(self, args, node)
        except ExpressionError as e:
            if e.offset <= 0:
                e.offset = node.offset
            raise
        except RecursionError:
            raise LimitError("evaluation nested too deeply", node.offset) from None
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as e:
            # A function met a value shape it does not handle; report it as a bad argument
            # rather than crash the run.
            name = spec.name if spec is not None else node.name
            raise ExpressionError(f"{name}: invalid argument ({e})", node.offset) from None
        if not spec.passthrough:
            self.check_size(result, node.offset)
        return result

    def argument(self, node: Node) -> Any:
        """Evaluate an argument of a lambda-taking function: ``lambda(...)`` becomes a
        ``Lambda``; anything else is evaluated normally."""
        if type(node) is Call and node.key == "lambda":
            call: Call = node
            if not call.args:
                raise ExpressionError("lambda expects parameter names and a body", call.offset)
            names: list[str] = []
            for a in call.args[:-1]:
                if type(a) is not Literal or not isinstance(a.value, str):
                    raise ExpressionError("lambda parameter names must be string literals", a.offset)
                names.append(a.value)
            return Lambda(tuple(names), call.args[-1], call.offset)
        return self.eval(node)

    def invoke(self, fn: Lambda, values: list[Any]) -> Any:
        """Call a lambda with positional values (extra values are dropped, so a lambda may
        declare fewer parameters than the function offers, e.g. ``map`` item without index)."""
        if len(fn.params) > len(values):
            raise ExpressionError(
                f"lambda declares {len(fn.params)} parameters but is called with {len(values)}",
                fn.offset,
            )
        self.ctx.charge(1)
        self.scopes.append({p.lower(): v for p, v in zip(fn.params, values, strict=False)})
        try:
            return self.eval(fn.body)
        finally:
            self.scopes.pop()

    def lambda_variable(self, name: str) -> Any:
        key = name.lower()
        for scope in reversed(self.scopes):
            if key in scope:
                return scope[key]
        raise ExpressionError(f"lambda variable '{name}' is not defined here")

    def member(self, node: Member) -> Any:
        target = self.eval(node.target)
        return self.access(target, node.name, node.offset)

    def index(self, node: Index) -> Any:
        target = self.eval(node.target)
        key = self.eval(node.index)
        return self.access(target, key, node.offset)

    def access(self, target: Any, key: Any, offset: int) -> Any:
        """``target.key`` / ``target[key]`` with ARM's rules: object members are
        case-insensitive, arrays take non-negative integers, unknowns stay unknown."""
        if isinstance(target, Unknown):
            if isinstance(key, Unknown):
                return Unknown(f"{target.text}[{key.text}]", merge_causes((target, key)))
            return target.get(key)
        if isinstance(key, Unknown):
            return Unknown(f"{kind_of(target)}[{key.text}]", merge_causes((key,)))
        if isinstance(target, Mapping):
            if not isinstance(key, str):
                raise ExpressionError(f"an object member name must be a string, got {kind_of(key)}", offset)
            missing = _MISSING
            value = ci_get(target, key, missing)
            if value is missing:
                names = ", ".join(str(k) for k in list(target)[:20])
                raise ExpressionError(
                    f"the object has no property '{key}' (available: {names or 'none'})", offset
                )
            return value
        if isinstance(target, list):
            if isinstance(key, bool) or not isinstance(key, int):
                raise ExpressionError(f"an array index must be an integer, got {kind_of(key)}", offset)
            if key < 0 or key >= len(target):
                raise ExpressionError(f"array index {key} is out of range (length {len(target)})", offset)
            return target[key]
        what = f"property '{key}'" if isinstance(key, str) else f"index {key}"
        raise ExpressionError(f"cannot read {what} of a {kind_of(target)} value", offset)

    def check_size(self, value: Any, offset: int) -> None:
        if isinstance(value, str):
            n = len(value.text) if isinstance(value, Unknown) else len(value)
            if n > self.limits.max_string:
                raise LimitError(
                    f"produced a string of {n} characters (limit {self.limits.max_string})", offset
                )
            if n > 4096:
                self.ctx.charge(n >> 12)
        elif isinstance(value, list):
            if len(value) > self.limits.max_array:
                raise LimitError(
                    f"produced an array of {len(value)} elements (limit {self.limits.max_array})",
                    offset,
                )
            if len(value) >= 8:
                self.ctx.charge(len(value) >> 3)

    # ---------------------------------------------------------------- user functions

    def call_user_function(self, node: Call) -> Any:
        namespace = node.namespace or ""
        found = self.ctx.user_function(namespace, node.short)
        if found is None:
            raise ExpressionError(f"unknown function '{node.name}'", node.offset)
        params, output = found
        if len(node.args) != len(params):
            raise ExpressionError(
                f"function '{node.name}' expects {len(params)} argument"
                f"{'' if len(params) == 1 else 's'}, got {len(node.args)}",
                node.offset,
            )
        values = [self.eval(a) for a in node.args]
        inner = Evaluator(
            self.ctx,
            depth=self.depth,
            udf=node.name,
            udf_params=CIDict(zip(params, values, strict=True)),
        )
        try:
            return inner.evaluate_json(output)
        except LimitError:
            raise
        except ExpressionError as e:
            raise ExpressionError(
                f"in user-defined function '{node.name}': {e.message}", node.offset
            ) from None

    def evaluate_json(self, value: Any) -> Any:
        """Evaluate every expression string inside a JSON value (a user-defined function's
        output may be an object or array holding expressions)."""
        if isinstance(value, str) and not isinstance(value, Unknown):
            if not is_expression(value):
                return unescape(value)
            if len(value) > self.limits.max_expression:
                raise LimitError(
                    f"expression is {len(value)} characters long (limit {self.limits.max_expression})",
                    0,
                )
            return self.eval(_parse_cached(value))
        if isinstance(value, Mapping):
            return CIDict((k, self.evaluate_json(v)) for k, v in value.items())
        if isinstance(value, list):
            return [self.evaluate_json(v) for v in value]
        return value


_MISSING: Any = object()


def evaluate_node(node: Node, ctx: EvalContext) -> Any:
    """Evaluate a parsed expression."""
    try:
        result = Evaluator(ctx).eval(node)
    except RecursionError:
        raise LimitError("evaluation nested too deeply", node.offset) from None
    if isinstance(result, Lambda):
        raise ExpressionError(
            "a lambda can only be used as an argument of a function that takes one", result.offset
        )
    return result


def evaluate(source: str, ctx: EvalContext) -> Any:
    """Evaluate one JSON string value: an expression gives its value, ``[[...`` gives the
    unescaped literal, any other string is returned unchanged."""
    if not is_expression(source):
        return unescape(source)
    if len(source) > ctx.limits.max_expression:
        raise LimitError(
            f"expression is {len(source)} characters long (limit {ctx.limits.max_expression})", 0
        )
    return evaluate_node(_parse_cached(source), ctx)


# --------------------------------------------------------------------------- SimpleContext


class SimpleContext:
    """A small concrete ``EvalContext`` for tests and tools.

    Parameters are returned as given; variables that are expression strings are evaluated
    on first use (cycles are reported).  Scope functions return the fixed placeholders of
    ``engine.arm.scope``; ``invalid_scopes`` names scope functions that should fail, as at
    a subscription-level deployment (``{"resourceGroup"}``).  ``copy_indexes`` maps loop
    names (``None`` for the innermost loop) to the current index.  ``functions`` maps
    ``"namespace.name"`` to ``(parameter names, output value)``.  ``reference()`` and
    ``references()`` give unknowns of kind ``reference``.
    """

    def __init__(
        self,
        parameters: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        copy_indexes: Mapping[str | None, int] | None = None,
        functions: Mapping[str, tuple[list[str], Any]] | None = None,
        limits: Limits | None = None,
        budget: int = 10_000_000,
        invalid_scopes: Iterable[str] = (),
    ) -> None:
        self.limits = limits or Limits()
        self.parameters = CIDict(parameters or {})
        self.variables = CIDict(variables or {})
        self.copy_indexes = {
            (k.lower() if isinstance(k, str) else None): v for k, v in (copy_indexes or {}).items()
        }
        self.functions = {k.lower(): v for k, v in (functions or {}).items()}
        self.budget = budget
        self.invalid_scopes = frozenset(s.lower() for s in invalid_scopes)
        self._resolved: dict[str, Any] = {}
        self._resolving: set[str] = set()

    def parameter(self, name: str) -> Any:
        key = self.parameters.ci_key(name)
        if key is None:
            raise ExpressionError(f"parameter '{name}' is not declared")
        return self.parameters[key]

    def variable(self, name: str) -> Any:
        key = self.variables.ci_key(name)
        if key is None:
            raise ExpressionError(f"variable '{name}' is not declared")
        low = key.lower()
        if low in self._resolved:
            return self._resolved[low]
        if low in self._resolving:
            raise ExpressionError(f"variable '{name}' refers to itself")
        self._resolving.add(low)
        try:
            value = Evaluator(self).evaluate_json(self.variables[key])
        finally:
            self._resolving.discard(low)
        self._resolved[low] = value
        return value

    def copy_index(self, loop: str | None) -> int:
        key = loop.lower() if loop is not None else None
        if key not in self.copy_indexes:
            where = f"copy loop '{loop}'" if loop is not None else "a copy loop"
            raise ExpressionError(f"copyIndex() used outside {where}")
        return self.copy_indexes[key]

    def scope_value(self, name: str) -> Any:
        from engine.arm import scope

        if name.lower() in self.invalid_scopes:
            raise ExpressionError(f"{name}() is not available at this deployment scope")
        return CIDict(scope.scope_value(name))

    def list_target(self, target: Any) -> Any:
        return target

    def reference(self, target: Any, api_version: Any, full: bool, function: str) -> Any:
        shown = target.text if isinstance(target, Unknown) else str(target)
        args = [f"'{shown}'"]
        if api_version is not None:
            args.append(f"'{api_version}'")
        if full:
            args.append("'Full'")
        return Unknown.of(
            "reference",
            f"{function}() of {shown} is only known at deployment time",
            function=function,
            target=shown,
            text=f"{function}({', '.join(args)})",
        )

    def user_function(self, namespace: str, name: str) -> tuple[list[str], Any] | None:
        return self.functions.get(f"{namespace}.{name}".lower())

    def charge(self, units: int) -> None:
        self.budget -= units
        if self.budget < 0:
            raise LimitError("the evaluation work budget is exhausted")
