"""Parameters of ARM template expansion: defaults, parameter files, --parameters,
Key Vault references, missing and nullable values, and the warnings for bad values."""

from __future__ import annotations

import json
from typing import Any

from engine.arm.expander import ParameterSource, expand
from engine.model import Document, Expansion
from engine.source import SourceFile, parse_json
from engine.values import Unknown
from tests.conftest import hub, template

# ----------------------------------------------------------------------------- helpers


def tdoc(tpl: dict[str, Any], path: str = "main.json") -> Document:
    text = json.dumps(tpl, indent=2)
    return Document(kind="template", source=SourceFile(path=path, text=text), data=parse_json(text))


def pfile(
    params: dict[str, Any], *, bare: bool = False, path: str = "main.parameters.json"
) -> ParameterSource:
    data: Any = (
        params
        if bare
        else {
            "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
            "contentVersion": "1.0.0.0",
            "parameters": params,
        }
    )
    text = json.dumps(data, indent=2)
    doc = Document(kind="parameters", source=SourceFile(path=path, text=text), data=parse_json(text))
    return ParameterSource(kind="file", document=doc)


def line_of(source: ParameterSource | Document, needle: str) -> int:
    doc = source.document if isinstance(source, ParameterSource) else source
    assert doc is not None
    return next(i for i, line in enumerate(doc.source.text.splitlines(), 1) if needle in line)


def cli(name: str, value: str) -> ParameterSource:
    return ParameterSource(kind="cli", name=name, value=value)


def hub_with(parameters: dict[str, Any], **props: Any) -> dict[str, Any]:
    return template(hub("[parameters('hubName')]", **props), parameters=parameters)


def props(exp: Expansion) -> Any:
    return exp.resources[0].body["properties"]


def run(parameters: dict[str, Any], *sources: ParameterSource, **props: Any) -> Expansion:
    return expand(tdoc(hub_with(parameters, **props)), sources)


HUB = {"hubName": {"type": "string", "defaultValue": "hub1"}}

# ----------------------------------------------------------------------------- defaults


def test_a_default_value_is_used_when_nothing_is_supplied() -> None:
    exp = run({**HUB, "off": {"type": "bool", "defaultValue": True}}, disableLocalAuth="[parameters('off')]")
    assert props(exp)["disableLocalAuth"] is True
    assert exp.resources[0].name == "hub1"


def test_a_default_may_reference_an_earlier_or_later_parameter() -> None:
    params = {
        "hubName": {"type": "string", "defaultValue": "[concat(parameters('prefix'), '-hub')]"},
        "prefix": {"type": "string", "defaultValue": "contoso"},
    }
    assert run(params).resources[0].name == "contoso-hub"


def test_a_default_that_refers_to_itself_is_a_located_error() -> None:
    exp = run({"hubName": {"type": "string", "defaultValue": "[parameters('hubName')]"}})
    assert any("refers to itself" in e.message for e in exp.errors)
    assert isinstance(exp.resources[0].name, Unknown)


def test_an_exported_template_parameter_with_a_default_works_like_any_other() -> None:
    tpl = template(
        hub("[parameters('IotHubs_myhub_name')]"),
        parameters={"IotHubs_myhub_name": {"defaultValue": "myhub", "type": "String"}},
    )
    exp = expand(tdoc(tpl))
    assert exp.resources[0].name == "myhub"
    assert exp.templates[0].parameter_types == {"IotHubs_myhub_name": "string"}


# ----------------------------------------------------------------------------- supplied values


def test_a_parameter_file_value_overrides_the_default() -> None:
    exp = run(HUB, pfile({"hubName": {"value": "fromfile"}}))
    assert exp.resources[0].name == "fromfile"


def test_a_bare_parameter_object_is_accepted_as_a_parameter_file() -> None:
    exp = run(HUB, pfile({"hubName": {"value": "bare"}}, bare=True))
    assert exp.resources[0].name == "bare"


def test_later_parameter_sources_win() -> None:
    exp = run(
        HUB,
        pfile({"hubName": {"value": "fromfile"}}),
        cli("hubName", "fromcli"),
        pfile({"hubName": {"value": "last"}}, path="other.json"),
    )
    assert exp.resources[0].name == "last"


def test_parameter_names_match_case_insensitively() -> None:
    exp = run(HUB, pfile({"HUBNAME": {"value": "upper"}}))
    assert exp.resources[0].name == "upper"
    assert exp.warnings == []


def test_parameter_file_values_are_literal_and_never_evaluated() -> None:
    params = {**HUB, "tag": {"type": "string"}, "esc": {"type": "string"}}
    exp = run(
        params,
        pfile({"tag": {"value": "[concat('a', 'b')]"}, "esc": {"value": "[[x]"}}),
        comments="[parameters('tag')]",
        features="[parameters('esc')]",
    )
    assert props(exp)["comments"] == "[concat('a', 'b')]"
    assert props(exp)["features"] == "[[x]"


def test_a_template_default_in_double_brackets_is_unescaped() -> None:
    exp = run(
        {**HUB, "tag": {"type": "string", "defaultValue": "[[literal]"}}, comments="[parameters('tag')]"
    )
    assert props(exp)["comments"] == "[literal]"


