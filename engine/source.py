"""Reading input files: bytes to text, JSONC to values, and source positions on demand.

Speed matters here (a pre-commit hook runs on every commit), so values come from the C
``json`` parser and positions are computed lazily: a file's position index is built only
when a finding or error in that file needs a line and column.  JSONC handling keeps every
character offset intact (comments become spaces), so positions of the stripped text are
positions of the original text.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from dataclasses import dataclass, field
from typing import Any

JsonPath = tuple["str | int", ...]

# Past this depth a document is refused: recursive stages (expansion, rules) stay well
# inside Python's recursion limit, and no real template comes close.
MAX_DEPTH = 200


class SourceError(Exception):
    """A file that cannot be read as JSON/JSONC; carries a 1-based line and column."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


# ----------------------------------------------------------------------------- decoding


def decode(raw: bytes) -> str:
    """Decode file bytes as Azure tooling writes them: UTF-8 (with or without BOM) or
    UTF-16 LE/BE with a BOM (Windows PowerShell's ``>`` redirection)."""
    if raw.startswith(b"\xff\xfe\x00\x00") or raw.startswith(b"\x00\x00\xfe\xff"):
        raise SourceError("UTF-32 text is not supported; save the file as UTF-8")
    if raw.startswith(b"\xef\xbb\xbf"):
        return _decode_utf8(raw[3:], offset=3)
    if raw.startswith(b"\xff\xfe"):
        return _decode_utf16(raw[2:], "utf-16-le")
    if raw.startswith(b"\xfe\xff"):
        return _decode_utf16(raw[2:], "utf-16-be")
    if len(raw) >= 2 and (raw[0] == 0 or raw[1] == 0):
        raise SourceError(
            "file looks like UTF-16 without a byte-order mark; save it as UTF-8 "
            "(or UTF-16 with a BOM)"
        )
    return _decode_utf8(raw, offset=0)


