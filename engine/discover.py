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


def relative_to_base(abspath: str, base: str) -> str | None:
    """``abspath`` as a glob written in a file in ``base`` sees it: relative with forward
    slashes, or None when it lies outside ``base`` (out of that file's reach)."""
    try:
        rel = os.path.relpath(abspath, base)
    except ValueError:  # another drive on Windows
        return None
    if rel == ".." or rel.startswith(".." + os.sep):
        return None
    return rel.replace(os.sep, "/")


def discover(paths: Sequence[str], excludes: Sequence[str | tuple[str, str]], cwd: str) -> Discovered:
    """``excludes`` are command-line globs, matched against the displayed path (relative
    to ``cwd``, or absolute outside it), or (base directory, glob) pairs for globs written
    in a configuration file, matched relative to that file's directory."""
    out = Discovered()
    seen: set[str] = set()

    def excluded(display: str) -> bool:
        for e in excludes:
            if isinstance(e, str):
                rel: str | None = display
                pattern = e
            else:
                rel, pattern = relative_to_base(os.path.join(cwd, display), e[0]), e[1]
            if rel is not None and glob_match(rel, pattern):
                return True
        return False

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
