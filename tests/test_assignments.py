"""Role assignments: scope forms, role GUIDs and resolution, principals, containment."""

from __future__ import annotations

from typing import Any

import jmespath
import pytest

from engine.assignments import (
    MG_ID,
    RG_ID,
    SUBSCRIPTION_ID,
    RoleAssignment,
    assignment_body,
    from_resource,
    is_hub_scope,
    parse_scope,
    scope_contains,
)
from engine.model import Resource, Template
from engine.rbac import normalize_role
from engine.run_index import RunIndex
from engine.source import SourceFile
from engine.values import Origin, Unknown, UnknownCause, to_cidicts

SOURCE = SourceFile(path="main.json", text="{}")
HUB = f"{RG_ID}/providers/Microsoft.Devices/IotHubs/hub1"
UAI = f"{RG_ID}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
DATA_CONTRIBUTOR = "4fc6c259-987e-4a07-842e-c321cc9d413f"
SUB_ROLE_ID = f"/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/" \
    f"roleDefinitions/{DATA_CONTRIBUTOR}"


def assignment(
    properties: Any = None, *, scope: Any = None, type: str = "Microsoft.Authorization/roleAssignments",
    name: Any = "a1", rid: str = "", deployment: tuple[str, ...] = (), body_scope: Any = None,
) -> Resource:
    body: dict[str, Any] = {"type": type, "apiVersion": "2022-04-01", "name": name}
    if properties is not None:
        body["properties"] = properties
    if body_scope is not None:
        body["scope"] = body_scope
    return Resource(type=type, name=name, id=rid or f"{RG_ID}/providers/{type}/{name}", body=to_cidicts(body),
                    source=SOURCE, path=("resources", 0), scope=scope, deployment=deployment)


def props(principal: Any = "11111111-2222-3333-4444-555555555555", role: Any = SUB_ROLE_ID) -> dict[str, Any]:
    return {"roleDefinitionId": role, "principalId": principal, "principalType": "ServicePrincipal"}


def index_for(schema_scope: str, *resources: Resource) -> RunIndex:
    index = RunIndex()
    index.templates.append(Template(source=SOURCE, path=(), raw={}, schema_scope=schema_scope))
    index.add_resources(resources)
    return index


def in_rg(r: Resource) -> RoleAssignment:
    """Normalise as part of a resource-group deployment."""
    return from_resource(r, index_for("resourceGroup"))


def reference(target: str, *path: str | int, text: str = "") -> Unknown:
    cause = UnknownCause("reference", f"reference({target})", function="reference", target=target)
    return Unknown(text or f"reference({target})", (cause,), tuple(path))


# ----------------------------------------------------------------------------- scope


def test_full_resource_id_scope_is_a_hub_scope() -> None:
    a = in_rg(assignment(props(), scope=HUB))
    assert (a.scope, a.scope_kind, a.is_hub_scope) == (HUB, "resource", True)


def test_relative_bicep_scope_lands_in_the_deployment_resource_group() -> None:
    a = in_rg(assignment(props(), scope="Microsoft.Devices/IotHubs/hub1"))
    assert a.scope == HUB and a.is_hub_scope


def test_relative_scope_in_the_body_is_used_when_the_expander_left_scope_unset() -> None:
    a = in_rg(assignment(props(), body_scope="Microsoft.Devices/IotHubs/hub1"))
    assert a.scope == HUB


@pytest.mark.parametrize(("schema", "expected", "kind"), [
    ("resourceGroup", RG_ID, "resourceGroup"),
    ("subscription", SUBSCRIPTION_ID, "subscription"),
    ("managementGroup", MG_ID, "managementGroup"),
    ("tenant", "/", "tenant"),
])
def test_no_scope_means_the_deployment_scope_of_the_template_schema(
        schema: str, expected: str, kind: str) -> None:
    a = from_resource(assignment(props(), rid="x"), index_for(schema))
    assert (a.scope, a.scope_kind) == (expected, kind)


def test_no_scope_without_a_template_falls_back_to_the_resource_id() -> None:
    rid = f"{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleAssignments/a1"
    a = from_resource(assignment(props(), rid=rid))
    assert (a.scope, a.scope_kind) == (SUBSCRIPTION_ID, "subscription")


def test_legacy_child_assignment_is_scoped_to_the_named_hub() -> None:
    r = assignment(props(), type="Microsoft.Devices/IotHubs/providers/roleAssignments",
                   name=f"hub1/Microsoft.Authorization/{DATA_CONTRIBUTOR}")
    a = from_resource(r, index_for("resourceGroup"))
    assert a.scope == HUB and a.is_hub_scope


