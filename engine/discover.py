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
    real: dict[str, str] = field(default_factory=dict)  # absolute path -> real path


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

    def add(abspath: str, real: str) -> None:
        if real in seen:
            return
        seen.add(real)
        out.files.append((abspath, display_path(abspath, cwd)))
        out.real[abspath] = real

    def walk(directory: str, real_dir: str) -> None:
        # scandir's entries know from the directory listing whether they are symlinks
        # or regular files: no stat per file, which is most of discovery in a monorepo.
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:  # unreadable: skipped, as os.walk skips it
            return
        subdirs: list[os.DirEntry[str]] = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name not in SKIP_DIRS:
                        subdirs.append(entry)
                    continue
                # A FIFO or device named *.json would block the read forever.
                if not entry.name.lower().endswith(EXTENSIONS) or not entry.is_file():
                    continue
                linked = entry.is_symlink()
            except OSError:
                continue
            if not excluded(display_path(entry.path, cwd)):
                add(entry.path, os.path.realpath(entry.path) if linked
                    else os.path.join(real_dir, entry.name))
        for d in subdirs:
            if not excluded(display_path(d.path, cwd)):
                walk(d.path, os.path.join(real_dir, d.name))

    for given in paths or ["."]:
        abspath = os.path.abspath(os.path.join(cwd, given))
        if os.path.isfile(abspath):
            if not excluded(display_path(abspath, cwd)):
                add(abspath, os.path.realpath(abspath))
            continue
        if not os.path.isdir(abspath):
            what = "not a regular file" if os.path.exists(abspath) else "no such file or directory"
            out.problems.append(Problem(given, 0, 0, what))
            continue
        walk(abspath, os.path.realpath(abspath))
    out.files.sort(key=lambda f: f[1])
    return out
