"""The ARM template function library.

Every function of template-functions.md (2023) is here, plus the lambda functions and
the newer helpers Bicep emits (``tryGet``, ``objectKeys``, ``shallowMerge``, ``flatten``,
``indexFromEnd``, ``managementGroupResourceId``, ...).  Names are case-insensitive;
``sys.``-prefixed names reach the same built-ins; any name starting with ``list`` is a
``list*()`` call.

Unknown values (``engine.values.Unknown``).  A function marked *strict* returns an unknown
as soon as any argument is unknown (the evaluator does this before calling it); the
others decide themselves, keeping whatever is known:

* string builders (``concat``, ``format``, ``join``, ``string``, ``replace``, ``toLower``,
  ``toUpper``, ``trim``, the resource-ID functions) return a ``Composite`` unknown whose
  ``text`` keeps the known text with ``{...}`` placeholders for the unknown parts;
* ``equals``/``contains``/``indexOf`` answer when the known parts already decide;
* ``if``/``and``/``or`` are lazy: only the chosen branch of ``if`` is evaluated, and
  ``false && unknown`` is false, ``true || unknown`` is true;
* ``coalesce`` skips nulls and is unknown only when an unknown precedes every known
  non-null argument;
* ``reference``/``references`` go through the context; ``list*()`` give unknowns of kind
  ``list`` (function, target resource ID and API version recorded); ``utcNow``,
  ``newGuid`` and ``providers`` give unknowns of kind ``runtime``.

Deterministic placeholders: ``uniqueString`` is NOT Azure's algorithm (which is not
published) but a stable 13-character lowercase base32 digest of the arguments;
``pickZones`` returns zone names ``'1'``..``'3'`` as if the region had three zones.
"""

from __future__ import annotations

import functools
import json as _json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from engine.arm.expressions import (
    Call,
    Evaluator,
    ExpressionError,
    Lambda,
    LimitError,
    Node,
    kind_of,
)
from engine.values import CIDict, Unknown, UnknownCause, ci_get, merge_causes, render, to_cidicts

FunctionImpl = Callable[[Evaluator, list[Any], Call], Any]

# --------------------------------------------------------------------------- registry


@dataclass(frozen=True, slots=True)
class Spec:
    """A built-in function.

    ``lazy``: the implementation receives the argument *nodes* and evaluates them itself.
    ``strict``: any unknown argument makes the result unknown without calling ``impl``.
    ``takes_lambda``: ``lambda(...)`` arguments are passed as ``Lambda`` objects.
    ``passthrough``: the result is an existing value (a parameter, a branch, an element),
    so its size is neither checked nor charged again.
    """

    name: str
    impl: FunctionImpl
    min_args: int
    max_args: int | None
    lazy: bool = False
    strict: bool = True
    takes_lambda: bool = False
    passthrough: bool = False

    def check_arity(self, written: str, argc: int, offset: int) -> None:
        lo, hi = self.min_args, self.max_args
        if lo <= argc and (hi is None or argc <= hi):
            return
        if hi is None:
            want = f"at least {lo} argument{'' if lo == 1 else 's'}"
        elif lo == hi:
            want = f"{lo} argument{'' if lo == 1 else 's'}"
        else:
            want = f"{lo} to {hi} arguments"
        raise ExpressionError(f"function '{written}' expects {want}, got {argc}", offset)


_REGISTRY: dict[str, Spec] = {}


def _fn(
    name: str,
    min_args: int = 0,
    max_args: int | None = -1,
    *,
    lazy: bool = False,
    strict: bool = True,
    takes_lambda: bool = False,
    passthrough: bool = False,
) -> Callable[[FunctionImpl], FunctionImpl]:
    """Register a function; ``max_args`` defaults to ``min_args`` (``None``: unbounded)."""

    def register(impl: FunctionImpl) -> FunctionImpl:
        hi = min_args if max_args == -1 else max_args
        _REGISTRY[name.lower()] = Spec(name, impl, min_args, hi, lazy, strict, takes_lambda, passthrough)
        return impl

    return register


def lookup(key: str) -> Spec | None:
    """The built-in for a lower-cased (possibly ``sys.``-prefixed) function name."""
    spec = _REGISTRY.get(key)
    if spec is not None:
        return spec
    if key.startswith("sys."):
        key = key[4:]
        spec = _REGISTRY.get(key)
        if spec is not None:
            return spec
    if key.startswith("list") and "." not in key:
        return _LIST_SPEC
    return None


def canonical_name(key: str) -> str:
    spec = _REGISTRY.get(key)
    return spec.name if spec is not None else key


# --------------------------------------------------------------------------- value helpers


def _kind(value: Any) -> str:
    return "lambda" if isinstance(value, Lambda) else kind_of(value)


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and not isinstance(v, Unknown)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_ORDINALS = ("first", "second", "third", "fourth", "fifth")


def _bad(fname: str, i: int, want: str, got: Any) -> ExpressionError:
    nth = _ORDINALS[i] if i < len(_ORDINALS) else f"#{i + 1}"
    return ExpressionError(f"{fname}() expects its {nth} argument to be {want}, got {_kind(got)}")


def _str(fname: str, args: list[Any], i: int) -> str:
    v = args[i]
    if not _is_str(v):
        raise _bad(fname, i, "a string", v)
    return cast(str, v)


def _int(fname: str, args: list[Any], i: int) -> int:
    v = args[i]
    if not _is_int(v):
        raise _bad(fname, i, "an integer", v)
    return cast(int, v)


def _array(fname: str, args: list[Any], i: int) -> list[Any]:
    v = args[i]
    if not isinstance(v, list):
        raise _bad(fname, i, "an array", v)
    return v


def _object(fname: str, args: list[Any], i: int) -> Mapping[str, Any]:
    v = args[i]
    if not isinstance(v, Mapping):
        raise _bad(fname, i, "an object", v)
    return v


def _lambda(fname: str, args: list[Any], i: int) -> Lambda:
    v = args[i]
    if not isinstance(v, Lambda):
        raise _bad(fname, i, "a lambda(...)", v)
    return v


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


def _i64(fname: str, v: int) -> int:
    if not _I64_MIN <= v <= _I64_MAX:
        raise ExpressionError(f"{fname}(): integer overflow")
    return v


class _Meter:
    """Counts nodes visited by the deep walkers so callers can charge the work."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def bill(self, ev: Evaluator) -> None:
        # One unit is roughly one function call; a call costs about as much as visiting
        # eight nodes.
        if self.n >= 8:
            ev.ctx.charge(self.n >> 3)


def _unknowns(value: Any, out: list[Unknown], meter: _Meter) -> None:
    meter.n += 1
    if isinstance(value, Unknown):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            _unknowns(v, out, meter)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, Unknown):
                out.append(k)
            _unknowns(v, out, meter)


def _deep_unknowns(values: Any) -> list[Unknown]:
    out: list[Unknown] = []
    _unknowns(values, out, _Meter())
    return out


def _has_unknown(value: Any) -> bool:
    return bool(_deep_unknowns(value))


# ---------------------------------------------------------------- unknown text


_SHOW_LIMIT = 300


def _show(value: Any) -> str:
    """A compact rendering of an argument inside a placeholder text."""
    if isinstance(value, Unknown):
        s = value.text
    elif isinstance(value, str):
        s = "'" + value.replace("'", "''") + "'"
    elif value is None or isinstance(value, bool | list | Mapping):
        parts: list[str | Unknown] = []
        _json_pieces(value, parts, _Meter())
        s = "".join(p.text if isinstance(p, Unknown) else p for p in parts)
    else:
        s = str(value)
    return s if len(s) <= _SHOW_LIMIT else s[: _SHOW_LIMIT - 1] + "…"


def unknown_call(name: str, args: list[Any], text: str | None = None) -> Unknown:
    """The unknown result of ``name(args)``: causes of every unknown among the arguments,
    text showing the call."""
    causes = merge_causes(_deep_unknowns(args))
    if text is None:
        text = f"{name}({', '.join(_show(a) for a in args)})"
    return Unknown(text, causes)


class Composite(Unknown):
    """An unknown string built from known text and unknown parts.

    ``parts`` alternates known text and atomic unknowns; ``text`` renders them with the
    unknown parts as ``{...}`` placeholders, so building on a composite keeps the known
    text (``HostName=hub1.azure-devices.net;SharedAccessKey={listKeys(...).primaryKey}``).
    """

    parts: tuple[str | Unknown, ...]

    def __new__(cls, parts: tuple[str | Unknown, ...], causes: tuple[UnknownCause, ...]) -> Composite:
        text = "".join(render(p) if isinstance(p, Unknown) else p for p in parts)
        self = cast(Composite, Unknown.__new__(cls, text, causes))
        self.parts = parts
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Composite, (self.parts, self.causes))


def _float_text(f: float) -> str:
    """Roughly .NET's ``Double.ToString()``: integral values without ``.0``."""
    if math.isfinite(f) and f.is_integer() and abs(f) < 1e15:
        return str(int(f))
    return repr(f).replace("e+", "E+").replace("e-", "E-")


def _scalar_text(fname: str, v: Any) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _float_text(v)
    raise ExpressionError(f"{fname}() cannot use a value of type {_kind(v)} as text")


def _build(ev: Evaluator, fname: str, pieces: list[Any]) -> str:
    """Concatenate scalar pieces; unknown pieces make a ``Composite``."""
    limit = ev.limits.max_string
    parts: list[str | Unknown] = []
    total = 0
    unknown = False
    for p in pieces:
        if isinstance(p, Composite):
            parts.extend(p.parts)
            total += len(p.text)
            unknown = True
        elif isinstance(p, Unknown):
            parts.append(p)
            total += len(p.text) + 2
            unknown = True
        else:
            s = _scalar_text(fname, p)
            parts.append(s)
            total += len(s)
        if total > limit:
            raise LimitError(f"{fname}() would produce more than {limit} characters")
    if not unknown:
        return "".join(parts)
    merged: list[str | Unknown] = []
    for p in parts:
        if isinstance(p, Unknown) or not merged or isinstance(merged[-1], Unknown):
            # isinstance first: comparing an unknown would count as consulting it.
            if isinstance(p, Unknown) or p:
                merged.append(p)
        else:
            merged[-1] = merged[-1] + p
    return Composite(tuple(merged), merge_causes(p for p in merged if isinstance(p, Unknown)))


