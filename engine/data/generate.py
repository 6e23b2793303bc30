"""Regenerate ``operations.json`` and ``builtin_roles.json`` from the shared corpus.

    python -m engine.data.generate --shared ../shared

Inputs (see README.md in this folder): ``az provider operation show`` dumps for
Microsoft.Devices and Microsoft.DeviceUpdate and the built-in role files under
``corpus/catalog/``, the Microsoft-docs operation list and built-in IoT roles under
``reference/``.  Upstream repositories and commits are read from ``corpus/MANIFEST.md``
so that the generated files say where every entry came from.  Output is deterministic
(sorted, one role per line) so regenerating shows reviewable diffs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.source import SourceError, decode, parse_json

HERE = Path(__file__).resolve().parent
PROVIDERS = ("Microsoft.Devices", "Microsoft.DeviceUpdate")


class GenerateError(Exception):
    pass


def _read(path: Path) -> Any:
    try:
        return parse_json(decode(path.read_bytes()))
    except (OSError, SourceError) as exc:
        raise GenerateError(f"{path}: {exc}") from None


def manifest_rows(corpus: Path) -> dict[str, dict[str, str]]:
    """``corpus/MANIFEST.md`` table rows by file column: repo, path, commit, license."""
    rows: dict[str, dict[str, str]] = {}
    try:
        text = (corpus / "MANIFEST.md").read_text(encoding="utf-8")
    except OSError:
        return rows
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not cells[0].startswith("`"):
            continue
        rows[cells[0].strip("`")] = {
            "repo": cells[1],
            "path": cells[2].strip("`"),
            "commit": cells[3].strip("`"),
            "license": cells[4],
        }
    return rows


def _source(rows: dict[str, dict[str, str]], key: str, file: str) -> dict[str, str]:
    row = rows.get(key, {})
    return {"file": file, **{k: row[k] for k in ("repo", "path", "commit", "license") if k in row}}


# ----------------------------------------------------------------------------- operations


def _dump_operations(dump: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if not isinstance(node, dict):
            return
        for op in node.get("operations") or []:
            if isinstance(op, dict) and isinstance(op.get("name"), str):
                out.append({
                    "name": op["name"],
                    "isDataAction": bool(op.get("isDataAction")),
                    "description": op.get("description") or "",
                })
        for rt in node.get("resourceTypes") or []:
            walk(rt)

    walk(dump)
    return out


def build_operations(shared: Path, corpus: Path) -> dict[str, Any]:
    rows = manifest_rows(corpus)
    sources: list[dict[str, Any]] = []
    # An operation is its name *and* its plane: ``IotHubs/jobs/read`` is both a control
    # action and a data action, and a role grants each through a different list.
    ops: dict[tuple[str, bool], dict[str, Any]] = {}
    for provider in PROVIDERS:
        rel = f"catalog/provider-operations/{provider}.json"
        for op in _dump_operations(_read(corpus / rel)):
            # The dumps may repeat an operation of one plane; first wins.
            ops.setdefault((op["name"].lower(), op["isDataAction"]), {**op, "source": f"dump:{provider}"})
        sources.append({"id": f"dump:{provider}", **_source(rows, rel, f"corpus/{rel}")})
    ref = _read(shared / "reference" / "microsoft-devices-operations.json")
    ref_source = ref.get("source", {}) if isinstance(ref, dict) else {}
    doc = str(ref_source.get("doc", ""))
    sources.append({
        "id": "docs",
        "file": "reference/microsoft-devices-operations.json",
        "repo": "MicrosoftDocs/azure-docs",
        "path": doc.removeprefix("MicrosoftDocs/azure-docs").strip(),
        "commit": str(ref_source.get("commit", "")),
    })
    for provider in (ref.get("providers") or {}).values():
        for group in provider.values():
            for op in group:
                name = op.get("operation")
                if not isinstance(name, str):
                    continue
                key = (name.lower(), bool(op.get("isDataAction")))
                if key not in ops:
                    ops[key] = {
                        "name": name,
                        "isDataAction": key[1],
                        "description": op.get("description") or "",
                        "source": "docs",
                    }
    secret = list((ref.get("secretReturningActions") or {}).get("operations") or [])
    # Every list*keys operation returns keys, whether or not the docs list names it.
    secret += [o["name"] for o in ops.values() if o["name"].lower().endswith("/listkeys/action")]
    # Keys come back from POST control actions, so the control entry gives the spelling.
    spelled = {s.lower(): ops.get((s.lower(), False), {"name": s})["name"] for s in secret}
    secret_names = sorted(spelled.values(), key=str.lower)
    return {
        "about": "Microsoft.Devices and Microsoft.DeviceUpdate RBAC operations (actions and data "
                 "actions) with the control-plane operations whose response holds shared access "
                 "keys. Generated by engine/data/generate.py; do not edit by hand.",
        "sources": sources,
        "secretReturning": secret_names,
        "operations": sorted(ops.values(), key=lambda o: (o["name"].lower(), o["isDataAction"])),
    }


# ----------------------------------------------------------------------------- roles


def _compact_block(block: Any) -> list[Any]:
    lists = [
        [s for s in (block.get(k) or []) if isinstance(s, str)]
        for k in ("actions", "notActions", "dataActions", "notDataActions")
    ]
    cond = block.get("condition")
    out: list[Any] = [*lists, cond] if isinstance(cond, str) and cond else list(lists)
    while out and out[-1] == []:
        out.pop()
    return out


def _compact_role(role: dict[str, Any]) -> list[Any] | None:
    guid = role.get("name")
    name = role.get("roleName")
    perms = role.get("permissions")
    if not (isinstance(guid, str) and isinstance(name, str) and isinstance(perms, list)):
        return None
    return [guid.lower(), name, [_compact_block(b) for b in perms if isinstance(b, dict)]]


def build_roles(shared: Path, corpus: Path) -> dict[str, Any]:
    rows = manifest_rows(corpus)
    folder = corpus / "catalog" / "builtin-roles"
    roles: dict[str, list[Any]] = {}
    for path in sorted(folder.glob("*.json")):
        data = _read(path)
        compact = _compact_role(data) if isinstance(data, dict) else None
        if compact is None:
            raise GenerateError(f"{path}: not an 'az role definition list' role")
        roles.setdefault(compact[0], compact)
    sources: list[dict[str, Any]] = [{
        "id": "builtin-roles",
        **_source(rows, "catalog/builtin-roles/ (928 files)", "corpus/catalog/builtin-roles/*.json"),
        "count": len(roles),
    }]
    ref = _read(shared / "reference" / "azure-builtin-roles-iot.json")
    added = 0
    for role in ref.get("roles") or []:
        compact = _compact_role(role) if isinstance(role, dict) else None
        if compact is not None and compact[0] not in roles:
            roles[compact[0]] = compact
            added += 1
    sources.append({
        "id": "docs-iot-roles",
        "file": "reference/azure-builtin-roles-iot.json",
        "note": "MicrosoftDocs built-in role pages; used only for roles missing from the folder",
        "added": added,
    })
    return {
        "about": "Every Azure built-in role definition: [guid, roleName, blocks], each block "
                 "[actions, notActions, dataActions, notDataActions, condition] with trailing empty "
                 "entries dropped. Assignable scope of every built-in role is '/'. Generated by "
                 "engine/data/generate.py; do not edit by hand.",
        "sources": sources,
        "roles": sorted(roles.values(), key=lambda r: (str(r[1]).lower(), r[0])),
    }


def dump_roles(data: dict[str, Any]) -> str:
    """JSON with one role per line: compact, yet a changed role is a one-line diff."""
    head = {k: v for k, v in data.items() if k != "roles"}
    text = json.dumps(head, indent=1, ensure_ascii=False)[:-2]
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in data["roles"]]
    return text + ',\n "roles": [\n' + ",\n".join(lines) + "\n ]\n}\n"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.data.generate", description=__doc__.split("\n")[0])
    p.add_argument("--shared", default=str(HERE.parent.parent.parent / "shared"),
                   help="the shared reference folder (holds reference/ and corpus/)")
    p.add_argument("--corpus", default=None,
                   help="the corpus folder (default: $IOTGUARD_CORPUS or <shared>/corpus)")
    p.add_argument("--output", default=str(HERE), help="where to write the JSON files")
    args = p.parse_args(argv)
    shared = Path(args.shared)
    corpus = Path(args.corpus or os.environ.get("IOTGUARD_CORPUS") or shared / "corpus")
    out = Path(args.output)
    try:
        ops = build_operations(shared, corpus)
        roles = build_roles(shared, corpus)
        out.mkdir(parents=True, exist_ok=True)
        (out / "operations.json").write_text(json.dumps(ops, indent=1, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
        (out / "builtin_roles.json").write_text(dump_roles(roles), encoding="utf-8")
    except (GenerateError, OSError) as exc:
        print(f"generate: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(ops['operations'])} operations and {len(roles['roles'])} built-in roles to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
