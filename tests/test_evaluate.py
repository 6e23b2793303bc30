"""The rule language: three-valued conditions, items, messages, locations."""

from __future__ import annotations

import json
from typing import Any

from engine.evaluate import Evaluator, InlineSuppression, Subject
from engine.model import Mapped, Resource
from engine.rulepack import Rule, compile_rule_text
from engine.run_index import RunIndex
from engine.source import SourceFile
from engine.values import Origin, Unknown, to_cidicts

RULE = """\
id: TST{n:03d}
title: Test rule number {n}
severity: high
tags: [test]
subject:
  kind: resource
  type: Microsoft.Devices/IotHubs
description: d
rationale: r
remediation: r
references: [https://learn.microsoft.com/]
message: "{{resource}}: {{property}} = {{value}}{{provenance}}"
"""


def rule(n: int = 1, **extra: Any) -> Rule:
    text = RULE.format(n=n)
    for k, v in extra.items():
        text += f"{k}: {json.dumps(v)}\n"
    compiled, _ = compile_rule_text("t.yaml", text)
    return compiled


def subject(body: dict[str, Any], api: str = "2023-06-30", origins: dict[Any, Origin] | None = None) -> Subject:
    text = json.dumps({"resources": [body]}, indent=2)
    src = SourceFile("t.json", text)
    r = Resource(type=body["type"], name=body["name"], id="/x/" + body["name"], body=to_cidicts(body),
                 source=src, path=("resources", 0), api_version=api, origins=origins or {})
    return Subject(kind="resource", body=r.body, type=r.type, name=r.name, raw_name=r.name,
                   resource_key=r.name, locate=r.map, api_version=api, obj=r)


def hubbody(**props: Any) -> dict[str, Any]:
    return {"type": "Microsoft.Devices/IotHubs", "apiVersion": "2023-06-30", "name": "hub1", "properties": props}


def run(r: Rule, *subjects: Subject) -> tuple[list[Any], list[Any]]:
    return Evaluator([r], RunIndex()).run(list(subjects))


def test_condition_true_fires_a_finding_at_the_property() -> None:
    f, u = run(rule(condition="properties.x == `false`", property="properties.x"), subject(hubbody(x=False)))
    assert len(f) == 1 and not u
    assert (f[0].line, f[0].property) == (8, "properties.x")
    assert "properties.x = false" in f[0].message


def test_absent_property_locates_the_resource() -> None:
    f, _ = run(rule(condition="!present(properties.x)", property="properties.x"), subject(hubbody()))
    assert f[0].line == 3 and "= absent" in f[0].message


def test_property_access_is_case_insensitive() -> None:
    f, _ = run(rule(condition="properties.disableLocalAuth == `false`", property="properties.disableLocalAuth"),
               subject(hubbody(DisableLocalAuth=False)))
    assert f and f[0].property == "properties.DisableLocalAuth"


def test_type_match_is_case_insensitive() -> None:
    body = hubbody(x=False)
    body["type"] = "microsoft.devices/iothubs"
    f, _ = run(rule(condition="properties.x == `false`"), subject(body))
    assert f


def test_other_types_are_not_subjects() -> None:
    body = hubbody(x=False)
    body["type"] = "Microsoft.Storage/storageAccounts"
    assert run(rule(condition="`true`"), subject(body)) == ([], [])


def test_comparison_with_unknown_is_unresolved_naming_the_input() -> None:
    unknown = Unknown.of("parameter", "parameter 'dla' has no default and no value")
    f, u = run(rule(condition="properties.x != `true`", property="properties.x"), subject(hubbody(x=unknown)))
    assert not f and len(u) == 1
    assert u[0].inputs == ("parameter 'dla' has no default and no value",)


def test_unknown_object_makes_member_comparisons_unresolved() -> None:
    body = hubbody()
    body["properties"] = Unknown.of("parameter", "parameter 'props' has no value")
    f, u = run(rule(condition="properties.x != `true`"), subject(body))
    assert not f and u


def test_presence_of_unknown_counts_as_set() -> None:
    unknown = Unknown.of("reference", "reference() result")
    f, u = run(rule(condition="nonempty(properties.cs)"), subject(hubbody(cs=unknown)))
    assert f and not u


