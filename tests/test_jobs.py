"""``--jobs``: files processed in parallel give byte-identical output, and cross-file
correlation (hubs linked by a DPS in another file, custom roles defined in another file,
diagnostic settings in another file) still works."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from engine import pipeline
from engine.values import Unknown, UnknownCause
from tests.conftest import hub, template

PRINCIPAL = "11111111-2222-3333-4444-555555555555"
CUSTOM_ROLE = "aaaaaaaa-0000-4000-8000-000000000001"
DATA_CONTRIBUTOR = "4fc6c259-987e-4a07-842e-c321cc9d413f"


def _assignment(name: str, role: str, scope: str | None = None) -> dict[str, Any]:
    ra: dict[str, Any] = {
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": "2022-04-01",
        "name": f"[guid('{name}')]",
        "properties": {
            "roleDefinitionId": "[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', "
                                f"'{role}')]",
            "principalId": PRINCIPAL,
            "principalType": "Group",
        },
    }
    if scope:
        ra["scope"] = scope
    return ra


def _dps(hub_name: str) -> dict[str, Any]:
    return {
        "type": "Microsoft.Devices/provisioningServices",
        "apiVersion": "2022-12-12",
        "name": f"dps-{hub_name}",
        "location": "westeurope",
        "sku": {"name": "S1", "capacity": 1},
        "properties": {"iotHubs": [{
            "connectionString": f"[concat('HostName={hub_name}.azure-devices.net;SharedAccessKeyName="
                                f"provisioning;SharedAccessKey=', listKeys(resourceId("
                                f"'Microsoft.Devices/IotHubs/IotHubKeys', '{hub_name}', 'provisioning'), "
                                "'2023-06-30').primaryKey)]",
            "location": "westeurope",
        }]},
    }


def _diagnostics(hub_name: str) -> dict[str, Any]:
    return {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview",
            "name": f"logs-{hub_name}", "scope": f"Microsoft.Devices/IotHubs/{hub_name}",
            "properties": {"logs": [{"categoryGroup": "allLogs", "enabled": True}]}}


@pytest.fixture
def tree(write: Any, tmp_path: Path) -> Path:
    """Hubs in one directory; what links them, logs them and grants on them in others."""
    for i in range(6):
        write(f"hubs/hub{i}.json", template(hub(f"hub{i}", disableLocalAuth=i % 2 == 0,
                                                minTlsVersion="1.2")))
    write("dps/dps.json", template(*(_dps(f"hub{i}") for i in range(0, 6, 2))))
    write("logs/diagnostics.json", template(*(_diagnostics(f"hub{i}") for i in range(3))))
    write("roles/key-lister.json", {
        "name": CUSTOM_ROLE,
        "id": f"/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
              f"Microsoft.Authorization/roleDefinitions/{CUSTOM_ROLE}",
        "roleName": "Key lister",
        "roleType": "CustomRole",
        "description": "lists hub keys",
        "permissions": [{"actions": ["Microsoft.Devices/iotHubs/listkeys/action"], "notActions": [],
                         "dataActions": [], "notDataActions": []}],
        "assignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000000"],
    })
    write("rbac/data.json", template(_assignment("data", DATA_CONTRIBUTOR,
                                                 "Microsoft.Devices/IotHubs/hub1")))
    write("rbac/keys.json", template(_assignment("keys", CUSTOM_ROLE)))
    write("broken/truncated.json", '{"$schema": "https://schema.management.azure.com/')
    write("other/package.json", {"name": "not-ours", "version": "1.0.0"})
    return tmp_path


def _check(iotguard: Any, root: Path, jobs: int, fmt: str = "json") -> tuple[int, bytes]:
    out = root / f"report-{jobs}.{fmt}"
    code, _, err = iotguard("check", "--no-config", "--format", fmt, "--jobs", str(jobs),
                            "--output", str(out), "hubs", "dps", "logs", "roles", "rbac", "broken",
                            "other", cwd=root)
    assert code in (1, 2), err
    return code, out.read_bytes()


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test tree is small; make both stages use worker processes anyway.
    monkeypatch.setattr(pipeline, "MIN_PARALLEL_FILES", 1)
    monkeypatch.setattr(pipeline, "MIN_PARALLEL_SUBJECTS", 1)


@pytest.mark.usefixtures("always_parallel")
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_jobs_output_is_byte_identical(tree: Path, iotguard: Any, fmt: str) -> None:
    code1, one = _check(iotguard, tree, 1, fmt)
    code2, two = _check(iotguard, tree, 2, fmt)
    code3, three = _check(iotguard, tree, 3, fmt)
    assert (code1, one) == (code2, two) == (code3, three)


@pytest.mark.usefixtures("always_parallel")
def test_cross_file_correlation_survives_parallel_runs(tree: Path, iotguard: Any) -> None:
    import json

    code, raw = _check(iotguard, tree, 2)
    report = json.loads(raw)
    assert code == 2  # the truncated file
    assert [e["path"] for e in report["errors"]] == ["broken/truncated.json"]
    assert report["summary"]["files_skipped"] == 1
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for f in report["findings"]:
        by_rule.setdefault(f["rule_id"], []).append(f)
    # A DPS in dps/ links hubs in hubs/ with keys; the even hubs disable local auth.
    dps001 = by_rule["DPS001"]
    assert len(dps001) == 3 and all("hubs/hub" in f["message"] for f in dps001)
    # The odd hubs keep local auth though no DPS needs it; the even ones are linked.
    assert {f["resource_name"] for f in by_rule.get("HUB001", [])} == {"hub1", "hub3", "hub5"}
    # Diagnostic settings in logs/ cover hub0..hub2 only.
    assert {f["resource_name"] for f in by_rule["HUB011"]} == {"hub3", "hub4", "hub5"}
    # The data role in rbac/data.json meets the custom role (roles/) assigned in rbac/keys.json.
    rbac002 = by_rule["RBAC002"]
    assert len(rbac002) == 1 and rbac002[0]["path"] == "rbac/data.json"
    assert "Key lister" in rbac002[0]["message"] and "rbac/keys.json" in rbac002[0]["message"]


@pytest.mark.parametrize("jobs", ["0", "-1"])
def test_jobs_below_one_is_a_usage_error(write: Any, iotguard: Any, jobs: str) -> None:
    write("hub.json", template(hub()))
    code, _, err = iotguard("check", "--jobs", jobs, "hub.json")
    assert code == 2
    assert "--jobs" in err


def test_run_rejects_jobs_below_one() -> None:
    with pytest.raises(pipeline.UsageError):
        pipeline.run(pipeline.Options(paths=["."], jobs=0), [])


def test_unknown_round_trips_through_pickle() -> None:
    cause = UnknownCause(kind="list", detail="listKeys() result", function="listkeys", target="/x")
    u = Unknown("listKeys(x).primaryKey", (cause,), ("primaryKey",))
    back = pickle.loads(pickle.dumps(u, protocol=pickle.HIGHEST_PROTOCOL))
    assert isinstance(back, Unknown)
    assert (back.text, back.causes, back.path, str.__str__(back)) == (
        u.text, u.causes, u.path, str.__str__(u))


def test_expanded_files_pickle_with_lazy_positions(write: Any, tmp_path: Path) -> None:
    path = write("t.json", template(hub("hub1", disableLocalAuth="[parameters('off')]"),
                                    parameters={"off": {"type": "bool", "defaultValue": False}}))
    work = pipeline._FileWork(pipeline.Options(), str(tmp_path), [], {}, pipeline._Plan([], []))
    loaded = work((str(path), "t.json"))
    back = pickle.loads(pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL))
    resource = back.resources[0]
    assert resource.source._index is None  # rebuilt only when a position is read
    mapped = resource.map(("properties", "disableLocalAuth"))
    origin = mapped.origin
    assert origin is not None and origin.describe() == loaded.resources[0].map(
        ("properties", "disableLocalAuth")).origin.describe()
    assert [s.locate(()).path for s in back.subjects] == [s.locate(()).path for s in loaded.subjects]


@pytest.mark.usefixtures("always_parallel")
def test_output_is_the_same_wherever_file_local_rules_are_evaluated(
        tree: Path, iotguard: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settled = _check(iotguard, tree, 2)
    # As for an exported resource group: every rule waits for the whole run.
    monkeypatch.setattr(pipeline, "MAX_SETTLED_SUBJECTS", 0)
    assert _check(iotguard, tree, 2) == settled
    assert _check(iotguard, tree, 1) == settled


def test_a_loaded_file_keeps_only_what_cross_file_rules_need(write: Any, tmp_path: Path) -> None:
    from engine.rulepack import bundled_rules_dir, load_rules

    path = write("t.json", template(
        hub("hub1", disableLocalAuth=False),
        {"type": "Microsoft.EventHub/namespaces", "apiVersion": "2021-11-01", "name": "ns1",
         "location": "westeurope", "properties": {}}))
    rules = load_rules([bundled_rules_dir()])
    work = pipeline._FileWork(pipeline.Options(), str(tmp_path), [], {},
                              pipeline._Plan(rules, [r.info for r in rules]))
    loaded = work((str(path), "t.json"))
    # HUB001 and HUB011 read other files: the hub waits for them.  The namespace and the
    # template (HUB008, HUB009) are settled, so only their results travel on.
    assert [s.type for s in loaded.subjects] == ["Microsoft.Devices/IotHubs"]
    assert loaded.n_subjects == 3 and loaded.slots == [1]
    assert [t.raw for t in loaded.templates] == [{}]
    assert {r.type for r in loaded.resources} == {"Microsoft.Devices/IotHubs",
                                                  "Microsoft.EventHub/namespaces"}
    # The hub's file-local rules are evaluated already (for example the TLS version).
    settled = {rules[ri].id for (ri, _), *_ in loaded.outcomes}
    assert "HUB005" in settled and not settled & {"HUB001", "HUB011"}


CROSS_TEMPLATE_RULE = """\
id: CUS100
title: A template deploys next to a hub that may accept local auth
severity: low
subject: {kind: template}
description: d
rationale: r
remediation: r
references: [https://learn.microsoft.com/]
message: "{resource} sits in a run where some hub may disable local auth"
condition: "some_hub_may_disable_local_auth()"
"""


@pytest.mark.usefixtures("always_parallel")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_users_rule_that_reads_other_files_sees_the_whole_run(
        write: Any, iotguard: Any, tmp_path: Path, jobs: str) -> None:
    import json

    write("rules/CUS100.yaml", CROSS_TEMPLATE_RULE)
    write("a/hub.json", template(hub("hub1", disableLocalAuth=True)))
    for i in range(3):
        write(f"b/empty{i}.json", template({
            "type": "Microsoft.EventHub/namespaces", "apiVersion": "2021-11-01",
            "name": f"ns{i}", "location": "westeurope", "properties": {}}))
    code, out, err = iotguard("check", "--no-config", "--rules", "rules", "--select", "CUS100",
                              "--jobs", jobs, "--format", "json", "--fail-on", "low", "a", "b")
    assert code == 1, err
    paths = sorted(f["path"] for f in json.loads(out)["findings"])
    # The hub is in a/ only: the templates of b/ learn of it from the run.
    assert paths == ["a/hub.json", "b/empty0.json", "b/empty1.json", "b/empty2.json"]


def test_rules_settled_with_a_file_are_the_rules_a_run_pairs_with_its_subjects(
        write: Any, tmp_path: Path) -> None:
    from engine.evaluate import pairs
    from engine.rulepack import bundled_rules_dir, load_rules

    path = write("t.json", template(
        hub("hub1"), _dps("hub1"), _diagnostics("hub1"), _assignment("a", DATA_CONTRIBUTOR)))
    rules = load_rules([bundled_rules_dir()])
    plan = pipeline._Plan(rules, [r.info for r in rules])
    roles = write("roles.json", [{
        "roleName": name, "roleType": kind, "name": guid, "description": "d",
        "permissions": [{"actions": ["Microsoft.Devices/iotHubs/listkeys/action"], "notActions": [],
                         "dataActions": ["Microsoft.Devices/IotHubs/*"], "notDataActions": []}],
        "assignableScopes": ["/"]}
        for name, kind, guid in (("Mine", "CustomRole", CUSTOM_ROLE),
                                 ("Theirs", "BuiltInRole", DATA_CONTRIBUTOR))])
    work = pipeline._FileWork(pipeline.Options(), str(tmp_path), [], {}, pipeline._Plan([], []))
    subjects = [s for f in (path, roles) for s in work((str(f), f.name)).subjects]
    assert {s.kind for s in subjects} == {"resource", "template", "role-definition"}
    assert {s.is_builtin for s in subjects} == {True, False}
    for subject in subjects:
        assert plan._applicable(subject) == tuple(ri for ri, *_ in pairs(rules, [subject]))
