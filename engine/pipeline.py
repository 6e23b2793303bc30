"""One ``iotguard check`` run: load -> normalise -> evaluate -> suppress.

Each stage has a small typed interface: ``engine.documents`` loads, ``engine.arm`` and
``engine.rbac``/``engine.assignments`` normalise, ``engine.evaluate`` evaluates rules,
``engine.suppress``/``engine.baseline`` suppress.  Reporters format the ``RunResult``.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from engine.discover import Discovered, discover, display_path, glob_match, relative_to_base
from engine.documents import LoadError, classify, read_source
from engine.evaluate import NO_RUN, Evaluator, Subject, pairs, reads_other_files
from engine.findings import Finding, Problem, RuleInfo, RunResult, Unresolved
from engine.model import KIND_PARAMETERS, KIND_ROLES, KIND_TEMPLATE, Document, Mapped, Resource
from engine.rulepack import Rule, bundled_rules_dir, load_rules
from engine.run_index import RunIndex
from engine.selectors import matches
from engine.source import JsonPath, SourceFile
from engine.values import Located, Unknown, ci_get


@dataclass
class Options:
    paths: list[str] = field(default_factory=list)
    # Read for cross-file correlation (links, assignments, diagnostic settings, templates
    # of given parameter files) but not reported on: what a pre-commit hook needs, which
    # is handed only the staged files of a repository.
    context: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)  # globs relative to cwd (command line)
    parameters: list[str] = field(default_factory=list)  # files or name=value
    # From a configuration file, whose globs are relative to its directory ``config_dir``
    # (not the working directory, so that a run from a subdirectory reads them the same).
    config_dir: str = ""
    config_excludes: list[str] = field(default_factory=list)
    parameter_map: dict[str, list[str]] = field(default_factory=dict)  # template glob -> files
    rule_dirs: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)
    fail_on: str = "medium"
    strict: bool = False
    cwd: str = ""
    no_bundled_rules: bool = False
    jobs: int | None = None  # processes; None: one per available CPU
    today: datetime.date | None = None  # when suppressions expire; None: today
    # Every rule of the loaded pack (before --select/--ignore): what inline suppressions
    # may name. Empty: the rules the run is given.
    known_rules: list[RuleInfo] = field(default_factory=list)


R = TypeVar("R", Finding, Unresolved)


class UsageError(Exception):
    """A mistake in how iotguard was called (exit code 2, before any file is read)."""


def rule_matches(rule: Rule, selector: str) -> bool:
    """A selector names a rule id, a tag, or an id prefix such as ``HUB``."""
    return matches(rule.id, rule.info.tags, selector)


def select_rules(
    rules: Sequence[Rule], select: Sequence[str], ignore: Sequence[str],
    severity: dict[str, str],
) -> list[Rule]:
    out: list[Rule] = []
    for r in rules:
        if select and not any(rule_matches(r, s) for s in select):
            continue
        if any(rule_matches(r, s) for s in ignore):
            continue
        sev = next((v for k, v in severity.items() if k.lower() == r.id.lower()), None)
        if sev and sev != r.severity:
            r = replace(r, info=replace(r.info, severity=sev))
        out.append(r)
    return out


def load_rule_pack(extra_dirs: Sequence[str], cwd: str, bundled: bool = True) -> list[Rule]:
    dirs = [bundled_rules_dir()] if bundled else []
    dirs.extend(Path(os.path.join(cwd, d)) for d in extra_dirs)
    # The same directory named twice (in the configuration and with --rules) is loaded
    # once, not reported as every one of its rules being a duplicate of itself.
    unique: dict[str, Path] = {}
    for d in dirs:
        unique.setdefault(os.path.realpath(d), d)
    return load_rules(list(unique.values()))


# ----------------------------------------------------------------------------- run


@contextlib.contextmanager
def _fewer_full_collections() -> Iterator[None]:
    """A run builds millions of long-lived objects and frees few cycles; the collector's
    default of a full collection every ~70,000 surviving allocations spent a third of a
    1,000-file run re-scanning them.  Young generations are still collected as usual."""
    saved = gc.get_threshold()
    gc.set_threshold(saved[0], saved[1], max(saved[2], 1000))
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def run(options: Options, rules: Sequence[Rule]) -> RunResult:
    with _fewer_full_collections():
        return _run(options, rules)


def _run(options: Options, rules: Sequence[Rule]) -> RunResult:
    cwd = options.cwd or os.getcwd()
    jobs = _jobs(options.jobs)
    result = RunResult(fail_on=options.fail_on, strict=options.strict)
    result.rules = [r.info for r in rules]
    config_dir = options.config_dir or cwd
    excludes: list[str | tuple[str, str]] = [
        *options.excludes, *((config_dir, e) for e in options.config_excludes)]
    found = discover(options.paths, excludes, cwd)
    result.errors.extend(found.problems)
    files, context_only, real = _with_context(found, options, excludes, cwd)

    cli_problems: list[Problem] = []
    cli_params = _cli_parameter_sources(options.parameters, cwd, cli_problems)
    plan = _Plan(rules, options.known_rules or [r.info for r in rules], frozenset(context_only))
    work = _FileWork(options, cwd, cli_params,
                     {real[abspath]: (abspath, display) for abspath, display in files}, plan)
    loaded = _load_all(work, files, jobs)

    # Merged in file order whatever the number of jobs, so that output never depends on it.
    for item in loaded:
        if item.load_error is not None:
            result.errors.append(item.load_error)
        elif item.kind:
            result.files_checked.append(item.display)
            if item.kind == KIND_PARAMETERS:
                result.parameter_files.append(item.display)
        else:
            result.files_skipped.append(item.display)
    result.errors.extend(cli_problems)
    index = RunIndex()
    # The subjects still to evaluate, each with its place in the run's order (which
    # counts the subjects already evaluated with their file, see ``_Plan``) and whether
    # every rule is still to be evaluated on it or only those that read other files.
    subjects: list[Subject] = []
    order: list[int] = []
    every_rule: list[bool] = []
    outcomes: list[_Outcome] = []
    evaluated: set[tuple[str, str, str, str]] = set()
    modules = _linked_modules(loaded)
    placed = 0
    quiet: set[int] = set()  # resources of files read only as context
    for item in loaded:
        if item.display in modules:
            # A module the run also reaches through a templateLink is judged with the
            # values its deployments pass; read alone, its parameters would be unknown
            # defaults, reported a second time and as noise.
            continue
        result.errors.extend(item.errors)
        result.warnings.extend(item.warnings)
        result.not_checked.extend(item.not_checked)
        index.add_resources(item.resources)
        index.templates.extend(item.templates)
        index.roles.extend(item.roles)
        subjects.extend(item.subjects)
        order.extend(placed + slot for slot in item.slots)
        every_rule.extend([item.unevaluated] * len(item.subjects))
        outcomes.extend(((ri, placed + si), f, u, p) for (ri, si), f, u, p in item.outcomes)
        evaluated.update(item.evaluated)
        placed += item.n_subjects
        if item.context:
            quiet.update(id(r) for r in item.resources)
    del loaded

    known = len(subjects)
    _assignments(index, subjects, result, quiet)
    order.extend(range(placed, placed + len(subjects) - known))
    every_rule.extend([True] * (len(subjects) - known))
    evaluated.update(_evaluated(rules, subjects[known:]))
    outcomes.extend(_evaluate_all(plan, index, subjects, order, every_rule, jobs))
    findings, unresolved, problems = _merge(outcomes)
    result.evaluated = sorted(evaluated)
    result.findings.extend(findings)
    result.unresolved.extend(unresolved)
    result.errors.extend(problems)
    # A parameter file can be read for several templates (and once more as a file of the
    # run): the very same problem found twice is reported once.
    result.errors = list(dict.fromkeys(result.errors))
    result.warnings = list(dict.fromkeys(result.warnings))
    # A linked template that the run also checks directly yields its resources twice;
    # where both readings agree (same place, same message) the finding is one finding.
    result.findings = _unique(result.findings)
    result.unresolved = _unique(result.unresolved)
    if context_only:
        _drop_context(result, context_only)
    result.sort()
    return result


def _linked_modules(loaded: Sequence[_Loaded]) -> set[str]:
    """Display paths of the run's templates that another template of the run links to
    (through a deployment whose condition is not false)."""
    out: set[str] = set()
    for item in loaded:
        for t in item.templates:
            if t.deployment and t.condition is not False and t.source.path != item.display:
                out.add(t.source.path)
    return out


def _unique(results: list[R]) -> list[R]:
    seen: set[tuple[str, str, int, int, str]] = set()
    out: list[R] = []
    for r in results:
        key = (r.rule_id, r.path, r.line, r.column, r.message)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _with_context(
    found: Discovered, options: Options, excludes: Sequence[str | tuple[str, str]], cwd: str,
) -> tuple[list[tuple[str, str]], set[str], dict[str, str]]:
    """The files a run reads, the display paths of those it reads only as context, and
    the real path of each file read.

    A parameter file is checked through the templates it belongs to: given
    ``X.parameters.json``, the run reports on ``X.json`` too, and given a file that the
    configuration's ``parameters`` maps to templates, on those templates, since that is
    where a value the file changes takes effect (excludes still apply).  ``context``
    paths are read but not reported on."""
    given = found.files
    real = dict(found.real)
    seen = set(real.values())
    files = list(given)

    def take(more: Discovered) -> list[str]:
        """Add the files not read yet; their display paths."""
        added: list[str] = []
        for abspath, display in more.files:
            if more.real[abspath] not in seen:
                seen.add(more.real[abspath])
                real[abspath] = more.real[abspath]
                files.append((abspath, display))
                added.append(display)
        return added

    def bring(path: str) -> None:
        take(discover([path], excludes, cwd))

    for abspath, _ in given:
        stem, ext = os.path.splitext(abspath)
        if stem.lower().endswith(".parameters") and os.path.isfile(stem[: -len(".parameters")] + ext):
            bring(stem[: -len(".parameters")] + ext)
    globs = [g for g, fs in options.parameter_map.items()
             if any(os.path.realpath(f) in seen for f in fs)]
    if globs:
        base = options.config_dir or cwd
        for abspath, _ in discover(list(options.context) or [base], excludes, cwd).files:
            rel = relative_to_base(abspath, base)
            if rel is not None and any(glob_match(rel, g) for g in globs):
                bring(abspath)
    context_only: set[str] = set()
    if options.context:
        # Problems of context paths (one that does not exist) are not the run's to report.
        context_only.update(take(discover(options.context, excludes, cwd)))
    files.sort(key=lambda f: f[1])
    return files, context_only, real


def _drop_context(result: RunResult, context_only: set[str]) -> None:
    """Keep only what concerns the files reported on (see ``Options.context``)."""
    keep = context_only.__contains__
    result.findings = [f for f in result.findings if not keep(f.path)]
    result.unresolved = [u for u in result.unresolved if not keep(u.path)]
    result.errors = [e for e in result.errors if not keep(e.path)]
    result.warnings = [w for w in result.warnings if not keep(w.path)]
    result.not_checked = [n for n in result.not_checked if not keep(n.path)]
    result.files_checked = [p for p in result.files_checked if not keep(p)]
    result.files_skipped = [p for p in result.files_skipped if not keep(p)]
    result.parameter_files = [p for p in result.parameter_files if not keep(p)]
    result.evaluated = [e for e in result.evaluated if not keep(e[0])]


def _check_inline_rules(subjects: list[Subject], known: Sequence[RuleInfo], out: list[Problem]) -> None:
    """Drop inline suppressions that name no known rule (reported in ``out``).  The
    subjects are those of one file: a template subject's resources are its own."""
    from engine.suppress import check_inline_rules

    by_resource: dict[int, list[Any]] = {}
    for subject in subjects:
        if subject.suppress:
            subject.suppress, errors = check_inline_rules(subject.suppress, known)
            out.extend(errors)
            by_resource[id(subject.obj)] = subject.suppress
    # A finding of a template-wide rule (HUB008, HUB009) inside a resource honours that
    # resource's inline suppressions, as a finding of a resource rule would.
    for subject in subjects:
        if subject.kind == "template" and by_resource:
            by_name = getattr(subject.locate, "by_name", {})
            subject.part_suppress = {name: by_resource[id(r)] for name, r in by_name.items()
                                     if id(r) in by_resource}


