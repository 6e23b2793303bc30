"""The pre-commit hook, for real: a temporary IaC repository whose `.pre-commit-config.yaml`
points at this checkout blocks a commit with a bad hub and passes after the fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import hub, template
from tests.test_cli import GOOD

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("engine", "rules", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml")


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def _snapshot_of_checkout(dest: Path) -> str:
    """A git repository holding this working tree's hook (committed or not), so the test
    checks what is on disk rather than the last commit."""
    for name in SHIPPED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "snapshot")
    return _git(dest, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    dest = tmp_path_factory.mktemp("hook-src")
    return dest, _snapshot_of_checkout(dest)


def _pre_commit(cwd: Path, home: Path, all_files: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "IOTGUARD_CACHE_DIR": str(home / "rules-cache")}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", *(["--all-files"] if all_files else []),
         "--color", "never"],
        cwd=cwd, capture_output=True, text=True, env=env,
    )


def _iac_repo(tmp_path: Path, src: Path, rev: str) -> Path:
    iac = tmp_path / "iac"
    iac.mkdir()
    _git(iac, "init", "-q")
    (iac / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {src}\n    rev: {rev}\n    hooks:\n      - id: iotguard\n", encoding="utf-8"
    )
    return iac


def _commit(iac: Path) -> None:
    _git(iac, "add", "-A")
    _git(iac, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "state",
         "--no-verify")


def test_hook_blocks_a_bad_hub_and_passes_after_the_fix(hook_repo: tuple[Path, str], tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    src, rev = hook_repo
    iac = tmp_path / "iac"
    iac.mkdir()
    _git(iac, "init", "-q")
    (iac / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {src}\n    rev: {rev}\n    hooks:\n      - id: iotguard\n", encoding="utf-8"
    )
    diag = {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview",
            "name": "logs", "scope": "Microsoft.Devices/IotHubs/hub1", "properties": {}}
    bad = template(hub(**{**GOOD, "disableLocalAuth": False}), diag)
    (iac / "infra").mkdir()
    (iac / "infra" / "hub.json").write_text(json.dumps(bad, indent=2), encoding="utf-8")
    (iac / "package.json").write_text('{"name": "not-a-template"}', encoding="utf-8")
    _git(iac, "add", "-A")

    blocked = _pre_commit(iac, tmp_path / "pc-home")
    assert blocked.returncode != 0, blocked.stdout + blocked.stderr
    assert "HUB001" in blocked.stdout and "infra/hub.json" in blocked.stdout, blocked.stdout

    fixed = template(hub(**GOOD), diag)
    (iac / "infra" / "hub.json").write_text(json.dumps(fixed, indent=2), encoding="utf-8")
    _git(iac, "add", "-A")
    passed = _pre_commit(iac, tmp_path / "pc-home")
    assert passed.returncode == 0, passed.stdout + passed.stderr


DIAG = {"type": "Microsoft.Insights/diagnosticSettings", "apiVersion": "2021-05-01-preview",
        "name": "logs", "scope": "Microsoft.Devices/IotHubs/hub1", "properties": {}}


def test_hook_blocks_a_staged_parameter_file_that_weakens_its_committed_template(
        hook_repo: tuple[Path, str], tmp_path: Path) -> None:
    pytest.importorskip("pre_commit")
    iac = _iac_repo(tmp_path, *hook_repo)
    h = hub(**{**GOOD, "disableLocalAuth": "[parameters('disableLocalAuth')]"})
    t = template(h, DIAG, parameters={"disableLocalAuth": {"type": "bool", "defaultValue": True}})
    (iac / "hub.json").write_text(json.dumps(t, indent=2), encoding="utf-8")
    _commit(iac)
    (iac / "hub.parameters.json").write_text(json.dumps({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
        "contentVersion": "1.0.0.0", "parameters": {"disableLocalAuth": {"value": False}}}), encoding="utf-8")
    _git(iac, "add", "hub.parameters.json")
    blocked = _pre_commit(iac, tmp_path / "pc-home", all_files=False)
    assert blocked.returncode != 0 and "HUB001" in blocked.stdout, blocked.stdout + blocked.stderr


def test_hook_sees_the_committed_files_a_staged_hub_is_linked_from(
        hook_repo: tuple[Path, str], tmp_path: Path) -> None:
    # HUB001 does not fire on a hub that a key-based DPS link in the run needs: the DPS
    # lives in another, unchanged file, which the hook must still read.
    pytest.importorskip("pre_commit")
    iac = _iac_repo(tmp_path, *hook_repo)
    dps = {"type": "Microsoft.Devices/provisioningServices", "apiVersion": "2022-02-05", "name": "dps1",
           "location": "westeurope", "sku": {"name": "S1", "capacity": 1},
           "properties": {"publicNetworkAccess": "Disabled", "iotHubs": [{
               "location": "westeurope",
               "connectionString": "[concat('HostName=hub1.azure-devices.net;SharedAccessKeyName=provisioning;"
                                   "SharedAccessKey=', listKeys(resourceId('Microsoft.Devices/IotHubs/IotHubKeys', "
                                   "'hub1', 'provisioning'), '2023-06-30').primaryKey)]"}]}}
    (iac / "dps.json").write_text(json.dumps(template(dps), indent=2), encoding="utf-8")
    (iac / "hub.json").write_text(json.dumps(template(hub(**{**GOOD, "disableLocalAuth": False}), DIAG),
                                             indent=2), encoding="utf-8")
    _commit(iac)
    tagged = hub(**{**GOOD, "disableLocalAuth": False})
    tagged["tags"] = {"team": "iot"}
    changed = template(tagged, DIAG)
    (iac / "hub.json").write_text(json.dumps(changed, indent=2), encoding="utf-8")
    _git(iac, "add", "hub.json")
    passed = _pre_commit(iac, tmp_path / "pc-home", all_files=False)
    assert passed.returncode == 0, passed.stdout + passed.stderr