def test_any_with_a_definite_true_wins_over_unknown() -> None:
    unknown = Unknown.of("parameter", "p")
    cond = {"any": ["properties.a == 'x'", "properties.b == 'y'"]}
    f, u = run(rule(condition=cond), subject(hubbody(a=unknown, b="y")))
    assert f and not u


def test_all_with_a_definite_false_wins_over_unknown() -> None:
    unknown = Unknown.of("parameter", "p")
    cond = {"all": ["properties.a == 'x'", "properties.b == 'y'"]}
    assert run(rule(condition=cond), subject(hubbody(a=unknown, b="z"))) == ([], [])


def test_not_of_unknown_stays_unknown() -> None:
    unknown = Unknown.of("parameter", "p")
    f, u = run(rule(condition={"not": "properties.a == 'x'"}), subject(hubbody(a=unknown)))
    assert not f and u


def test_each_evaluates_every_item_and_points_at_it() -> None:
    body = hubbody(routing={"endpoints": {"eventHubs": [{"name": "a", "authenticationType": "identityBased"},
                                                        {"name": "b", "authenticationType": "keyBased"}]}})
    r = rule(condition="ieq(authenticationType, 'keyBased')", each="properties.routing.endpoints.*.*",
             property="authenticationType")
    f, _ = run(r, subject(body))
    assert len(f) == 1
    assert f[0].property == "properties.routing.endpoints.eventHubs[1].authenticationType"


def test_an_unknown_collection_under_each_is_one_unresolved_item_naming_the_input() -> None:
    endpoints = Unknown.of("parameter", "parameter 'endpoints' has no value", text="parameters('endpoints')")
    r = rule(condition="ieq(authenticationType, 'keyBased')", each="properties.routing.endpoints.*.*",
             property="authenticationType")
    f, u = run(r, subject(hubbody(routing={"endpoints": endpoints})))
    assert not f and len(u) == 1
    assert u[0].inputs == ("parameter 'endpoints' has no value",)
    assert u[0].property == "properties.routing.endpoints"
    assert "properties.routing.endpoints = {parameters('endpoints')}" in u[0].message


def test_an_unknown_array_deeper_in_the_each_path_is_unresolved_too() -> None:
    hubs = Unknown.of("parameter", "parameter 'ehs' has no value", text="parameters('ehs')")
    r = rule(condition="ieq(authenticationType, 'keyBased')", each="properties.routing.endpoints.*.*",
             property="authenticationType")
    body = hubbody(routing={"endpoints": {"eventHubs": hubs, "serviceBusQueues": [
        {"name": "q", "authenticationType": "keyBased"}]}})
    f, u = run(r, subject(body))
    assert [x.property for x in f] == ["properties.routing.endpoints.serviceBusQueues[0].authenticationType"]
    assert [x.property for x in u] == ["properties.routing.endpoints.eventHubs"]


def test_an_absent_collection_under_each_yields_no_item() -> None:
    r = rule(condition="ieq(authenticationType, 'keyBased')", each="properties.routing.endpoints.*.*")
    assert run(r, subject(hubbody(routing={}))) == ([], [])


def test_a_message_member_of_an_unknown_item_is_shown_as_unknown() -> None:
    text = RULE.format(n=1).replace('message: "{resource}: {property} = {value}{provenance}"',
                                    'message: "endpoint {$ name} fires"')
    compiled, _ = compile_rule_text("t.yaml", text + 'condition: "k == `true`"\neach: properties.eps.*\n')
    eps = Unknown.of("parameter", "parameter 'eps' has no value", text="parameters('eps')")
    _, u = run(compiled, subject(hubbody(eps=eps)))
    assert u[0].message.startswith("endpoint {parameters('eps').name} fires")


def test_message_expressions_read_the_item() -> None:
    body = hubbody(eps=[{"name": "archive", "k": True}])
    r = rule(condition="k", each="properties.eps.*")
    r.message_exprs.clear()
    text = RULE.format(n=1).replace('message: "{resource}: {property} = {value}{provenance}"',
                                    'message: "endpoint {$ name} fires"')
    compiled, _ = compile_rule_text("t.yaml", text + 'condition: "k"\neach: properties.eps.*\n')
    f, _ = run(compiled, subject(body))
    assert f[0].message == "endpoint archive fires"