# ----------------------------------------------------------------------------- files


@dataclass
class _Loaded:
    """What one input file contributes to the run.  Picklable: ``--jobs`` workers send it
    back to the main process, which merges every file's in file order."""

    display: str
    kind: str = ""  # "" when the file is not ours (skipped) or could not be read
    load_error: Problem | None = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    not_checked: list[Problem] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    templates: list[Any] = field(default_factory=list)
    roles: list[Any] = field(default_factory=list)
    # The subjects the rest of the run still evaluates rules on (see ``_Plan.settle``).
    subjects: list[Subject] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)  # each one's place among the file's subjects
    n_subjects: int = 0  # how many subjects the file has in all
    unevaluated: bool = False  # True: no rule has been evaluated on ``subjects`` yet
    context: bool = False  # True: read only as context, so no rule is evaluated on it
    outcomes: list[_Outcome] = field(default_factory=list)  # keyed by (rule, place)
    evaluated: list[tuple[str, str, str, str]] = field(default_factory=list)


# A file with more subjects than this (an exported resource group) leaves all of its
# evaluation to the rest of the run, which shares it among processes by subject.
MAX_SETTLED_SUBJECTS = 256


class _Plan:
    """Which rules are evaluated where.

    Most rules are decided by their subject's own file; those are evaluated as soon as
    the file is loaded, in the process that loaded it, so that only what cross-file
    rules need (the run index and their subjects) travels back from ``--jobs`` workers.
    Rules that read other files (``evaluate.reads_other_files``) wait for every file.
    """

    def __init__(self, rules: Sequence[Rule], known: Sequence[RuleInfo],
                 context_only: frozenset[str] = frozenset()) -> None:
        self.rules = rules
        self.known = known
        self.context_only = context_only  # display paths read only as context
        self.cross = frozenset(i for i, r in enumerate(rules) if reads_other_files(r))
        self.local = frozenset(range(len(rules))) - self.cross
        self.cross_kinds = {(r.subject_kind, t) for i, r in enumerate(rules) if i in self.cross
                            for t in r.types or ("",)}
        self._by_subject: dict[tuple[str, str, bool], tuple[int, ...]] = {}

    def settle(self, out: _Loaded) -> None:
        """Evaluate the file's own rules on its subjects and keep only the subjects (and
        the parts of templates) that the rest of the run still needs."""
        subjects = out.subjects
        out.n_subjects = len(subjects)
        out.slots = list(range(len(subjects)))
        if not subjects:
            return
        if self.context_only and _places(out) <= self.context_only:
            # Every finding on these subjects would be in a context file and dropped from
            # the report (``_drop_context``): the file contributes to the run index only.
            out.context = True
            out.subjects, out.slots = [], []
            out.templates = [_template_head(t) for t in out.templates]
            for r in out.resources:
                # Provenance is read only for findings, and for an assignment's principal
                # (its parameter name tells principals apart): the rest need not travel.
                if not r.type_lower.endswith("roleassignments"):
                    r.origins = {}
            return
        _check_inline_rules(subjects, self.known, out.errors)
        out.unevaluated = len(subjects) > MAX_SETTLED_SUBJECTS or not self.local
        evaluator = None if out.unevaluated else Evaluator(self.rules, NO_RUN)
        rules, local = self.rules, self.local
        evaluated: set[tuple[str, str, str, str]] = set()
        # Subject by subject rather than rule by rule: a file has few subjects and the
        # merge orders outcomes by their keys anyway.
        for si, subject in enumerate(subjects):
            path = subject.locate(()).source.path
            for ri in self._applicable(subject):
                rule = rules[ri]
                evaluated.add((path, rule.id, subject.type, subject.name))
                if evaluator is not None and ri in local:
                    outcome = evaluator.outcome(ri, rule, si, subject)
                    if outcome is not None:
                        out.outcomes.append(outcome)
        out.evaluated = list(evaluated)
        if evaluator is None:
            return
        evaluator.release()
        out.slots = [i for i, s in enumerate(subjects) if self._needed(s)]
        out.subjects = [subjects[i] for i in out.slots]
        if not any(s.kind == "template" for s in out.subjects):
            out.templates = [_template_head(t) for t in out.templates]

    def _applicable(self, subject: Subject) -> tuple[int, ...]:
        """The indexes of the rules evaluated on subjects of this kind and type (as
        ``evaluate.pairs`` pairs them)."""
        key = (subject.kind, subject.type_lower, subject.is_builtin)
        hit = self._by_subject.get(key)
        if hit is None:
            hit = self._by_subject[key] = tuple(
                i for i, r in enumerate(self.rules)
                if r.subject_kind == subject.kind
                and (not r.types or subject.type_lower in r.types)
                and (r.include_builtin or not subject.is_builtin))
        return hit

    def _needed(self, subject: Subject) -> bool:
        kinds = self.cross_kinds
        if (subject.kind, "") in kinds or (subject.kind, subject.type_lower) in kinds:
            return True
        # A role assignment's own subject holds the inline suppressions that its
        # role-assignment subject (built once every file is read) honours too.
        return subject.kind == "resource" and bool(subject.suppress)


