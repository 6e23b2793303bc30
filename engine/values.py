"""Value types shared by every stage: unknowns, provenance and case-insensitive objects.

Expanded templates are plain JSON-like Python values (dict, list, str, int, float, bool,
None) with three additions defined here:

* ``Unknown`` -- a value that cannot be known statically (a ``reference()`` result, a
  ``listKeys()`` result, a parameter with no value, a Key Vault reference, a malformed
  expression).  It is a ``str`` subclass so that it flows through JMESPath and through
  ``concat``-style string building, and so that *presence still counts*: an unknown is
  truthy, like any non-empty string.  Comparing an unknown (``==``/``!=``) records that a
  decision consulted it; the rule evaluator turns such decisions into *unresolved*
  results instead of silent passes or failures.
* ``Origin`` -- where a resolved value came from (literal, parameter default, parameter
  file, command line, variable), with a file position.
* ``CIDict`` -- a dict whose ``get`` falls back to a case-insensitive key match, because
  ARM property names are case-insensitive and rules must not care how a template spells
  ``disableLocalAuth``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------- unknowns


@dataclass(frozen=True)
class UnknownCause:
    """One underlying reason a value is unknown.

    kind:
      ``parameter``  a parameter with no default and no supplied value
      ``keyvault``   a parameter-file Key Vault ``reference``
      ``reference``  a ``reference()``/``references()`` result
      ``list``       a ``listKeys()``/``list*()`` result (carries secrets)
      ``runtime``    ``utcNow()``, ``newGuid()`` and other deploy-time values
      ``error``      a malformed expression (already reported as an error)
      ``limit``      an evaluation bound was exceeded (already reported)
      ``unsupported`` something the expander does not model (documented where raised)
    """

    kind: str
    detail: str
    function: str | None = None
    target: str | None = None  # resolved resource ID or name argument, when known


class Unknown(str):
    """A statically unknown value; see the module docstring.

    ``text`` is a best-effort rendering that keeps every known part, with unknown parts
    shown as ``{...}`` placeholders, e.g.
    ``HostName=hub1.azure-devices.net;SharedAccessKey={listKeys(<id>).primaryKey}``.
    Linking rules search it for resource IDs and host names.
    ``path`` is the member/index chain applied after the unknown atom
    (``listKeys(...).value[0].primaryKey`` -> ``("value", 0, "primaryKey")``).
    """

    causes: tuple[UnknownCause, ...]
    text: str
    path: tuple[str | int, ...]

    def __new__(
        cls,
        text: str,
        causes: tuple[UnknownCause, ...] = (),
        path: tuple[str | int, ...] = (),
    ) -> Unknown:
        self = str.__new__(cls, "{" + text + "}" if not text.startswith("{") else text)
        self.text = text
        self.causes = causes
        self.path = path
        return self

    # Pickling (``--jobs``) must keep the attributes.
    def __reduce__(self) -> tuple[Any, ...]:
        return (Unknown, (self.text, self.causes, self.path))

    @classmethod
    def of(
        cls,
        kind: str,
        detail: str,
        *,
        function: str | None = None,
        target: str | None = None,
        text: str | None = None,
    ) -> Unknown:
        cause = UnknownCause(kind=kind, detail=detail, function=function, target=target)
        return cls(text if text is not None else detail, (cause,))

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(c.kind for c in self.causes)

    @property
    def carries_secret(self) -> bool:
        """True when the value is, or was built from, a ``list*()`` result."""
        return any(c.kind == "list" for c in self.causes)

    def describe(self) -> str:
        """A one-line human description of why the value is unknown."""
        seen: list[str] = []
        for c in self.causes:
            if c.detail not in seen:
                seen.append(c.detail)
        return "; ".join(seen) if seen else self.text

    # Member access on an unknown stays unknown.  JMESPath field access calls ``.get``.
    def get(self, key: Any, default: Any = None) -> Unknown:
        if isinstance(key, int):
            suffix = f"[{key}]"
        else:
            suffix = f".{key}"
        return Unknown(self.text + suffix, self.causes, self.path + (key,))

    def __eq__(self, other: object) -> bool:
        consult(self)
        if isinstance(other, Unknown):
            return str.__eq__(self, other)
        return False

    def __ne__(self, other: object) -> bool:
        consult(self)
        if isinstance(other, Unknown):
            return str.__ne__(self, other)
        return True

    # Ordering an unknown is a decision that depends on it, like equality.
    def __lt__(self, other: object) -> bool:
        consult(self)
        return False

    __le__ = __lt__
    __gt__ = __lt__
    __ge__ = __lt__

    __hash__ = str.__hash__


def is_unknown(value: object) -> bool:
    return isinstance(value, Unknown)


def merge_causes(values: Any) -> tuple[UnknownCause, ...]:
    """All causes of the unknowns among ``values`` (an iterable), de-duplicated, ordered."""
    out: list[UnknownCause] = []
    for v in values:
        if isinstance(v, Unknown):
            for c in v.causes:
                if c not in out:
                    out.append(c)
    return tuple(out)


def render(value: Any) -> str:
    """The text form used when a value is concatenated or shown: unknowns keep their
    placeholder text, booleans print as ARM prints them."""
    if isinstance(value, Unknown):
        return "{" + value.text + "}" if not value.text.startswith("{") else value.text
    if value is True:
        return "True"
    if value is False:
        return "False"
    if value is None:
        return ""
    return str(value)


# Consultation tracking: the rule evaluator opens a scope, evaluates a condition, and reads
# which unknowns were compared.  Outside a scope, consulting is a no-op.
_scopes: list[list[Unknown]] = []


def collapse_placeholders(text: str, mark: str) -> tuple[str, bool]:
    """``text`` with each balanced ``{...}`` placeholder (an unknown part, possibly holding
    ``/``) replaced by ``mark``; the flag says whether the braces were balanced."""
    if "{" not in text:
        return text, True
    out: list[str] = []
    depth = 0
    for ch in text:
        if ch == "{":
            if depth == 0:
                out.append(mark)
            depth += 1
        elif ch == "}" and depth > 0:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out), depth == 0


def consult(value: Unknown) -> None:
    if _scopes:
        _scopes[-1].append(value)


class tracking:  # lower case: used like a function, ``with tracking() as consulted``
    """A consultation scope: the unknowns compared while it is open.  A class rather
    than a generator context manager, since the evaluator opens one per condition."""

    __slots__ = ("consulted",)

    def __enter__(self) -> list[Unknown]:
        self.consulted: list[Unknown] = []
        _scopes.append(self.consulted)
        return self.consulted

    def __exit__(self, *exc: object) -> None:
        _scopes.pop()


# --------------------------------------------------------------------------- provenance


@dataclass(frozen=True)
class Origin:
    """Where a resolved value came from.

    kind: ``literal`` | ``parameter-default`` | ``parameter-file`` | ``parameter-cli`` |
    ``variable`` | ``expression``.  ``file``/``line``/``column`` locate the text the value
    was read from (1-based; 0 when not applicable, e.g. a command-line value).
    ``name`` is the parameter or variable name when there is one.  ``detail`` is an
    ``expression``'s whole description, and for a ``variable`` what the variable read.
    """

    kind: str
    file: str = ""
    line: int = 0
    column: int = 0
    name: str = ""
    detail: str = ""

    def describe(self) -> str:
        at = f"{self.file}:{self.line}" if self.file and self.line else self.file
        if self.kind == "literal":
            return f"literal at {at}" if at else "literal"
        if self.kind == "parameter-default":
            return f"parameter '{self.name}', default at {at}"
        if self.kind == "parameter-file":
            return f"parameter '{self.name}', parameter file {at}"
        if self.kind == "parameter-cli":
            return f"parameter '{self.name}', --parameters on the command line"
        if self.kind == "variable":
            # detail: what the variable read, so provenance reaches the parameter file
            return f"variable '{self.name}' at {at}" + (f" using {self.detail}" if self.detail else "")
        return self.detail or f"expression at {at}"


# --------------------------------------------------------------------------- objects


class CIDict(dict[str, Any]):
    """A dict that keeps keys as written but answers ``get`` case-insensitively.

    Exact matches win; otherwise the first key equal ignoring case.  Only ``get`` and
    ``ci_key`` are case-insensitive: iteration, ``[]`` and ``in`` keep dict semantics so
    that code stays explicit about which it means.
    """

    def get(self, key: Any, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if isinstance(key, str):
            real = self.ci_key(key)
            if real is not None:
                return dict.__getitem__(self, real)
        return default

    def ci_key(self, key: str) -> str | None:
        if dict.__contains__(self, key):
            return key
        low = key.lower()
        for k in self:
            if isinstance(k, str) and k.lower() == low:
                return k
        return None


def ci_get(obj: Any, key: str, default: Any = None) -> Any:
    """Case-insensitive member lookup on any mapping; ``default`` for non-mappings."""
    if isinstance(obj, (dict, Mapping)):  # dict first: the ABC check is slow
        if key in obj:
            return obj[key]
        low = key.lower()
        for k, v in obj.items():
            if isinstance(k, str) and k.lower() == low:
                return v
    return default


def to_cidicts(value: Any) -> Any:
    """Recursively convert plain dicts to ``CIDict`` (unknowns and scalars kept)."""
    if isinstance(value, dict):
        return CIDict((k, to_cidicts(v)) for k, v in value.items())
    if isinstance(value, list):
        return [to_cidicts(v) for v in value]
    return value


@dataclass(frozen=True)
class Located:
    """A message tied to a position in a file (errors and warnings)."""

    path: str
    line: int
    column: int
    message: str
    severity: str = "error"  # "error" | "warning"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
