"""ARM template expansion: what Azure would deploy, evaluated statically.

``expand`` resolves parameters (defaults, parameter files, ``--parameters``), evaluates
variables lazily, expands resource/property/variable/output copy loops, completes child
resources' types and names, drops resources whose condition is false, composes resource
IDs under the placeholder scope of ``engine.arm.scope``, and recurses into nested and
relative-path linked deployments.  Expressions are evaluated by
``engine.arm.expressions``; ``_Template`` is the ``EvalContext`` for one template.

Nothing here raises on bad input: faults become located errors (``Expansion.errors``)
and the faulty value an ``Unknown`` of kind ``error``/``limit``; expansion goes on.
Per-file bounds (work units, resources, copy counts, nesting depth) end expansion of
the file with a located error instead of a hang or a memory blow-up.

Provenance: ``Resource.origins`` gets an ``Origin`` for every body value produced by an
expression (lazy: positions are computed only if a message reads them), and
``Resource.mappings`` records body sub-paths whose text lives elsewhere (property-copy
items, structured parameter/variable values).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.arm import scope as placeholder
from engine.arm.expressions import ExpressionError, LimitError, Limits, evaluate, is_expression, unescape
from engine.arm.parameters import (
    CLI_PATH,
    LazyOrigin,
    ParameterSource,
    Supplied,
    check_value,
    collect,
    declared_type,
    entry_value,
    has_expression,
    where,
)
from engine.arm.resources import (
    SCOPE_MANAGEMENT_GROUP,
    SCOPE_RESOURCE_GROUP,
    SCOPE_SUBSCRIPTION,
    SCOPE_TENANT,
    child_name,
    child_type,
    join,
    legacy_scope,
    piece,
    resolve_scope,
    resource_id,
    schema_scope,
    scope_prefix,
    segments_match,
    top_level_id,
)
from engine.model import Document, Expansion, LinkedTemplate, Mapped, Resource, Template
from engine.source import JsonPath, SourceFile
from engine.values import CIDict, Located, Origin, Unknown, UnknownCause, ci_get, merge_causes, to_cidicts

__all__ = ["MAX_COPY", "MAX_NESTING", "MAX_RESOURCES", "MAX_WORK", "ParameterSource", "expand"]

MAX_COPY = 800  # ARM's own limit per copy loop (facts §6.4)
MAX_NESTING = 10  # nested/linked deployment depth
MAX_WORK = 2_000_000  # work units per file: walked JSON nodes plus evaluator charges
MAX_RESOURCES = 20_000  # expanded resources per file

LoadTemplate = Callable[[str], "Document | Located"]

_PARAM_REF = re.compile(r"\[\s*parameters\s*\(\s*'(?:[^']|'')*'\s*\)\s*\]", re.I)
_VAR_REF = re.compile(r"\[\s*variables\s*\(\s*'(?:[^']|'')*'\s*\)\s*\]", re.I)
_DEPLOYMENTS = "microsoft.resources/deployments"
_RESOURCE_META = frozenset({"copy", "condition", "resources", "existing"})


def expand(
    doc: Document,
    parameters: Sequence[ParameterSource] = (),
    *,
    load_template: LoadTemplate | None = None,
) -> Expansion:
    """Expand one template document (see the module docstring)."""
    expansion = Expansion()
    state = _File(expansion, load_template)
    if not isinstance(doc.data, dict):
        state.error(doc.source, doc.root, "an ARM template must be a JSON object")
        return expansion
    root = _Template(state, doc.source, doc.root, doc.data, base_dir="", file_id=_file_id(doc))
    problems: list[Located] = []
    root.supply(collect(root.declared(), parameters, problems, template=doc.source.path))
    for problem in problems:
        state.keep(expansion.errors if problem.severity == "error" else expansion.warnings, problem)
    try:
        root.run()
    except _Abort:
        pass  # the bound that stopped expansion is already reported
    except RecursionError:
        state.error(doc.source, doc.root, "the template nests too deeply to expand")
    for detail in state.details:
        detail.settle()
    return expansion


# ----------------------------------------------------------------------------- file state


class _Abort(Exception):
    """A per-file bound was exceeded; expansion of the file stops (already reported)."""


@dataclass
class _File:
    """State shared by every template expanded from one file (bounds, messages)."""

    expansion: Expansion
    load_template: LoadTemplate | None
    limits: Limits = field(default_factory=Limits)
    work: int = 0
    resources: int = 0
    exhausted: bool = False
    seen: set[tuple[str, int, int, str]] = field(default_factory=set)
    var_chain: list[str] = field(default_factory=list)
    # settled when expansion ends
    details: list[_ExpressionDetail | _UsesDetail] = field(default_factory=list)

    def error(self, source: SourceFile, path: JsonPath, message: str, *, at_value: bool = False) -> None:
        self._add(self.expansion.errors, source, path, message, "error", at_value)

    def warn(self, source: SourceFile, path: JsonPath, message: str) -> None:
        self._add(self.expansion.warnings, source, path, message, "warning", False)

    def _add(
        self, out: list[Located], source: SourceFile, path: JsonPath, message: str, severity: str,
        at_value: bool,
    ) -> None:
        line, col = source.locate_value(path) if at_value else source.locate(path)
        self.keep(out, Located(source.path, line, col, message, severity))

    def keep(self, out: list[Located], problem: Located) -> None:
        key = (problem.path, problem.line, problem.column, problem.message)
        if key in self.seen:
            return  # the same fault repeats in every iteration of a copy loop
        self.seen.add(key)
        out.append(problem)

    def exhaust(self, source: SourceFile, path: JsonPath, message: str) -> None:
        if not self.exhausted:
            self.exhausted = True
            self.error(source, path, message)


class _Sink(Protocol):
    """Where provenance of evaluated values is recorded (a Resource, a Template)."""

    origins: dict[JsonPath, Origin]
    mappings: dict[JsonPath, Mapped]


@dataclass
class _Prov:
    origins: dict[JsonPath, Origin] = field(default_factory=dict)
    mappings: dict[JsonPath, Mapped] = field(default_factory=dict)


@dataclass
class _VarSink(_Prov):
    """Provenance of a structured variable's value: only what each sub-value's
    expression read, turned into origins when (and if) the variable is used whole."""

    reads: dict[JsonPath, list[tuple[str, Any]]] = field(default_factory=dict)


# ----------------------------------------------------------------------------- declarations


@dataclass(eq=False)
class _Param:
    name: str
    decl: Any
    path: JsonPath  # the declaration in the owner's file
    type: str  # lower-cased
    owner: _Template
    supplied: Supplied | None = None
    state: int = 0  # 0 pending, 1 resolving, 2 done
    value: Any = None
    origin: Origin | None = None
    mapped: Mapped | None = None


@dataclass(eq=False)
class _Var:
    name: str
    raw: Any
    path: JsonPath  # the value (for a copy variable: the copy entry)
    owner: _Template
    copy: bool = False
    state: int = 0
    value: Any = None
    origin: Origin | None = None  # names what the variable's expressions read
    # a structured variable: what each expression-made sub-value read (by sub-path),
    # and the origins given to those sub-values when the variable is used whole
    parts: dict[JsonPath, list[tuple[str, Any]]] | None = None
    part_origins: dict[JsonPath, Origin] | None = None
    whole_origin: Origin | None = None


@dataclass(eq=False)
class _Decl:
    raw: dict[str, Any]
    path: JsonPath
    symbolic: str | None
    parent: _Decl | None
    children: list[_Decl] = field(default_factory=list)


@dataclass(eq=False)
class _Header:
    """A resource instance's identity, computed before any body (so that references
    and ``scope`` can name resources declared later)."""

    decl: _Decl
    type: str
    written_type: str
    name: Any
    id: Any
    api_version: Any
    condition: bool | Unknown
    existing: bool
    scope: Any
    copy_index: int | None
    loops: tuple[tuple[str | None, int, bool], ...]
    prov: _Prov
    subscription_id: Any
    resource_group: Any
    dropped: bool = False  # condition false; kept only so its children get full names


# ----------------------------------------------------------------------------- template


class _Template:
    """One template being expanded; the ``EvalContext`` for its expressions."""

    limits: Limits

    def __init__(
        self,
        state: _File,
        source: SourceFile,
        path: JsonPath,
        raw: dict[str, Any],
        *,
        base_dir: str,
        parent: _Template | None = None,
        outer: bool = False,
        deployment: tuple[str, ...] = (),
        depth: int = 0,
        subscription_id: Any = placeholder.SUBSCRIPTION_ID,
        resource_group: Any = placeholder.RESOURCE_GROUP,
        target_scope: str | None = None,
        condition: bool | Unknown = True,
        file_id: str | None = None,
    ) -> None:
        self.state = state
        self.limits = state.limits
        self.source = source
        self.path = path
        self.raw = raw
        self.base_dir = base_dir
        self.parent = parent
        # which file the template is written in (an inline nested template: its parent's)
        self.file_id: str = file_id if file_id is not None else (
            parent.file_id if parent is not None else source.path)
        self.outer = outer
        self.deployment = deployment
        self.depth = depth
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        # Whether the deployment that carries this template happens at all: its
        # resources exist only if it does, so each resource's condition includes it.
        self.condition = condition
        schema = raw.get("$schema")
        self.schema_scope: str = schema_scope(schema) if isinstance(schema, str) else (
            target_scope or (parent.schema_scope if parent is not None else SCOPE_RESOURCE_GROUP))
        self.prefix = scope_prefix(self.schema_scope, subscription_id, resource_group)
        lv = ci_get(raw, "languageVersion")
        self.symbolic_mode = isinstance(lv, str) and lv.startswith(("2", "1.9"))
        self.params: dict[str, _Param] = {}
        self.variables: dict[str, _Var] = {}
        self.functions: dict[str, dict[str, tuple[list[str], Any]]] = {}
        self.loops: list[tuple[str | None, int, bool]] = []
        self.reads: list[list[tuple[str, Any]]] = []
        # what the variable being evaluated reads, across all of its expressions
        self.collect: list[tuple[str, Any]] | None = None
        self.decls: list[_Decl] = []
        self.headers: dict[_Decl, list[_Header]] = {}
        self.building: set[_Decl] = set()
        self.all_built = False
        self.scope_cache: dict[str, Any] = {}
        # id -> (object, its lower-cased names), for ``_member``; the object is kept so
        # that its id is not reused while the entry exists.
        self._lowered: dict[int, tuple[Mapping[str, Any], dict[str, str]]] = {}
        self.template: Template | None = None
        self._declare_parameters()
        self._declare_variables()
        self._declare_functions()
        key, section = self._member(raw, "resources")
        self.decls = self._declarations(section, (*path, key), None)

    # ------------------------------------------------------------------ declarations

    def _member(self, obj: Mapping[str, Any], key: str) -> tuple[str, Any]:
        if key in obj:
            return key, obj[key]
        # Most look-ups that miss the exact spelling miss altogether (a resource has no
        # 'condition', 'scope', 'subscriptionId'...): each object's names are lowered once.
        hit = self._lowered.get(id(obj))
        if hit is None or hit[0] is not obj:
            names: dict[str, str] = {}
            for k in obj:
                if isinstance(k, str):
                    names.setdefault(k.lower(), k)
            hit = self._lowered[id(obj)] = (obj, names)
        real = hit[1].get(key.lower())
        if real is None:
            return key, None
        return real, obj[real]

    def _section(self, key: str, kind: type, what: str) -> tuple[str, Any]:
        k, v = self._member(self.raw, key)
        if v is None:
            return k, kind()
        if not isinstance(v, kind):
            self.state.error(self.source, (*self.path, k), f"'{k}' must be {what}; ignored")
            return k, kind()
        return k, v

    def _declare_parameters(self) -> None:
        key, section = self._section("parameters", dict, "an object")
        definitions = ci_get(self.raw, "definitions")
        for name, decl in section.items():
            path = (*self.path, key, name)
            if not isinstance(decl, dict):
                self.state.error(self.source, path, f"parameter '{name}' must be an object")
                decl = {}
            self.params[name.lower()] = _Param(name, decl, path, declared_type(decl, definitions), self)

    def _declare_variables(self) -> None:
        key, section = self._section("variables", dict, "an object")
        for name, value in section.items():
            path = (*self.path, key, name)
            if name.lower() == "copy" and isinstance(value, list):
                for i, entry in enumerate(value):
                    epath = (*path, i)
                    vname = ci_get(entry, "name")
                    if not isinstance(entry, dict) or not isinstance(vname, str):
                        self.state.error(self.source, epath, "a variable copy entry needs a 'name'")
                        continue
                    self.variables[vname.lower()] = _Var(vname, entry, epath, self, copy=True)
                continue
            self.variables[name.lower()] = _Var(name, value, path, self)

    def _declare_functions(self) -> None:
        key, section = self._section("functions", list, "an array")
        for i, group in enumerate(section):
            ns = ci_get(group, "namespace")
            members = ci_get(group, "members")
            if not isinstance(ns, str) or not isinstance(members, dict):
                self.state.error(self.source, (*self.path, key, i),
                                 "a user-defined function group needs 'namespace' and 'members'")
                continue
            table = self.functions.setdefault(ns.lower(), {})
            for fname, fdef in members.items():
                params = ci_get(fdef, "parameters")
                names = [ci_get(p, "name") for p in params] if isinstance(params, list) else []
                output = ci_get(fdef, "output")
                if not all(isinstance(n, str) for n in names) or not isinstance(output, dict):
                    self.state.error(self.source, (*self.path, key, i, "members", fname),
                                     f"user-defined function '{ns}.{fname}' is malformed")
                    continue
                table[fname.lower()] = ([str(n) for n in names], ci_get(output, "value"))

    def declared(self) -> dict[str, tuple[str, str]]:
        return {k: (p.name, p.type) for k, p in self.params.items()}

    def supply(self, supplied: Mapping[str, Supplied]) -> None:
        for key, s in supplied.items():
            p = self.params.get(key)
            if p is not None:
                p.supplied = s

    # ------------------------------------------------------------------ EvalContext

    def parameter(self, name: str) -> Any:
        p = self._find_param(name.lower())
        if p is None:
            raise ExpressionError(f"parameter '{name}' is not declared")
        if self.reads:
            self.reads[-1].append(("parameter", p))
        return p.owner._param_value(p)

    def variable(self, name: str) -> Any:
        v = self._find_var(name.lower())
        if v is None:
            raise ExpressionError(f"variable '{name}' is not declared")
        if self.reads:
            self.reads[-1].append(("variable", v))
        return v.owner._var_value(v)

    def copy_index(self, loop: str | None) -> int:
        key = loop.lower() if loop is not None else None
        t: _Template | None = self
        while t is not None:
            for name, index, anonymous in reversed(t.loops):
                if (key is None and anonymous) or (key is not None and name == key):
                    return index
            # an outer-scope nested template is part of its parent's expressions
            t = t.parent if t.outer else None
        where_ = f"a copy loop named '{loop}'" if loop is not None else "a copy loop"
        raise ExpressionError(f"copyIndex() used outside {where_}")

    def scope_value(self, name: str) -> Any:
        low = name.lower()
        if self.outer and self.parent is not None and low in ("resourcegroup", "subscription"):
            # Outer scope evaluates in the parent's context (facts §6.5): resourceGroup(),
            # subscription() and the resourceId() defaults built on them name the
            # parent's, even though the resources themselves deploy into the target.
            return self.parent.scope_value(name)
        hit = self.scope_cache.get(low)
        if hit is not None:
            return hit
        scope_kind = self.schema_scope
        if low == "resourcegroup" and scope_kind != SCOPE_RESOURCE_GROUP:
            raise ExpressionError(f"resourceGroup() is not available in a {scope_kind} deployment")
        if low == "subscription" and scope_kind in (SCOPE_MANAGEMENT_GROUP, SCOPE_TENANT):
            raise ExpressionError(f"subscription() is not available in a {scope_kind} deployment")
        try:
            value: Any = placeholder.scope_value(low)
        except KeyError:
            raise ExpressionError(f"unknown scope function '{name}'") from None
        if low == "resourcegroup":
            value["name"] = self.resource_group
            value["id"] = join(["/subscriptions/", self.subscription_id, "/resourceGroups/",
                                self.resource_group])
        elif low == "subscription":
            value["subscriptionId"] = self.subscription_id
            value["id"] = join(["/subscriptions/", self.subscription_id])
        elif low == "deployment":
            if self.deployment:
                value["name"] = self.deployment[-1]
            # The URI a template was deployed from exists only for linked deployments and
            # is known only then; an unknown keeps the common
            # ``deployment().properties.templateLink.uri`` default from being an error.
            value["properties"]["templateLink"] = Unknown.of(
                "runtime", "the URI the template is deployed from is known only at deployment",
                text="deployment().properties.templateLink")
        result = to_cidicts(value)
        self.scope_cache[low] = result
        return result

    def reference(self, target: Any, api_version: Any, full: bool, function: str) -> Any:
        fn = function.lower()
        resolved = self._reference_target(target)
        args = [f"'{resolved}'"]
        if isinstance(api_version, str):
            args.append(f"'{piece(api_version)}'")
        if full:
            args.append("'Full'")
        detail = f"{fn}() of {resolved}{' (full)' if full else ''} is known only at deployment"
        cause = UnknownCause(kind="reference", detail=detail, function=fn, target=resolved)
        causes = (cause, *merge_causes([target]))
        return Unknown(f"{fn}({', '.join(args)})", causes)

    def user_function(self, namespace: str, name: str) -> tuple[list[str], Any] | None:
        t: _Template | None = self
        while t is not None:
            hit = t.functions.get(namespace.lower(), {}).get(name.lower())
            if hit is not None:
                return hit
            t = t.parent if t.outer else None
        return None

    def charge(self, units: int) -> None:
        state = self.state
        state.work += units
        if state.work > MAX_WORK:
            self._note_out_of_work()
            raise LimitError("the expansion work budget is exhausted")

    def _note_out_of_work(self) -> None:
        self.state.exhaust(self.source, self.path,
                           f"expansion stopped: the file needs more than {MAX_WORK:,} units of work")

    def _out_of_work(self) -> None:
        self._note_out_of_work()
        raise _Abort

    # ------------------------------------------------------------------ lookups

    def _find_param(self, key: str) -> _Param | None:
        if self.outer and self.parent is not None:
            # outer scope: the parent's parameters win (facts §6.5)
            hit = self.parent._find_param(key)
            if hit is not None:
                return hit
        return self.params.get(key)

    def _find_var(self, key: str) -> _Var | None:
        if self.outer and self.parent is not None:
            hit = self.parent._find_var(key)
            if hit is not None:
                return hit
        return self.variables.get(key)

    def _param_value(self, p: _Param) -> Any:
        if p.state == 2:
            return p.value
        if p.state == 1:
            raise ExpressionError(f"parameter '{p.name}' refers to itself through its default")
        p.state = 1
        saved, self.loops = self.loops, []  # a default sees no copy loop
        # what a default reads belongs to the parameter, not to a variable reading it
        collect, self.collect = self.collect, None
        try:
            self._resolve_param(p)
        finally:
            self.loops = saved
            self.collect = collect
            p.state = 2
        return p.value

    def _resolve_param(self, p: _Param) -> None:
        s = p.supplied
        dkey, default = self._member(p.decl, "defaultValue")
        has_default = dkey in p.decl
        if s is not None:
            p.value, p.origin = s.value, s.origin
            if s.source is not None:
                p.mapped = Mapped(s.source, s.path, s.origin)
            src, loc = (s.source, s.path) if s.source is not None else (None, ())
        elif has_default:
            dpath = (*p.path, dkey)
            p.value = self._walk(default, dpath, (), None, drop_null=False)
            p.origin = LazyOrigin("parameter-default", self.source, dpath, name=p.name)
            p.mapped = Mapped(self.source, dpath, p.origin)
            src, loc = self.source, dpath
        elif ci_get(p.decl, "nullable") is True:
            p.value = None
            p.origin = LazyOrigin("parameter-default", self.source, p.path, name=p.name)
            return
        else:
            p.value = Unknown.of(
                "parameter",
                f"parameter '{p.name}' has no default and no value was supplied",
                target=p.name,
                text=f"parameters('{p.name}')",
            )
            p.origin = LazyOrigin("expression", self.source, p.path, name=p.name,
                                  detail=_NoValueDetail(p.name, self.source, p.path))
            return
        if s is not None and s.reported:
            return
        checkable = s.checkable if s is not None else not has_expression(default)
        for problem in check_value(p.name, p.type, p.decl, p.value, constraints=checkable):
            if src is not self.source:
                # a value from a parameter file, the command line or a linking template:
                # the same value may be checked against several templates' declarations
                problem += f" (template {self.source.path})"
            if src is None:
                self.state.keep(self.state.expansion.warnings, Located(CLI_PATH, 0, 0, problem, "warning"))
            else:
                self.state.warn(src, loc, problem)

    def _var_value(self, v: _Var) -> Any:
        if v.state == 2:
            return v.value
        chain = self.state.var_chain
        if v.state == 1:
            start = next((i for i, n in enumerate(chain) if n.lower() == v.name.lower()), 0)
            cycle = " -> ".join([*chain[start:], v.name])
            raise ExpressionError(f"variables refer to each other in a cycle: {cycle}")
        v.state = 1
        chain.append(v.name)
        saved, self.loops = self.loops, []  # a variable sees no resource copy loop
        reads: list[tuple[str, Any]] = []
        collect, self.collect = self.collect, reads
        sink = _VarSink() if not v.copy and isinstance(v.raw, (dict, list)) else None
        try:
            if v.copy:
                v.value = self._copy_array(v.raw, v.path, None, None, v.name, drop_null=False)
            else:
                v.value = self._walk(v.raw, v.path, (), sink, drop_null=False)
        finally:
            self.loops = saved
            self.collect = collect
            chain.pop()
            v.state = 2
        detail: _UsesDetail | None = None
        if reads:
            # provenance goes on through the variable to what it read (parameter files...)
            detail = _UsesDetail(reads)
            self.state.details.append(detail)
        v.origin = LazyOrigin("variable", self.source, v.path, name=v.name, detail=detail)
        if sink is not None and sink.reads:
            v.parts = sink.reads
        return v.value

    def _whole_use(self, v: _Var, bpath: JsonPath, sink: _Sink) -> Origin:
        """Origins for a structured variable used whole at ``bpath``: each sub-value its
        expressions made is the variable plus what that expression read (not everything
        the variable read); built once per variable, copied per use."""
        parts, whole = v.part_origins, v.whole_origin
        if parts is None or whole is None:
            parts = {}
            for sub, reads in (v.parts or {}).items():
                detail = _UsesDetail(reads)
                self.state.details.append(detail)
                parts[sub] = LazyOrigin("variable", v.owner.source, v.path, name=v.name, detail=detail)
            whole = LazyOrigin("variable", v.owner.source, v.path, name=v.name)
            v.part_origins, v.whole_origin = parts, whole
        origins = sink.origins
        for sub, origin in parts.items():
            origins[(*bpath, *sub)] = origin
        return whole

    # ------------------------------------------------------------------ values

    def _walk(
        self, node: Any, fpath: JsonPath, bpath: JsonPath, sink: _Sink | None, *, drop_null: bool,
    ) -> Any:
        """Evaluate a JSON value: expressions evaluated, ``[[`` unescaped, property copy
        arrays expanded, objects built as ``CIDict``s (null members dropped when
        ``drop_null``).  ``fpath`` locates the value in the file, ``bpath`` in the body
        being built (for provenance)."""
        state = self.state
        state.work += 1
        if state.work > MAX_WORK:
            self._out_of_work()
        if isinstance(node, str):
            if node.startswith("["):
                if is_expression(node):
                    return self._expr(node, fpath, bpath, sink)
                return unescape(node)
            return node
        if isinstance(node, dict):
            out = CIDict()
            copies: tuple[str, list[Any]] | None = None
            for k, v in node.items():
                if isinstance(v, list) and k.lower() == "copy" and _is_property_copy(v):
                    copies = (k, v)
                    continue
                # ARM evaluates property names too: ``userAssignedIdentities`` is keyed
                # by ``[resourceId(...)]`` in nearly every template that attaches one.
                key = self._key(k, (*fpath, k)) if k.startswith("[") else k
                value = self._walk(v, (*fpath, k), (*bpath, key), sink, drop_null=drop_null)
                if value is None and drop_null:
                    continue
                out[key] = value
                if key != k and sink is not None:
                    sink.mappings[(*bpath, key)] = Mapped(self.source, (*fpath, k))
            if copies is not None:
                key, entries = copies
                for i, entry in enumerate(entries):
                    epath = (*fpath, key, i)
                    name = ci_get(entry, "name")
                    if not isinstance(name, str):
                        state.error(self.source, epath, "a property copy entry needs a 'name'")
                        continue
                    out[name] = self._copy_array(entry, epath, (*bpath, name), sink, name,
                                                 drop_null=drop_null)
            if len(node) > 1 and len({str(k).lower() for k in node}) < len(node):
                self._case_twins(node, fpath)
            return out
        if isinstance(node, list):
            return [self._walk(v, (*fpath, i), (*bpath, i), sink, drop_null=drop_null)
                    for i, v in enumerate(node)]
        return node

    def _case_twins(self, node: dict[str, Any], fpath: JsonPath) -> None:
        """Warn about property names that differ only in case (``disableLocalAuth`` and
        ``DisableLocalAuth``): JSON keeps both, resource providers read names without
        regard to case, and which one takes effect is not defined."""
        first: dict[str, str] = {}
        for k in node:
            low = k.lower()
            if low not in first:
                first[low] = k
                continue
            line, _ = self.source.locate((*fpath, first[low]))
            self.state.warn(self.source, (*fpath, k), (
                f"'{k}' and '{first[low]}' (line {line}) differ only in case: Azure reads property "
                "names without regard to case, so which value takes effect is undefined; keep one"))

    def _key(self, text: str, fpath: JsonPath) -> str:
        """A property name as ARM deploys it: an expression evaluated to its string,
        ``[[`` unescaped.  A name that is not known before deployment (or whose
        expression fails, reported as usual) keeps its text."""
        if not is_expression(text):
            return unescape(text)
        reads: list[tuple[str, Any]] = []
        value = self._evaluate(text, fpath, reads)
        if self.collect is not None:
            self.collect.extend(reads)
        if self.state.exhausted:
            raise _Abort
        if isinstance(value, Unknown) or not isinstance(value, str):
            return text
        return value

    def _copy_array(
        self, entry: Mapping[str, Any], epath: JsonPath, bpath: JsonPath | None, sink: _Sink | None,
        loop: str, *, drop_null: bool,
    ) -> Any:
        """The array a ``{"name", "count", "input"}`` copy entry produces (property and
        variable copy, facts §6.4)."""
        ckey, count_raw = self._member(entry, "count")
        ikey, template = self._member(entry, "input")
        if ikey not in entry:
            self.state.error(self.source, epath, f"copy '{loop}' has no 'input'")
            return []
        count = self._count(count_raw, (*epath, ckey))
        if isinstance(count, Unknown):
            return Unknown(f"copy '{loop}' ({count.text} items)", count.causes)
        ipath = (*epath, ikey)
        items: list[Any] = []
        for j in range(count):
            self.loops.append((loop.lower(), j, bpath is None))
            try:
                item_path = (*bpath, j) if bpath is not None else (j,)
                items.append(self._walk(template, ipath, item_path, sink, drop_null=drop_null))
            finally:
                self.loops.pop()
            if sink is not None and bpath is not None:
                sink.mappings[(*bpath, j)] = Mapped(self.source, ipath)
        return items

    def _count(self, raw: Any, fpath: JsonPath) -> int | Unknown:
        value = self._walk(raw, fpath, (), None, drop_null=False)
        if isinstance(value, Unknown):
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.state.error(self.source, fpath, "a copy 'count' must be an integer", at_value=True)
            return 0
        if value < 0:
            self.state.error(self.source, fpath, f"a copy 'count' cannot be negative ({value})",
                             at_value=True)
            return 0
        if value > MAX_COPY:
            self.state.error(self.source, fpath,
                             f"copy count {value} exceeds ARM's limit of {MAX_COPY}; "
                             f"only the first {MAX_COPY} copies are checked", at_value=True)
            return MAX_COPY
        return value

    def _expr(self, text: str, fpath: JsonPath, bpath: JsonPath, sink: _Sink | None) -> Any:
        reads: list[tuple[str, Any]] = []
        value = self._evaluate(text, fpath, reads)
        if self.state.exhausted:
            raise _Abort
        if isinstance(value, (dict, list)):
            try:
                value = self._own(value)
            except RecursionError:
                value = self._fail(text, fpath, "the value nests too deeply", 0, "limit")
        if self.collect is not None:
            self.collect.extend(reads)
        if sink is not None:
            self._record(text, fpath, bpath, sink, reads, value)
        return value

    def _evaluate(self, text: str, fpath: JsonPath, reads: list[tuple[str, Any]]) -> Any:
        """Evaluate one expression; a failure is reported at ``fpath`` and becomes an
        unknown (running out of work aborts the whole expansion)."""
        self.reads.append(reads)
        try:
            return evaluate(text, self)
        except _Abort:
            raise
        except LimitError as exc:
            if self.state.exhausted:
                raise _Abort from None
            return self._fail(text, fpath, exc.message, exc.offset, "limit")
        except ExpressionError as exc:
            return self._fail(text, fpath, exc.message, exc.offset, "error")
        except RecursionError:
            return self._fail(text, fpath, "the expression nests too deeply", 0, "limit")
        except Exception as exc:  # the evaluator must never take a whole run down
            return self._fail(text, fpath, f"cannot evaluate ({type(exc).__name__}: {exc})", 0, "error")
        finally:
            self.reads.pop()

    def _own(self, value: Any) -> Any:
        """A private ``CIDict`` copy of an evaluated value, paid for node by node: values
        can share structure (``createArray(v, v, v)``), so their size can grow
        exponentially while evaluation itself stays cheap."""
        state = self.state
        state.work += 1
        if state.work > MAX_WORK:
            self._out_of_work()
        if isinstance(value, dict):
            return CIDict((k, self._own(v)) for k, v in value.items())
        if isinstance(value, list):
            return [self._own(v) for v in value]
        return value

    def _fail(self, text: str, fpath: JsonPath, message: str, offset: int, kind: str) -> Unknown:
        self.state.error(self.source, fpath, f"{message} (at offset {offset} of the expression)",
                         at_value=True)
        shown = text if len(text) <= 80 else text[:77] + "..."
        return Unknown.of(kind, f"invalid expression: {message}", text=shown)

    def _record(
        self, text: str, fpath: JsonPath, bpath: JsonPath, sink: _Sink,
        reads: list[tuple[str, Any]], value: Any,
    ) -> None:
        if isinstance(sink, _VarSink):
            if reads:
                sink.reads[bpath] = reads
            return
        if len(reads) == 1:
            kind, item = reads[0]
            if kind == "parameter" and _PARAM_REF.fullmatch(text) and item.origin is not None:
                sink.origins[bpath] = item.origin
                if isinstance(value, (dict, list)) and item.mapped is not None:
                    sink.mappings[bpath] = item.mapped
                return
            if kind == "variable" and _VAR_REF.fullmatch(text) and item.origin is not None:
                origin = item.origin
                if isinstance(value, (dict, list)) and not item.copy:
                    if item.parts:
                        origin = item.owner._whole_use(item, bpath, sink)
                    sink.mappings[bpath] = Mapped(item.owner.source, item.path, origin)
                sink.origins[bpath] = origin
                return
        detail = _ExpressionDetail(self.source, fpath, reads)
        self.state.details.append(detail)
        sink.origins[bpath] = LazyOrigin("expression", self.source, fpath, detail=detail)

    # ------------------------------------------------------------------ run

    def run(self) -> Template:
        tpl = Template(
            source=self.source, path=self.path, raw=self.raw, schema_scope=self.schema_scope,
            deployment=self.deployment, condition=self.condition,
        )
        self.template = tpl
        self.state.expansion.templates.append(tpl)
        if not self.outer:
            for p in self.params.values():
                tpl.parameters[p.name] = self._param_value(p)
                tpl.parameter_types[p.name] = p.type
                if p.origin is not None:
                    tpl.origins[("parameters", p.name)] = p.origin
                if p.mapped is not None:
                    tpl.mappings[("parameters", p.name)] = p.mapped
        for v in self.variables.values():
            tpl.variables[v.name] = self._top_variable(v)
            if v.copy:
                tpl.mappings[("variables", v.name)] = Mapped(self.source, v.path)
        self._build_all_headers()
        for decl in self._ordered(self.decls):
            for header in self.headers.get(decl, []):
                self._emit(header)
        self._outputs(tpl)
        return tpl

    def _top_variable(self, v: _Var) -> Any:
        try:
            return self._var_value(v)
        except ExpressionError as exc:  # only a cycle back to this very variable
            self.state.error(self.source, v.path, exc.message)
            return Unknown.of("error", exc.message)

    def _ordered(self, decls: list[_Decl]) -> list[_Decl]:
        out: list[_Decl] = []
        for d in decls:
            out.append(d)
            out.extend(self._ordered(d.children))
        return out

    # ------------------------------------------------------------------ resources

    def _declarations(self, section: Any, fpath: JsonPath, parent: _Decl | None) -> list[_Decl]:
        items: list[tuple[str | None, JsonPath, Any]]
        if section is None:
            return []
        if isinstance(section, list):
            items = [(None, (*fpath, i), r) for i, r in enumerate(section)]
        elif isinstance(section, dict):
            if not self.symbolic_mode and parent is None:
                self.state.error(self.source, fpath, "'resources' as an object of symbolic names "
                                 "needs \"languageVersion\": \"2.0\"")
            items = [(k, (*fpath, k), r) for k, r in section.items()]
        else:
            self.state.error(self.source, fpath, "'resources' must be an array (or, with "
                             "languageVersion 2.0, an object of symbolic names); ignored")
            return []
        out: list[_Decl] = []
        for symbolic, path, raw in items:
            if not isinstance(raw, dict):
                self.state.error(self.source, path, "a resource must be an object; ignored")
                continue
            decl = _Decl(raw, path, symbolic, parent)
            ckey, children = self._member(raw, "resources")
            if children is not None:
                decl.children = self._declarations(children, (*path, ckey), decl)
            out.append(decl)
        return out

    def _build_all_headers(self) -> None:
        if self.all_built:
            return
        for decl in self.decls:
            if decl not in self.headers and decl not in self.building:
                self._build(decl, None)
        self.all_built = True

    def _build(self, decl: _Decl, parent: _Header | None) -> None:
        """Headers of one declaration (every copy), then of its nested children."""
        self.building.add(decl)
        # a header built on demand from inside a variable is not what the variable read
        collect, self.collect = self.collect, None
        try:
            out = self.headers.setdefault(decl, [])
            raw = decl.raw
            ckey, copy = self._member(raw, "copy")
            iterations: list[tuple[str | None, int | None]]
            count_unknown: Unknown | None = None
            loop_name: str | None = None
            if copy is None:
                iterations = [(None, None)]
            elif not isinstance(copy, dict):
                self.state.error(self.source, (*decl.path, ckey), "a resource 'copy' must be an object "
                                 "with 'name' and 'count'; ignored")
                iterations = [(None, None)]
            else:
                n = ci_get(copy, "name")
                loop_name = n.lower() if isinstance(n, str) else None
                if loop_name is None:
                    self.state.error(self.source, (*decl.path, ckey), "a resource 'copy' needs a 'name'")
                cnt_key, cnt_raw = self._member(copy, "count")
                count = self._count(cnt_raw, (*decl.path, ckey, cnt_key))
                if isinstance(count, Unknown):
                    count_unknown = count
                    iterations = [(loop_name, 0)]
                else:
                    iterations = [(loop_name, i) for i in range(count)]
            for loop, index in iterations:
                pushed = index is not None
                if pushed:
                    self.loops.append((loop, index if index is not None else 0, True))
                try:
                    header = self._header(decl, parent, index, count_unknown)
                    if header is not None and not header.dropped:
                        out.append(header)
                        self._count_resource(decl)
                    for child in decl.children:
                        if header is not None:
                            self._build(child, header)
                        elif child not in self.headers:
                            self.headers[child] = []
                finally:
                    if pushed:
                        self.loops.pop()
        finally:
            self.collect = collect
            self.building.discard(decl)

    def _count_resource(self, decl: _Decl) -> None:
        state = self.state
        state.resources += 1
        if state.resources > MAX_RESOURCES:
            state.exhaust(self.source, decl.path,
                          f"expansion stopped: the template expands to more than {MAX_RESOURCES:,} resources")
            raise _Abort

    def _header(
        self, decl: _Decl, parent: _Header | None, index: int | None, count_unknown: Unknown | None,
    ) -> _Header | None:
        raw = decl.raw
        prov = _Prov()
        dropped = False
        # Conditions do not cascade to child resources (conditional-resource-deployment docs).
        cond_key, cond_raw = self._member(raw, "condition")
        condition: bool | Unknown = True
        if cond_key in raw:
            value = self._walk(cond_raw, (*decl.path, cond_key), ("condition",), prov, drop_null=False)
            if value is False:
                if not decl.children:
                    return None
                # children are still deployed: they need the parent's type and name
                dropped = True
            if isinstance(value, Unknown):
                condition = value
            elif value is not True and value is not False:
                self.state.error(self.source, (*decl.path, cond_key),
                                 "a resource 'condition' must be a boolean", at_value=True)
        if count_unknown is not None:
            condition = _both(condition, Unknown(f"copy count {count_unknown.text}", count_unknown.causes))
        condition = _both(self.condition, condition)
        tkey, type_raw = self._member(raw, "type")
        if not isinstance(type_raw, str) or not type_raw.strip():
            what = "has no 'type'" if type_raw is None else "has a 'type' that is not a string"
            self.state.error(self.source, decl.path if type_raw is None else (*decl.path, tkey),
                             f"resource {what}; it is not checked")
            return None
        written_type = self._walk(type_raw, (*decl.path, tkey), ("type",), prov, drop_null=False)
        written_type = piece(written_type) if isinstance(written_type, str) else str(written_type)
        full_type = child_type(parent.type, written_type) if parent is not None else written_type
        nkey, name_raw = self._member(raw, "name")
        if name_raw is None:
            self.state.error(self.source, decl.path, "resource has no 'name'; it is not checked")
            return None
        name = self._walk(name_raw, (*decl.path, nkey), ("name",), prov, drop_null=False)
        if not isinstance(name, str):
            self.state.error(self.source, (*decl.path, nkey), "a resource 'name' must be a string",
                             at_value=True)
            name = str(name)
        full_name = child_name(parent.name, name, written_type) if parent is not None else name
        akey, api_raw = self._member(raw, "apiVersion")
        api_version: Any = ""
        if api_raw is not None:
            api_version = self._walk(api_raw, (*decl.path, akey), ("apiVersion",), prov, drop_null=False)
        elif self._member(self.raw, "apiProfile")[1] is None:
            self.state.error(self.source, decl.path, "resource has no 'apiVersion'")
        existing = self._member(raw, "existing")[1] is True
        sub, rg = self.subscription_id, self.resource_group
        prefix = self.prefix
        skey, sub_raw = self._member(raw, "subscriptionId")
        gkey, rg_raw = self._member(raw, "resourceGroup")
        if sub_raw is not None or rg_raw is not None:
            if sub_raw is not None:
                sub = self._walk(sub_raw, (*decl.path, skey), (skey,), prov, drop_null=False)
            if rg_raw is not None:
                rg = self._walk(rg_raw, (*decl.path, gkey), (gkey,), prov, drop_null=False)
                prefix = scope_prefix(SCOPE_RESOURCE_GROUP, sub, rg)
            elif self.schema_scope != SCOPE_RESOURCE_GROUP:
                prefix = scope_prefix(SCOPE_SUBSCRIPTION, sub, rg)
            else:
                prefix = scope_prefix(SCOPE_RESOURCE_GROUP, sub, rg)
        if not segments_match(full_type, full_name):
            self.state.error(
                self.source, (*decl.path, nkey),
                f"resource name '{full_name}' does not fit type '{full_type}': a name needs one "
                "segment per type segment after the namespace", at_value=True)
        scope_key, scope_raw = self._member(raw, "scope")
        resolved_scope: Any = None
        if scope_raw is not None:
            value = self._walk(scope_raw, (*decl.path, scope_key), ("scope",), prov, drop_null=False)
            resolved_scope = resolve_scope(value, self.prefix, self._symbolic_id)
        if isinstance(resolved_scope, str) and resolved_scope:
            rid = resource_id(resolved_scope, full_type, full_name)
        elif sub_raw is None and rg_raw is None:
            rid = top_level_id(self.schema_scope, sub, rg, full_type, full_name)
        else:
            rid = resource_id(prefix, full_type, full_name)
        if scope_raw is None and "/providers/" in full_type.lower():
            # legacy ``<ns>/<type>/providers/roleAssignments``: scope is the named resource
            resolved_scope = legacy_scope(full_type, full_name, prefix)
        return _Header(
            decl=decl, type=full_type, written_type=written_type, name=full_name, id=rid,
            api_version=api_version, condition=condition, existing=existing, scope=resolved_scope,
            copy_index=index, loops=tuple(self.loops), prov=prov,
            subscription_id=sub, resource_group=rg, dropped=dropped,
        )

    def _symbolic_id(self, name: str) -> str | None:
        """The ID of the resource with this symbolic name (building its header now if it
        is declared later); None when no single resource has that name."""
        if not self.symbolic_mode:
            return None
        for decl in self.decls:
            if decl.symbolic == name:
                if decl not in self.headers and decl not in self.building:
                    saved, self.loops = self.loops, []
                    try:
                        self._build(decl, None)
                    finally:
                        self.loops = saved
                found = self.headers.get(decl, [])
                return str(found[0].id) if len(found) == 1 else None
        return None

    def list_target(self, target: Any) -> Any:
        """What ``listKeys()``/``list*()`` is called on: a resource ID, or (languageVersion
        2.0) a symbolic name, which names the resource's ID."""
        if isinstance(target, str) and not isinstance(target, Unknown) and not target.startswith("/"):
            hit = self._symbolic_id(target)
            if hit is not None:
                return hit
        return target

    def _reference_target(self, target: Any) -> str:
        if isinstance(target, Unknown):
            return piece(target)
        if not isinstance(target, str):
            return str(target)
        if target.startswith("/"):
            return target
        hit = self._symbolic_id(target)
        if hit is not None:
            return hit
        if not self.all_built and not self.building:
            self._build_all_headers()
        t: _Template | None = self
        while t is not None:
            matches = [h for hs in t.headers.values() for h in hs
                       if isinstance(h.name, str) and not isinstance(h.name, Unknown)
                       and h.name.lower() == target.lower()]
            if len(matches) == 1:
                return str(matches[0].id)
            if matches:
                return target
            t = t.parent
        return target

    def _emit(self, h: _Header) -> None:
        raw = h.decl.raw
        is_deployment = h.type.lower() == _DEPLOYMENTS
        prov = _Prov(dict(h.prov.origins), dict(h.prov.mappings))
        written_name = ci_get(raw, "name")
        for loop in h.loops:
            self.loops.append(loop)
        try:
            body = CIDict()
            for k, v in raw.items():
                low = k.lower()
                if low in _RESOURCE_META:
                    continue
                if low == "type":
                    body[k] = h.type
                elif low == "name":
                    body[k] = h.name
                elif low == "apiversion":
                    body[k] = h.api_version
                elif low == "scope" and h.scope is not None:
                    body[k] = h.scope
                elif low in ("subscriptionid", "resourcegroup"):
                    body[k] = h.subscription_id if low == "subscriptionid" else h.resource_group
                elif low == "properties" and is_deployment and isinstance(v, dict):
                    # the inline template belongs to the nested deployment, evaluated there
                    inner = {pk: pv for pk, pv in v.items() if pk.lower() != "template"}
                    body[k] = self._walk(inner, (*h.decl.path, k), (k,), prov, drop_null=True)
                else:
                    value = self._walk(v, (*h.decl.path, k), (k,), prov, drop_null=True)
                    if value is None:
                        continue
                    if low == "properties" and not isinstance(value, dict) and not isinstance(value, Unknown):
                        self.state.error(self.source, (*h.decl.path, k),
                                         "'properties' must be an object; ignored")
                        continue
                    body[k] = value
            resource = Resource(
                type=h.type, name=h.name, id=h.id, body=body, source=self.source, path=h.decl.path,
                api_version=h.api_version if isinstance(h.api_version, str) else str(h.api_version),
                symbolic_name=h.decl.symbolic, condition=h.condition, existing=h.existing,
                scope=h.scope, deployment=self.deployment, copy_index=h.copy_index,
                mappings=prov.mappings, origins=prov.origins,
                written_name=written_name if isinstance(written_name, str) else None,
            )
            self.state.expansion.resources.append(resource)
            if is_deployment and not h.existing:
                self._nested(h, resource)
        finally:
            for _ in h.loops:
                self.loops.pop()

    # ------------------------------------------------------------------ nested deployments

    def _nested(self, h: _Header, resource: Resource) -> None:
        raw_props = ci_get(h.decl.raw, "properties")
        if not isinstance(raw_props, dict):
            return
        pkey, _ = self._member(h.decl.raw, "properties")
        props = ci_get(resource.body, "properties")
        tkey, template = self._member(raw_props, "template")
        link = ci_get(props, "templateLink")
        name = piece(h.name)
        chain = (*self.deployment, name)
        if template is None and link is None:
            return
        if self.depth + 1 > MAX_NESTING:
            self.state.error(self.source, h.decl.path,
                             f"nested deployments deeper than {MAX_NESTING} levels are not expanded")
            return
        opts = ci_get(raw_props, "expressionEvaluationOptions")
        mode = ci_get(opts, "scope")
        inner = isinstance(mode, str) and mode.lower() == "inner"
        target_scope = self._target_scope(h)
        if template is not None:
            tpath = (*h.decl.path, pkey, tkey)
            if not isinstance(template, dict):
                self.state.error(self.source, tpath, "a nested 'template' must be an object")
                return
            child = _Template(
                self.state, self.source, tpath, template, base_dir=self.base_dir, parent=self,
                outer=not inner, deployment=chain, depth=self.depth + 1,
                subscription_id=h.subscription_id, resource_group=h.resource_group,
                target_scope=target_scope, condition=h.condition,
            )
            if inner:
                self._pass_parameters(child, resource, h, pkey)
            child.run()
            return
        self._linked(h, resource, link, chain, pkey, target_scope)

    def _target_scope(self, h: _Header) -> str:
        """The scope a nested deployment targets when its template's ``$schema`` does not
        say: a resource group when ``resourceGroup`` is set, a management group or
        subscription for such a ``scope``, else the parent's."""
        if ci_get(h.decl.raw, "resourceGroup") is not None:
            return SCOPE_RESOURCE_GROUP
        text = piece(h.scope).lower() if isinstance(h.scope, str) else ""
        if "/providers/microsoft.management/managementgroups/" in text:
            return SCOPE_MANAGEMENT_GROUP
        if ci_get(h.decl.raw, "subscriptionId") is not None:
            return SCOPE_SUBSCRIPTION
        return self.schema_scope

    def _pass_parameters(self, child: _Template, resource: Resource, h: _Header, pkey: str) -> None:
        """Feed ``properties.parameters`` (evaluated in this template) to an inner-scope or
        linked template."""
        props = ci_get(resource.body, "properties")
        raw_props = ci_get(h.decl.raw, "properties")
        akey = self._member(raw_props, "parameters")[0] if isinstance(raw_props, dict) else "parameters"
        given = ci_get(props, "parameters")
        if given is None:
            return
        base = (*h.decl.path, pkey, akey)
        if not isinstance(given, Mapping):
            if not isinstance(given, Unknown):
                self.state.error(self.source, base, "deployment 'parameters' must be an object")
            return
        declared = child.declared()
        supplied: dict[str, Supplied] = {}
        for key, entry in given.items():
            hit = declared.get(key.lower())
            if hit is None:
                self.state.warn(self.source, (*base, key),
                                f"parameter '{key}' is not declared by the nested template; ignored")
                continue
            pname = hit[0]
            if isinstance(entry, Unknown):
                value: Any = entry
                vkey = ""
            else:
                ok, value = entry_value(pname, entry)
                if not ok:
                    self.state.error(self.source, (*base, key),
                                     f"parameter '{key}' needs a 'value' or a 'reference'")
                    continue
                vkey = next((k for k in entry if k.lower() in ("value", "reference")), "value")
            vpath = (*base, key, vkey) if vkey else (*base, key)
            bpath = ("properties", "parameters", key, vkey) if vkey else ("properties", "parameters", key)
            origin = resource.origins.get(bpath) or resource.origins.get(bpath[:-1]) \
                or LazyOrigin("literal", self.source, vpath, name=pname)
            checkable = origin.kind in ("literal", "parameter-file", "parameter-cli")
            supplied[key.lower()] = Supplied(pname, value, origin, self.source, vpath, checkable=checkable)
        child.supply(supplied)

    def _linked(
        self, h: _Header, resource: Resource, link: Any, chain: tuple[str, ...], pkey: str,
        target_scope: str,
    ) -> None:
        lpath = (*h.decl.path, pkey, "templateLink")
        exp = self.state.expansion
        if not isinstance(link, Mapping):
            self.state.error(self.source, lpath, "'templateLink' must be an object")
            return
        rel = ci_get(link, "relativePath")
        uri = ci_get(link, "uri")
        spec = ci_get(link, "id")
        if isinstance(rel, str) and not isinstance(rel, Unknown):
            target = posixpath.normpath(posixpath.join(self.base_dir, rel.replace("\\", "/")))
            if self.state.load_template is None:
                exp.not_checked.append(LinkedTemplate(self.source, lpath, target,
                                                      "linked templates are not loaded in this mode"))
                return
            loaded = self.state.load_template(target)
            if isinstance(loaded, Located):
                exp.not_checked.append(LinkedTemplate(self.source, lpath, target, loaded.message))
                return
            if not isinstance(loaded.data, dict):
                exp.not_checked.append(LinkedTemplate(self.source, lpath, target,
                                                      "the linked file is not a template object"))
                return
            cycle = self._link_cycle(_file_id(loaded), loaded.source.path)
            if cycle is not None:
                # ARM would recurse until its own nesting limit; expanding the same
                # files again would only repeat their resources and findings
                self.state.error(self.source, lpath,
                                 f"templateLink '{piece(rel)}' forms a cycle: {cycle}; "
                                 "the linked template is not expanded again")
                return
            child = _Template(
                self.state, loaded.source, loaded.root, loaded.data,
                base_dir=posixpath.dirname(target), parent=self, outer=False, deployment=chain,
                depth=self.depth + 1, subscription_id=h.subscription_id,
                resource_group=h.resource_group, target_scope=target_scope, condition=h.condition,
                file_id=_file_id(loaded),
            )
            self._pass_parameters(child, resource, h, pkey)
            child.run()
            return
        if isinstance(rel, str):
            exp.not_checked.append(LinkedTemplate(self.source, lpath, piece(rel),
                                                  "its relativePath is not known statically"))
        elif isinstance(uri, str):
            exp.not_checked.append(LinkedTemplate(self.source, lpath, piece(uri),
                                                  "remote templates (templateLink.uri) are not fetched"))
        elif isinstance(spec, str):
            exp.not_checked.append(LinkedTemplate(self.source, lpath, piece(spec),
                                                  "template specs (templateLink.id) are not fetched"))
        else:
            self.state.error(self.source, lpath, "'templateLink' needs 'uri', 'relativePath' or 'id'")

    def _link_cycle(self, file_id: str, display: str) -> str | None:
        """The chain of files ``root -> ... -> this -> display`` when the file being
        linked is this template's own or one of the files that link to it."""
        files: list[tuple[str, str]] = []
        t: _Template | None = self
        while t is not None:
            if not files or files[-1][0] != t.file_id:
                files.append((t.file_id, t.source.path))
            t = t.parent
        files.reverse()
        start = next((i for i, (fid, _) in enumerate(files) if fid == file_id), None)
        if start is None:
            return None
        return " -> ".join([*(shown for _, shown in files[start:]), display])

    # ------------------------------------------------------------------ outputs

    def _outputs(self, tpl: Template) -> None:
        key, section = self._section("outputs", dict, "an object")
        for name, out in section.items():
            opath = (*self.path, key, name)
            if not isinstance(out, dict):
                self.state.error(self.source, opath, f"output '{name}' must be an object")
                continue
            ckey, cond = self._member(out, "condition")
            if ckey in out:
                value = self._walk(cond, (*opath, ckey), (), None, drop_null=False)
                if value is False:
                    continue
            bpath = ("outputs", name)
            copy_key, copy = self._member(out, "copy")
            vkey, raw_value = self._member(out, "value")
            if isinstance(copy, dict):
                tpl.outputs[name] = self._output_copy(copy, (*opath, copy_key), bpath, tpl)
                continue
            if vkey not in out:
                self.state.error(self.source, opath, f"output '{name}' has no 'value'")
                continue
            vpath = (*opath, vkey)
            tpl.mappings[bpath] = Mapped(self.source, vpath)
            tpl.outputs[name] = self._walk(raw_value, vpath, bpath, tpl, drop_null=False)

    def _output_copy(self, copy: dict[str, Any], cpath: JsonPath, bpath: JsonPath, tpl: Template) -> Any:
        ckey, count_raw = self._member(copy, "count")
        ikey, template = self._member(copy, "input")
        if ikey not in copy:
            self.state.error(self.source, cpath, "an output 'copy' needs an 'input'")
            return []
        count = self._count(count_raw, (*cpath, ckey))
        if isinstance(count, Unknown):
            return Unknown(f"output copy ({count.text} items)", count.causes)
        items: list[Any] = []
        for j in range(count):
            self.loops.append((None, j, True))
            try:
                items.append(self._walk(template, (*cpath, ikey), (*bpath, j), tpl, drop_null=False))
            finally:
                self.loops.pop()
            tpl.mappings[(*bpath, j)] = Mapped(self.source, (*cpath, ikey))
        return items


# ----------------------------------------------------------------------------- provenance details
# Details of ``LazyOrigin``s, computed only when a message shows them.  Classes rather than
# closures because expansions are pickled (``--jobs``).


class _NoValueDetail:
    __slots__ = ("name", "path", "source")

    def __init__(self, name: str, source: SourceFile, path: JsonPath) -> None:
        self.name = name
        self.source = source
        self.path = path

    def __call__(self) -> str:
        line = self.source.locate(self.path)[0]
        return f"parameter '{self.name}' (declared at {self.source.path}:{line}) has no value"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_NoValueDetail, (self.name, self.source, self.path))


@dataclass(frozen=True)
class _Read:
    """A parameter or variable an expression read, as its detail shows it."""

    name: str
    origin: Origin | None


def _settled(reads: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [(kind, _Read(item.name, item.origin)) for kind, item in reads]


# A chain of variables reading variables is as long as the template makes it, and a
# variable read by several others would be described once per reader: a message names
# each input once, follows variables this many levels deep, and names at most this many.
_USES_DEPTH = 4
_USES_MAX = 12


def _uses(reads: Sequence[tuple[str, Any]], seen: set[str], depth: int) -> list[str]:
    """``parameter 'p' (default at f:4)``, ``variable 'v' (at f:5) using ...`` for each
    input not yet named in this message."""
    parts: list[str] = []
    for kind, item in reads:
        o: Origin | None = item.origin
        if kind == "parameter":
            head = f"parameter '{item.name}'" + (f" ({where(o)})" if o is not None else "")
        else:
            head = f"variable '{item.name}'" + (f" (at {o.file}:{o.line})" if o is not None else "")
        if head in seen:
            continue
        if len(seen) >= _USES_MAX:
            parts.append("...")
            break
        seen.add(head)
        if kind == "variable" and o is not None:
            inner = o.detail_source if isinstance(o, LazyOrigin) else None
            if isinstance(inner, _UsesDetail):
                if depth < _USES_DEPTH:
                    more = _uses(inner.reads, seen, depth + 1)
                    if more:
                        head += f" using {', '.join(more)}"
            elif o.detail:
                head += f" using {o.detail}"  # already rendered (and bounded) elsewhere
        parts.append(head)
    return parts


class _UsesDetail:
    """What a variable (or one sub-value of a structured variable) read: the detail of
    its ``variable`` origin, shown after ``variable 'v' at f:5 using ``."""

    __slots__ = ("reads",)

    def __init__(self, reads: Sequence[tuple[str, Any]]) -> None:
        self.reads = reads

    def __call__(self) -> str:
        return ", ".join(_uses(self.reads, set(), 1))

    def settle(self) -> None:
        self.reads = _settled(self.reads)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_UsesDetail, (_settled(self.reads),))


class _ExpressionDetail:
    """``expression at <file>:<line> using parameter 'p' (...), variable 'v' (...)``,
    variables followed by what they read (``_uses``).

    ``reads`` holds the expander's parameter and variable objects, whose origins may be
    settled only after the expression is recorded; once expansion is over, ``settle``
    keeps just their names and origins, so that results do not keep the expander's
    state (a reference cycle per file) alive."""

    __slots__ = ("fpath", "reads", "source")

    def __init__(self, source: SourceFile, fpath: JsonPath, reads: Sequence[tuple[str, Any]]) -> None:
        self.source = source
        self.fpath = fpath
        self.reads = reads

    def __call__(self) -> str:
        at = f"{self.source.path}:{self.source.locate(self.fpath)[0]}"
        used = _uses(self.reads, set(), 0)
        return f"expression at {at}" + (f" using {', '.join(used)}" if used else "")

    def settle(self) -> None:
        self.reads = _settled(self.reads)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_ExpressionDetail, (self.source, self.fpath, _settled(self.reads)))


def _file_id(doc: Document) -> str:
    """What makes two documents the same file (links may reach it by other paths)."""
    if doc.abspath:
        return os.path.normcase(os.path.realpath(doc.abspath))
    return doc.source.path


def _both(first: bool | Unknown, second: bool | Unknown) -> bool | Unknown:
    """Two conditions that must both hold (neither is false here: a false condition
    drops its resource before conditions are combined)."""
    if first is True:
        return second
    if second is True:
        return first
    return Unknown(f"{piece(first)} and {piece(second)}", merge_causes([first, second]))


def _is_property_copy(entries: list[Any]) -> bool:
    """A ``copy`` array of ``{"name", "count", "input"}`` objects (facts §6.4), as
    opposed to a property that happens to be called ``copy``."""
    return bool(entries) and all(
        isinstance(e, dict)
        and {k.lower() for k in e if isinstance(k, str)} >= {"name"}
        and any(isinstance(k, str) and k.lower() in ("input", "count") for k in e)
        for e in entries
    )