def _places(out: _Loaded) -> set[str]:
    """Every file a finding on the subjects of ``out`` can point into: the file itself,
    the files its resources and templates come from (linked templates), and those their
    values are mapped to (parameter files)."""
    places = {out.display}
    for item in (*out.resources, *out.templates):
        places.add(item.source.path)
        places.update(m.source.path for m in item.mappings.values())
    return places


def _repeated_key_warnings(source: SourceFile) -> list[Problem]:
    """A key written twice in one object: JSON readers keep the last one without a word,
    and a reviewer reading the first is misled (``"disableLocalAuth": true`` above a
    later ``false``).  ARM is observed to keep the last one too (unverified)."""
    out: list[Problem] = []
    for _, key, first, at in source.repeated:
        line, col = source.line_col(at)
        first_line = source.line_col(first)[0]
        out.append(Problem(source.path, line, col, (
            f"'{key}' is written twice in one object (first at line {first_line}): only this "
            "later value is read, as JSON parsers and, as observed, ARM do; keep one"),
            "warning"))
    return out


def _template_head(t: Any) -> Any:
    """A template without its content: what the run index needs of a template whose
    subject has been evaluated (where it is, its deployment, scope and condition)."""
    return replace(t, raw={}, parameters={}, parameter_types={}, variables={}, outputs={},
                   origins={}, mappings={})