def _map_text(fname: str, value: Any, f: Callable[[str], str]) -> Any:
    """Apply a text transform to a string, or to the known parts of a composite."""
    if isinstance(value, Composite):
        parts = tuple(p if isinstance(p, Unknown) else f(p) for p in value.parts)
        return Composite(parts, value.causes)
    if isinstance(value, Unknown):
        return unknown_call(fname, [value])
    if not isinstance(value, str):
        raise _bad(fname, 0, "a string", value)
    return f(value)


def _json_pieces(value: Any, out: list[str | Unknown], meter: _Meter) -> None:
    """ARM's compact JSON rendering (``string()`` of objects/arrays) as text pieces, with
    unknown values kept as pieces."""
    meter.n += 1
    if isinstance(value, Unknown):
        out.append(value)
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(",")
            if isinstance(k, Unknown):
                out.extend(('"', k, '":'))
            else:
                out.append(_json.dumps(str(k), ensure_ascii=False) + ":")
            _json_pieces(v, out, meter)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for i, v in enumerate(value):
            if i:
                out.append(",")
            _json_pieces(v, out, meter)
        out.append("]")
    elif value is None or isinstance(value, bool | int | float | str):
        out.append(_json.dumps(value, ensure_ascii=False))
    else:
        raise ExpressionError(f"cannot render a {_kind(value)} value as JSON")


def _to_json_text(ev: Evaluator, fname: str, value: Any) -> str:
    pieces: list[str | Unknown] = []
    meter = _Meter()
    _json_pieces(value, pieces, meter)
    meter.bill(ev)
    return _build(ev, fname, list(pieces))


# ---------------------------------------------------------------- equality


def _deep_eq(a: Any, b: Any, meter: _Meter) -> bool | None:
    """Case-sensitive deep equality; ``None`` when unknown values leave it open."""
    meter.n += 1
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        if a is b:
            return True
        if isinstance(a, Composite) and _is_str(b):
            return _composite_may_equal(a, b)
        if isinstance(b, Composite) and _is_str(a):
            return _composite_may_equal(b, a)
        return None
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_num(a) and _is_num(b):
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return str.__eq__(a, b)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return False
        result: bool | None = True
        for x, y in zip(a, b, strict=True):
            r = _deep_eq(x, y, meter)
            if r is False:
                return False
            if r is None:
                result = None
        return result
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if len(a) != len(b):
            return False
        result = True
        for k, v in a.items():
            if k not in b:
                return False
            r = _deep_eq(v, b[k], meter)
            if r is False:
                return False
            if r is None:
                result = None
        return result
    return False


def _composite_may_equal(c: Composite, s: str) -> bool | None:
    """``False`` when the known text of ``c`` rules out equality with ``s``, else ``None``."""
    known = [p for p in c.parts if not isinstance(p, Unknown)]
    if sum(len(p) for p in known) > len(s):
        return False
    head, tail = c.parts[0], c.parts[-1]
    if not isinstance(head, Unknown) and not s.startswith(head):
        return False
    if not isinstance(tail, Unknown) and not s.endswith(tail):
        return False
    return None


class _HasUnknown(Exception):
    pass


def _hkey(v: Any, meter: _Meter) -> Any:
    """A hashable key equal for deep-equal known values (raises ``_HasUnknown``)."""
    meter.n += 1
    if isinstance(v, Unknown):
        raise _HasUnknown
    if v is None:
        return ("n",)
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, int | float):
        return ("#", v)
    if isinstance(v, str):
        return ("s", v)
    if isinstance(v, list):
        return ("a", tuple(_hkey(x, meter) for x in v))
    if isinstance(v, Mapping):
        return ("o", frozenset((k, _hkey(x, meter)) for k, x in v.items()))
    return ("?", id(v))


def _distinct(items: list[Any], meter: _Meter) -> list[Any]:
    """Items without deep duplicates, first occurrence kept; items holding unknowns are
    kept unless the very same object was already kept."""
    seen: set[Any] = set()
    kept_ids: set[int] = set()
    out: list[Any] = []
    for item in items:
        try:
            key = _hkey(item, meter)
        except _HasUnknown:
            if id(item) not in kept_ids:
                kept_ids.add(id(item))
                out.append(item)
            continue
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _ctx_call(node: Call, f: Callable[..., Any], *args: Any) -> Any:
    """Call into the context; its errors are reported at this call."""
    try:
        return f(*args)
    except ExpressionError as e:
        e.offset = node.offset
        raise


# =========================================================================== functions
# ---------------------------------------------------------------- array and object


