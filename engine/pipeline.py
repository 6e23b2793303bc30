"""One ``iotguard check`` run: load -> normalise -> evaluate -> suppress.

Each stage has a small typed interface: ``engine.documents`` loads, ``engine.arm`` and
``engine.rbac``/``engine.assignments`` normalise, ``engine.evaluate`` evaluates rules,
``engine.suppress``/``engine.baseline`` suppress.  Reporters format the ``RunResult``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.discover import discover, display_path, glob_match
from engine.documents import LoadError, classify, read_source
from engine.evaluate import Evaluator, Subject
from engine.findings import Problem, RunResult
from engine.model import KIND_PARAMETERS, KIND_ROLES, KIND_TEMPLATE, Document, Mapped, Resource
from engine.rulepack import Rule, bundled_rules_dir, load_rules
from engine.run_index import RunIndex
from engine.source import JsonPath
from engine.values import Located, Unknown, ci_get


@dataclass
class Options:
    paths: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)  # files or name=value
    parameter_map: dict[str, list[str]] = field(default_factory=dict)  # template glob -> files
    rule_dirs: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    severity: dict[str, str] = field(default_factory=dict)
    fail_on: str = "medium"
    strict: bool = False
    cwd: str = ""
    no_bundled_rules: bool = False


class UsageError(Exception):
    """A mistake in how iotguard was called (exit code 2, before any file is read)."""


def rule_matches(rule: Rule, selector: str) -> bool:
    """A selector names a rule id, a tag, or an id prefix such as ``HUB``."""
    s = selector.strip().lower()
    return (
        rule.id.lower() == s
        or s in (t.lower() for t in rule.info.tags)
        or (s.isalpha() and rule.id.lower().startswith(s))
    )


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
    return load_rules(dirs)


# ----------------------------------------------------------------------------- run


def run(options: Options, rules: Sequence[Rule]) -> RunResult:
    cwd = options.cwd or os.getcwd()
    result = RunResult(fail_on=options.fail_on, strict=options.strict)
    result.rules = [r.info for r in rules]
    found = discover(options.paths, options.excludes, cwd)
    result.errors.extend(found.problems)

    documents: list[Document] = []
    param_docs: dict[str, Document] = {}
    for abspath, display in found.files:
        try:
            source, data = read_source(abspath, display)
        except LoadError as exc:
            result.errors.append(Problem(exc.path, exc.line, exc.column, exc.message))
            continue
        doc = classify(source, data)
        if doc is None:
            result.files_skipped.append(display)
            continue
        doc.abspath = abspath
        result.files_checked.append(display)
        if doc.kind == KIND_PARAMETERS:
            param_docs[os.path.realpath(abspath)] = doc
        else:
            documents.append(doc)

    cli_params = _cli_parameter_sources(options.parameters, cwd, result)
    index = RunIndex()
    subjects: list[Subject] = []
    for doc in documents:
        if doc.kind == KIND_TEMPLATE:
            sources = _parameter_sources_for(doc, options, cwd, param_docs, result) + cli_params
            _expand(doc, sources, index, subjects, result, cwd)
        elif doc.kind == KIND_ROLES:
            _roles(doc, index, subjects, result)

    _assignments(index, subjects, result)
    evaluator = Evaluator(rules, index)
    findings, unresolved = evaluator.run(subjects)
    result.findings.extend(findings)
    result.unresolved.extend(unresolved)
    result.errors.extend(evaluator.problems)
    result.sort()
    return result


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
    doc: Document, options: Options, cwd: str, param_docs: dict[str, Document],
    result: RunResult,
) -> list[Any]:
    from engine.arm.expander import ParameterSource

    abspath = _doc_abspath(doc)
    sources: list[Any] = []
    stem, ext = os.path.splitext(abspath)
    sibling = os.path.realpath(f"{stem}.parameters{ext}")
    if sibling in param_docs:
        sources.append(ParameterSource(kind="file", document=param_docs[sibling]))
    elif os.path.isfile(sibling):
        loaded = _load_parameter_doc(sibling, cwd)
        if isinstance(loaded, Problem):
            result.errors.append(loaded)
        else:
            sources.append(ParameterSource(kind="file", document=loaded))
    for pattern, files in options.parameter_map.items():
        if glob_match(doc.source.path, pattern):
            for f in files:
                loaded = _load_parameter_doc(os.path.join(cwd, f), cwd)
                if isinstance(loaded, Problem):
                    result.errors.append(loaded)
                else:
                    sources.append(ParameterSource(kind="file", document=loaded))
    return sources


def _cli_parameter_sources(values: Sequence[str], cwd: str, result: RunResult) -> list[Any]:
    if not values:
        return []
    from engine.arm.expander import ParameterSource

    out: list[Any] = []
    for v in values:
        candidate = v[1:] if v.startswith("@") else v
        if os.path.isfile(os.path.join(cwd, candidate)):
            loaded = _load_parameter_doc(os.path.join(cwd, candidate), cwd)
            if isinstance(loaded, Problem):
                result.errors.append(loaded)
            else:
                out.append(ParameterSource(kind="file", document=loaded))
        elif "=" in v:
            name, _, value = v.partition("=")
            out.append(ParameterSource(kind="cli", name=name.strip(), value=value))
        else:
            result.errors.append(Problem(v, 0, 0, "--parameters expects a parameter file or name=value"))
    return out


def _expand(
    doc: Document, sources: list[Any], index: RunIndex, subjects: list[Subject],
    result: RunResult, cwd: str,
) -> None:
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
        result.errors.append(Problem(doc.source.path, 1, 1, "template nesting is too deep to expand"))
        return
    result.errors.extend(_located(e) for e in expansion.errors)
    result.warnings.extend(_located(w) for w in expansion.warnings)
    for nc in expansion.not_checked:
        line, col = nc.source.locate(nc.path)
        result.not_checked.append(
            Problem(nc.source.path, line, col, f"linked template {nc.target} not checked: {nc.reason}",
                    "warning")
        )
    live = [r for r in expansion.resources if r.condition is not False]
    index.add_resources(live)
    index.templates.extend(expansion.templates)
    for t in expansion.templates:
        subjects.append(_template_subject(t, live, expansion.templates))
    for r in live:
        if r.existing:
            continue
        subjects.append(resource_subject(r, doc))
        if r.type_lower == "microsoft.authorization/roledefinitions":
            from engine.rbac import role_body, role_from_resource

            role = role_from_resource(r)
            index.roles.append(role)
            subjects.append(_role_subject(
                role, r.source, lambda p, r=r, role=role: r.map(role.source_path(p)), role_body(role), r,
            ))


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


def resource_subject(r: Resource, doc: Document) -> Subject:
    raw = _raw_at(doc, r.path)
    raw_name = raw.get("name") if isinstance(raw, dict) else None
    name = r.name if isinstance(r.name, str) else str(r.name)
    note = ""
    if isinstance(r.condition, Unknown):
        note = f"deployed only if its condition holds, which is unknown: {r.condition.describe()}"
    suppress: list[tuple[str, str, Mapped]] = []
    meta = ci_get(ci_get(r.body, "metadata"), "iotguard")
    entries = ci_get(meta, "suppress")
    if isinstance(entries, list):
        for i, e in enumerate(entries):
            rule = ci_get(e, "rule")
            reason = ci_get(e, "reason")
            if isinstance(rule, str) and isinstance(reason, str) and reason.strip():
                suppress.append((rule, reason, r.map(("metadata", "iotguard", "suppress", i))))
    return Subject(
        kind="resource",
        body=r.body,
        type=r.type,
        name=name,
        raw_name=raw_name if isinstance(raw_name, str) else name,
        resource_key=f"{r.type.lower()}|{name.lower()}",
        locate=r.map,
        api_version=r.api_version,
        condition_note=note,
        suppress=suppress,
        obj=r,
    )


def _template_subject(t: Any, resources: Sequence[Resource], templates: Sequence[Any]) -> Subject:
    """A whole template for rules about where values flow (HUB008, HUB009): its
    parameters, variables and outputs, the bodies of the resources it declares, and its
    nested deployments with the parameter types the receiving template declares (None
    when that template is not available)."""
    from engine.values import CIDict

    own = [r for r in resources if r.deployment == t.deployment and r.source is t.source]
    deployments: list[Any] = []
    dep_resources: list[Resource] = []
    for r in own:
        if r.type_lower != "microsoft.resources/deployments":
            continue
        chain = (*t.deployment, str(r.name).rsplit("/", 1)[-1])
        child = next((c for c in templates if c.deployment == chain), None)
        props = ci_get(r.body, "properties")
        link = ci_get(props, "templateLink")
        deployments.append(CIDict(
            name=r.name,
            parameters=ci_get(props, "parameters") if isinstance(ci_get(props, "parameters"), dict) else {},
            parameterTypes=dict(child.parameter_types) if child is not None else None,
            linked=(ci_get(link, "uri") or ci_get(link, "relativePath") or ci_get(link, "id") or "")
            if child is None else "",
        ))
        dep_resources.append(r)
    raw_outputs = ci_get(t.raw, "outputs")
    output_types = {
        k: ci_get(v, "type") for k, v in raw_outputs.items() if isinstance(v, dict)
    } if isinstance(raw_outputs, dict) else {}
    body = CIDict(
        parameters=t.parameters, variables=t.variables, outputs=t.outputs,
        parameterTypes=t.parameter_types, outputTypes=output_types,
        resources=[r.body for r in own], deployments=deployments, raw=t.raw,
    )

    def locate(path: JsonPath) -> Mapped:
        head = path[0] if path else None
        if head == "resources" and len(path) >= 2 and isinstance(path[1], int) and path[1] < len(own):
            return own[path[1]].map(path[2:])
        if head == "deployments" and len(path) >= 2 and isinstance(path[1], int) \
                and path[1] < len(dep_resources):
            rest = path[2:]
            dep = dep_resources[path[1]]
            return dep.map(("properties", *rest)) if rest[:1] == ("parameters",) else dep.map(())
        mapped: Mapped = t.map(path)
        return mapped

    label = "/".join(t.deployment) if t.deployment else "(root)"
    return Subject(
        kind="template", body=body, type="template", name=label, raw_name=label,
        resource_key=f"template|{label.lower()}", locate=locate, obj=t,
    )


def _role_subject(role: Any, source: Any, locate: Any, body: Any, obj: Any) -> Subject:
    name = role.name if isinstance(role.name, str) else str(role.name)
    return Subject(
        kind="role-definition", body=body, type="Microsoft.Authorization/roleDefinitions",
        name=name, raw_name=name, resource_key=f"role|{str(role.guid or name).lower()}",
        locate=locate, is_builtin=bool(role.is_builtin), obj=role,
    )


def _roles(doc: Document, index: RunIndex, subjects: list[Subject], result: RunResult) -> None:
    from engine.rbac import normalize_role, role_body

    for item_path in doc.items:
        obj = _raw_at(doc, item_path)
        role, problems = normalize_role(obj, item_path)
        for ppath, message in problems:
            line, col = doc.source.locate(ppath)
            result.errors.append(Problem(doc.source.path, line, col, message))
        if role is None:
            continue
        if not role.is_builtin:
            index.roles.append(role)
        source = doc.source
        subjects.append(
            _role_subject(role, source, lambda p, s=source, role=role: Mapped(s, role.source_path(p)),
                          role_body(role), role)
        )


def _assignments(index: RunIndex, subjects: list[Subject], result: RunResult) -> None:
    ras = index.deployed("Microsoft.Authorization/roleAssignments")
    ras += [r for r in index.resources if r.type.lower().endswith("/providers/roleassignments")
            and not r.existing]
    if not ras:
        return
    from engine.assignments import assignment_body, from_resource

    for r in ras:
        a = from_resource(r, index)
        index.assignments.append(a)
        name = r.name if isinstance(r.name, str) else str(r.name)
        subjects.append(
            Subject(
                kind="role-assignment", body=assignment_body(a), type=r.type, name=name,
                raw_name=name, resource_key=f"{r.type.lower()}|{name.lower()}", locate=r.map,
                api_version=r.api_version, obj=a,
            )
        )
