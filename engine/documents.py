"""Load input files and decide, from content alone, which kind of document each is.

Detection rules (documented in README "What gets checked"):

* **ARM template** -- an object whose ``$schema`` names any ``deploymentTemplate.json``
  schema (``deploymentTemplate``, ``subscriptionDeploymentTemplate``,
  ``managementGroupDeploymentTemplate``, ``tenantDeploymentTemplate``); or, with no
  ``$schema``, an object with ``resources`` (array or object) and ``contentVersion``.
* **az iot hub state export** -- an object whose ``arm`` member is a template as above;
  the template under ``arm`` is checked.
* **Parameter file** -- an object whose ``$schema`` names a ``deploymentParameters.json``
  schema.  The bare ``{"p": {"value": ...}}`` form counts only when the file is given
  with ``--parameters``.
* **Role definitions** -- an object in one of the three role shapes (ARM/REST/portal
  ``properties`` object, ``az role definition list/show`` output, the PascalCase input
  file of ``az role definition create`` / ``New-AzRoleDefinition``), or an array holding
  at least one such object (``az role definition list``); the array's other entries are
  reported as errors rather than skipped, since a hand-edited list that drops one role
  silently would pass a gate it should not.
* Anything else (``package.json``, ``tsconfig.json``, ...) is not ours and is skipped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

from engine.model import KIND_PARAMETERS, KIND_ROLES, KIND_TEMPLATE, Document
from engine.source import (
    MAX_DEPTH,
    JsonPath,
    KeyCounter,
    SourceError,
    SourceFile,
    check_depth,
    decode,
    parse_json,
    repeated_keys,
)

# Larger inputs are refused rather than read: nothing legitimate is this big, and a
# pre-commit hook must not stall on a stray data dump.
MAX_FILE_BYTES = 64 * 1024 * 1024


class LoadError(Exception):
    def __init__(self, path: str, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.line = line
        self.column = column


def read_source(abspath: str, display: str) -> tuple[SourceFile, Any]:
    """Read and parse one file; raise ``LoadError`` with a position on any fault."""
    try:
        # A device or FIFO (``/dev/zero``, a named pipe reached through a templateLink)
        # would be read forever: only regular files are read, and never past the limit.
        st = os.stat(abspath)
        if not stat.S_ISREG(st.st_mode):
            raise LoadError(display, "not a regular file; expected a JSON file")
        if st.st_size > MAX_FILE_BYTES:
            raise LoadError(display,
                            f"file is {st.st_size} bytes; larger than the {MAX_FILE_BYTES}-byte limit")
        with open(abspath, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise LoadError(display, f"file is larger than the {MAX_FILE_BYTES}-byte limit")
    except OSError as exc:
        raise LoadError(display, f"cannot read file: {exc.strerror or exc}") from None
    try:
        text = decode(raw)
        if not text.strip():
            raise SourceError("file is empty; expected a JSON document")
        keys = KeyCounter()
        data = parse_json(text, keys)
    except SourceError as exc:
        raise LoadError(display, exc.message, exc.line, exc.column) from None
    source = SourceFile(path=display, text=text)
    if keys.repeated:
        source.repeated = repeated_keys(text)
    # Each level of nesting opens a bracket: text with few of them needs no walk.
    if text.count("{") + text.count("[") > MAX_DEPTH and not check_depth(data):
        raise LoadError(display, f"JSON nesting deeper than {MAX_DEPTH} levels")
    return source, data


def _schema(obj: Mapping[str, Any]) -> str:
    s = obj.get("$schema")
    return s.lower() if isinstance(s, str) else ""


def is_template(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    schema = _schema(obj)
    if schema:
        return "deploymenttemplate.json" in schema
    return isinstance(obj.get("resources"), (list, dict)) and "contentVersion" in obj


def is_parameter_file(obj: Any) -> bool:
    return isinstance(obj, dict) and "deploymentparameters.json" in _schema(obj)


def is_bare_parameters(obj: Any) -> bool:
    """``{"p": {"value": ..}}`` as ``az deployment ... --parameters`` accepts it."""
    if not isinstance(obj, dict) or not obj:
        return False
    return all(
        isinstance(v, dict) and ("value" in v or "reference" in v) for v in obj.values()
    )


def looks_like_role(obj: Any) -> bool:
    """The role-definition shapes of facts §4.1 (keys case-insensitive).  One test for
    ``check`` and ``permissions``, so a file one command reads is never skipped by the other."""
    from engine.rbac import looks_like_role as _role_shape

    return _role_shape(obj)


def stray_entries(doc: Document) -> list[int]:
    """Indexes of a role-definition array's entries that are no role definition."""
    if not isinstance(doc.data, list):
        return []
    roles = {path[0] for path in doc.items if path}
    return [i for i in range(len(doc.data)) if i not in roles]


def classify(source: SourceFile, data: Any, *, as_parameters: bool = False) -> Document | None:
    """The document kind of parsed content, or None when the file is not ours."""
    if as_parameters:
        if is_parameter_file(data) or is_bare_parameters(data):
            return Document(kind=KIND_PARAMETERS, source=source, data=data)
        return None
    if is_template(data):
        return Document(kind=KIND_TEMPLATE, source=source, data=data)
    if isinstance(data, dict):
        if is_parameter_file(data):
            return Document(kind=KIND_PARAMETERS, source=source, data=data)
        arm = data.get("arm")
        if is_template(arm):
            return Document(kind=KIND_TEMPLATE, source=source, data=arm, root=("arm",))
        if looks_like_role(data):
            return Document(kind=KIND_ROLES, source=source, data=data, items=[()])
    if isinstance(data, list):
        items: list[JsonPath] = [(i,) for i, x in enumerate(data) if looks_like_role(x)]
        if items:
            return Document(kind=KIND_ROLES, source=source, data=data, items=items)
    return None