@_fn("array", 1)
def _array_fn(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v = args[0]
    return v if isinstance(v, list) else [v]


@_fn("concat", 1, None, strict=False)
def _concat(ev: Evaluator, args: list[Any], node: Call) -> Any:
    if any(isinstance(a, list) for a in args):
        out: list[Any] = []
        for i, a in enumerate(args):
            if isinstance(a, list):
                out.extend(a)
                if len(out) > ev.limits.max_array:
                    raise LimitError(f"concat() would produce more than {ev.limits.max_array} elements")
            elif a is None:
                continue
            elif isinstance(a, Unknown):
                return unknown_call("concat", args)
            else:
                raise _bad("concat", i, "an array (arrays and strings cannot be mixed)", a)
        return out
    for i, a in enumerate(args):
        if isinstance(a, Mapping):
            raise _bad("concat", i, "a string or an array", a)
    return _build(ev, "concat", args)


@_fn("contains", 2, strict=False)
def _contains(ev: Evaluator, args: list[Any], node: Call) -> Any:
    container, item = args
    if isinstance(container, Composite) and _is_str(item):
        if any(not isinstance(p, Unknown) and item in p for p in container.parts):
            return True
        return unknown_call("contains", args)
    if isinstance(container, Unknown):
        return unknown_call("contains", args)
    if isinstance(container, list):
        meter = _Meter()
        open_ = False
        for el in container:
            r = _deep_eq(el, item, meter)
            if r:
                meter.bill(ev)
                return True
            if r is None:
                open_ = True
        meter.bill(ev)
        return unknown_call("contains", args) if open_ else False
    if isinstance(item, Unknown):
        return unknown_call("contains", args)
    if isinstance(container, str):
        if not (isinstance(item, str) or _is_num(item)):
            raise _bad("contains", 1, "a string", item)
        return _scalar_text("contains", item) in container
    if isinstance(container, Mapping):
        if not isinstance(item, str):
            raise _bad("contains", 1, "a string (an object key)", item)
        return ci_get(container, item, _MISSING) is not _MISSING
    raise _bad("contains", 0, "an array, object or string", container)


_MISSING: Any = object()


@_fn("createArray", 0, None, strict=False)
def _create_array(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return list(args)


@_fn("createObject", 0, None, strict=False)
def _create_object(ev: Evaluator, args: list[Any], node: Call) -> Any:
    if len(args) % 2:
        raise ExpressionError("createObject() expects key/value pairs (an even number of arguments)")
    out = CIDict()
    for i in range(0, len(args), 2):
        key = args[i]
        if not isinstance(key, str):
            raise _bad("createObject", i, "a string key", key)
        out[key] = args[i + 1]
    return out


@_fn("empty", 1, strict=False)
def _empty(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v = args[0]
    if isinstance(v, Composite) and any(not isinstance(p, Unknown) and p for p in v.parts):
        return False
    if isinstance(v, Unknown):
        return unknown_call("empty", args)
    if v is None:
        return True
    if isinstance(v, str | list | Mapping):
        return len(v) == 0
    raise _bad("empty", 0, "a string, array or object", v)


def _first_last(fname: str, args: list[Any], first: bool) -> Any:
    v = args[0]
    if isinstance(v, list):
        if not v:
            return None
        return v[0] if first else v[-1]
    if isinstance(v, str):
        if not v:
            return ""
        return v[0] if first else v[-1]
    raise _bad(fname, 0, "an array or string", v)


@_fn("first", 1, passthrough=True)
def _first(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _first_last("first", args, True)


@_fn("last", 1, passthrough=True)
def _last(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _first_last("last", args, False)


def _index_of(ev: Evaluator, fname: str, args: list[Any], last: bool) -> Any:
    container, item = args
    if isinstance(container, Unknown):
        return unknown_call(fname, args)
    if isinstance(container, list):
        meter = _Meter()
        order = range(len(container) - 1, -1, -1) if last else range(len(container))
        for i in order:
            r = _deep_eq(container[i], item, meter)
            if r:
                meter.bill(ev)
                return i
            if r is None:
                meter.bill(ev)
                return unknown_call(fname, args)
        meter.bill(ev)
        return -1
    if isinstance(container, str):
        if isinstance(item, Unknown):
            return unknown_call(fname, args)
        if not (isinstance(item, str) or _is_num(item)):
            raise _bad(fname, 1, "a string", item)
        # ARM documents string indexOf/lastIndexOf as case-insensitive.
        hay, needle = container.lower(), _scalar_text(fname, item).lower()
        return hay.rfind(needle) if last else hay.find(needle)
    raise _bad(fname, 0, "an array or string", container)


@_fn("indexOf", 2, strict=False)
def _index_of_fn(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _index_of(ev, "indexOf", args, last=False)


@_fn("lastIndexOf", 2, strict=False)
def _last_index_of_fn(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _index_of(ev, "lastIndexOf", args, last=True)


@_fn("intersection", 2, None)
def _intersection(ev: Evaluator, args: list[Any], node: Call) -> Any:
    meter = _Meter()
    try:
        if isinstance(args[0], list):
            arrays = [_array("intersection", args, i) for i in range(len(args))]
            try:
                others = [{_hkey(x, meter) for x in arr} for arr in arrays[1:]]
                result = [x for x in _distinct(arrays[0], meter) if all(_hkey(x, meter) in o for o in others)]
            except _HasUnknown:
                return unknown_call("intersection", args)
            return result
        if isinstance(args[0], Mapping):
            objects = [_object("intersection", args, i) for i in range(len(args))]
            out = CIDict()
            for k, v in objects[0].items():
                keep: bool | None = True
                for other in objects[1:]:
                    if k not in other:
                        keep = False
                        break
                    r = _deep_eq(v, other[k], meter)
                    if r is False:
                        keep = False
                        break
                    if r is None:
                        keep = None
                if keep is None:
                    return unknown_call("intersection", args)
                if keep:
                    out[k] = v
            return out
        raise _bad("intersection", 0, "an array or object", args[0])
    finally:
        meter.bill(ev)


@_fn("length", 1)
def _length(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v = args[0]
    if isinstance(v, str | list | Mapping):
        return len(v)
    raise _bad("length", 0, "a string, array or object", v)


def _numbers(fname: str, args: list[Any]) -> list[Any]:
    values: list[Any] = []
    for i, a in enumerate(args):
        if isinstance(a, list) and len(args) == 1:
            values.extend(a)
        elif _is_num(a):
            values.append(a)
        else:
            raise _bad(fname, i, "an integer or an array of integers", a)
    if not values:
        raise ExpressionError(f"{fname}() needs at least one number")
    for v in values:
        if not _is_num(v) and not isinstance(v, Unknown):
            raise ExpressionError(f"{fname}() expects numbers, got {_kind(v)}")
    return values


@_fn("min", 1, None)
def _min(ev: Evaluator, args: list[Any], node: Call) -> Any:
    values = _numbers("min", args)
    if any(isinstance(v, Unknown) for v in values):
        return unknown_call("min", args)
    return min(values)


@_fn("max", 1, None)
def _max(ev: Evaluator, args: list[Any], node: Call) -> Any:
    values = _numbers("max", args)
    if any(isinstance(v, Unknown) for v in values):
        return unknown_call("max", args)
    return max(values)


@_fn("range", 2)
def _range(ev: Evaluator, args: list[Any], node: Call) -> Any:
    start, count = _int("range", args, 0), _int("range", args, 1)
    if count < 0:
        raise ExpressionError(f"range(): count must not be negative, got {count}")
    if start + count > 2_147_483_647:
        raise ExpressionError("range(): startIndex + count must not exceed 2147483647")
    if count > ev.limits.max_array:
        raise LimitError(f"range() of {count} elements exceeds the limit of {ev.limits.max_array}")
    return list(range(start, start + count))


@_fn("skip", 2)
def _skip(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v, n = args[0], _int("skip", args, 1)
    if not isinstance(v, list | str):
        raise _bad("skip", 0, "an array or string", v)
    return v[max(n, 0) :]


@_fn("take", 2)
def _take(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v, n = args[0], _int("take", args, 1)
    if not isinstance(v, list | str):
        raise _bad("take", 0, "an array or string", v)
    return v[: max(n, 0)]


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> CIDict:
    """``union`` of two objects: later values win, nested objects merge recursively,
    arrays are replaced.  Keys match case-insensitively (ARM property names are
    case-insensitive; the exact rule inside ``union`` is unverified [U])."""
    out = CIDict(a)
    for k, v in b.items():
        existing = out.ci_key(k) if isinstance(k, str) else None
        if existing is not None:
            old = out[existing]
            if isinstance(old, Mapping) and isinstance(v, Mapping):
                out[existing] = _merge(old, v)
            else:
                out[existing] = v
        else:
            out[k] = v
    return out


@_fn("union", 1, None)
def _union(ev: Evaluator, args: list[Any], node: Call) -> Any:
    if isinstance(args[0], list):
        items: list[Any] = []
        for i in range(len(args)):
            items.extend(_array("union", args, i))
        meter = _Meter()
        out = _distinct(items, meter)
        meter.bill(ev)
        return out
    if isinstance(args[0], Mapping):
        result = CIDict()
        for i in range(len(args)):
            result = _merge(result, _object("union", args, i))
        return result
    raise _bad("union", 0, "an array or object", args[0])


@_fn("items", 1)
def _items(ev: Evaluator, args: list[Any], node: Call) -> Any:
    obj = _object("items", args, 0)
    # Documented: the result is sorted alphabetically by key (ordinal vs. culture order
    # is unverified [U]).
    keys = sorted(obj, key=lambda k: (str(k).lower(), str(k)))
    return [CIDict(key=k, value=obj[k]) for k in keys]


@_fn("objectKeys", 1)
def _object_keys(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return list(_object("objectKeys", args, 0))


@_fn("shallowMerge", 1)
def _shallow_merge(ev: Evaluator, args: list[Any], node: Call) -> Any:
    out = CIDict()
    for i, obj in enumerate(_array("shallowMerge", args, 0)):
        if isinstance(obj, Unknown):
            return unknown_call("shallowMerge", args)
        if not isinstance(obj, Mapping):
            raise ExpressionError(f"shallowMerge() expects objects, element {i} is {_kind(obj)}")
        for k, v in obj.items():
            existing = out.ci_key(k) if isinstance(k, str) else None
            out[existing if existing is not None else k] = v
    return out


@_fn("flatten", 1)
def _flatten(ev: Evaluator, args: list[Any], node: Call) -> Any:
    out: list[Any] = []
    for i, inner in enumerate(_array("flatten", args, 0)):
        if isinstance(inner, Unknown):
            return unknown_call("flatten", args)
        if not isinstance(inner, list):
            raise ExpressionError(f"flatten() expects an array of arrays, element {i} is {_kind(inner)}")
        out.extend(inner)
        if len(out) > ev.limits.max_array:
            raise LimitError(f"flatten() would produce more than {ev.limits.max_array} elements")
    return out


@_fn("tryGet", 2, None, strict=False, passthrough=True)
def _try_get(ev: Evaluator, args: list[Any], node: Call) -> Any:
    current = args[0]
    for i, key in enumerate(args[1:], start=1):
        if current is None:
            return None
        if isinstance(current, Unknown) or isinstance(key, Unknown):
            return unknown_call("tryGet", args)
        if isinstance(current, Mapping):
            if not isinstance(key, str):
                raise _bad("tryGet", i, "a string key", key)
            current = ci_get(current, key, None)
        elif isinstance(current, list):
            if not _is_int(key):
                raise _bad("tryGet", i, "an integer index", key)
            current = current[key] if 0 <= key < len(current) else None
        else:
            raise ExpressionError(f"tryGet() cannot look into a {_kind(current)} value")
    return current


def _from_end(fname: str, args: list[Any], lenient: bool) -> Any:
    arr, n = _array(fname, args, 0), _int(fname, args, 1)
    if 1 <= n <= len(arr):
        return arr[len(arr) - n]
    if lenient:
        return None
    raise ExpressionError(f"{fname}(): index {n} is out of range for an array of {len(arr)}")


@_fn("indexFromEnd", 2, passthrough=True)
def _index_from_end(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _from_end("indexFromEnd", args, lenient=False)


@_fn("tryIndexFromEnd", 2, passthrough=True)
def _try_index_from_end(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _from_end("tryIndexFromEnd", args, lenient=True)


# ---------------------------------------------------------------- lambdas


@_fn("lambda", 1, None, lazy=True)
def _lambda_fn(ev: Evaluator, args: list[Any], node: Call) -> Any:
    raise ExpressionError(
        "lambda() can only be an argument of filter, map, reduce, sort, toObject, groupBy or mapValues"
    )


@_fn("lambdaVariables", 1, passthrough=True)
def _lambda_variables(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return ev.lambda_variable(_str("lambdaVariables", args, 0))


class _UnknownDecision(Exception):
    def __init__(self, value: Unknown) -> None:
        self.value = value


def _bool_result(fname: str, value: Any) -> bool:
    if isinstance(value, Unknown):
        raise _UnknownDecision(value)
    if not isinstance(value, bool):
        raise ExpressionError(f"{fname}(): the lambda must return a bool, got {_kind(value)}")
    return value


def _decided(fname: str, args: list[Any], d: _UnknownDecision) -> Unknown:
    causes = merge_causes([d.value, *_deep_unknowns(args[0])])
    return Unknown(f"{fname}({_show(args[0])}, <lambda>) (depends on {d.value.text})", causes)


@_fn("filter", 2, takes_lambda=True)
def _filter(ev: Evaluator, args: list[Any], node: Call) -> Any:
    arr, fn = _array("filter", args, 0), _lambda("filter", args, 1)
    try:
        return [x for i, x in enumerate(arr) if _bool_result("filter", ev.invoke(fn, [x, i]))]
    except _UnknownDecision as d:
        return _decided("filter", args, d)


@_fn("map", 2, takes_lambda=True)
def _map(ev: Evaluator, args: list[Any], node: Call) -> Any:
    arr, fn = _array("map", args, 0), _lambda("map", args, 1)
    return [ev.invoke(fn, [x, i]) for i, x in enumerate(arr)]


@_fn("reduce", 3, takes_lambda=True)
def _reduce(ev: Evaluator, args: list[Any], node: Call) -> Any:
    arr, acc, fn = _array("reduce", args, 0), args[1], _lambda("reduce", args, 2)
    for i, x in enumerate(arr):
        acc = ev.invoke(fn, [acc, x, i])
        ev.check_size(acc, node.offset)
    return acc


@_fn("sort", 2, takes_lambda=True)
def _sort(ev: Evaluator, args: list[Any], node: Call) -> Any:
    arr, fn = _array("sort", args, 0), _lambda("sort", args, 1)

    def compare(a: Any, b: Any) -> int:
        if _bool_result("sort", ev.invoke(fn, [a, b])):
            return -1
        if _bool_result("sort", ev.invoke(fn, [b, a])):
            return 1
        return 0

    try:
        return sorted(arr, key=functools.cmp_to_key(compare))
    except _UnknownDecision as d:
        return _decided("sort", args, d)


def _key_text(fname: str, key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return _scalar_text(fname, key)
    raise ExpressionError(f"{fname}(): a key must be a string, got {_kind(key)}")


@_fn("toObject", 2, 3, takes_lambda=True)
def _to_object(ev: Evaluator, args: list[Any], node: Call) -> Any:
    arr, key_fn = _array("toObject", args, 0), _lambda("toObject", args, 1)
    value_fn = _lambda("toObject", args, 2) if len(args) > 2 else None
    out = CIDict()
    for x in arr:
        key = _key_text("toObject", ev.invoke(key_fn, [x]))
        out[key] = ev.invoke(value_fn, [x]) if value_fn is not None else x
    return out


@_fn("groupBy", 2, takes_lambda=True)
def _group_by(ev: Evaluator, args: list[Any], node: Call) -> Any:
    arr, fn = _array("groupBy", args, 0), _lambda("groupBy", args, 1)
    out = CIDict()
    for x in arr:
        key = _key_text("groupBy", ev.invoke(fn, [x]))
        out.setdefault(key, []).append(x)
    return out


@_fn("mapValues", 2, takes_lambda=True)
def _map_values(ev: Evaluator, args: list[Any], node: Call) -> Any:
    obj, fn = _object("mapValues", args, 0), _lambda("mapValues", args, 1)
    return CIDict((k, ev.invoke(fn, [v])) for k, v in obj.items())


# ---------------------------------------------------------------- CIDR (sys namespace)


def _network(fname: str, text: str) -> Any:
    import ipaddress

    if "/" not in text:
        raise ExpressionError(f"{fname}(): '{text}' is not in CIDR notation (address/prefix)")
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ExpressionError(f"{fname}(): '{text}' is not a valid CIDR network") from None


@_fn("parseCidr", 1)
def _parse_cidr(ev: Evaluator, args: list[Any], node: Call) -> Any:
    net = _network("parseCidr", _str("parseCidr", args, 0))
    first, last = net.network_address, net.broadcast_address
    out = CIDict(network=str(first), netmask=str(net.netmask))
    if net.version == 4:
        out["broadcast"] = str(last)
        # /31 and /32 have no network/broadcast pair; what ARM reports there is [U].
        if net.prefixlen < 31:
            first, last = first + 1, last - 1
    out["firstUsable"] = str(first)
    out["lastUsable"] = str(last)
    out["cidr"] = net.prefixlen
    return out


@_fn("cidrSubnet", 3)
def _cidr_subnet(ev: Evaluator, args: list[Any], node: Call) -> Any:
    net = _network("cidrSubnet", _str("cidrSubnet", args, 0))
    new, index = _int("cidrSubnet", args, 1), _int("cidrSubnet", args, 2)
    if not net.prefixlen <= new <= net.max_prefixlen:
        raise ExpressionError(
            f"cidrSubnet(): newCIDR must be between {net.prefixlen} and {net.max_prefixlen}, got {new}"
        )
    count = 1 << (new - net.prefixlen)
    if not 0 <= index < count:
        raise ExpressionError(f"cidrSubnet(): subnetIndex {index} is out of range (0..{count - 1})")
    address = net.network_address + index * (1 << (net.max_prefixlen - new))
    return f"{address}/{new}"


@_fn("cidrHost", 2)
def _cidr_host(ev: Evaluator, args: list[Any], node: Call) -> Any:
    net = _network("cidrHost", _str("cidrHost", args, 0))
    index = _int("cidrHost", args, 1)
    # Index 0 is the first address after the network address (documented for both IPv4
    # and IPv6); IPv4 excludes the broadcast address.
    usable = net.num_addresses - (2 if net.version == 4 else 1)
    if not 0 <= index < usable:
        raise ExpressionError(f"cidrHost(): hostIndex {index} is out of range for {net}")
    return str(net.network_address + 1 + index)


# ---------------------------------------------------------------- comparison


@_fn("coalesce", 1, None, strict=False, passthrough=True)
def _coalesce(ev: Evaluator, args: list[Any], node: Call) -> Any:
    pending: list[Any] = []
    for a in args:
        if a is None:
            continue
        if isinstance(a, Unknown):
            pending.append(a)
            continue
        if not pending:
            return a
        return unknown_call("coalesce", args)
    if pending:
        return unknown_call("coalesce", args)
    return None


@_fn("equals", 2, strict=False)
def _equals(ev: Evaluator, args: list[Any], node: Call) -> Any:
    meter = _Meter()
    r = _deep_eq(args[0], args[1], meter)
    meter.bill(ev)
    return unknown_call("equals", args) if r is None else r


def _compare(fname: str, args: list[Any]) -> int:
    a, b = args
    if (_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str)):
        # Strings compare ordinally ('A' < 'a'), as in the documented less('A', 'a')
        # example [U].
        return int(a > b) - int(a < b)
    raise ExpressionError(f"{fname}() compares two integers or two strings, got {_kind(a)} and {_kind(b)}")


@_fn("less", 2)
def _less(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _compare("less", args) < 0


@_fn("lessOrEquals", 2)
def _less_or_equals(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _compare("lessOrEquals", args) <= 0


@_fn("greater", 2)
def _greater(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _compare("greater", args) > 0


@_fn("greaterOrEquals", 2)
def _greater_or_equals(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _compare("greaterOrEquals", args) >= 0


# ---------------------------------------------------------------- date

_ISO_RE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:([Tt ])(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?\s*"
)
_US_RE = re.compile(
    r"\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?\s*"
)
_DURATION_RE = re.compile(
    r"(-)?P(?:(\d+(?:[.,]\d+)?)Y)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?"
)


@dataclass(frozen=True)
class _Shape:
    """How a parsed date-time was written, to write the result the same way."""

    us: bool
    sep: str
    time: bool
    seconds: bool
    fraction: int
    zone: str


def _parse_datetime(fname: str, text: str) -> tuple[datetime, _Shape]:
    m = _ISO_RE.fullmatch(text)
    try:
        if m:
            y, mo, d, sep, hh, mi, ss, frac, zone = m.groups()
            micro = int((frac or "0").ljust(6, "0")[:6])
            tz: timezone | None = None
            if zone:
                if zone in ("Z", "z"):
                    tz = UTC
                else:
                    digits = zone[1:].replace(":", "")
                    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or "0"))
                    tz = timezone(-delta if zone[0] == "-" else delta)
            dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0), micro, tzinfo=tz)
            shape = _Shape(False, sep or "T", hh is not None, ss is not None, len(frac or ""), zone or "")
            return dt, shape
        m = _US_RE.fullmatch(text)
        if m:
            mo, d, y, hh, mi, ss, ampm = m.groups()
            hour = int(hh or 0)
            if ampm:
                hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
            dt = datetime(int(y), int(mo), int(d), hour, int(mi or 0), int(ss or 0))
            return dt, _Shape(True, " ", hh is not None, ss is not None, 0, "")
    except ValueError:
        pass
    raise ExpressionError(f"{fname}(): '{text}' is not a valid date-time")


def _write_datetime(dt: datetime, shape: _Shape) -> str:
    if shape.us:
        return _format_datetime(dt, "M/d/yyyy h:mm:ss tt" if shape.time else "M/d/yyyy")
    out = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}"
    if shape.time:
        out += f"{shape.sep}{dt.hour:02d}:{dt.minute:02d}"
        if shape.seconds:
            out += f":{dt.second:02d}"
            if shape.fraction:
                out += "." + f"{dt.microsecond:06d}0"[: shape.fraction]
    return out + shape.zone


def _add_months(dt: datetime, months: int) -> datetime:
    import calendar

    total = dt.year * 12 + (dt.month - 1) + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        raise ExpressionError("dateTimeAdd(): the result is outside the supported date range")
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    return dt.replace(year=year, month=month + 1, day=day)


def _apply_duration(dt: datetime, text: str) -> datetime:
    m = _DURATION_RE.fullmatch(text.strip())
    if not m or not any(m.groups()[1:]) or text.strip().endswith("T"):
        raise ExpressionError(f"dateTimeAdd(): '{text}' is not an ISO 8601 duration such as 'P1D' or 'PT5M'")
    sign = -1 if m.group(1) else 1
    nums = [float(g.replace(",", ".")) if g else 0.0 for g in m.groups()[1:]]
    years, months, weeks, days, hours, minutes, seconds = nums
    if not (years.is_integer() and months.is_integer()):
        raise ExpressionError("dateTimeAdd(): years and months must be whole numbers")
    try:
        result = _add_months(dt, sign * int(years * 12 + months))
        return result + sign * timedelta(
            weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds
        )
    except OverflowError:
        raise ExpressionError("dateTimeAdd(): the result is outside the supported date range") from None


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# .NET standard date-time format strings (en-US) expressed as custom formats.
_STANDARD_DT = {
    "d": "M/d/yyyy",
    "D": "dddd, MMMM d, yyyy",
    "f": "dddd, MMMM d, yyyy h:mm tt",
    "F": "dddd, MMMM d, yyyy h:mm:ss tt",
    "g": "M/d/yyyy h:mm tt",
    "G": "M/d/yyyy h:mm:ss tt",
    "m": "MMMM d",
    "M": "MMMM d",
    "o": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "O": "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
    "r": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "R": "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
    "s": "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
    "t": "h:mm tt",
    "T": "h:mm:ss tt",
    "u": "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
    "U": "dddd, MMMM d, yyyy h:mm:ss tt",
    "y": "MMMM yyyy",
    "Y": "MMMM yyyy",
}


def _offset_parts(dt: datetime) -> tuple[str, int, int]:
    off = dt.utcoffset() or timedelta(0)
    sign = "-" if off < timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return sign, minutes // 60, minutes % 60


def _format_datetime(dt: datetime, fmt: str) -> str:
    """A .NET custom/standard date-time format string applied to ``dt`` (en-US)."""
    if len(fmt) == 1:
        if fmt not in _STANDARD_DT:
            raise ExpressionError(f"'{fmt}' is not a supported date-time format")
        fmt = _STANDARD_DT[fmt]
    out: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        if c in "'\"":
            j = fmt.find(c, i + 1)
            if j < 0:
                raise ExpressionError(f"unterminated quote in date-time format '{fmt}'")
            out.append(fmt[i + 1 : j])
            i = j + 1
            continue
        if c == "\\" and i + 1 < n:
            out.append(fmt[i + 1])
            i += 2
            continue
        if c == "%" and i + 1 < n:
            i += 1
            continue
        j = i
        while j < n and fmt[j] == c:
            j += 1
        k = j - i
        if c == "y":
            short = dt.year % 100
            out.append(str(short) if k == 1 else f"{short:02d}" if k == 2 else f"{dt.year:0{k}d}")
        elif c == "M":
            out.append(
                str(dt.month) if k == 1 else f"{dt.month:02d}" if k == 2
                else _MONTHS[dt.month - 1][:3] if k == 3 else _MONTHS[dt.month - 1]
            )  # fmt: skip
        elif c == "d":
            out.append(
                str(dt.day) if k == 1 else f"{dt.day:02d}" if k == 2
                else _DAYS[dt.weekday()][:3] if k == 3 else _DAYS[dt.weekday()]
            )  # fmt: skip
        elif c in "Hhms":
            v = {"H": dt.hour, "h": dt.hour % 12 or 12, "m": dt.minute, "s": dt.second}[c]
            out.append(str(v) if k == 1 else f"{v:02d}")
        elif c in "fF":
            digits = f"{dt.microsecond:06d}0"[: min(k, 7)]
            out.append(digits.rstrip("0") if c == "F" else digits)
        elif c == "t":
            ampm = "AM" if dt.hour < 12 else "PM"
            out.append(ampm[0] if k == 1 else ampm)
        elif c == "K":
            if dt.tzinfo is None:
                out.append("")
            elif dt.utcoffset() == timedelta(0):
                out.append("Z")
            else:
                sign, h, mi = _offset_parts(dt)
                out.append(f"{sign}{h:02d}:{mi:02d}")
        elif c == "z":
            sign, h, mi = _offset_parts(dt)
            out.append(f"{sign}{h}" if k == 1 else f"{sign}{h:02d}" if k == 2 else f"{sign}{h:02d}:{mi:02d}")
        else:
            out.append(fmt[i:j])
        i = j
    return "".join(out)


@_fn("dateTimeAdd", 2, 3)
def _date_time_add(ev: Evaluator, args: list[Any], node: Call) -> Any:
    dt, shape = _parse_datetime("dateTimeAdd", _str("dateTimeAdd", args, 0))
    result = _apply_duration(dt, _str("dateTimeAdd", args, 1))
    if len(args) > 2:
        return _format_datetime(result, _str("dateTimeAdd", args, 2))
    # Without a format, ARM writes the result in the format of the base value.
    return _write_datetime(result, shape)


@_fn("dateTimeFromEpoch", 1)
def _date_time_from_epoch(ev: Evaluator, args: list[Any], node: Call) -> Any:
    epoch = _int("dateTimeFromEpoch", args, 0)
    try:
        dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=epoch)
    except OverflowError:
        raise ExpressionError(f"dateTimeFromEpoch(): {epoch} is outside the supported range") from None
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


@_fn("dateTimeToEpoch", 1)
def _date_time_to_epoch(ev: Evaluator, args: list[Any], node: Call) -> Any:
    dt, _ = _parse_datetime("dateTimeToEpoch", _str("dateTimeToEpoch", args, 0))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())


def _runtime(function: str, args: list[Any], detail: str) -> Unknown:
    text = f"{function}({', '.join(_show(a) for a in args)})"
    cause = UnknownCause(kind="runtime", detail=detail, function=function)
    return Unknown(text, merge_causes([Unknown(text, (cause,)), *_deep_unknowns(args)]))


@_fn("utcNow", 0, 1, strict=False)
def _utc_now(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _runtime("utcNow", args, "utcNow() is the deployment time")


# ---------------------------------------------------------------- deployment and scope


@_fn("parameters", 1, passthrough=True)
def _parameters(ev: Evaluator, args: list[Any], node: Call) -> Any:
    name = _str("parameters", args, 0)
    if ev.udf_params is not None:
        key = ev.udf_params.ci_key(name)
        if key is None:
            raise ExpressionError(
                f"'{name}' is not a parameter of user-defined function '{ev.udf}' "
                "(a function sees only its own parameters)"
            )
        return ev.udf_params[key]
    return _ctx_call(node, ev.ctx.parameter, name)


@_fn("variables", 1, passthrough=True)
def _variables(ev: Evaluator, args: list[Any], node: Call) -> Any:
    name = _str("variables", args, 0)
    if ev.udf is not None:
        raise ExpressionError(f"variables() cannot be used inside user-defined function '{ev.udf}'")
    return _ctx_call(node, ev.ctx.variable, name)


def _scope_fn(name: str) -> FunctionImpl:
    def impl(ev: Evaluator, args: list[Any], node: Call) -> Any:
        return _ctx_call(node, ev.ctx.scope_value, name)

    return impl


for _scope_name in ("deployment", "environment", "resourceGroup", "subscription", "tenant"):
    _fn(_scope_name, 0, passthrough=True)(_scope_fn(_scope_name))


@_fn("managementGroup", 0, 1, passthrough=True)
def _management_group(ev: Evaluator, args: list[Any], node: Call) -> Any:
    value = _ctx_call(node, ev.ctx.scope_value, "managementGroup")
    if not args:
        return value
    name = _str("managementGroup", args, 0)
    out = CIDict(value) if isinstance(value, Mapping) else CIDict()
    out["id"] = f"/providers/Microsoft.Management/managementGroups/{name}"
    out["name"] = name
    return out


@_fn("copyIndex", 0, 2, passthrough=True)
def _copy_index(ev: Evaluator, args: list[Any], node: Call) -> Any:
    loop: str | None = None
    offset = 0
    if len(args) == 2:
        loop, offset = _str("copyIndex", args, 0), _int("copyIndex", args, 1)
    elif len(args) == 1:
        if _is_int(args[0]):
            offset = args[0]
        elif _is_str(args[0]):
            loop = args[0]
        else:
            raise _bad("copyIndex", 0, "a loop name or an integer offset", args[0])
    return _i64("copyIndex", _ctx_call(node, ev.ctx.copy_index, loop) + offset)


# ---------------------------------------------------------------- logical


def _condition(fname: str, value: Any) -> bool | Unknown:
    if isinstance(value, Unknown):
        return value
    if not isinstance(value, bool):
        raise ExpressionError(f"{fname}() expects bool arguments, got {_kind(value)}")
    return value


@_fn("if", 3, lazy=True, passthrough=True)
def _if(ev: Evaluator, args: list[Any], node: Call) -> Any:
    cond = _condition("if", ev.eval(args[0]))
    if isinstance(cond, Unknown):
        return Unknown(f"if({cond.text}, ...)", cond.causes)
    return ev.eval(args[1] if cond else args[2])


def _and_or(ev: Evaluator, nodes: list[Node], fname: str, decisive: bool) -> Any:
    pending: list[Unknown] = []
    for n in nodes:
        value = _condition(fname, ev.eval(n))
        if isinstance(value, Unknown):
            pending.append(value)
        elif value is decisive:
            return decisive
    if pending:
        shown = ", ".join(u.text for u in pending)
        return Unknown(f"{fname}({shown})", merge_causes(pending))
    return not decisive


@_fn("and", 2, None, lazy=True)
def _and(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _and_or(ev, args, "and", False)


@_fn("or", 2, None, lazy=True)
def _or(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _and_or(ev, args, "or", True)


@_fn("not", 1)
def _not(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return not _condition("not", args[0])


@_fn("bool", 1)
def _bool(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v = args[0]
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        raise ExpressionError(f"bool(): '{v}' is neither 'true' nor 'false'")
    if _is_int(v):
        return v != 0
    raise _bad("bool", 0, "a string, integer or bool", v)


@_fn("true", 0)
def _true(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return True


@_fn("false", 0)
def _false(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return False


@_fn("null", 0)
def _null(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return None


# ---------------------------------------------------------------- numeric


def _arith(name: str, op: Callable[[int, int], int]) -> FunctionImpl:
    def impl(ev: Evaluator, args: list[Any], node: Call) -> Any:
        return _i64(name, op(_int(name, args, 0), _int(name, args, 1)))

    return impl


def _div_trunc(a: int, b: int) -> int:
    if b == 0:
        raise ExpressionError("div(): division by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _mod_trunc(a: int, b: int) -> int:
    if b == 0:
        raise ExpressionError("mod(): division by zero")
    # .NET's % keeps the sign of the dividend.
    r = abs(a) % abs(b)
    return r if a >= 0 else -r


_fn("add", 2)(_arith("add", lambda a, b: a + b))
_fn("sub", 2)(_arith("sub", lambda a, b: a - b))
_fn("mul", 2)(_arith("mul", lambda a, b: a * b))
_fn("div", 2)(_arith("div", _div_trunc))
_fn("mod", 2)(_arith("mod", _mod_trunc))


_INT_TEXT_RE = re.compile(r"[+-]?\d{1,19}")


@_fn("int", 1)
def _int_fn(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v = args[0]
    if _is_int(v):
        return v
    if isinstance(v, str):
        text = v.strip()
        if _INT_TEXT_RE.fullmatch(text) is None:
            raise ExpressionError(f"int(): '{v}' is not an integer")
        return _i64("int", int(text))
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ExpressionError("int(): the value is not a finite number")
        # Truncation toward zero for floats is an assumption [U].
        return _i64("int", int(v))
    raise _bad("int", 0, "a string or number", v)


@_fn("float", 1)
def _float_fn(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v = args[0]
    if _is_num(v):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            raise ExpressionError(f"float(): '{v}' is not a number") from None
    raise _bad("float", 0, "a string or number", v)


# ---------------------------------------------------------------- object


_JSON_MAX_DEPTH = 256
_JSON_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


class _LenientJson:
    """Newtonsoft-style lenient JSON, as ARM's ``json()`` accepts it: single-quoted
    strings and unquoted property names are allowed (the docs' base64ToJson example uses
    ``{'one': 'a'}``)."""

    __slots__ = ("i", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def fail(self, what: str) -> ExpressionError:
        return ExpressionError(f"json(): invalid JSON at position {self.i}: {what}")

    def ws(self) -> None:
        t, n = self.text, len(self.text)
        while self.i < n and t[self.i].isspace():
            self.i += 1

    def parse(self) -> Any:
        value = self.value(0)
        self.ws()
        if self.i != len(self.text):
            raise self.fail("unexpected text after the value")
        return value

    def value(self, depth: int) -> Any:
        if depth > _JSON_MAX_DEPTH:
            raise LimitError(f"json(): nesting deeper than {_JSON_MAX_DEPTH} levels")
        self.ws()
        if self.i >= len(self.text):
            raise self.fail("unexpected end of text")
        c = self.text[self.i]
        if c == "{":
            return self.obj(depth)
        if c == "[":
            return self.arr(depth)
        if c in "'\"":
            return self.string()
        m = _JSON_NUMBER_RE.match(self.text, self.i)
        if m and m.group(0):
            self.i = m.end()
            return float(m.group(0)) if m.group(1) or m.group(2) else int(m.group(0))
        word = self.ident()
        if word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word]
        raise self.fail(f"unexpected {c!r}")

    def ident(self) -> str:
        start = self.i
        while self.i < len(self.text) and (self.text[self.i].isalnum() or self.text[self.i] in "_$"):
            self.i += 1
        return self.text[start : self.i]

    def string(self) -> str:
        quote = self.text[self.i]
        self.i += 1
        out: list[str] = []
        t = self.text
        while True:
            if self.i >= len(t):
                raise self.fail("unterminated string")
            c = t[self.i]
            if c == quote:
                self.i += 1
                return "".join(out)
            if c == "\\":
                if self.i + 1 >= len(t):
                    raise self.fail("unterminated escape")
                e = t[self.i + 1]
                if e == "u":
                    code = t[self.i + 2 : self.i + 6]
                    if len(code) != 4 or not all(ch in "0123456789abcdefABCDEF" for ch in code):
                        raise self.fail("bad \\u escape")
                    out.append(chr(int(code, 16)))
                    self.i += 6
                    continue
                out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(e, e))
                self.i += 2
                continue
            out.append(c)
            self.i += 1

    def obj(self, depth: int) -> CIDict:
        self.i += 1
        out = CIDict()
        while True:
            self.ws()
            if self.i < len(self.text) and self.text[self.i] == "}":
                self.i += 1
                return out
            if self.i < len(self.text) and self.text[self.i] in "'\"":
                key = self.string()
            else:
                key = self.ident()
                if not key:
                    raise self.fail("expected a property name")
            self.ws()
            if self.i >= len(self.text) or self.text[self.i] != ":":
                raise self.fail("expected ':'")
            self.i += 1
            out[key] = self.value(depth + 1)
            self.ws()
            if self.i < len(self.text) and self.text[self.i] == ",":
                self.i += 1
                continue
            if self.i < len(self.text) and self.text[self.i] == "}":
                self.i += 1
                return out
            raise self.fail("expected ',' or '}'")

    def arr(self, depth: int) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        while True:
            self.ws()
            if self.i < len(self.text) and self.text[self.i] == "]":
                self.i += 1
                return out
            out.append(self.value(depth + 1))
            self.ws()
            if self.i < len(self.text) and self.text[self.i] == ",":
                self.i += 1
                continue
            if self.i < len(self.text) and self.text[self.i] == "]":
                self.i += 1
                return out
            raise self.fail("expected ',' or ']'")


def _parse_json(text: str) -> Any:
    try:
        return to_cidicts(_json.loads(text))
    except RecursionError:
        raise LimitError("json(): nesting too deep") from None
    except ValueError:
        return _LenientJson(text).parse()


@_fn("json", 1)
def _json_fn(ev: Evaluator, args: list[Any], node: Call) -> Any:
    text = _str("json", args, 0)
    ev.ctx.charge(len(text) >> 8)
    return _parse_json(text)


# ---------------------------------------------------------------- resource


def _in_udf(ev: Evaluator, fname: str) -> None:
    if ev.udf is not None:
        raise ExpressionError(f"{fname}() cannot be used inside user-defined function '{ev.udf}'")


@_fn("reference", 1, 3, strict=False, passthrough=True)
def _reference(ev: Evaluator, args: list[Any], node: Call) -> Any:
    _in_udf(ev, "reference")
    api = args[1] if len(args) > 1 else None
    if api is not None and not isinstance(api, str):
        raise _bad("reference", 1, "an API version string", api)
    full = len(args) > 2 and _is_str(args[2]) and args[2].lower() == "full"
    return _ctx_call(node, ev.ctx.reference, args[0], api, full, "reference")


@_fn("references", 1, 2, strict=False, passthrough=True)
def _references(ev: Evaluator, args: list[Any], node: Call) -> Any:
    _in_udf(ev, "references")
    full = len(args) > 1 and _is_str(args[1]) and args[1].lower() == "full"
    return _ctx_call(node, ev.ctx.reference, args[0], None, full, "references")


_LIST_NAMES = {
    n.lower(): n
    for n in (
        "listKeys",
        "listSecrets",
        "listAccountSas",
        "listServiceSas",
        "listConnectionStrings",
        "listCallbackUrl",
        "listCredentials",
        "listAdminKeys",
        "listQueryKeys",
        "listAuthKeys",
    )
}


def _list_impl(ev: Evaluator, args: list[Any], node: Call) -> Any:
    function = _LIST_NAMES.get(node.short, node.name.rpartition(".")[2])
    _in_udf(ev, function)
    target, api = _ctx_call(node, ev.ctx.list_target, args[0]), args[1]
    shown = target.text if isinstance(target, Unknown) else _scalar_text(function, target)
    text = f"{function}({_show(target)}, {_show(api)})"
    cause = UnknownCause(
        kind="list",
        detail=f"{function}() returns secrets of {shown} at deployment time (api {render(api)})",
        function=function,
        target=shown,
    )
    causes = merge_causes([Unknown(text, (cause,)), *_deep_unknowns(args)])
    return Unknown(text, causes)


_LIST_SPEC = Spec("list*", _list_impl, 2, 3, strict=False)


@_fn("providers", 1, 2, strict=False)
def _providers(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _runtime("providers", args, "providers() reads resource provider registrations at deployment time")


@_fn("pickZones", 3, 5)
def _pick_zones(ev: Evaluator, args: list[Any], node: Call) -> Any:
    for i in range(3):
        _str("pickZones", args, i)
    count = _int("pickZones", args, 3) if len(args) > 3 else 1
    offset = _int("pickZones", args, 4) if len(args) > 4 else 0
    # Placeholder: every region is treated as having zones '1', '2' and '3'.
    zones = ["1", "2", "3"]
    if count < 0 or offset < 0:
        raise ExpressionError("pickZones(): numberOfZones and offset must not be negative")
    return [zones[(offset + i) % 3] for i in range(min(count, 3))]


def _scope_field(ev: Evaluator, node: Call, scope: str, field: str) -> Any:
    value = _ctx_call(node, ev.ctx.scope_value, scope)
    if isinstance(value, Unknown):
        return value.get(field)
    return ci_get(value, field, "")


def _split_type(fname: str, rtype: Any) -> tuple[str, list[str]]:
    if not _is_str(rtype) or "/" not in rtype:
        raise ExpressionError(f"{fname}(): '{render(rtype)}' is not a resource type ('Namespace/type')")
    ns, *types = rtype.strip("/").split("/")
    if not ns or not types or not all(types):
        raise ExpressionError(f"{fname}(): '{rtype}' is not a resource type ('Namespace/type')")
    return ns, types


def _provider_pieces(fname: str, rtype: Any, names: list[Any]) -> list[Any]:
    """``/providers/{ns}/{type}/{name}[/{child type}/{name}...]`` as pieces."""
    ns, types = _split_type(fname, rtype)
    if not names:
        raise ExpressionError(f"{fname}(): a resource name is required after the type '{rtype}'")
    segments: list[Any] = []
    for i, n in enumerate(names):
        if isinstance(n, Unknown):
            segments.append(n)
        elif isinstance(n, str | int) and not isinstance(n, bool):
            segments.extend(str(n).split("/"))
        else:
            raise ExpressionError(f"{fname}(): resource name #{i + 1} must be a string, got {_kind(n)}")
    if len(segments) != len(types) and not any(isinstance(s, Unknown) for s in segments):
        raise ExpressionError(
            f"{fname}(): type '{rtype}' needs {len(types)} name segment"
            f"{'' if len(types) == 1 else 's'}, got {len(segments)}"
        )
    pieces: list[Any] = ["/providers/", ns]
    for i, seg in enumerate(segments):
        if i < len(types):
            pieces += ["/", types[i]]
        pieces += ["/", seg]
    return pieces


def _type_index(fname: str, args: list[Any], max_leading: int) -> int | None:
    """Position of the resource-type argument: the first known string containing '/'.
    ``None`` when it is hidden behind unknowns."""
    for i, a in enumerate(args):
        if _is_str(a) and "/" in a:
            if i > max_leading:
                break
            return i
    if any(isinstance(a, Unknown) for a in args[: max_leading + 1]):
        return None
    raise ExpressionError(f"{fname}(): no resource type argument (a type looks like 'Namespace/type')")


def _leading(fname: str, values: list[Any]) -> None:
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise _bad(fname, i, "a string", v)


@_fn("resourceId", 2, None, strict=False)
def _resource_id(ev: Evaluator, args: list[Any], node: Call) -> Any:
    ti = _type_index("resourceId", args, 2)
    if ti is None:
        return unknown_call("resourceId", args)
    leading = args[:ti]
    _leading("resourceId", leading)
    pieces = _provider_pieces("resourceId", args[ti], args[ti + 1 :])
    if len(leading) == 2:
        sub, rg = leading
    elif len(leading) == 1:
        sub, rg = _scope_field(ev, node, "subscription", "subscriptionId"), leading[0]
    else:
        try:
            rg = _scope_field(ev, node, "resourceGroup", "name")
        except ExpressionError:
            # Outside a resource group deployment resourceId() gives a subscription-level
            # ID, and at tenant/management-group scope a tenant-level one [U for MG].
            try:
                sub = _scope_field(ev, node, "subscription", "subscriptionId")
            except ExpressionError:
                return _build(ev, "resourceId", pieces)
            return _build(ev, "resourceId", ["/subscriptions/", sub, *pieces])
        sub = _scope_field(ev, node, "subscription", "subscriptionId")
    return _build(ev, "resourceId", ["/subscriptions/", sub, "/resourceGroups/", rg, *pieces])


@_fn("subscriptionResourceId", 2, None, strict=False)
def _subscription_resource_id(ev: Evaluator, args: list[Any], node: Call) -> Any:
    ti = _type_index("subscriptionResourceId", args, 1)
    if ti is None:
        return unknown_call("subscriptionResourceId", args)
    _leading("subscriptionResourceId", args[:ti])
    pieces = _provider_pieces("subscriptionResourceId", args[ti], args[ti + 1 :])
    sub = args[0] if ti == 1 else _scope_field(ev, node, "subscription", "subscriptionId")
    return _build(ev, "subscriptionResourceId", ["/subscriptions/", sub, *pieces])


@_fn("tenantResourceId", 2, None, strict=False)
def _tenant_resource_id(ev: Evaluator, args: list[Any], node: Call) -> Any:
    if isinstance(args[0], Unknown):
        return unknown_call("tenantResourceId", args)
    return _build(ev, "tenantResourceId", _provider_pieces("tenantResourceId", args[0], args[1:]))


@_fn("managementGroupResourceId", 2, None, strict=False)
def _management_group_resource_id(ev: Evaluator, args: list[Any], node: Call) -> Any:
    fname = "managementGroupResourceId"
    ti = _type_index(fname, args, 1)
    if ti is None:
        return unknown_call(fname, args)
    _leading(fname, args[:ti])
    pieces = _provider_pieces(fname, args[ti], args[ti + 1 :])
    mg = args[0] if ti == 1 else _scope_field(ev, node, "managementGroup", "name")
    return _build(ev, fname, ["/providers/Microsoft.Management/managementGroups/", mg, *pieces])


@_fn("extensionResourceId", 3, None, strict=False)
def _extension_resource_id(ev: Evaluator, args: list[Any], node: Call) -> Any:
    base = args[0]
    if not isinstance(base, str):
        raise _bad("extensionResourceId", 0, "a resource ID string", base)
    if isinstance(args[1], Unknown):
        return unknown_call("extensionResourceId", args)
    pieces = _provider_pieces("extensionResourceId", args[1], args[2:])
    if _is_str(base):
        base = base.rstrip("/")
    return _build(ev, "extensionResourceId", [base, *pieces])


# ---------------------------------------------------------------- string


def _b64decode(fname: str, text: str) -> bytes:
    import base64
    import binascii

    compact = "".join(text.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ExpressionError(f"{fname}(): the value is not valid base64") from None


@_fn("base64", 1)
def _base64(ev: Evaluator, args: list[Any], node: Call) -> Any:
    import base64

    return base64.b64encode(_str("base64", args, 0).encode("utf-8")).decode("ascii")


@_fn("base64ToString", 1)
def _base64_to_string(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _b64decode("base64ToString", _str("base64ToString", args, 0)).decode("utf-8", "replace")


@_fn("base64ToJson", 1)
def _base64_to_json(ev: Evaluator, args: list[Any], node: Call) -> Any:
    raw = _b64decode("base64ToJson", _str("base64ToJson", args, 0)).decode("utf-8", "replace")
    return _parse_json(raw)


@_fn("dataUri", 1)
def _data_uri(ev: Evaluator, args: list[Any], node: Call) -> Any:
    import base64

    data = base64.b64encode(_str("dataUri", args, 0).encode("utf-8")).decode("ascii")
    return "data:text/plain;charset=utf8;base64," + data


@_fn("dataUriToString", 1)
def _data_uri_to_string(ev: Evaluator, args: list[Any], node: Call) -> Any:
    from urllib.parse import unquote

    text = _str("dataUriToString", args, 0)
    if not text[:5].lower() == "data:" or "," not in text:
        raise ExpressionError("dataUriToString(): the value is not a data URI ('data:...,...')")
    header, _, payload = text[5:].partition(",")
    if "base64" in (p.strip().lower() for p in header.split(";")):
        return _b64decode("dataUriToString", payload).decode("utf-8", "replace")
    return unquote(payload)


def _affix(ev: Evaluator, fname: str, args: list[Any], start: bool) -> Any:
    s, x = args
    if isinstance(x, Unknown):
        return unknown_call(fname, args)
    needle = _str(fname, args, 1).lower()
    # ARM documents startsWith/endsWith as case-insensitive.
    if isinstance(s, Composite):
        edge = s.parts[0] if start else s.parts[-1]
        if not isinstance(edge, Unknown) and len(edge) >= len(needle):
            e = edge.lower()
            return e.startswith(needle) if start else e.endswith(needle)
        return unknown_call(fname, args)
    if isinstance(s, Unknown):
        return unknown_call(fname, args)
    text = _str(fname, args, 0).lower()
    return text.startswith(needle) if start else text.endswith(needle)


@_fn("startsWith", 2, strict=False)
def _starts_with(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _affix(ev, "startsWith", args, True)


@_fn("endsWith", 2, strict=False)
def _ends_with(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _affix(ev, "endsWith", args, False)


# ---- format

_NUM_SPEC_RE = re.compile(r"([A-Za-z])(\d{0,2})")
_BRACE_RE = re.compile(r"[{}]")
_CUSTOM_NUMBER_RE = re.compile(r"([^0#,.]*)([0#,]*)(?:\.([0#]*))?(.*)", re.S)
_ITEM_RE = re.compile(r"\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?(?::(.*))?", re.S)


def _group(digits: str) -> str:
    head = len(digits) % 3 or 3
    parts = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return ",".join(parts)


def _fixed(value: float | int, decimals: int, grouping: bool) -> str:
    text = f"{abs(value):.{decimals}f}" if isinstance(value, float) or decimals else str(abs(value))
    whole, dot, frac = text.partition(".")
    if grouping:
        whole = _group(whole)
    negative = value < 0 and any(ch not in "0.," for ch in text)
    return ("-" if negative else "") + whole + (dot + frac if dot else "")


def _custom_number(value: float | int, spec: str) -> str:
    """A small subset of .NET custom numeric formats: ``0``, ``#``, ``,`` and ``.``,
    with literal text around them."""
    m = _CUSTOM_NUMBER_RE.fullmatch(spec)
    if m is None or not (m.group(2) or m.group(3)):
        raise ExpressionError(f"format(): unsupported numeric format '{spec}'")
    prefix, whole_spec, frac_spec, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    min_frac = frac_spec.count("0")
    max_frac = len(frac_spec)
    text = f"{abs(value):.{max_frac}f}"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(min_frac, "0") if max_frac else ""
    whole = whole.lstrip("0").rjust(whole_spec.count("0"), "0")
    if "," in whole_spec and whole:
        whole = _group(whole)
    body = whole + ("." + frac if frac else "")
    return ("-" if value < 0 and body.strip("0.,") else "") + prefix + body + suffix


def _format_number(value: float | int, spec: str) -> str:
    m = _NUM_SPEC_RE.fullmatch(spec)
    if m is None:
        return _custom_number(value, spec)
    letter, digits = m.group(1), m.group(2)
    precision = int(digits) if digits else None
    up = letter.upper()
    if up == "N":
        return _fixed(value, 2 if precision is None else precision, True)
    if up == "F":
        return _fixed(value, 2 if precision is None else precision, False)
    if up == "D":
        if not isinstance(value, int):
            raise ExpressionError("format(): 'D' needs an integer")
        body = str(abs(value)).rjust(precision or 0, "0")
        return ("-" if value < 0 else "") + body
    if up == "X":
        if not isinstance(value, int):
            raise ExpressionError("format(): 'X' needs an integer")
        text = format(value & 0xFFFFFFFFFFFFFFFF if value < 0 else value, "X" if letter == "X" else "x")
        return text.rjust(precision or 0, "0")
    if up == "E":
        text = f"{value:.{6 if precision is None else precision}{letter}}"
        mant, _, exp = text.partition(letter)
        return f"{mant}{letter}{exp[0]}{exp[1:].rjust(3, '0')}"
    if up == "P":
        # en-US percent pattern "n%" (.NET Core); the exact spacing ARM uses is [U].
        return _fixed(value * 100, 2 if precision is None else precision, True) + "%"
    if up == "C":
        body = _fixed(abs(value), 2 if precision is None else precision, True)
        return ("-$" if value < 0 else "$") + body
    if up in ("G", "R"):
        return _float_text(float(value)) if isinstance(value, float) else str(value)
    raise ExpressionError(f"format(): unsupported numeric format '{spec}'")


def _format_item(ev: Evaluator, value: Any, spec: str) -> Any:
    if isinstance(value, Unknown):
        return value
    if _is_num(value) and spec:
        return _format_number(value, spec)
    if isinstance(value, list | Mapping):
        # .NET would print the JSON token; compact JSON is an approximation [U].
        return _to_json_text(ev, "format", value)
    return _scalar_text("format", value)


@_fn("format", 1, None, strict=False)
def _format(ev: Evaluator, args: list[Any], node: Call) -> Any:
    fmt = args[0]
    if isinstance(fmt, Unknown):
        return unknown_call("format", args)
    fmt = _str("format", args, 0)
    values = args[1:]
    pieces: list[Any] = []
    literal: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        c = fmt[i]
        if c == "{":
            if i + 1 < n and fmt[i + 1] == "{":
                literal.append("{")
                i += 2
                continue
            close = fmt.find("}", i)
            if close < 0:
                raise ExpressionError(f"format(): '{{' at position {i} is not closed")
            item = fmt[i + 1 : close]
            m = _ITEM_RE.fullmatch(item)
            if m is None:
                raise ExpressionError(f"format(): invalid format item '{{{item}}}'")
            index = int(m.group(1))
            if index >= len(values):
                raise ExpressionError(
                    f"format(): index {index} is out of range ({len(values)} value"
                    f"{'' if len(values) == 1 else 's'} given)"
                )
            value = _format_item(ev, values[index], m.group(3) or "")
            if m.group(2) and not isinstance(value, Unknown):
                width = int(m.group(2))
                if abs(width) > ev.limits.max_string:
                    raise LimitError(f"format(): alignment {width} exceeds the string limit")
                value = value.rjust(width) if width > 0 else value.ljust(-width)
            if literal:
                pieces.append("".join(literal))
                literal = []
            pieces.append(value)
            i = close + 1
        elif c == "}":
            if i + 1 < n and fmt[i + 1] == "}":
                literal.append("}")
                i += 2
                continue
            raise ExpressionError(f"format(): unmatched '}}' at position {i}")
        else:
            m_brace = _BRACE_RE.search(fmt, i)
            j = m_brace.start() if m_brace else n
            literal.append(fmt[i:j])
            i = j
    if literal:
        pieces.append("".join(literal))
    return _build(ev, "format", pieces)


# ---- the rest


@_fn("guid", 1, None)
def _guid(ev: Evaluator, args: list[Any], node: Call) -> Any:
    import uuid

    parts = [_str("guid", args, i) for i in range(len(args))]
    # UUIDv5 under this namespace over the '-'-joined arguments reproduces ARM's guid()
    # according to consistent community reimplementations, not official docs [U].
    return str(uuid.uuid5(_guid_namespace(), "-".join(parts)))


@functools.cache
def _guid_namespace() -> Any:
    import uuid

    return uuid.UUID("11fb06fb-712d-4ddd-98c7-e71bbd588830")


@_fn("uniqueString", 1, None)
def _unique_string(ev: Evaluator, args: list[Any], node: Call) -> Any:
    import base64
    import hashlib

    parts = [_str("uniqueString", args, i) for i in range(len(args))]
    # Deterministic placeholder, NOT Azure's (unpublished) hash: 13 lowercase base32
    # characters, the same shape as the real value.
    digest = hashlib.sha256("-".join(parts).encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:13]


@_fn("newGuid", 0)
def _new_guid(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _runtime("newGuid", args, "newGuid() is a new value at every deployment")


@_fn("join", 2, strict=False)
def _join(ev: Evaluator, args: list[Any], node: Call) -> Any:
    arr, delim = args
    if isinstance(arr, Unknown) or isinstance(delim, Unknown):
        return unknown_call("join", args)
    items = _array("join", args, 0)
    delim = _str("join", args, 1)
    pieces: list[Any] = []
    for i, item in enumerate(items):
        if i:
            pieces.append(delim)
        if isinstance(item, list | Mapping):
            raise ExpressionError(f"join() expects an array of strings, element {i} is {_kind(item)}")
        pieces.append(item)
    return _build(ev, "join", pieces)


@_fn("padLeft", 2, 3)
def _pad_left(ev: Evaluator, args: list[Any], node: Call) -> Any:
    value = args[0]
    if not (isinstance(value, str) or _is_int(value)):
        raise _bad("padLeft", 0, "a string or integer", value)
    total = _int("padLeft", args, 1)
    pad = _str("padLeft", args, 2) if len(args) > 2 else " "
    if len(pad) != 1:
        raise ExpressionError("padLeft(): the padding character must be a single character")
    if total > ev.limits.max_string:
        raise LimitError(f"padLeft(): length {total} exceeds the string limit {ev.limits.max_string}")
    return str(value).rjust(max(total, 0), pad)


@_fn("replace", 3, strict=False)
def _replace(ev: Evaluator, args: list[Any], node: Call) -> Any:
    s, old, new = args
    if isinstance(old, Unknown) or isinstance(new, Unknown):
        return unknown_call("replace", args)
    old, new = _str("replace", args, 1), _str("replace", args, 2)
    if not old:
        raise ExpressionError("replace(): the string to replace must not be empty")
    if isinstance(s, str) and not isinstance(s, Unknown):
        grown = len(s) + s.count(old) * (len(new) - len(old))
        if grown > ev.limits.max_string:
            raise LimitError(f"replace() would produce {grown} characters (limit {ev.limits.max_string})")
    return _map_text("replace", s, lambda t: t.replace(old, new))


@_fn("split", 2)
def _split(ev: Evaluator, args: list[Any], node: Call) -> Any:
    s = _str("split", args, 0)
    delim = args[1]
    if isinstance(delim, str):
        seps = [delim]
    elif isinstance(delim, list) and all(_is_str(d) for d in delim):
        seps = list(delim)
    else:
        raise _bad("split", 1, "a string or an array of strings", delim)
    seps = [d for d in seps if d]
    if not seps:
        return [s]
    if len(seps) == 1:
        return s.split(seps[0])
    return _split_any(s, seps)


def _split_any(s: str, seps: list[str]) -> list[str]:
    """.NET ``String.Split(string[])``: at each position the earliest separator wins, and
    among separators found at the same position the first listed."""
    out: list[str] = []
    start = 0
    while True:
        best, best_len = -1, 0
        for sep in seps:
            at = s.find(sep, start)
            if at >= 0 and (best < 0 or at < best):
                best, best_len = at, len(sep)
        if best < 0:
            out.append(s[start:])
            return out
        out.append(s[start:best])
        start = best + best_len


@_fn("string", 1, strict=False)
def _string(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v = args[0]
    if isinstance(v, str):
        return v
    if isinstance(v, list | Mapping):
        return _to_json_text(ev, "string", v)
    return _scalar_text("string", v)


@_fn("substring", 2, 3)
def _substring(ev: Evaluator, args: list[Any], node: Call) -> Any:
    s, start = _str("substring", args, 0), _int("substring", args, 1)
    if start < 0:
        raise ExpressionError(f"substring(): startIndex {start} must not be negative")
    if start > len(s):
        raise ExpressionError(f"substring(): startIndex {start} is beyond the string length {len(s)}")
    length = _int("substring", args, 2) if len(args) > 2 else len(s) - start
    if length < 0:
        raise ExpressionError(f"substring(): length {length} must not be negative")
    if start + length > len(s):
        raise ExpressionError(
            f"substring(): startIndex {start} + length {length} is beyond the string length {len(s)}"
        )
    return s[start : start + length]


@_fn("toLower", 1, strict=False)
def _to_lower(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _map_text("toLower", args[0], str.lower)


@_fn("toUpper", 1, strict=False)
def _to_upper(ev: Evaluator, args: list[Any], node: Call) -> Any:
    return _map_text("toUpper", args[0], str.upper)


@_fn("trim", 1, strict=False)
def _trim(ev: Evaluator, args: list[Any], node: Call) -> Any:
    v = args[0]
    if isinstance(v, Composite):
        parts = list(v.parts)
        if not isinstance(parts[0], Unknown):
            parts[0] = parts[0].lstrip()
        if not isinstance(parts[-1], Unknown):
            parts[-1] = parts[-1].rstrip()
        return Composite(tuple(p for p in parts if isinstance(p, Unknown) or p), v.causes)
    return _map_text("trim", v, str.strip)


@_fn("uri", 2)
def _uri(ev: Evaluator, args: list[Any], node: Call) -> Any:
    from urllib.parse import urljoin, urlsplit

    base, rel = _str("uri", args, 0), _str("uri", args, 1)
    if not urlsplit(base).scheme:
        raise ExpressionError(f"uri(): baseUri '{base}' is not an absolute URI")
    return urljoin(base, rel)


@_fn("uriComponent", 1)
def _uri_component(ev: Evaluator, args: list[Any], node: Call) -> Any:
    from urllib.parse import quote

    return quote(_str("uriComponent", args, 0), safe="")


@_fn("uriComponentToString", 1)
def _uri_component_to_string(ev: Evaluator, args: list[Any], node: Call) -> Any:
    from urllib.parse import unquote

    return unquote(_str("uriComponentToString", args, 0))


NAMES: list[str] = sorted(_REGISTRY)


def iter_specs() -> Iterator[Spec]:
    """Every registered built-in (for documentation and tests)."""
    return iter(_REGISTRY.values())