def test_legacy_nested_child_type_interleaves_types_and_names() -> None:
    legacy = "Microsoft.Storage/storageAccounts/blobServices/containers/providers/roleAssignments"
    a = in_rg(assignment(props(), type=legacy, name="acct/default/c1/Microsoft.Authorization/x"))
    assert a.scope == f"{RG_ID}/providers/Microsoft.Storage/storageAccounts/acct/blobServices/default/" \
        "containers/c1"


def test_legacy_assignment_whose_name_does_not_fit_its_type_has_an_unknown_scope() -> None:
    r = assignment(props(), type="Microsoft.Devices/IotHubs/providers/roleAssignments", name="x")
    a = in_rg(r)
    assert a.scope_kind == "unknown" and a.unknowns


def test_legacy_assignment_uses_the_expander_scope_when_set() -> None:
    other = "/subscriptions/s/resourceGroups/other/providers/Microsoft.Devices/IotHubs/hub9"
    r = assignment(props(), type="Microsoft.Devices/IotHubs/providers/roleAssignments",
                   name="hub9/Microsoft.Authorization/x", scope=other)
    assert from_resource(r, index_for("resourceGroup")).scope == other


def test_partly_unknown_scope_keeps_its_structure() -> None:
    scope = Unknown(f"{RG_ID}/providers/Microsoft.Devices/IotHubs/{{parameters('hub')}}")
    a = in_rg(assignment(props(), scope=scope))
    assert a.scope_kind == "resource" and a.is_hub_scope and "{parameters('hub')}" in a.scope
    assert scope in a.unknowns


def test_wholly_unknown_scope_is_of_unknown_kind() -> None:
    scope = Unknown.of("parameter", "parameter 'scope' has no value")
    a = in_rg(assignment(props(), scope=scope))
    assert a.scope_kind == "unknown" and not a.is_hub_scope


# ----------------------------------------------------------------------------- role


@pytest.mark.parametrize("role_id", [
    SUB_ROLE_ID,
    f"/providers/Microsoft.Authorization/roleDefinitions/{DATA_CONTRIBUTOR}",
    f"{RG_ID}/providers/Microsoft.Authorization/roleDefinitions/{DATA_CONTRIBUTOR.upper()}",
    f"/subscriptions/s/providers/microsoft.authorization/ROLEDEFINITIONS/{DATA_CONTRIBUTOR}",
    Unknown(f"/subscriptions/{{subscription().id}}/providers/Microsoft.Authorization/roleDefinitions/"
            f"{DATA_CONTRIBUTOR}"),
], ids=["subscription", "tenant", "resource-group-upper", "lower-case-type", "partly-unknown"])
def test_role_guid_comes_from_every_role_definition_id_form(role_id: str) -> None:
    a = in_rg(assignment(props(role=role_id), scope=HUB))
    assert a.role_guid == DATA_CONTRIBUTOR
    assert a.role is not None and a.role.name == "IoT Hub Data Contributor"


def test_unknown_role_id_leaves_the_role_unresolved_and_names_the_unknown() -> None:
    role_id = Unknown("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/"
                      "{parameters('role')}")
    a = in_rg(assignment(props(role=role_id), scope=HUB))
    assert (a.role_guid, a.role) == ("", None)
    assert role_id in a.unknowns


def test_custom_role_defined_in_the_run_is_resolved() -> None:
    custom, _ = normalize_role({"name": "99999999-0000-4000-8000-000000000000", "roleName": "Mine",
                                "permissions": [{"actions": ["Microsoft.Devices/*"]}]})
    assert custom is not None
    index = index_for("resourceGroup")
    index.roles.append(custom)
    role_id = f"{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/{custom.guid}"
    assert from_resource(assignment(props(role=role_id), scope=HUB), index).role is custom


def test_a_lookup_callable_replaces_the_default_resolution() -> None:
    seen: list[str] = []

    def lookup(guid: str) -> None:
        seen.append(guid)

    a = from_resource(assignment(props(), scope=HUB), index_for("resourceGroup"), lookup=lookup)
    assert a.role is None and seen == [DATA_CONTRIBUTOR]


# ----------------------------------------------------------------------------- principal


def test_literal_principal_is_lower_cased() -> None:
    a = from_resource(assignment(props("AAAAAAAA-0000-0000-0000-000000000001"), scope=HUB))
    assert (a.principal.kind, a.principal.id) == ("literal", "aaaaaaaa-0000-0000-0000-000000000001")


def test_literal_principal_from_a_parameter_names_it() -> None:
    r = assignment(props(), scope=HUB)
    r.origins[("properties", "principalId")] = Origin("parameter-default", "main.json", 3, 5, name="userId")
    a = from_resource(r)
    assert (a.principal.kind, a.principal.parameter) == ("literal", "userId")


