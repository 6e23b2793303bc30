"""Which files a run checks: paths and directories, recursive, with excludes."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.findings import Problem

EXTENSIONS = (".json", ".jsonc")
SKIP_DIRS = frozenset({".git", "node_modules", ".hg", ".svn", ".venv", "__pycache__", ".tox"})


@dataclass
class Discovered:
    files: list[tuple[str, str]] = field(default_factory=list)  # (absolute path, display path)
    problems: list[Problem] = field(default_factory=list)


def display_path(abspath: str, cwd: str) -> str:
    """Relative to the working directory when inside it, with forward slashes."""
    try:
        rel = os.path.relpath(abspath, cwd)
    except ValueError:  # another drive on Windows
        rel = abspath
    if rel.startswith(".." + os.sep) or rel == "..":
        rel = abspath
    return rel.replace(os.sep, "/")


def glob_match(path: str, pattern: str) -> bool:
    """Match a relative path against a glob: ``*`` within a segment, ``**`` across
    segments; a pattern without ``/`` also matches any single segment (like .gitignore).
    A leading ``./`` means "from here" and is dropped; a leading dot that belongs to a
    name (``.azure/**``) is kept."""
    path = path.replace("\\", "/")
    pattern = pattern.replace("\\", "/").rstrip("/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    if "/" not in pattern:
        return any(fnmatch.fnmatchcase(seg, pattern) for seg in path.split("/"))
    return _match_segments(path.split("/"), pattern.split("/"))


def _match_segments(parts: list[str], pats: list[str]) -> bool:
    if not pats:
        return not parts
    head, rest = pats[0], pats[1:]
    if head == "**":
        return any(_match_segments(parts[i:], rest) for i in range(len(parts) + 1))
    if not parts:
        return False
    if fnmatch.fnmatchcase(parts[0], head):
        # a directory pattern also matches everything below it
        return _match_segments(parts[1:], rest) or (not rest)
    return False


def discover(paths: Sequence[str], excludes: Sequence[str], cwd: str) -> Discovered:
    out = Discovered()
    seen: set[str] = set()

    def excluded(display: str) -> bool:
        return any(glob_match(display, p) for p in excludes)

    def add(abspath: str) -> None:
        real = os.path.realpath(abspath)
        if real in seen:
            return
        seen.add(real)
        out.files.append((abspath, display_path(abspath, cwd)))

    for given in paths or ["."]:
        abspath = os.path.abspath(os.path.join(cwd, given))
        if os.path.isfile(abspath):
            if not excluded(display_path(abspath, cwd)):
                add(abspath)
            continue
        if not os.path.isdir(abspath):
            what = "not a regular file" if os.path.exists(abspath) else "no such file or directory"
            out.problems.append(Problem(given, 0, 0, what))
            continue
        for root, dirs, files in os.walk(abspath):
            dirs[:] = sorted(
                d for d in dirs
                if d not in SKIP_DIRS and not excluded(display_path(os.path.join(root, d), cwd))
            )
            for name in sorted(files):
                if not name.lower().endswith(EXTENSIONS):
                    continue
                full = os.path.join(root, name)
                # A FIFO or device named *.json would block the read forever.
                if not os.path.isfile(full):
                    continue
                if not excluded(display_path(full, cwd)):
                    add(full)
    out.files.sort(key=lambda f: f[1])
    return out