def _evaluated(rules: Sequence[Rule], subjects: Sequence[Subject]) -> list[tuple[str, str, str, str]]:
    """(file, rule, type, name) of each pair evaluated, for JUnit's passing testcases."""
    files = [subject.locate(()).source.path for subject in subjects]
    return list({(files[si], rule.id, subject.type, subject.name)
                 for _, rule, si, subject in pairs(rules, subjects)})


@dataclass
class _FileWork:
    """Read, classify and normalise one file (the expensive, per-file part of a run)."""

    options: Options
    cwd: str
    cli_params: list[Any]
    run_files: dict[str, tuple[str, str]]  # real path -> (absolute path, display path)
    plan: _Plan

    def __call__(self, file: tuple[str, str]) -> _Loaded:
        out = self._load(file)
        self.plan.settle(out)
        return out

    def _load(self, file: tuple[str, str]) -> _Loaded:
        abspath, display = file
        out = _Loaded(display)
        try:
            source, data = read_source(abspath, display)
        except LoadError as exc:
            out.load_error = Problem(exc.path, exc.line, exc.column, exc.message)
            return out
        doc = classify(source, data)
        if doc is None:
            return out
        doc.abspath = abspath
        out.kind = doc.kind
        out.warnings.extend(_repeated_key_warnings(source))
        if doc.kind == KIND_TEMPLATE:
            sources = _parameter_sources_for(doc, self.options, self.cwd, self.run_parameters,
                                             out.errors) + self.cli_params
            _expand(doc, sources, out, self.cwd, self.options.today or datetime.date.today())
        elif doc.kind == KIND_ROLES:
            _roles(doc, out)
        return out

    def run_parameters(self, real: str) -> tuple[bool, Document | None]:
        """Whether the run checks the file at ``real`` itself, and if so that file as a
        parameter file (read as the run reads it: None when it is of another kind or
        cannot be read, which the run reports once as that file's own error)."""
        found = self.run_files.get(real)
        if found is None:
            return False, None
        abspath, display = found
        try:
            source, data = read_source(abspath, display)
        except LoadError:
            return True, None
        doc = classify(source, data)
        if doc is None or doc.kind != KIND_PARAMETERS:
            return True, None
        doc.abspath = abspath
        return True, doc