def test_hub_reference_identity_principal_is_the_hub_system_identity() -> None:
    value = reference(HUB, "identity", "principalId")
    a = from_resource(assignment(props(value), scope=HUB))
    assert (a.principal.kind, a.principal.resource_id) == ("hub-system-identity", HUB)


def test_identity_path_is_read_from_the_text_when_no_path_was_recorded() -> None:
    value = reference(HUB, text=f"reference({HUB}, '2023-06-30', 'Full').identity.principalId")
    assert from_resource(assignment(props(value), scope=HUB)).principal.kind == "hub-system-identity"


def test_symbolic_reference_target_is_found_in_the_run() -> None:
    hub = Resource(type="Microsoft.Devices/IotHubs", name="hub1", id=HUB, body=to_cidicts({}), source=SOURCE,
                   path=("resources", "hub"), symbolic_name="hub")
    index = index_for("resourceGroup", hub)
    a = from_resource(assignment(props(reference("hub", "identity", "principalId")), scope=HUB), index)
    assert (a.principal.kind, a.principal.resource_id) == ("hub-system-identity", HUB)


def test_reference_to_a_user_assigned_identity_principal() -> None:
    a = from_resource(assignment(props(reference(UAI, "principalId")), scope=HUB))
    assert (a.principal.kind, a.principal.resource_id) == ("user-assigned-identity", UAI)


def test_user_assigned_identity_selected_from_a_full_hub_reference() -> None:
    value = reference(HUB, "identity", "userAssignedIdentities", UAI, "principalId")
    a = from_resource(assignment(props(value), scope=HUB))
    assert (a.principal.kind, a.principal.resource_id) == ("user-assigned-identity", UAI)


def test_other_resource_system_identity_is_not_a_hub_identity() -> None:
    site = f"{RG_ID}/providers/Microsoft.Web/sites/fn"
    a = from_resource(assignment(props(reference(site, "identity", "principalId")), scope=HUB))
    assert (a.principal.kind, a.principal.resource_id) == ("system-identity", site)


def test_parameter_without_value_is_a_parameter_principal() -> None:
    value = Unknown("parameters('principalId')",
                    (UnknownCause("parameter", "parameter 'principalId' has no value"),))
    a = from_resource(assignment(props(value), scope=HUB))
    assert (a.principal.kind, a.principal.parameter) == ("parameter", "principalId")


def test_same_hub_identity_gives_the_same_principal_key() -> None:
    one = from_resource(assignment(props(reference(HUB, "identity", "principalId")), scope=HUB))
    two = from_resource(assignment(props(reference(HUB.upper(), "identity", "principalId")), scope=RG_ID))
    assert one.principal.key is not None and one.principal.key == two.principal.key


def test_unknown_principal_has_no_key_and_is_reported() -> None:
    value = Unknown.of("runtime", "newGuid()")
    a = from_resource(assignment(props(value), scope=HUB))
    assert (a.principal.kind, a.principal.key) == ("unknown", None)
    assert value in a.unknowns


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("properties", [None, "text", ["list"], {"principalId": 5, "roleDefinitionId": 7}])
def test_malformed_assignment_bodies_do_not_crash(properties: Any) -> None:
    a = in_rg(assignment(properties, scope=HUB))
    assert a.role is None and a.principal.key is None
    assignment_body(a)


# ----------------------------------------------------------------------------- containment


PROD_SUB = "/subscriptions/6f1c0b2e-1111-2222-3333-444455556666"
PROD_RG = PROD_SUB + "/resourceGroups/prod"
PROD_HUB = PROD_RG + "/providers/Microsoft.Devices/IotHubs/hub1"


@pytest.mark.parametrize(("outer", "inner", "expected"), [
    (SUBSCRIPTION_ID, RG_ID, True),
    (RG_ID, HUB, True),
    (HUB, HUB + "/eventHubEndpoints/events/ConsumerGroups/cg", True),
    (HUB, HUB + "/providers/Microsoft.Insights/diagnosticSettings/d", True),
    (RG_ID.upper(), HUB.lower(), True),
    (HUB + "/", HUB, True),
    ("/", HUB, True),
    (MG_ID, HUB, True),
    (HUB, RG_ID, False),
    (PROD_RG, PROD_RG + "2/providers/Microsoft.Devices/IotHubs/hub1", False),
    (HUB, HUB + "2", False),
    ("", HUB, False),
])
def test_scope_containment(outer: str, inner: str, expected: bool) -> None:
    assert scope_contains(outer, inner) is expected