def test_provenance_of_a_parameter_value_is_in_the_message() -> None:
    origin = Origin(kind="parameter-default", file="t.json", line=12, name="dla")
    f, _ = run(rule(condition="properties.x == `false`", property="properties.x"),
               subject(hubbody(x=False), origins={("properties", "x"): origin}))
    assert "(parameter 'dla', default at t.json:12)" in f[0].message
    assert f[0].provenance == "parameter 'dla', default at t.json:12"


def test_literal_provenance_names_the_line() -> None:
    f, _ = run(rule(condition="properties.x == `false`", property="properties.x"), subject(hubbody(x=False)))
    assert f[0].provenance == "literal at t.json:8"


def test_introduced_property_names_the_first_api_version() -> None:
    r = rule(condition="!present(properties.x)", property="properties.x", introduced={"properties.x": "2021-07-01"})
    f, _ = run(r, subject(hubbody(), api="2020-03-01"))
    assert "2021-07-01" in f[0].message and "2020-03-01" in f[0].message


def test_inline_metadata_suppression_marks_the_finding() -> None:
    body = hubbody(x=False)
    body["metadata"] = {"iotguard": {"suppress": [{"rule": "TST001", "reason": "accepted risk"}]}}
    s = subject(body)
    s.suppress.append(InlineSuppression("TST001", "accepted risk", Mapped(s.obj.source, ("resources", 0, "metadata"))))
    f, _ = run(rule(condition="properties.x == `false`"), s)
    assert f[0].suppression is not None and f[0].suppression.reason == "accepted risk"


def test_runtime_type_error_in_a_rule_is_a_problem_not_a_crash() -> None:
    r = rule(condition="length(properties.x)")
    ev = Evaluator([r], RunIndex())
    assert ev.run([subject(hubbody(x=5))]) == ([], [])
    assert ev.problems and "TST001" in ev.problems[0].message


def test_leaves_of_a_value_nested_past_the_recursion_limit_are_all_found() -> None:
    from engine.evaluate import _leaves

    deep: Any = "key"
    for i in range(3000):
        deep = {"v": deep} if i % 2 else [deep, i]
    leaves = _leaves((), deep)
    assert len(leaves) == 1 + 1500
    assert leaves[0][1] == "key" and len(leaves[0][0]) == 3000


def test_rules_reading_only_their_subjects_file_are_told_apart_from_cross_file_rules() -> None:
    from engine.evaluate import reads_other_files

    assert not reads_other_files(rule(condition="!properties.disableLocalAuth"))
    assert reads_other_files(rule(condition="length(diagnostic_settings(@)) == `0`"))
    assert reads_other_files(rule(condition={"all": [
        "properties.x", {"not": "is_true(some_hub_may_disable_local_auth())"}]}))
    assert reads_other_files(rule(condition="properties.x", locate="where(@)"))
    text = RULE.format(n=1).replace("message: \"", "message: \"{$ where(@)} ") + \
        "condition: properties.x\n"
    in_message, _ = compile_rule_text("t.yaml", text)
    assert in_message.message_exprs and reads_other_files(in_message)


def test_every_function_that_reads_the_run_is_listed_as_cross_file() -> None:
    import inspect

    from engine.jfunctions import CROSS_FILE_FUNCTIONS, RuleFunctions

    readers = set()
    for name in dir(RuleFunctions):
        if name.startswith("_func_"):
            src = inspect.getsource(getattr(RuleFunctions, name))
            if any(k in src for k in ("state.run", "_role_of(", "_hub_of(")):
                readers.add(name[len("_func_"):])
    assert readers and readers <= CROSS_FILE_FUNCTIONS


def test_a_function_reading_the_run_during_a_file_local_evaluation_fails_loudly() -> None:
    import pytest

    from engine.evaluate import NO_RUN

    with pytest.raises(RuntimeError, match="CROSS_FILE_FUNCTIONS"):
        NO_RUN.resources  # noqa: B018