def test_cli_values_are_typed_from_the_declared_type() -> None:
    params = {
        **HUB,
        "flag": {"type": "Bool"},
        "count": {"type": "int"},
        "rules": {"type": "array"},
        "settings": {"type": "object"},
        "text": {"type": "string"},
    }
    exp = run(
        params,
        cli("flag", "TRUE"),
        cli("count", "7"),
        cli("rules", '[{"a": 1}]'),
        cli("settings", '{"k": "v"}'),
        cli("text", "[not evaluated]"),
        disableLocalAuth="[parameters('flag')]",
        capacity="[parameters('count')]",
        ipFilterRules="[parameters('rules')]",
        routing="[parameters('settings')]",
        comments="[parameters('text')]",
    )
    p = props(exp)
    assert p["disableLocalAuth"] is True
    assert p["capacity"] == 7
    assert p["ipFilterRules"] == [{"a": 1}]
    assert p["routing"].get("K") == "v"
    assert p["comments"] == "[not evaluated]"


def test_a_cli_bool_other_than_true_is_false() -> None:
    exp = run({**HUB, "flag": {"type": "bool"}}, cli("flag", "yes"), disableLocalAuth="[parameters('flag')]")
    assert props(exp)["disableLocalAuth"] is False


def test_a_cli_value_that_does_not_parse_as_int_is_an_error_and_unknown() -> None:
    exp = run({**HUB, "count": {"type": "int"}}, cli("count", "seven"), capacity="[parameters('count')]")
    assert [(e.path, e.message) for e in exp.errors] == [
        ("--parameters", "count=seven: parameter of type int needs an integer (template main.json)")
    ]
    assert exp.warnings == []
    value = props(exp)["capacity"]
    assert isinstance(value, Unknown) and value.kinds == {"error"}


def test_a_cli_value_that_is_not_json_for_an_object_is_an_error_and_unknown() -> None:
    exp = run({**HUB, "tags": {"type": "object"}}, cli("tags", "{bad"), routing="[parameters('tags')]")
    assert [(e.path, e.message) for e in exp.errors] == [
        ("--parameters", "tags={bad: parameter of type object needs JSON: Expecting property name "
                         "enclosed in double quotes at column 2 (template main.json)")
    ]
    value = props(exp)["routing"]
    assert isinstance(value, Unknown) and value.kinds == {"error"}


def test_a_cli_value_that_is_not_json_for_an_array_is_an_error() -> None:
    exp = run({**HUB, "rules": {"type": "array"}}, cli("rules", "[1, 2"))
    assert ["rules=[1, 2: parameter of type array needs JSON" in e.message for e in exp.errors] == [True]


def test_a_cli_string_that_looks_like_bad_json_is_just_a_string() -> None:
    exp = run({**HUB, "text": {"type": "string"}}, cli("text", "{bad"), comments="[parameters('text')]")
    assert exp.errors == [] and props(exp)["comments"] == "{bad"


# ----------------------------------------------------------------------------- unknowns


def test_a_key_vault_reference_is_an_unknown_of_kind_keyvault() -> None:
    ref = {
        "reference": {
            "keyVault": {"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.KeyVault/vaults/kv"},
            "secretName": "hubKey",
        }
    }
    exp = run({**HUB, "key": {"type": "securestring"}}, pfile({"key": ref}), comments="[parameters('key')]")
    value = props(exp)["comments"]
    assert isinstance(value, Unknown)
    assert value.kinds == {"keyvault"}
    assert "hubKey" in value.describe()


def test_a_parameter_without_default_or_value_is_unknown_not_an_error() -> None:
    exp = run({"hubName": {"type": "string"}})
    name = exp.resources[0].name
    assert isinstance(name, Unknown)
    assert name.kinds == {"parameter"}
    assert name.causes[0].target == "hubName"
    assert exp.errors == []


def test_a_nullable_parameter_without_value_is_null() -> None:
    tpl = hub_with({**HUB, "tls": {"type": "string", "nullable": True}}, minTlsVersion="[parameters('tls')]")
    tpl["languageVersion"] = "2.0"
    tpl["resources"] = {"hub": tpl["resources"][0]}
    exp = expand(tdoc(tpl))
    assert exp.templates[0].parameters["tls"] is None
    assert "minTlsVersion" not in props(exp)


# ----------------------------------------------------------------------------- warnings


def test_an_undeclared_name_in_a_parameter_file_is_a_located_warning() -> None:
    source = pfile({"hubName": {"value": "h"}, "typo": {"value": 1}})
    exp = run(HUB, source)
    assert len(exp.warnings) == 1
    w = exp.warnings[0]
    assert (w.path, w.severity) == ("main.parameters.json", "warning")
    assert w.message == "parameter 'typo' is not declared by template main.json; its value is ignored"
    assert (w.line, w.column) == (line_of(source, '"typo"'), 5)


def test_an_undeclared_cli_name_is_a_warning() -> None:
    exp = run(HUB, cli("nope", "1"))
    assert ["'nope' is not declared" in w.message for w in exp.warnings] == [True]


