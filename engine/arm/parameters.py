"""Template parameters: supplied values (parameter files, ``--parameters``), typing,
constraint checks, and provenance that finds its file position only when asked.

Parameter-file and command-line values are literal: they are never evaluated and ``[[``
is not unescaped in them (facts §6.1, §6.7).  Problems with supplied values (an
undeclared name, a value of the wrong type or outside ``allowedValues``/``maxLength``/
``minValue``...) are warnings, as the rule catalog asks; a ``--parameters name=value``
that the Azure CLI could not type (not JSON for an object or array, not an integer for
an int) is an error and the value unknown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from engine.model import Document
from engine.source import JsonPath, SourceFile
from engine.values import Located, Origin, Unknown, ci_get, render, to_cidicts

CLI_PATH = "--parameters"

# Declared types as ARM spells them, compared case-insensitively (facts §6.3).
SECURE_TYPES = frozenset({"securestring", "secureobject"})
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "securestring": (str,),
    "int": (int,),
    "bool": (bool,),
    "object": (dict,),
    "secureobject": (dict,),
    "array": (list,),
}


@dataclass
class ParameterSource:
    """One source of parameter values, applied in order (later wins).

    ``kind`` is ``"file"`` (``document`` is a parsed parameter file, the
    ``deploymentParameters.json`` form or a bare ``{"p": {"value": ..}}`` object) or
    ``"cli"`` (``--parameters name=value``; ``value`` is typed from the template's
    declared type the way the Azure CLI does it).
    """

    kind: str
    document: Document | None = None
    name: str = ""
    value: str = ""


@dataclass
class Supplied:
    """A value supplied for one parameter, with where it came from."""

    name: str
    value: Any
    origin: Origin
    source: SourceFile | None = None  # the file the value text lives in (None for CLI)
    path: JsonPath = ()  # JSON path of the value in ``source``
    reported: bool = False  # a problem with the value was already warned about
    # allowedValues/length/range are checked only for values written as such: values
    # computed from the placeholder scope (``resourceGroup().location``) would break
    # them for no reason a user could fix
    checkable: bool = True


# ----------------------------------------------------------------------------- provenance


class LazyOrigin(Origin):
    """An ``Origin`` whose line, column and detail are computed on first use.

    Positions come from the source's position index, which is expensive to build
    (ten times the cost of parsing); most expanded values are never reported, so the
    index is built only when a finding or message actually reads a position.
    Pickles lazily too (see ``__reduce__``).
    """

    _source: SourceFile | None
    _path: JsonPath
    _detail_fn: Callable[[], str] | None
    _pos: tuple[int, int] | None
    _detail_text: str | None

    def __init__(
        self,
        kind: str,
        source: SourceFile | None,
        path: JsonPath = (),
        *,
        name: str = "",
        detail: Callable[[], str] | None = None,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "kind", kind)
        setattr_(self, "file", source.path if source is not None else "")
        setattr_(self, "name", name)
        setattr_(self, "_source", source)
        setattr_(self, "_path", path)
        setattr_(self, "_detail_fn", detail)
        setattr_(self, "_pos", None)
        setattr_(self, "_detail_text", None)

    def _position(self) -> tuple[int, int]:
        if self._pos is None:
            pos = self._source.locate(self._path) if self._source is not None else (0, 0)
            object.__setattr__(self, "_pos", pos)
            return pos
        return self._pos

    @property
    def line(self) -> int:
        return self._position()[0]

    @property
    def column(self) -> int:
        return self._position()[1]

    @property
    def detail(self) -> str:
        if self._detail_text is None:
            text = self._detail_fn() if self._detail_fn is not None else ""
            object.__setattr__(self, "_detail_text", text)
            return text
        return self._detail_text

    @property
    def detail_source(self) -> Callable[[], str] | None:
        """What computes ``detail`` (None once computed and pickled): provenance chains
        follow it structurally rather than nesting rendered strings."""
        return self._detail_fn

    def __reduce__(self) -> tuple[Any, ...]:
        # ``--jobs`` workers send expansions back pickled; positions stay lazy so that a
        # worker never builds a position index no message will read.  The detail
        # callable must pickle too (the expander's are small classes, not closures).
        detail = self._detail_fn if self._detail_text is None else None
        return (_restore_lazy_origin,
                (self.kind, self._source, self._path, self.name, detail, self._pos, self._detail_text))


def _restore_lazy_origin(
    kind: str, source: SourceFile | None, path: JsonPath, name: str,
    detail: Callable[[], str] | None, pos: tuple[int, int] | None, detail_text: str | None,
) -> LazyOrigin:
    origin = LazyOrigin(kind, source, path, name=name, detail=detail)
    object.__setattr__(origin, "_pos", pos)
    object.__setattr__(origin, "_detail_text", detail_text)
    return origin


def where(origin: Origin) -> str:
    """Short provenance of a parameter value, for expression details."""
    at = f"{origin.file}:{origin.line}" if origin.file else ""
    if origin.kind == "parameter-default":
        return f"default at {at}"
    if origin.kind == "parameter-file":
        return f"parameter file {at}"
    if origin.kind == "parameter-cli":
        return "--parameters"
    if origin.kind == "variable":  # a value a linking template passed from a variable
        return origin.describe()
    return origin.detail or (f"at {at}" if at else "")


# ----------------------------------------------------------------------------- declarations


def declared_type(decl: Any, definitions: Any = None) -> str:
    """The declared type of a parameter, lower-cased; follows one ``$ref`` into
    ``definitions`` (languageVersion 2.0 user-defined types); "" when not stated."""
    if not isinstance(decl, Mapping):
        return ""
    t = ci_get(decl, "type")
    if isinstance(t, str):
        return t.lower()
    ref = ci_get(decl, "$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/") and isinstance(definitions, Mapping):
        target = ci_get(definitions, ref[len("#/definitions/"):])
        t = ci_get(target, "type")
        if isinstance(t, str):
            return t.lower()
    return ""


def is_secure(type_name: str) -> bool:
    return type_name.lower() in SECURE_TYPES


# ----------------------------------------------------------------------------- supplied values


def keyvault_unknown(name: str, reference: Any) -> Unknown:
    secret = ci_get(reference, "secretName")
    vault = ci_get(ci_get(reference, "keyVault"), "id")
    what = f"secret '{render(secret)}'" if isinstance(secret, str) else "a secret"
    if isinstance(vault, str):
        what += f" of Key Vault {render(vault)}"
    return Unknown.of(
        "keyvault",
        f"parameter '{name}' is a Key Vault reference ({what}), known only at deployment",
        target=name,
        text=f"parameters('{name}')",
    )


def entry_value(name: str, entry: Any) -> tuple[bool, Any]:
    """The value of a ``{"value": ..}`` / ``{"reference": ..}`` entry; (False, None) when
    the entry has neither."""
    if isinstance(entry, Mapping):
        if ci_get(entry, "reference") is not None and ci_get(entry, "value") is None:
            return True, keyvault_unknown(name, ci_get(entry, "reference"))
        for k in entry:
            if isinstance(k, str) and k.lower() == "value":
                return True, to_cidicts(entry[k])
    return False, None


def _file_entries(doc: Document) -> tuple[Any, JsonPath]:
    """The name -> entry object of a parameter document, and its JSON path."""
    data = doc.data
    if isinstance(data, Mapping):
        inner = data.get("parameters")
        wrapped = "$schema" in data or "contentVersion" in data
        if isinstance(inner, Mapping) and (wrapped or not _is_entry(inner)):
            return inner, (*doc.root, "parameters")
    return data, doc.root


def _is_entry(obj: Mapping[str, Any]) -> bool:
    return any(isinstance(k, str) and k.lower() in ("value", "reference") for k in obj)


def collect(
    declared: Mapping[str, tuple[str, str]],
    sources: Iterable[ParameterSource],
    problems: list[Located],
    *,
    template: str,
) -> dict[str, Supplied]:
    """Supplied values by lower-cased parameter name, later sources winning.

    ``declared`` maps lower-cased names to (name as declared, lower-cased type).
    ``template`` names the template in problems that depend on it: one parameter file
    or ``--parameters`` value is often applied to several templates of a run.
    Problems are warnings, except a command-line value the Azure CLI would refuse.
    """
    out: dict[str, Supplied] = {}
    for src in sources:
        if src.kind == "cli":
            _collect_cli(src, declared, problems, out, template)
        elif src.kind == "file" and src.document is not None:
            _collect_file(src.document, declared, problems, out, template)
    return out


def _collect_file(
    doc: Document,
    declared: Mapping[str, tuple[str, str]],
    warnings: list[Located],
    out: dict[str, Supplied],
    template: str,
) -> None:
    entries, base = _file_entries(doc)
    source = doc.source
    if not isinstance(entries, Mapping):
        line, col = source.locate(base)
        warnings.append(Located(source.path, line, col, "'parameters' must be an object; ignored",
                                "warning"))
        return
    for key, entry in entries.items():
        if not isinstance(key, str) or key == "$schema":
            continue
        hit = declared.get(key.lower())
        if hit is None:
            line, col = source.locate((*base, key))
            warnings.append(Located(
                source.path, line, col,
                f"parameter '{key}' is not declared by template {template}; its value is ignored",
                "warning"))
            continue
        name = hit[0]
        ok, value = entry_value(name, entry)
        if not ok:
            line, col = source.locate((*base, key))
            warnings.append(Located(
                source.path, line, col,
                f"parameter '{key}' has neither 'value' nor 'reference'; ignored", "warning"))
            continue
        vkey = next((k for k in entry if isinstance(k, str) and k.lower() in ("value", "reference")),
                    "value")
        path = (*base, key, vkey)
        out[name.lower()] = Supplied(
            name, value, LazyOrigin("parameter-file", source, path, name=name), source, path)


def _collect_cli(
    src: ParameterSource,
    declared: Mapping[str, tuple[str, str]],
    problems: list[Located],
    out: dict[str, Supplied],
    template: str,
) -> None:
    hit = declared.get(src.name.lower())
    if hit is None:
        problems.append(Located(
            CLI_PATH, 0, 0,
            f"parameter '{src.name}' is not declared by template {template}; its value is ignored",
            "warning"))
        return
    name, type_name = hit
    value, problem = coerce_cli(type_name, src.value)
    if problem:
        # ``az deployment group create`` refuses such a value: it is a mistake in how
        # we were called, and the value is unknown rather than the text taken as is
        problems.append(Located(CLI_PATH, 0, 0, f"{name}={src.value}: {problem} (template {template})",
                                "error"))
        value = Unknown.of("error", f"parameter '{name}': {problem}", target=name,
                           text=f"parameters('{name}')")
    out[name.lower()] = Supplied(name, value, Origin(kind="parameter-cli", name=name), reported=bool(problem))


def coerce_cli(type_name: str, text: str) -> tuple[Any, str]:
    """Type a ``name=value`` string like the Azure CLI (facts §6.7); returns the value
    and why the Azure CLI would refuse it ("" when it would not)."""
    t = type_name.lower()
    if t == "bool":
        return text.lower() == "true", ""
    if t == "int":
        try:
            return int(text.strip()), ""
        except ValueError:
            return text, f"parameter of type {type_name} needs an integer"
    if t in ("object", "secureobject", "array"):
        try:
            return to_cidicts(json.loads(text)), ""
        except json.JSONDecodeError as exc:
            return text, f"parameter of type {type_name} needs JSON: {exc.msg} at column {exc.colno}"
        except (ValueError, RecursionError):
            return text, f"parameter of type {type_name} needs JSON"
    return text, ""


# ----------------------------------------------------------------------------- checks


def check_value(name: str, type_name: str, decl: Any, value: Any, *, constraints: bool = True) -> list[str]:
    """Why ``value`` would be rejected for this declaration (empty when it is fine or
    cannot be known); ``constraints=False`` checks the type only."""
    if isinstance(value, Unknown) or value is None:
        return []
    problems: list[str] = []
    expected = _JSON_TYPES.get(type_name)
    if expected is not None:
        is_bool = isinstance(value, bool)
        fits = isinstance(value, expected) and (type_name == "bool" or not is_bool)
        if not fits:
            return [f"parameter '{name}' is declared {type_name} but the value is {_json_type(value)}"]
    if not isinstance(decl, Mapping) or not constraints:
        return problems
    allowed = ci_get(decl, "allowedValues")
    if isinstance(allowed, list) and allowed:
        items = value if type_name == "array" and isinstance(value, list) else [value]
        for item in items:
            if not any(_same(item, a) for a in allowed):
                problems.append(f"parameter '{name}' value {_show(item)} is not one of allowedValues")
    if isinstance(value, (str, list)) and not _has_unknown(value):
        low, high = ci_get(decl, "minLength"), ci_get(decl, "maxLength")
        if isinstance(low, int) and len(value) < low:
            problems.append(f"parameter '{name}' value is shorter than minLength {low}")
        if isinstance(high, int) and len(value) > high:
            problems.append(f"parameter '{name}' value is longer than maxLength {high}")
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = ci_get(decl, "minValue"), ci_get(decl, "maxValue")
        if isinstance(low, int) and value < low:
            problems.append(f"parameter '{name}' value {value} is below minValue {low}")
        if isinstance(high, int) and value > high:
            problems.append(f"parameter '{name}' value {value} is above maxValue {high}")
    return problems


def has_expression(value: Any) -> bool:
    """Whether a raw JSON value contains an expression string anywhere."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if len(v) >= 2 and v[0] == "[" and v[-1] == "]" and not v.startswith("[["):
                return True
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return False


def _has_unknown(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(v, Unknown) for v in value)


def _same(value: Any, allowed: Any) -> bool:
    # Whether ARM compares allowedValues strings case-sensitively is unverified [U];
    # ignoring case avoids warning about a value ARM may well accept.
    if isinstance(value, Unknown):
        return True
    if isinstance(value, str) and isinstance(allowed, str):
        return value.lower() == allowed.lower()
    if isinstance(value, bool) or isinstance(allowed, bool):
        return value is allowed
    return bool(value == allowed)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _show(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
