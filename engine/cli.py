"""The ``iotguard`` command line.

Exit codes: 0 no finding at or above ``--fail-on``; 1 at least one; 2 usage error or any
input that could not be read or parsed (2 wins over 1; every other file is still checked).
Imports are lazy: a pre-commit run pays only for what it uses.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Sequence
from typing import Any

from engine import __version__
from engine.findings import SEVERITIES

FORMATS = ("text", "json", "sarif", "junit", "github")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # exit code 2 with a clear message, as documented
        self.print_usage(sys.stderr)
        _stderr(f"iotguard: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="iotguard",
        description="Policy-as-code for Azure IoT: checks ARM templates and RBAC role "
        "definitions for what weakens an IoT deployment.",
    )
    p.add_argument("--version", action="version", version=f"iotguard {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def common_run(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("paths", nargs="*", metavar="PATH",
                        help="files or directories (recursive, *.json and *.jsonc); default: .")
        sp.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip paths matching GLOB (repeatable)")
        sp.add_argument("--context", action="append", default=[], metavar="PATH",
                        help="also read PATH (file or directory) for cross-file correlation, "
                             "but report only on the PATHs given (repeatable; for pre-commit)")
        sp.add_argument("--parameters", "-p", action="append", default=[], metavar="FILE|NAME=VALUE",
                        help="parameter file or name=value for templates (repeatable, later wins)")
        sp.add_argument("--rules", action="append", default=[], metavar="DIR",
                        help="an extra rule directory (repeatable)")
        sp.add_argument("--select", action="append", default=[], metavar="RULES",
                        help="only these rules: ids, tags or prefixes, comma-separated")
        sp.add_argument("--ignore", action="append", default=[], metavar="RULES",
                        help="skip these rules: ids, tags or prefixes, comma-separated")
        sp.add_argument("--config", metavar="FILE", help="configuration file (default: "
                        ".iotguard.yaml found upward, or [tool.iotguard] in pyproject.toml)")
        sp.add_argument("--no-config", action="store_true", help="ignore configuration files")
        sp.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                        help="files processed in parallel (default: available CPUs)")

    check = sub.add_parser("check", help="check templates and role definitions")
    common_run(check)
    check.add_argument("--format", "-f", choices=FORMATS, default="text")
    check.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE (atomically)")
    check.add_argument("--sarif-file", metavar="FILE", help="also write SARIF to FILE")
    check.add_argument("--junit-file", metavar="FILE", help="also write JUnit XML to FILE")
    check.add_argument("--json-file", metavar="FILE", help="also write JSON to FILE")
    check.add_argument("--fail-on", choices=SEVERITIES, default=None,
                       help="lowest severity that fails the run (default: medium)")
    check.add_argument("--strict", action="store_true", help="unresolved results fail the run too")
    check.add_argument("--baseline", metavar="FILE", help="report only findings not in this baseline")
    check.add_argument("--show-suppressed", action="store_true", help="list suppressed findings (text)")
    check.add_argument("--no-color", action="store_true", help="no colour (also: NO_COLOR)")
    check.add_argument("--quiet", "-q", action="store_true", help="only failing findings and errors")
    check.add_argument("--verbose", "-v", action="store_true", help="also list skipped files")

    base = sub.add_parser("baseline", help="record current findings as accepted")
    common_run(base)
    base.add_argument("--output", "-o", metavar="FILE", default=".iotguard-baseline.json")

    rules = sub.add_parser("rules", help="list the rule pack")
    rules.add_argument("--rules", action="append", default=[], metavar="DIR")
    rules.add_argument("--format", "-f", choices=("text", "json"), default="text")

    explain = sub.add_parser("explain", help="print a rule's documentation")
    explain.add_argument("rule_id", metavar="ID")
    explain.add_argument("--rules", action="append", default=[], metavar="DIR")

    docs = sub.add_parser("docs", help="generate docs/rules/<ID>.md from the rule pack")
    docs.add_argument("--output", "-o", default="docs/rules", metavar="DIR")
    docs.add_argument("--rules", action="append", default=[], metavar="DIR")
    docs.add_argument("--check", action="store_true",
                      help="exit 1 if the directory is stale instead of writing it")

    perms = sub.add_parser("permissions",
                           help="what IoT operations each role effectively grants, and why")
    perms.add_argument("paths", nargs="+", metavar="FILE")
    perms.add_argument("--format", "-f", choices=("text", "json"), default="text")
    return p


def _split(values: Sequence[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _stderr(text: str) -> None:
    """Write to standard error with control characters escaped line by line: messages
    quote config keys, rule files and paths that a repository under review controls."""
    from engine.report.text import safe

    sys.stderr.write("\n".join(safe(line) for line in text.split("\n")))


def entry() -> int:
    """The ``iotguard`` command (``python -m engine``): ``main`` in a process that ends
    when it returns."""
    return main(exiting=True)


def main(argv: Sequence[str] | None = None, *, exiting: bool = False) -> int:
    parser = build_parser()
    args = parser.parse_args(_dash_paths(sys.argv[1:] if argv is None else argv, parser))
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from engine.rulepack import RuleError

    # A lone surrogate escape (``"\\ud800"``) is valid JSON but cannot be encoded; reports
    # show it escaped rather than dying on it.
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    try:
        if args.command in ("check", "baseline"):
            return _check(args)
        if args.command == "rules":
            return _rules(args)
        if args.command == "explain":
            return _explain(args)
        if args.command == "docs":
            return _docs(args)
        if args.command == "permissions":
            return _permissions(args)
    except RuleError as exc:
        for e in exc.all():
            _stderr(f"{_shown(e.path)}:{e.line}:{e.column}: error: {e.message}\n")
        return 2
    except _Usage as exc:
        _stderr(f"iotguard: error: {exc}\n")
        return 2
    except BrokenPipeError:
        return 0
    except _OutputError as exc:
        _stderr(f"iotguard: error: {exc}\n")
        return 2
    except Exception as exc:  # exit 1 means "findings": a crash must never look like it
        import traceback

        traceback.print_exc(file=sys.stderr)
        _stderr(f"iotguard: internal error ({type(exc).__name__}: {exc}); "
                         "please report it with the input that caused it\n")
        return 2
    finally:
        # Frozen by ``_check_run``.  A caller that goes on (tests, an embedding program)
        # gets its objects back under the collector; a process about to end leaves them
        # frozen, or its final collection would scan them all once more.
        if not exiting:
            gc.unfreeze()
    parser.error(f"unknown command {args.command}")
    return 2


def _dash_paths(argv: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """An existing file whose name starts with ``-`` given as ``./-x.json``: pre-commit
    passes a staged ``-x.json`` at the repository root as it is, and argparse would take
    it for an unknown option.  Option names themselves are never rewritten."""
    known: set[str] = set()
    parsers = [parser]
    while parsers:
        p = parsers.pop()
        for action in p._actions:
            known.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return [f"./{a}" if len(a) > 1 and a[0] == "-" and a.split("=", 1)[0] not in known
            and os.path.isfile(a) else a for a in argv]


class _Usage(Exception):
    pass


def _shown(path: str) -> str:
    """A rule file's path as reports show input files: relative to the working
    directory when inside it."""
    from engine.discover import display_path

    return display_path(path, os.getcwd()) if os.path.isabs(path) else path


class _OutputError(Exception):
    """A report file that cannot be written (a directory, no permission, disk full)."""


def _write_report(path: str, text: str, shown: str) -> None:
    from engine.report.files import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        raise _OutputError(f"cannot write {shown}: {exc.strerror or exc}") from None


def _load_pack(extra: Sequence[str], cwd: str, given: Sequence[str] = ()) -> Any:
    """The bundled pack plus ``extra`` directories; those of ``given`` came from the
    command line, so a missing one is a usage error rather than a rule-file error."""
    from engine.pipeline import load_rule_pack

    for d in given:
        if not os.path.isdir(os.path.join(cwd, d)):
            raise _Usage(f"--rules {d}: no such directory")
    return load_rule_pack(extra, cwd)


class _Stopped(Exception):
    """A configuration, rule file or baseline that stops the run before anything is
    reported: exit 2, with the problems still in every report file asked for."""

    def __init__(self, problems: list[Any]) -> None:
        super().__init__()
        self.problems = problems


def _check(args: argparse.Namespace) -> int:
    from engine.config import ConfigError
    from engine.findings import Problem
    from engine.rulepack import RuleError

    cwd = os.getcwd()
    try:
        try:
            return _check_run(args, cwd)
        except ConfigError as exc:
            raise _Stopped([Problem(exc.path, line, col, msg)
                            for line, col, msg in ((exc.line, exc.column, exc.message), *exc.more)]) from None
        except RuleError as exc:
            raise _Stopped([Problem(_shown(e.path), e.line, e.column, e.message)
                            for e in exc.all()]) from None
    except _Stopped as exc:
        return _report_stopped(args, cwd, exc.problems)
    except _Usage as exc:
        # A mistake in the options (an unknown --select name, a missing --rules dir)
        # still leaves the report files a CI upload step expects.
        _stderr(f"iotguard: error: {exc}\n")
        return _report_stopped(args, cwd, [Problem("", 0, 0, str(exc))], printed=True)


def _report_stopped(args: argparse.Namespace, cwd: str, problems: list[Any], printed: bool = False) -> int:
    """The errors on stderr as always, and -- since a CI step uploads the report files
    whatever the exit code -- in each machine-readable report that was asked for, so
    that step finds its file and shows why the run failed."""
    from engine.findings import RunResult

    for p in problems if not printed else ():
        _stderr(f"{p.path}:{p.line}:{p.column}: error: {p.message}\n")
    if args.command != "check":
        return 2
    result = RunResult(errors=list(problems), fail_on=args.fail_on or "medium", strict=args.strict)
    result.sort()
    for fmt, target in (("sarif", args.sarif_file), ("junit", args.junit_file),
                        ("json", args.json_file)):
        if target:
            _write_report(os.path.join(cwd, target), _render(fmt, result, cwd), target)
    if args.format != "text":  # text would only repeat what stderr says
        main_text = _render(args.format, result, cwd)
        if args.output:
            _write_report(os.path.join(cwd, args.output), main_text, args.output)
        else:
            sys.stdout.write(main_text)
    return 2


def _check_run(args: argparse.Namespace, cwd: str) -> int:
    from engine.pipeline import Options, run, select_rules

    config = None
    if not args.no_config:
        from engine.config import load_config

        config = load_config(cwd, args.config)
    opts = Options(cwd=cwd)
    if args.jobs is not None and args.jobs < 1:
        _stderr(f"iotguard: error: --jobs must be at least 1 (got {args.jobs})\n")
        return 2
    opts.jobs = args.jobs
    opts.paths = list(args.paths)
    opts.context = list(args.context)
    opts.excludes = list(args.exclude)
    opts.parameters = list(args.parameters)
    if config:
        opts.config_dir = config.base_dir
        opts.config_excludes = list(config.exclude)
        opts.parameter_map = dict(config.parameters)
    rule_dirs = list(args.rules)
    if config:
        rule_dirs += [os.path.join(config.base_dir, d) for d in config.rules]
    pack = _load_pack(rule_dirs, cwd, args.rules)
    infos = [r.info for r in pack]
    if config is not None:
        from engine.config import check_rule_names

        check_rule_names(config, infos)
    from engine.selectors import unknown_selector

    for option, values in (("--select", args.select), ("--ignore", args.ignore)):
        for sel in _split(values):
            why = unknown_selector(sel, infos)
            if why:
                raise _Usage(f"{option}: {why}")
    select = _split(args.select) or (list(config.select) if config else [])
    ignore = _split(args.ignore) + (list(config.ignore) if config else [])
    severity = dict(config.severity) if config else {}
    fail_on = getattr(args, "fail_on", None) or (config.fail_on if config and config.fail_on else "medium")
    opts.fail_on = fail_on
    opts.strict = bool(getattr(args, "strict", False))
    rules = select_rules(pack, select, ignore, severity)
    opts.known_rules = infos
    result = run(opts, rules)
    # What the run built lives until the process ends, and reporting allocates freely:
    # a full collection scanning millions of objects then cost a third of a second on a
    # 5,000-hub export.  Frozen, they are skipped (``main`` unfreezes them on return).
    gc.freeze()

    if config is not None:
        import datetime

        from engine.suppress import apply_config_suppressions

        apply_config_suppressions(result, config, datetime.date.today(), cwd)
    if args.command == "baseline":
        from engine.baseline import write_baseline
        from engine.report.text import problem_lines

        try:
            write_baseline(result, os.path.join(cwd, args.output), cwd)
        except OSError as exc:
            raise _OutputError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        result.sort()
        # Exit 2 must say why: an unreadable file is missing from the baseline.
        for line in problem_lines(result):
            _stderr(line + "\n")
        n = len(result.active_findings)
        sys.stdout.write(f"baseline: {n} finding{'s' if n != 1 else ''} recorded in {args.output}\n")
        return 2 if result.errors else 0
    if args.baseline:
        from engine.baseline import apply_baseline

        # An unusable baseline stops the run: reporting every finding it would have
        # accepted would open alerts for all of them.
        apply_baseline(result, os.path.join(cwd, args.baseline), args.baseline, cwd)
    result.sort()

    color = (
        not args.no_color and not os.environ.get("NO_COLOR") and args.output is None
        and sys.stdout.isatty()
    )
    main_text = _render(args.format, result, cwd, color=color, quiet=args.quiet,
                        verbose=args.verbose, show_suppressed=args.show_suppressed)
    for fmt, target in (("sarif", args.sarif_file), ("junit", args.junit_file),
                        ("json", args.json_file)):
        if target:
            _write_report(os.path.join(cwd, target), _render(fmt, result, cwd), target)
    if args.output:
        _write_report(os.path.join(cwd, args.output), main_text, args.output)
    else:
        sys.stdout.write(main_text)
    return result.exit_code()


def _render(fmt: str, result: Any, cwd: str, **text_opts: Any) -> str:
    if fmt == "text":
        from engine.report import text

        return text.render(result, base_dir=cwd, **text_opts)
    if fmt == "json":
        from engine.report import json_report

        return json_report.render(result, base_dir=cwd)
    if fmt == "sarif":
        from engine.report import sarif

        return sarif.render(result, base_dir=cwd)
    if fmt == "junit":
        from engine.report import junit

        return junit.render(result, base_dir=cwd)
    from engine.report import github

    return github.render(result, base_dir=cwd)


def _rules(args: argparse.Namespace) -> int:
    pack = _load_pack(args.rules, os.getcwd(), args.rules)
    if args.format == "json":
        import json

        rows = [{"id": r.id, "severity": r.severity, "title": r.info.title,
                 "tags": list(r.info.tags), "subject": r.info.subject} for r in pack]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    width = max((len(r.id) for r in pack), default=2)
    for r in pack:
        sys.stdout.write(f"{r.id.ljust(width)}  {r.severity.ljust(8)}  {r.info.title}\n")
    sys.stdout.write(f"\n{len(pack)} rules\n")
    return 0


def _find_rule(pack: Any, rule_id: str) -> Any:
    for r in pack:
        if r.id.lower() == rule_id.lower():
            return r
    import difflib

    ids = [r.id for r in pack]
    close = difflib.get_close_matches(rule_id.upper(), ids, n=1)
    hint = f"; did you mean {close[0]}?" if close else "; `iotguard rules` lists them"
    raise _Usage(f"no rule {rule_id!r}{hint}")


def _explain(args: argparse.Namespace) -> int:
    from engine.ruledocs import render_markdown

    pack = _load_pack(args.rules, os.getcwd(), args.rules)
    rule = _find_rule(pack, args.rule_id)
    sys.stdout.write(render_markdown(rule.info))
    return 0


def _docs(args: argparse.Namespace) -> int:
    from engine.ruledocs import expected_files, write_docs

    pack = _load_pack(args.rules, os.getcwd(), args.rules)
    infos = [r.info for r in pack]
    if args.check:
        stale = []
        for name, text in expected_files(infos).items():
            path = os.path.join(args.output, name)
            try:
                with open(path, encoding="utf-8") as fh:
                    if fh.read() != text:
                        stale.append(path)
            except OSError:
                stale.append(path)
        for s in stale:
            sys.stdout.write(f"stale: {s}\n")
        return 1 if stale else 0
    written = write_docs(infos, args.output)
    sys.stdout.write(f"wrote {len(written)} files to {args.output}\n")
    return 0


def _permissions(args: argparse.Namespace) -> int:
    from engine.permissions_cli import run_permissions

    return run_permissions(args.paths, args.format, os.getcwd())


if __name__ == "__main__":
    raise SystemExit(main())
