#!/usr/bin/env python3
"""iotguard benchmark: synthetic corpus, end-to-end wall time, files/s, peak RSS.

    python bench/run.py                 # full run (targets of the performance issue)
    python bench/run.py --quick         # smaller corpora, fewer repeats
    python bench/run.py --keep DIR      # keep the generated corpus in DIR

Generates a deterministic corpus of our own (realistic IoT templates with parameters,
expressions, copy loops, nested deployments, DPS, role assignments, plus role files;
and one exported-style template with 5,000 hubs), runs ``iotguard check`` end to end
several times, and prints medians next to the parse-only floor (read + json.loads of
the same files in a fresh interpreter) and, when ``checkov`` is installed, checkov's
time on the same corpus; then the pre-commit hook's run (one staged template, the
first corpus as ``--context``).  Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PARAMS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
TARGETS = {
    "single": 0.150,  # one small template, seconds
    "1000": 1.0,  # 1,000 templates
    "export": 3.0,  # the 5,000-hub export
    "export_rss_mb": 400,
    "floor_ratio": 8.0,
}


# ----------------------------------------------------------------------------- corpus


def iot_template(i: int, rnd: random.Random) -> dict[str, Any]:
    """One realistic IoT deployment; about a third of them are insecure somewhere."""
    hub_param = {"type": "string", "defaultValue": f"hub-{i:05d}"}
    insecure = rnd.random() < 0.33
    endpoints = {
        "eventHubs": [
            {
                "name": "telemetry",
                "authenticationType": "keyBased" if insecure else "identityBased",
                "endpointUri": "[concat('sb://', variables('nsName'), '.servicebus.windows.net')]",
                "entityPath": "telemetry",
            }
        ],
    }
    return {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {
            "hubName": hub_param,
            "env": {"type": "string", "defaultValue": "prod", "allowedValues": ["dev", "prod"]},
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
            "partitions": {"type": "int", "defaultValue": 4},
            "consumerGroups": {"type": "array", "defaultValue": ["asa", "functions", "archive"]},
            "principalId": {"type": "string", "defaultValue": "11111111-2222-3333-4444-555555555555"},
        },
        "variables": {
            "nsName": "[concat('ns-', uniqueString(resourceGroup().id, parameters('hubName')))]",
            "hubId": "[resourceId('Microsoft.Devices/IotHubs', parameters('hubName'))]",
            "isProd": "[equals(parameters('env'), 'prod')]",
            "dataContributor": "4fc6c259-987e-4a07-842e-c321cc9d413f",
        },
        "resources": [
            {
                "type": "Microsoft.EventHub/namespaces",
                "apiVersion": "2021-11-01",
                "name": "[variables('nsName')]",
                "location": "[parameters('location')]",
                "sku": {"name": "Standard"},
            },
            {
                "type": "Microsoft.Devices/IotHubs",
                "apiVersion": "2023-06-30",
                "name": "[parameters('hubName')]",
                "location": "[parameters('location')]",
                "identity": {"type": "SystemAssigned"},
                "sku": {"name": "[if(variables('isProd'), 'S2', 'S1')]", "capacity": 1},
                "properties": {
                    "disableLocalAuth": "[not(bool('" + ("true" if insecure else "false") + "'))]",
                    "minTlsVersion": "1.2",
                    "publicNetworkAccess": "[if(variables('isProd'), 'Disabled', 'Enabled')]",
                    "eventHubEndpoints": {
                        "events": {"retentionTimeInDays": 1, "partitionCount": "[parameters('partitions')]"}
                    },
                    "routing": {
                        "endpoints": endpoints,
                        "routes": [
                            {
                                "name": "all",
                                "source": "DeviceMessages",
                                "condition": "true",
                                "endpointNames": ["telemetry"],
                                "isEnabled": True,
                            }
                        ],
                    },
                    "storageEndpoints": {"$default": {"connectionString": "", "containerName": ""}},
                },
                "resources": [
                    {
                        "type": "eventHubEndpoints/ConsumerGroups",
                        "apiVersion": "2023-06-30",
                        "name": "[concat('events/', parameters('consumerGroups')[copyIndex()])]",
                        "dependsOn": ["[variables('hubId')]"],
                        "copy": {"name": "cg", "count": "[length(parameters('consumerGroups'))]"},
                        "properties": {"name": "[parameters('consumerGroups')[copyIndex()]]"},
                    }
                ],
            },
            {
                "type": "Microsoft.Devices/provisioningServices",
                "apiVersion": "2022-12-12",
                "name": "[concat(parameters('hubName'), '-dps')]",
                "location": "[parameters('location')]",
                "sku": {"name": "S1", "capacity": 1},
                "properties": {
                    "publicNetworkAccess": "Disabled",
                    "iotHubs": [
                        {
                            "connectionString": "[concat('HostName=', parameters('hubName'), "
                            "'.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=', "
                            "listKeys(resourceId('Microsoft.Devices/IotHubs/IotHubKeys', "
                            "parameters('hubName'), 'iothubowner'), '2023-06-30').primaryKey)]",
                            "location": "[parameters('location')]",
                        }
                    ],
                },
            },
            {
                "type": "Microsoft.Resources/deployments",
                "apiVersion": "2022-09-01",
                "name": "[concat('rbac-', parameters('hubName'))]",
                "properties": {
                    "mode": "Incremental",
                    "expressionEvaluationOptions": {"scope": "inner"},
                    "parameters": {
                        "hubName": {"value": "[parameters('hubName')]"},
                        "principalId": {"value": "[parameters('principalId')]"},
                    },
                    "template": {
                        "$schema": SCHEMA,
                        "contentVersion": "1.0.0.0",
                        "parameters": {"hubName": {"type": "string"}, "principalId": {"type": "string"}},
                        "resources": [
                            {
                                "type": "Microsoft.Authorization/roleAssignments",
                                "apiVersion": "2022-04-01",
                                "name": "[guid(parameters('hubName'), parameters('principalId'))]",
                                "scope": "[concat('Microsoft.Devices/IotHubs/', parameters('hubName'))]",
                                "properties": {
                                    "roleDefinitionId": "[subscriptionResourceId("
                                    "'Microsoft.Authorization/roleDefinitions', "
                                    "'4fc6c259-987e-4a07-842e-c321cc9d413f')]",
                                    "principalId": "[parameters('principalId')]",
                                },
                            }
                        ],
                    },
                },
            },
        ],
        "outputs": {
            "hubId": {"type": "string", "value": "[variables('hubId')]"},
        },
    }


def role_file(i: int, rnd: random.Random) -> dict[str, Any]:
    actions = ["Microsoft.Devices/IotHubs/read"]
    if rnd.random() < 0.3:
        actions.append("Microsoft.Devices/iotHubs/listkeys/action")
    return {
        "Name": f"Contoso IoT role {i}",
        "IsCustom": True,
        "Description": "synthetic",
        "Actions": actions,
        "NotActions": [],
        "DataActions": ["Microsoft.Devices/IotHubs/devices/read", "Microsoft.Devices/IotHubs/twins/*"],
        "NotDataActions": [],
        "AssignableScopes": ["/subscriptions/00000000-0000-0000-0000-000000000000"],
    }


def export_template(hubs: int) -> dict[str, Any]:
    """An `az group export`-style template: literal values, one parameter per name."""
    params: dict[str, Any] = {}
    resources = []
    for i in range(hubs):
        pname = f"IotHubs_contoso_hub_{i:05d}_name"
        params[pname] = {"defaultValue": f"contoso-hub-{i:05d}", "type": "String"}
        resources.append(
            {
                "type": "Microsoft.Devices/IotHubs",
                "apiVersion": "2023-06-30",
                "name": f"[parameters('{pname}')]",
                "location": "westeurope",
                "sku": {"name": "S1", "tier": "Standard", "capacity": 1},
                "identity": {"type": "None"},
                "properties": {
                    "ipFilterRules": [],
                    "eventHubEndpoints": {"events": {"retentionTimeInDays": 1, "partitionCount": 4}},
                    "routing": {
                        "endpoints": {"serviceBusQueues": [], "serviceBusTopics": [], "eventHubs": [],
                                      "storageContainers": [], "cosmosDBSqlContainers": []},
                        "routes": [],
                        "fallbackRoute": {"name": "$fallback", "source": "DeviceMessages",
                                          "condition": "true", "endpointNames": ["events"],
                                          "isEnabled": True},
                    },
                    "storageEndpoints": {"$default": {"sasTtlAsIso8601": "PT1H",
                                                      "connectionString": "", "containerName": ""}},
                    "messagingEndpoints": {"fileNotifications": {"lockDurationAsIso8601": "PT1M",
                                                                 "ttlAsIso8601": "PT1H",
                                                                 "maxDeliveryCount": 10}},
                    "enableFileUploadNotifications": False,
                    "features": "None",
                    "disableLocalAuth": i % 2 == 0,
                    "allowedFqdnList": [],
                    "enableDataResidency": False,
                },
            }
        )
    return {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": params,
            "variables": {}, "resources": resources}


def write_corpus(root: Path, templates: int, roles: int, seed: int = 7) -> list[Path]:
    rnd = random.Random(seed)
    files = []
    for i in range(templates):
        d = root / f"team{i % 10}" / f"app{i:05d}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / "azuredeploy.json"
        p.write_text(json.dumps(iot_template(i, rnd), indent=2))
        files.append(p)
        if i % 4 == 0:
            pp = d / "azuredeploy.parameters.json"
            pp.write_text(json.dumps({"$schema": PARAMS_SCHEMA, "contentVersion": "1.0.0.0",
                                      "parameters": {"env": {"value": "dev"}}}, indent=2))
            files.append(pp)
    for i in range(roles):
        p = root / "roles" / f"role{i:04d}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(role_file(i, rnd), indent=2))
        files.append(p)
    return files


# ----------------------------------------------------------------------------- running


def run_once(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024.0, proc.returncode


def measure(cmd: list[str], cwd: Path, env: dict[str, str], repeats: int) -> dict[str, float]:
    runs = [run_once(cmd, cwd, env) for _ in range(repeats)]
    codes = {r[2] for r in runs}
    if codes - {0, 1}:
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {sorted(codes)}")
    return {"wall": statistics.median(r[0] for r in runs), "rss": max(r[1] for r in runs)}


def parse_floor(target: Path, cwd: Path, env: dict[str, str], repeats: int) -> float:
    code = (
        "import json, os, sys\n"
        "root = sys.argv[1]\n"
        "paths = [root] if os.path.isfile(root) else [\n"
        "    os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith('.json')\n"
        "]\n"
        "for p in paths:\n"
        "    with open(p, 'rb') as fh: json.loads(fh.read())\n"
    )
    return measure([sys.executable, "-c", code, str(target)], cwd, env, repeats)["wall"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller corpora and fewer repeats")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--keep", metavar="DIR", help="generate the corpus into DIR and keep it")
    ap.add_argument("--jobs", type=int, default=None, help="passed to iotguard --jobs")
    args = ap.parse_args()
    repeats = args.repeats or (3 if args.quick else 5)
    base = 250 if args.quick else 1000
    hubs = 1000 if args.quick else 5000

    # An installed package has its bytecode compiled at install time; a source checkout
    # run with PYTHONDONTWRITEBYTECODE would otherwise recompile every module on every run.
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "engine"), quiet=1)
    iotguard = shutil.which("iotguard")
    cmd_base = [iotguard] if iotguard else [sys.executable, "-m", "engine"]
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="iotguard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["IOTGUARD_CACHE_DIR"] = str(work / "cache")
    env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    checkov = shutil.which("checkov")

    rows: list[tuple[str, int, dict[str, float], float, float | None]] = []

    def bench(label: str, target: Path, nfiles: int) -> dict[str, float]:
        out = ["--output", str(work / "out.json")]
        cmd = cmd_base + ["check", "--no-config", "--format", "json", *out, *jobs, str(target)]
        run_once(cmd, work, env)  # warm the rule cache once, as every later commit would find it
        m = measure(cmd, work, env, repeats)
        floor = parse_floor(target, work, env, repeats)
        ck = None
        if checkov:
            ck = measure([checkov, "-d" if target.is_dir() else "-f", str(target), "--framework", "arm",
                          "--quiet", "--compact"], work, env, 1)["wall"]
        rows.append((label, nfiles, m, floor, ck))
        return m

    single_dir = work / "single"
    write_corpus(single_dir, 1, 0, seed=1)
    single = bench("1 small template", single_dir / "team0" / "app00000" / "azuredeploy.json", 1)

    scale: list[tuple[int, float]] = []
    repo: tuple[int, Path] | None = None
    for mult in (1, 2, 4):
        n = base * mult // 4 if args.quick else base * mult
        d = work / f"corpus{n}"
        if not d.exists():
            write_corpus(d, n, max(1, n // 10))
        nfiles = sum(1 for _ in d.rglob("*.json"))
        m = bench(f"{n} templates (+params, roles)", d, nfiles)
        scale.append((nfiles, m["wall"]))
        repo = repo or (n, d)

    # What the pre-commit hook runs on every commit: the staged files, with the rest of
    # the repository read as context for cross-file rules.
    assert repo is not None
    repo_n, repo_dir = repo
    staged = sorted(repo_dir.rglob("azuredeploy.json"))[0]
    hook = measure(cmd_base + ["check", "--no-config", "--format", "json", "--output",
                               str(work / "out.json"), *jobs, "--context", str(repo_dir),
                               str(staged)], work, env, repeats)

    export = work / "export" / f"export-{hubs}-hubs.json"
    export.parent.mkdir(parents=True, exist_ok=True)
    if not export.exists():
        export.write_text(json.dumps(export_template(hubs), indent=2))
    exp = bench(f"export with {hubs} hubs", export, 1)

    print(f"\niotguard benchmark ({os.cpu_count()} CPUs, median of {repeats} runs, warm rule cache)\n")
    head = (f"{'corpus':34} {'files':>6} {'wall s':>8} {'files/s':>9} {'peak MB':>8} "
            f"{'parse s':>8} {'x parse':>8}")
    if checkov:
        head += f" {'checkov s':>10} {'x faster':>9}"
    print(head)
    for label, nfiles, m, floor, ck in rows:
        line = (f"{label:34} {nfiles:6d} {m['wall']:8.3f} {nfiles / m['wall']:9.0f} {m['rss']:8.1f} "
                f"{floor:8.3f} {m['wall'] / floor:8.1f}")
        if checkov:
            line += f" {ck:10.2f} {ck / m['wall']:9.1f}" if ck else f" {'-':>10} {'-':>9}"
        print(line)

    print(f"\npre-commit hook, 1 staged template, the {repo_n}-template corpus as --context: "
          f"{hook['wall']:.3f} s, {hook['rss']:.1f} MB")

    print("\nscaling (wall time per file should stay flat):")
    for nfiles, wall in scale:
        print(f"  {nfiles:6d} files: {wall:7.3f} s  ({1000 * wall / nfiles:.2f} ms/file)")

    print("\ntargets:")
    thousand = next((m for label, _, m, _, _ in rows if label.startswith(f"{base} ")), None)
    checks = [
        ("single small template <= 150 ms", single["wall"] <= TARGETS["single"]),
        (f"export with {hubs} hubs <= 3 s", exp["wall"] <= TARGETS["export"]),
        (f"export peak RSS <= {TARGETS['export_rss_mb']} MB", exp["rss"] <= TARGETS["export_rss_mb"]),
        ("every corpus within 8x the parse-only floor",
         all(m["wall"] / floor <= TARGETS["floor_ratio"] for _, _, m, floor, _ in rows)),
    ]
    if thousand is not None and not args.quick:
        checks.insert(1, ("1,000 templates <= 1 s", thousand["wall"] <= TARGETS["1000"]))
    for text, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