# Below this many files a process pool costs more to start than it saves.
MIN_PARALLEL_FILES = 8
# Below this many subjects rule evaluation is not worth forking for.
MIN_PARALLEL_SUBJECTS = 256


def _jobs(requested: int | None) -> int:
    if requested is not None:
        if requested < 1:
            raise UsageError("--jobs must be at least 1")
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _fork_context() -> Any:
    """The 'fork' start method, or None where there is none (Windows).  Workers start
    from the main process's state (the rule pack and, for evaluation, the whole run
    index), which would be slow to pickle."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def _chunks(n: int, parts: int) -> list[range]:
    """``range(n)`` cut into at most ``parts`` contiguous, nearly equal ranges."""
    parts = max(1, min(parts, n))
    size, extra = divmod(n, parts)
    out: list[range] = []
    start = 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(range(start, end))
        start = end
    return out


_worker_state: Any = None  # what a forked worker was started with (see ``_pool``)


def _start_worker(state: Any) -> None:
    global _worker_state
    _worker_state = state
    # Inherited objects outlive the worker's work: keep the collector off them (and so
    # their memory pages shared with the main process).
    gc.freeze()


def _pool(workers: int, state: Any) -> Any:
    """A process pool whose workers see ``state`` (inherited through fork, not pickled),
    or None when processes cannot be forked here."""
    context = _fork_context()
    if context is None:
        return None
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=context,
                               initializer=_start_worker, initargs=(state,))


P = TypeVar("P")
T = TypeVar("T")


def _in_worker(fn: Callable[[Any, P], T], part: P) -> T:
    return fn(_worker_state, part)


def _share(jobs: int, state: Any, fn: Callable[[Any, P], T], parts: list[P]) -> list[T] | None:
    """``[fn(state, p) for p in parts]`` on ``jobs`` CPUs: ``jobs - 1`` forked workers
    take parts from the front while this process takes them from the back, until the
    two meet.  What this process computes is never pickled, and on two CPUs that is half
    of the run.  None when processes cannot be forked here."""
    pool = _pool(jobs - 1, state)
    if pool is None:
        return None
    with pool:
        futures = [pool.submit(_in_worker, fn, p) for p in parts]
        mine: dict[int, T] = {}
        for i in range(len(parts) - 1, -1, -1):
            # A part a worker has not started yet can be cancelled; one it has started
            # (or finished) means everything before it is the workers' too.
            if not futures[i].cancel():
                break
            mine[i] = fn(state, parts[i])
        return [mine[i] if i in mine else f.result() for i, f in enumerate(futures)]


def _load_all(work: _FileWork, files: list[tuple[str, str]], jobs: int) -> list[_Loaded]:
    if jobs > 1 and len(files) >= MIN_PARALLEL_FILES:
        # Imported once here rather than in every worker.
        import engine.arm.expander
        import engine.rbac  # noqa: F401

        parts = [files[r.start:r.stop] for r in _chunks(len(files), jobs * 32)]
        done = _share(jobs, work, _load_part, parts)
        if done is not None:
            return [item for part in done for item in part]
    return [work(f) for f in files]


def _load_part(work: _FileWork, files: list[tuple[str, str]]) -> list[_Loaded]:
    return [work(f) for f in files]


# ----------------------------------------------------------------------------- evaluation

_Outcome = tuple[tuple[int, int], list[Finding], list[Unresolved], list[Problem]]


@dataclass
class _Remaining:
    """The evaluation left once every file is loaded (see ``_Plan``)."""

    plan: _Plan
    index: RunIndex
    subjects: list[Subject]
    order: list[int]  # each subject's place in the run's order
    every_rule: list[bool]  # False: only the rules that read other files are left


def _evaluate_all(
    plan: _Plan, index: RunIndex, subjects: list[Subject], order: list[int],
    every_rule: list[bool], jobs: int,
) -> list[_Outcome]:
    """Evaluate what is left on every subject, keyed by (rule, place in the run's
    order); also in forked workers (each with the whole run index, so cross-file
    look-ups see everything) when there is enough to do."""
    state = _Remaining(plan, index, subjects, order, every_rule)
    if jobs > 1 and len(subjects) >= MIN_PARALLEL_SUBJECTS:
        done = _share(jobs, state, _evaluate_part, _chunks(len(subjects), jobs * 32))
        if done is not None:
            return [o for part in done for o in part]
    return _evaluate_part(state, range(len(subjects)))


def _evaluate_part(state: _Remaining, part: range) -> list[_Outcome]:
    evaluator = Evaluator(state.plan.rules, state.index)
    cross, every_rule, order = state.plan.cross, state.every_rule, state.order
    outcomes = [((ri, order[si]), f, u, p) for (ri, si), f, u, p in evaluator.outcomes(
        state.subjects, part, keep=lambda ri, si: every_rule[si] or ri in cross)]
    # The JMESPath function table refers back to its owner, a cycle that would keep the
    # whole run alive until a full collection (half a second of a 1,000-file run).
    evaluator.release()
    return outcomes


def _merge(outcomes: list[_Outcome]) -> tuple[list[Finding], list[Unresolved], list[Problem]]:
    """Results in the order one process would evaluate them (rule by rule, subject by
    subject, wherever each pair was evaluated); a rule's error is reported once, where
    that order first meets it."""
    outcomes.sort(key=lambda o: o[0])
    findings: list[Finding] = []
    unresolved: list[Unresolved] = []
    problems: list[Problem] = []
    failed: set[int] = set()
    for (rule, _), f, u, p in outcomes:
        findings.extend(f)
        unresolved.extend(u)
        if p and rule not in failed:
            failed.add(rule)
            problems.append(p[0])
    return findings, unresolved, problems


def _doc_abspath(doc: Document) -> str:
    return doc.abspath or doc.source.path


def _located(loc: Located) -> Problem:
    return Problem(loc.path, loc.line, loc.column, loc.message, loc.severity)


def _load_parameter_doc(abspath: str, cwd: str) -> Document | Problem:
    display = display_path(abspath, cwd)
    try:
        source, data = read_source(abspath, display)
    except LoadError as exc:
        return Problem(exc.path, exc.line, exc.column, exc.message)
    doc = classify(source, data, as_parameters=True)
    if doc is not None:
        doc.abspath = abspath
    if doc is None:
        return Problem(display, 1, 1, "not a parameter file: expected a deploymentParameters.json "
                       "document or an object of {\"name\": {\"value\": ...}}")
    return doc


def _parameter_sources_for(
    doc: Document, options: Options, cwd: str,
    run_parameters: Callable[[str], tuple[bool, Document | None]],
    problems: list[Problem],
) -> list[Any]:
    from engine.arm.expander import ParameterSource

    abspath = _doc_abspath(doc)
    sources: list[Any] = []
    stem, ext = os.path.splitext(abspath)
    sibling = os.path.realpath(f"{stem}.parameters{ext}")
    in_run, run_doc = run_parameters(sibling)
    if run_doc is not None:
        sources.append(ParameterSource(kind="file", document=run_doc))
    elif not in_run and os.path.isfile(sibling):
        loaded = _load_parameter_doc(sibling, cwd)
        if isinstance(loaded, Problem):
            problems.append(loaded)
        else:
            sources.append(ParameterSource(kind="file", document=loaded))
    relative = (relative_to_base(abspath, options.config_dir) if options.config_dir
                else display_path(abspath, cwd))
    for pattern, files in options.parameter_map.items():
        if relative is not None and glob_match(relative, pattern):
            for f in files:
                loaded = _load_parameter_doc(os.path.join(cwd, f), cwd)
                if isinstance(loaded, Problem):
                    problems.append(loaded)
                else:
                    sources.append(ParameterSource(kind="file", document=loaded))
    return sources


def _cli_parameter_sources(values: Sequence[str], cwd: str, problems: list[Problem]) -> list[Any]:
    if not values:
        return []
    from engine.arm.expander import ParameterSource

    out: list[Any] = []
    for v in values:
        candidate = v[1:] if v.startswith("@") else v
        if os.path.isfile(os.path.join(cwd, candidate)):
            loaded = _load_parameter_doc(os.path.join(cwd, candidate), cwd)
            if isinstance(loaded, Problem):
                problems.append(loaded)
            else:
                out.append(ParameterSource(kind="file", document=loaded))
        elif "=" in v:
            name, _, value = v.partition("=")
            out.append(ParameterSource(kind="cli", name=name.strip(), value=value))
        else:
            problems.append(Problem(v, 0, 0, "--parameters expects a parameter file or name=value"))
    return out


def _expand(doc: Document, sources: list[Any], out: _Loaded, cwd: str, today: datetime.date) -> None:
    from engine.arm.expander import expand

    base_dir = os.path.dirname(_doc_abspath(doc))

    def load_template(relative: str) -> Document | Located:
        target = os.path.normpath(os.path.join(base_dir, relative))
        display = display_path(target, cwd)
        try:
            source, data = read_source(target, display)
        except LoadError as exc:
            return Located(exc.path, exc.line, exc.column, exc.message)
        linked = classify(source, data)
        if linked is None or linked.kind != KIND_TEMPLATE:
            return Located(display, 1, 1, "linked file is not an ARM template")
        linked.abspath = target
        return linked

    try:
        expansion = expand(doc, sources, load_template=load_template)
    except RecursionError:
        out.errors.append(Problem(doc.source.path, 1, 1, "template nesting is too deep to expand"))
        return
    out.errors.extend(_located(e) for e in expansion.errors)
    out.warnings.extend(_located(w) for w in expansion.warnings)
    for nc in expansion.not_checked:
        line, col = nc.source.locate(nc.path)
        out.not_checked.append(
            Problem(nc.source.path, line, col, f"linked template {nc.target} not checked: {nc.reason}",
                    "warning")
        )
    live = [r for r in expansion.resources if r.condition is not False]
    out.resources.extend(live)
    out.templates.extend(expansion.templates)
    for t in expansion.templates:
        out.subjects.append(_template_subject(t, live, expansion.templates))
    for r in live:
        if r.existing:
            continue
        problems: list[Problem] = []
        subject = resource_subject(r, today, problems)
        out.subjects.append(subject)
        out.errors.extend(p for p in problems if p.severity == "error")
        out.warnings.extend(p for p in problems if p.severity != "error")
        if r.type_lower == "microsoft.authorization/roledefinitions":
            from engine.rbac import role_body, role_from_resource

            role = role_from_resource(r)
            out.roles.append(role)
            role_subject = _role_subject(role, r.source, _ResourceRole(r, role), role_body(role), r)
            # ROLE rules judge the role this resource defines: its metadata suppresses them
            role_subject.suppress = subject.suppress
            out.subjects.append(role_subject)


def _raw_at(doc: Document, path: JsonPath) -> Any:
    cur: Any = doc.data
    for step in path[len(doc.root):]:
        if isinstance(cur, dict) and isinstance(step, str):
            cur = cur.get(step)
        elif isinstance(cur, list) and isinstance(step, int) and 0 <= step < len(cur):
            cur = cur[step]
        else:
            return None
    return cur


def resource_subject(r: Resource, today: datetime.date | None = None,
                     problems: list[Problem] | None = None) -> Subject:
    """The subject rules see for resource ``r``; ``problems`` receives what is wrong
    with its inline suppressions (errors) or no longer applies (warnings)."""
    from engine.suppress import read_inline

    name = r.name if isinstance(r.name, str) else str(r.name)
    note = _condition_note(r.condition)
    today = today or datetime.date.today()
    suppress, errors, warnings = read_inline(ci_get(r.body, "metadata"), r.map, today)
    if problems is not None:
        problems.extend(errors)
        problems.extend(warnings)
    return Subject(
        kind="resource",
        body=r.body,
        type=r.type,
        name=name,
        raw_name=r.written_name if r.written_name is not None else name,
        resource_key=f"{r.type.lower()}|{name.lower()}",
        locate=r.map,
        api_version=r.api_version,
        condition_note=note,
        suppress=suppress,
        obj=r,
    )


def _condition_note(condition: bool | Unknown) -> str:
    if isinstance(condition, Unknown):
        return f"deployed only if its condition holds, which is unknown: {condition.describe()}"
    return ""


def _template_subject(t: Any, resources: Sequence[Resource], templates: Sequence[Any]) -> Subject:
    """A whole template for rules about where values flow (HUB008, HUB009): its
    parameters, variables and outputs, the bodies of the resources it declares, and its
    nested deployments with the parameter types the receiving template declares (None
    when that template is not available)."""
    from engine.values import CIDict

    own = [r for r in resources if r.deployment == t.deployment and r.source is t.source]
    # Keyed by deployment name so findings read ``deployments.<name>.parameters.<p>``.
    deployments: dict[str, Any] = {}
    dep_resources: dict[str, Resource] = {}
    for r in own:
        if r.type_lower != "microsoft.resources/deployments":
            continue
        chain = (*t.deployment, str(r.name).rsplit("/", 1)[-1])
        child = next((c for c in templates if c.deployment == chain), None)
        props = ci_get(r.body, "properties")
        link = ci_get(props, "templateLink")
        deployments[chain[-1]] = CIDict(
            name=r.name,
            parameters=ci_get(props, "parameters") if isinstance(ci_get(props, "parameters"), dict) else {},
            parameterTypes=dict(child.parameter_types) if child is not None else None,
            linked=(ci_get(link, "uri") or ci_get(link, "relativePath") or ci_get(link, "id") or "")
            if child is None else "",
        )
        dep_resources[chain[-1]] = r
    raw_outputs = ci_get(t.raw, "outputs")
    output_types = {
        k: ci_get(v, "type") for k, v in raw_outputs.items() if isinstance(v, dict)
    } if isinstance(raw_outputs, dict) else {}
    # Keyed by resource name, so findings read ``resources.<name>.properties...``.
    by_name: dict[str, Resource] = {}
    for r in own:
        key = str(r.name)
        n = 2
        while key in by_name:
            key, n = f"{r.name} ({n})", n + 1
        by_name[key] = r
    # A default that a parameter file or -p overrides is still written in the template
    # (and in the repository): HUB008 must see it, though no resource ever receives it.
    overridden: dict[str, Any] = {}
    raw_params = ci_get(t.raw, "parameters")
    if isinstance(raw_params, dict):
        for pname, decl in raw_params.items():
            default = ci_get(decl, "defaultValue")
            if default is not None and not (isinstance(default, str) and default.startswith("[")
                                            and not default.startswith("[[")) \
                    and ci_get(t.parameters, pname) != default:
                overridden[pname] = CIDict(defaultValue=default)
    body = CIDict(
        parameterDefaults=overridden,
        parameters=t.parameters, variables=t.variables, outputs=t.outputs,
        parameterTypes=t.parameter_types, outputTypes=output_types,
        resources={k: r.body for k, r in by_name.items()}, deployments=deployments, raw=t.raw,
    )

    locate = _TemplateLocator(t, by_name, dep_resources)
    label = "/".join(t.deployment) if t.deployment else "(root)"
    return Subject(
        kind="template", body=body, type="template", name=label, raw_name=label,
        resource_key=f"template|{label.lower()}", locate=locate,
        condition_note=_condition_note(t.condition), obj=t,
    )


def _role_subject(role: Any, source: Any, locate: Any, body: Any, obj: Any) -> Subject:
    name = role.name if isinstance(role.name, str) else str(role.name)
    return Subject(
        kind="role-definition", body=body, type="Microsoft.Authorization/roleDefinitions",
        name=name, raw_name=name, resource_key=f"role|{str(role.guid or name).lower()}",
        locate=locate, is_builtin=bool(role.is_builtin), obj=role,
    )


def _roles(doc: Document, out: _Loaded) -> None:
    from engine.documents import stray_entries
    from engine.rbac import normalize_role, role_body

    for i in stray_entries(doc):
        line, col = doc.source.locate((i,))
        out.errors.append(Problem(doc.source.path, line, col, (
            f"entry {i} of this role-definition list is not a role definition: expected an "
            "object with roleName and permissions (az role definition list), Name and Actions "
            "(az role definition create input) or properties.roleName and properties.permissions "
            "(ARM/portal)")))
    for item_path in doc.items:
        obj = _raw_at(doc, item_path)
        role, problems = normalize_role(obj, item_path)
        for ppath, message in problems:
            line, col = doc.source.locate(ppath)
            out.errors.append(Problem(doc.source.path, line, col, message))
        if role is None:
            continue
        if not role.is_builtin:
            out.roles.append(role)
        out.subjects.append(
            _role_subject(role, doc.source, _FileRole(doc.source, role), role_body(role), role)
        )


# Subjects' ``locate`` callables are classes rather than closures so that subjects pickle.


class _TemplateLocator:
    """Maps a template subject's body paths: ``resources.<name>`` and
    ``deployments.<name>`` to those resources, anything else to the template."""

    def __init__(self, template: Any, by_name: dict[str, Resource],
                 dep_resources: dict[str, Resource]) -> None:
        self.template = template
        self.by_name = by_name
        self.dep_resources = dep_resources

    def __call__(self, path: JsonPath) -> Mapped:
        head = path[0] if path else None
        if head == "resources" and len(path) >= 2 and path[1] in self.by_name:
            return self.by_name[str(path[1])].map(path[2:])
        if head == "deployments" and len(path) >= 2 and path[1] in self.dep_resources:
            rest = path[2:]
            dep = self.dep_resources[str(path[1])]
            return dep.map(("properties", *rest)) if rest[:1] == ("parameters",) else dep.map(())
        if head == "parameterDefaults" and len(path) >= 2:
            t = self.template
            return Mapped(t.source, (*t.path, "parameters", *path[1:]))
        mapped: Mapped = self.template.map(path)
        return mapped


class _ResourceRole:
    """Role-body paths of a role that a template resource defines."""

    def __init__(self, resource: Resource, role: Any) -> None:
        self.resource = resource
        self.role = role

    def __call__(self, path: JsonPath) -> Mapped:
        return self.resource.map(self.role.source_path(path))


class _FileRole:
    """Role-body paths of a role read from a role-definition file."""

    def __init__(self, source: SourceFile, role: Any) -> None:
        self.source = source
        self.role = role

    def __call__(self, path: JsonPath) -> Mapped:
        return Mapped(self.source, self.role.source_path(path))


def _assignments(index: RunIndex, subjects: list[Subject], result: RunResult,
                 quiet: Collection[int] = ()) -> None:
    ras = index.deployed("Microsoft.Authorization/roleAssignments")
    ras += [r for r in index.resources if r.type.lower().endswith("/providers/roleassignments")
            and not r.existing]
    if not ras:
        return
    from engine.assignments import assignment_body, default_lookup, from_resource

    # ``from_resource`` looks for the template a resource came from among the templates
    # it is given; handing it only those of the same file keeps a run linear.
    by_file: dict[str, list[Any]] = {}
    for t in index.templates:
        by_file.setdefault(t.source.path, []).append(t)
    lookup = default_lookup(index.roles)
    # The resource's own subject has read (and reported) its inline suppressions; the
    # assignment subject of the same resource honours them too.
    suppress_of = {id(s.obj): s.suppress for s in subjects if s.kind == "resource"}
    for r in ras:
        view = RunIndex(resources=index.resources, templates=by_file.get(r.source.path, []),
                        roles=index.roles)
        a = from_resource(r, view, lookup=lookup)
        index.assignments.append(a)
        if id(r) in quiet:
            continue  # correlated with the run, but reported nowhere: no rule needed
        name = r.name if isinstance(r.name, str) else str(r.name)
        subjects.append(
            Subject(
                kind="role-assignment", body=assignment_body(a), type=r.type, name=name,
                raw_name=r.written_name if r.written_name is not None else name,
                resource_key=f"{r.type.lower()}|{name.lower()}", locate=r.map,
                api_version=r.api_version, obj=a, suppress=suppress_of.get(id(r), []),
            )
        )