def test_a_value_outside_allowed_values_is_a_warning() -> None:
    exp = run(
        {**HUB, "sku": {"type": "string", "allowedValues": ["S1", "S2"]}}, pfile({"sku": {"value": "F1"}})
    )
    assert ["not one of allowedValues" in w.message for w in exp.warnings] == [True]


def test_allowed_values_compare_strings_ignoring_case() -> None:
    exp = run({**HUB, "sku": {"type": "string", "allowedValues": ["S1"]}}, pfile({"sku": {"value": "s1"}}))
    assert exp.warnings == []


def test_length_and_range_bounds_are_checked() -> None:
    params = {
        **HUB,
        "short": {"type": "string", "maxLength": 3},
        "units": {"type": "int", "minValue": 1, "maxValue": 10},
    }
    exp = run(params, pfile({"short": {"value": "toolong"}, "units": {"value": 0}}))
    messages = sorted(w.message for w in exp.warnings)
    assert messages == [
        "parameter 'short' value is longer than maxLength 3 (template main.json)",
        "parameter 'units' value 0 is below minValue 1 (template main.json)",
    ]


def test_a_value_of_the_wrong_type_is_a_warning() -> None:
    exp = run({**HUB, "units": {"type": "int"}}, pfile({"units": {"value": "5"}}))
    assert [w.message for w in exp.warnings] == [
        "parameter 'units' is declared int but the value is a string (template main.json)"
    ]


def test_parameter_types_are_compared_case_insensitively() -> None:
    exp = run({**HUB, "key": {"type": "SecureString"}}, pfile({"key": {"value": "x"}}))
    assert exp.warnings == []
    assert exp.templates[0].parameter_types["key"] == "securestring"


# ----------------------------------------------------------------------------- provenance


def test_a_parameter_default_origin_points_at_the_default() -> None:
    doc = tdoc(
        hub_with(
            {**HUB, "off": {"type": "bool", "defaultValue": False}}, disableLocalAuth="[parameters('off')]"
        )
    )
    line = doc.source.text.splitlines().index('      "defaultValue": false') + 1
    origin = expand(doc).resources[0].origins[("properties", "disableLocalAuth")]
    assert origin.kind == "parameter-default"
    assert (origin.file, origin.line, origin.name) == ("main.json", line, "off")
    assert origin.describe() == f"parameter 'off', default at main.json:{line}"


def test_a_parameter_file_origin_points_at_the_value_in_the_file() -> None:
    source = pfile({"hubName": {"value": "h"}})
    origin = run(HUB, source).resources[0].origins[("name",)]
    line = line_of(source, '"value": "h"')
    assert origin.describe() == f"parameter 'hubName', parameter file main.parameters.json:{line}"


def test_a_cli_origin_names_the_command_line() -> None:
    exp = run(HUB, cli("hubName", "h"))
    assert (
        exp.resources[0].origins[("name",)].describe()
        == "parameter 'hubName', --parameters on the command line"
    )


def test_a_structured_parameter_value_maps_into_the_parameter_file() -> None:
    params = {**HUB, "net": {"type": "object"}}
    source = pfile({"net": {"value": {"defaultAction": "Allow"}}})
    exp = run(params, source, networkRuleSets="[parameters('net')]")
    mapped = exp.resources[0].map(("properties", "networkRuleSets", "defaultAction"))
    assert mapped.source.path == "main.parameters.json"
    assert mapped.source.locate(mapped.path)[0] == line_of(source, '"defaultAction": "Allow"')
    assert mapped.origin is not None and mapped.origin.kind == "parameter-file"


def test_a_literal_default_outside_allowed_values_is_a_warning() -> None:
    exp = run({**HUB, "sku": {"type": "string", "defaultValue": "F9", "allowedValues": ["S1"]}})
    assert ["not one of allowedValues" in w.message for w in exp.warnings] == [True]


def test_a_default_computed_from_the_placeholder_scope_is_not_checked_against_allowed_values() -> None:
    location = {"type": "string", "defaultValue": "[resourceGroup().location]", "allowedValues": ["westeurope"]}
    exp = run({**HUB, "location": location})
    assert exp.warnings == []
    assert exp.templates[0].parameters["location"] == "iotguard-location"


def test_the_template_link_of_the_deployment_is_unknown_not_an_error() -> None:
    artifacts = {"type": "string", "defaultValue": "[deployment().properties.templateLink.uri]"}
    exp = run({**HUB, "_artifactsLocation": artifacts})
    assert exp.errors == []
    value = exp.templates[0].parameters["_artifactsLocation"]
    assert isinstance(value, Unknown) and value.kinds == {"runtime"}


def test_origins_survive_pickling_with_their_positions() -> None:
    import pickle

    exp = run(HUB, pfile({"hubName": {"value": "h"}}))
    origin = exp.resources[0].origins[("name",)]
    copy = pickle.loads(pickle.dumps(origin))
    assert (copy.kind, copy.file, copy.line, copy.name) == (origin.kind, origin.file, origin.line, "hubName")
    assert copy.describe() == origin.describe()
