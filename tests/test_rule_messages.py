"""Rule messages name the property that is actually at fault."""

from __future__ import annotations

from typing import Any

from tests.conftest import hub, template


def test_hub010_names_module_sas_when_only_device_sas_is_disabled(write: Any, iotguard: Any) -> None:
    write("hub.json", template(hub(disableDeviceSAS=True, disableModuleSAS=False)))
    _, out, _ = iotguard("check", "--no-config", "--select", "HUB010", "hub.json")
    assert "properties.disableModuleSAS = false" in out
