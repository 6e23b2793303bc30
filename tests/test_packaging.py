"""The wheel ships the rule pack: installed in a fresh venv, `iotguard` works anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(REPO)],
        capture_output=True, text=True,
    )
    if build.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{build.stderr[-3000:]}")
    wheel = next((work / "dist").glob("iotguard-*.whl"))
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    pip = env_dir / "bin" / "pip"
    inst = subprocess.run([str(pip), "install", "-q", str(wheel)], capture_output=True, text=True)
    if inst.returncode != 0:
        pytest.fail(f"installing the wheel failed:\n{inst.stderr[-3000:]}")
    return env_dir


def test_wheel_contains_the_rule_pack_and_schemas(installed: Path) -> None:
    site = next((installed / "lib").glob("python*/site-packages"))
    rules = sorted(p.name for p in (site / "engine" / "rules").glob("*.yaml"))
    assert rules == sorted(p.name for p in (REPO / "rules").glob("*.yaml"))
    assert (site / "engine" / "schemas" / "rule.schema.json").is_file()


def test_installed_cli_checks_from_any_directory(installed: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["IOTGUARD_CACHE_DIR"] = str(tmp_path / "cache")
    proc = subprocess.run(
        [str(installed / "bin" / "iotguard"), "check", str(REPO / "examples" / "bad-hub")],
        capture_output=True, text=True, cwd=tmp_path, env=env,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "HUB002" in proc.stdout
    rules = subprocess.run([str(installed / "bin" / "iotguard"), "rules"], capture_output=True,
                           text=True, cwd=tmp_path, env=env)
    assert rules.returncode == 0 and "26 rules" in rules.stdout
