"""Shared test helpers: write files into tmp dirs, run the CLI in-process."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def corpus_dir() -> Path:
    return Path(os.environ.get("IOTGUARD_CORPUS", REPO.parent / "shared" / "corpus"))


@pytest.fixture(autouse=True)
def _no_rule_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Tests must not depend on (or pollute) the user's compiled-rule cache.
    monkeypatch.setenv("IOTGUARD_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def _write(name: str, content: Any, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_bytes(content.encode(encoding))
        else:
            path.write_text(json.dumps(content, indent=2), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def iotguard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in-process from tmp_path; returns (exit code, stdout, stderr)."""
    from engine.cli import main

    def _run(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd or tmp_path)
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def template(*resources: dict[str, Any], parameters: dict[str, Any] | None = None,
             variables: dict[str, Any] | None = None, outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    t: dict[str, Any] = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": parameters or {},
        "variables": variables or {},
        "resources": list(resources),
    }
    if outputs:
        t["outputs"] = outputs
    return t


def hub(name: str = "hub1", api: str = "2023-06-30", **properties: Any) -> dict[str, Any]:
    return {
        "type": "Microsoft.Devices/IotHubs",
        "apiVersion": api,
        "name": name,
        "location": "westeurope",
        "sku": {"name": "S1", "capacity": 1},
        "properties": properties,
    }