@pytest.mark.parametrize(("outer", "inner"), [
    (PROD_HUB, HUB),
    (HUB, PROD_HUB),
    (PROD_RG, HUB),
    (RG_ID, PROD_HUB),
    (PROD_SUB, HUB),
    (SUBSCRIPTION_ID, PROD_HUB),
    (PROD_HUB.upper(), HUB + "/providers/Microsoft.Insights/diagnosticSettings/d"),
])
def test_literal_ids_match_composed_ids_by_type_and_name(outer: str, inner: str) -> None:
    # A template composes IDs with the placeholder subscription and group; an ID written
    # in full names the same hub (the catalog correlates by type + name).
    assert scope_contains(outer, inner) is True


@pytest.mark.parametrize(("outer", "inner"), [
    (PROD_RG, PROD_SUB + "/resourceGroups/dev/providers/Microsoft.Devices/IotHubs/hub1"),
    (PROD_SUB, "/subscriptions/aaaaaaaa-1111-2222-3333-444455556666/resourceGroups/prod"),
    (PROD_HUB, PROD_RG + "/providers/Microsoft.Devices/IotHubs/hub2"),
    (PROD_HUB, PROD_RG + "/providers/Microsoft.Storage/storageAccounts/hub1"),
    (PROD_RG, PROD_SUB + "/providers/Microsoft.Authorization/roleDefinitions/x"),
])
def test_literal_scopes_that_differ_do_not_contain(outer: str, inner: str) -> None:
    assert scope_contains(outer, inner) is False


@pytest.mark.parametrize(("scope", "expected"), [
    (HUB, True),
    ("/subscriptions/s/resourceGroups/r/providers/microsoft.devices/iothubs/h", True),
    (HUB + "/eventHubEndpoints/events", False),
    (RG_ID, False),
    (f"{RG_ID}/providers/Microsoft.Devices/provisioningServices/dps", False),
    ("Microsoft.Devices/IotHubs/hub1", False),
])
def test_is_hub_scope(scope: str, expected: bool) -> None:
    assert is_hub_scope(scope) is expected


def test_parse_scope_names_the_last_provider_segment() -> None:
    parsed = parse_scope(HUB + "/providers/Microsoft.Insights/diagnosticSettings/d")
    assert (parsed.kind, parsed.resource_type, parsed.names) == (
        "resource", "Microsoft.Insights/diagnosticSettings", ("d",))


# ----------------------------------------------------------------------------- rule body


def test_assignment_body_carries_computed_members_for_rules() -> None:
    a = in_rg(assignment(props(reference(HUB, "identity", "principalId"))))
    body = assignment_body(a)
    assert jmespath.search("[roleGuid, roleName, scope, scopeKind, isHubScope, principalKind]", body) == [
        DATA_CONTRIBUTOR, "IoT Hub Data Contributor", RG_ID, "resourceGroup", False, "hub-system-identity"]
    assert jmespath.search("properties.principalType", body) == "ServicePrincipal"
    data = jmespath.search("roleDefinition.permissions[0].dataActions[0]", body)
    assert data == "Microsoft.Devices/IotHubs/*"


def test_assignment_body_replaces_a_written_relative_scope_with_the_full_id() -> None:
    a = in_rg(assignment(props(), body_scope="Microsoft.Devices/IotHubs/hub1"))
    assert assignment_body(a).get("scope") == HUB
    assert a.resource.body.get("scope") == "Microsoft.Devices/IotHubs/hub1"


def test_body_scope_kind_of_an_unknown_scope_is_an_unknown_naming_the_input() -> None:
    cause = UnknownCause("parameter", "parameter 'scopeId' has no default and no value was supplied",
                         target="scopeId")
    a = in_rg(assignment(props(), scope=Unknown("parameters('scopeId')", (cause,))))
    kind = assignment_body(a)["scopeKind"]
    assert a.scope_kind == "unknown"
    assert isinstance(kind, Unknown) and kind.text == "unknown" and kind.causes == (cause,)


def test_body_scope_kind_of_a_partly_unknown_hub_scope_is_known() -> None:
    scope = Unknown(f"{RG_ID}/providers/Microsoft.Devices/IotHubs/{{parameters('hub')}}")
    a = in_rg(assignment(props(), scope=scope))
    assert assignment_body(a)["scopeKind"] == "resource" and a.is_hub_scope


def test_same_resource_needs_the_same_literal_group_but_a_placeholder_matches_any() -> None:
    from engine.resource_ids import same_resource

    uai = "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai1"
    assert same_resource(PROD_RG + uai, RG_ID + uai.upper())
    assert not same_resource(PROD_RG + uai, PROD_SUB + "/resourceGroups/other" + uai)
    assert not same_resource(PROD_RG + uai, PROD_RG + uai.replace("uai1", "uai2"))