def _decode_utf8(raw: bytes, offset: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = raw[: exc.start].decode("utf-8", errors="replace")
        line = good.count("\n") + 1
        column = len(good) - (good.rfind("\n") + 1) + 1
        raise SourceError(
            f"invalid UTF-8 byte 0x{raw[exc.start]:02x} at byte {exc.start + offset}; "
            "expected UTF-8 or UTF-16 with a byte-order mark",
            line,
            column,
        ) from None


def _decode_utf16(raw: bytes, codec: str) -> str:
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise SourceError(f"invalid {codec.upper()} text at byte {exc.start + 2}") from None


# ----------------------------------------------------------------------------- JSONC

# Strings are matched first so that ``//`` inside ``"https://..."`` is never a comment.
_JSONC_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?(?:\*/|\Z)', re.S)
_TRAILING_COMMA = re.compile(r'"(?:[^"\\]|\\.)*"|,(?=\s*[\]}])', re.S)


def _blank(text: str) -> str:
    """Replace every character but newlines with a space (keeps offsets and lines)."""
    return re.sub(r"[^\n]", " ", text)


def strip_jsonc(text: str) -> str:
    """Turn JSONC (``//`` and ``/* */`` comments, trailing commas) into JSON of the
    same length and line structure."""

    def comments(m: re.Match[str]) -> str:
        s = m.group(0)
        return s if s.startswith('"') else _blank(s)

    def commas(m: re.Match[str]) -> str:
        s = m.group(0)
        return s if s.startswith('"') else " "

    if "/" in text:
        text = _JSONC_TOKEN.sub(comments, text)
    return _TRAILING_COMMA.sub(commas, text)


class KeyCounter:
    """Notes whether a parsed document wrote some key twice in one object, which
    ``json.loads`` resolves silently (the last one wins)."""

    __slots__ = ("repeated",)

    def __init__(self) -> None:
        self.repeated = False

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            self.repeated = True
        return obj


def parse_json(text: str, keys: KeyCounter | None = None) -> Any:
    """Parse JSON or JSONC text; raise ``SourceError`` with the position of the fault.

    Plain JSON takes the fast path; JSONC is stripped and parsed again only when the
    first attempt fails.  Multi-line strings are accepted as the Azure CLI accepts them.
    ``keys`` notes repeated keys (see ``repeated_keys`` for where they are).
    """
    try:
        return _loads(text, keys)
    except json.JSONDecodeError:
        pass
    stripped = strip_jsonc(text)
    if stripped.lstrip().startswith("/*"):
        # an unterminated block comment swallowed everything
        stripped = stripped.strip()
    try:
        return _loads(stripped, keys)
    except json.JSONDecodeError as exc:
        raise SourceError(_describe_json_error(exc, stripped), exc.lineno, exc.colno) from None


def _loads(text: str, keys: KeyCounter | None = None) -> Any:
    try:
        value = json.loads(text, strict=False) if keys is None else \
            json.loads(text, strict=False, object_pairs_hook=keys)
        if "\\u" in text and _SURROGATE_ESCAPE.search(text):
            _refuse_lone_surrogates(text, value)
        return value
    except RecursionError:
        line, column = _deep_position(text)
        raise SourceError(
            f"JSON nesting deeper than {MAX_DEPTH} levels", line, column
        ) from None
    except json.JSONDecodeError:
        raise
    except ValueError:
        # Python refuses integers of more than 4,300 digits (a denial-of-service guard).
        m = _LONG_NUMBER.search(text)
        line, column = _line_col(text, m.start()) if m else (1, 1)
        raise SourceError("number with more than 4,300 digits; too long to read", line, column) from None


def repeated_keys(text: str) -> list[tuple[JsonPath, str, int, int]]:
    """Keys written more than once in one object, as (path of the object, key, offset
    of its first spelling, offset of the repeat), in file order.  Tokenises the text
    (comments allowed), so it is run only on a file ``KeyCounter`` flagged."""
    out: list[tuple[JsonPath, str, int, int]] = []
    # [path, keys seen (None for an array), key awaiting its value, next array index]
    stack: list[list[Any]] = []
    for m in _POS_TOKEN.finditer(text):
        tok = m.group(0)
        c = tok[0]
        if c in ",:" or tok[:2] in ("//", "/*"):
            continue
        if c in "}]":
            if stack:
                stack.pop()
            continue
        path: JsonPath = ()
        if stack:
            top = stack[-1]
            seen = top[1]
            if seen is not None:
                if top[2] is None:  # a key
                    key = tok[1:-1] if "\\" not in tok else _key_text(tok)
                    if key in seen:
                        out.append((top[0], key, seen[key], m.start()))
                    else:
                        seen[key] = m.start()
                    top[2] = key
                    continue
                path = (*top[0], top[2])
                top[2] = None
            else:
                path = (*top[0], top[3])
                top[3] += 1
        if c == "{":
            stack.append([path, {}, None, 0])
        elif c == "[":
            stack.append([path, None, None, 0])
    return out


def _key_text(token: str) -> str:
    try:
        key: str = json.loads(token)
        return key
    except json.JSONDecodeError:
        return token.strip('"')


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<![0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _refuse_lone_surrogates(text: str, value: Any) -> None:
    """A lone UTF-16 surrogate escape (``"\\ud800"``) parses, but is no character: no
    report could be written with it, and Azure would not accept it either."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
            stack.extend(v.keys())
        elif isinstance(v, list):
            stack.extend(v)
        elif isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                m = _LONE_SURROGATE.search(text)
                line, column = _line_col(text, m.start()) if m else (1, 1)
                raise SourceError(
                    "string holds a lone UTF-16 surrogate escape, which is not a character; "
                    "expected a pair (\\uD800-\\uDBFF then \\uDC00-\\uDFFF)", line, column
                ) from None


_LONG_NUMBER = re.compile(r"-?\d{4000,}")


def _describe_json_error(exc: json.JSONDecodeError, text: str) -> str:
    msg = exc.msg
    if exc.pos >= len(text.rstrip()):
        return f"unexpected end of file: {msg[0].lower() + msg[1:]} (the file looks truncated)"
    if msg.startswith("Unterminated string"):
        return "unterminated string"
    if msg.startswith("Expecting property name"):
        return "expected a property name in double quotes"
    if msg == "Extra data":
        return "unexpected text after the end of the JSON document"
    return msg[0].lower() + msg[1:]


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[{]|[\]}]', re.S)


def _deep_position(text: str) -> tuple[int, int]:
    depth = 0
    for m in _BRACKETS.finditer(text):
        tok = m.group(0)
        if tok in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return _line_col(text, m.start())
        elif tok in "]}":
            depth -= 1
    return 1, 1


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def check_depth(value: Any) -> bool:
    """True when ``value`` nests no deeper than MAX_DEPTH (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if d > MAX_DEPTH:
            return False
        if isinstance(v, dict):
            stack.extend((c, d + 1) for c in v.values() if isinstance(c, (dict, list)))
        elif isinstance(v, list):
            stack.extend((c, d + 1) for c in v if isinstance(c, (dict, list)))
    return True


# ----------------------------------------------------------------------------- positions

_POS_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|//[^\n]*|/\*.*?(?:\*/|\Z)|[^\s{}\[\]:,"/]+|/', re.S
)


class _Node:
    """Position of one JSON value: where its key (if any) and its value start.

    ``scanned`` is False while the members of a container have not been looked at yet
    (the lazy index below fills them in on first use)."""

    __slots__ = ("children", "key_offset", "scanned", "value_offset")

    def __init__(self, key_offset: int, value_offset: int, scanned: bool = True) -> None:
        self.key_offset = key_offset
        self.value_offset = value_offset
        self.scanned = scanned
        self.children: dict[str, _Node] | list[_Node] | None = None


# The lazy index: a finding needs the positions along a handful of paths, not of every
# token, so only the containers on those paths are scanned, and the members of each are
# stepped over by the C parser instead of being tokenised in Python.  Text the strict
# scanner cannot read (JSONC comments, trailing commas) falls back to ``_build_index``.
_WS = re.compile(r"[ \t\n\r]*")
_scan_value = json.scanner.make_scanner(json.JSONDecoder(strict=False))  # type: ignore[arg-type]
_scanstring = json.decoder.scanstring  # type: ignore[attr-defined]


class _NotStrict(Exception):
    """The text is not strict JSON where the lazy index looked."""


def _lazy_root(text: str) -> _Node:
    start = _WS.match(text).end()  # type: ignore[union-attr]
    if start >= len(text) or text[start] == "/":
        raise _NotStrict
    return _Node(-1, start, scanned=False)


def _scan(text: str, node: _Node) -> None:
    """Fill in the direct members of ``node`` (keys and value offsets, not deeper)."""
    ws = _WS.match
    pos = node.value_offset
    c = text[pos]
    node.scanned = True
    try:
        if c == "{":
            members: dict[str, _Node] = {}
            pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
            if text[pos] != "}":
                while True:
                    if text[pos] != '"':
                        raise _NotStrict
                    key, end = _scanstring(text, pos + 1, False)
                    key_offset = pos
                    pos = ws(text, end).end()  # type: ignore[union-attr]
                    if text[pos] != ":":
                        raise _NotStrict
                    pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
                    value_offset = pos
                    _, end = _scan_value(text, pos)
                    # The last of duplicate keys, as json.loads and ARM keep its value.
                    members[key] = _Node(key_offset, value_offset, scanned=False)
                    pos = ws(text, end).end()  # type: ignore[union-attr]
                    if text[pos] == "}":
                        break
                    if text[pos] != ",":
                        raise _NotStrict
                    pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
            node.children = members
        elif c == "[":
            items: list[_Node] = []
            pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
            if text[pos] != "]":
                while True:
                    items.append(_Node(pos, pos, scanned=False))
                    _, end = _scan_value(text, pos)
                    pos = ws(text, end).end()  # type: ignore[union-attr]
                    if text[pos] == "]":
                        break
                    if text[pos] != ",":
                        raise _NotStrict
                    pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
            node.children = items
    except (IndexError, StopIteration, ValueError):
        raise _NotStrict from None


def _build_index(text: str) -> _Node:
    root = _Node(-1, 0)
    # stack entries: [node, pending key, pending key offset]; the key is None when the
    # next token of an object is a key (and always for arrays, whose children are a list)
    stack: list[list[Any]] = []
    tokens = _POS_TOKEN.finditer(text)
    for m in tokens:
        tok = m.group(0)
        if tok[:2] in ("//", "/*"):
            continue
        root.value_offset = m.start()
        if tok[0] in "{[":
            root.children = {} if tok[0] == "{" else []
            stack.append([root, None, -1])
        break
    loads = json.loads
    for m in tokens:
        if not stack:
            break
        tok = m.group(0)
        c = tok[0]
        if c in ",:":
            continue
        if c in "}]":
            stack.pop()
            continue
        if c == "/" and tok[:2] in ("//", "/*"):
            continue
        top = stack[-1]
        children = top[0].children
        pos = m.start()
        if type(children) is dict:
            key = top[1]
            if key is None:
                if c != '"':
                    top[1] = tok
                elif "\\" not in tok:
                    top[1] = tok[1:-1]
                else:
                    try:
                        top[1] = loads(tok)
                    except json.JSONDecodeError:
                        top[1] = tok.strip('"')
                top[2] = pos
                continue
            child = _Node(top[2], pos)
            children[key] = child  # the last of duplicate keys wins, as in the parsed value
            top[1] = None
        else:
            child = _Node(pos, pos)
            children.append(child)
        if c in "{[":
            child.children = {} if c == "{" else []
            stack.append([child, None, -1])
    return root


_COUNTED_POSITIONS = 16


@dataclass
class SourceFile:
    """One input file: its display path, its text, and lazily computed positions."""

    path: str
    text: str
    _index: _Node | None = field(default=None, repr=False)
    _lines: list[int] | None = field(default=None, repr=False)
    _counted: int = field(default=0, repr=False)
    # Keys written twice in one object (``repeated_keys``), found when the file is read.
    repeated: list[tuple[JsonPath, str, int, int]] = field(default_factory=list, repr=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent between ``--jobs`` processes without its position index: the receiver
        # rebuilds one only if it needs a position, which is cheaper than pickling it.
        return (SourceFile, (self.path, self.text))

    def line_col(self, offset: int) -> tuple[int, int]:
        if self._lines is None:
            # Most files need a handful of positions: counting newlines (in C) is
            # cheaper than a table of every line, which pays off only past a few.
            if self._counted < _COUNTED_POSITIONS:
                self._counted += 1
                text = self.text
                return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
            self._lines = [0] + [m.end() for m in re.finditer("\n", self.text)]
        i = bisect.bisect_right(self._lines, offset) - 1
        return i + 1, offset - self._lines[i] + 1

    def resolve(self, path: JsonPath) -> tuple[JsonPath, bool]:
        """The longest existing prefix of ``path`` (keys matched case-insensitively, with
        the file's spelling) and whether the whole path exists."""
        nodes, whole = self._walk(path)
        return tuple(real for _, real in nodes[1:]), whole

    def locate(self, path: JsonPath) -> tuple[int, int]:
        """Line and column of ``path``: the key of an object member, the start of an
        array element, or the nearest existing ancestor when the path is absent."""
        node = self._walk(path)[0][-1][0]
        off = node.key_offset if node.key_offset >= 0 else node.value_offset
        return self.line_col(off)

    def locate_value(self, path: JsonPath) -> tuple[int, int]:
        """Line and column where the value at ``path`` (or nearest ancestor) starts."""
        return self.line_col(self._walk(path)[0][-1][0].value_offset)

    def _root(self) -> _Node:
        if self._index is None:
            try:
                self._index = _lazy_root(self.text)
            except _NotStrict:
                self._index = _build_index(self.text)
        return self._index

    def _walk(self, path: JsonPath) -> tuple[list[tuple[_Node, str | int]], bool]:
        """The nodes along ``path`` (with the file's spelling of each step) as far as it
        exists, and whether it exists whole."""
        while True:
            node = self._root()
            out: list[tuple[_Node, str | int]] = [(node, "")]
            try:
                for step in path:
                    if not node.scanned:
                        _scan(self.text, node)
                    nxt, real = _child(node, step)
                    if nxt is None:
                        return out, False
                    node = nxt
                    out.append((node, real))
                return out, True
            except _NotStrict:
                self._index = _build_index(self.text)


def _child(node: _Node, step: str | int) -> tuple[_Node | None, str | int]:
    ch = node.children
    if isinstance(ch, list):
        if isinstance(step, int) and 0 <= step < len(ch):
            return ch[step], step
        return None, step
    if isinstance(ch, dict) and isinstance(step, str):
        hit = ch.get(step)
        if hit is not None:
            return hit, step
        low = step.lower()
        for k, v in ch.items():
            if k.lower() == low:
                return v, k
    return None, step
