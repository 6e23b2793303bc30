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


def _pre_commit(cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "IOTGUARD_CACHE_DIR": str(home / "rules-cache")}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
        cwd=cwd, capture_output=True, text=True, env=env,
    )


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
