"""Which IoT hub a DPS link, a Device Update instance or an egress setting points at.

The rule catalog's linking convention: a value links a hub when its resolved text names
the hub by resource ID (``listKeys(resourceId(...IotHubs...))``, ``reference(...)``,
``IotHubs/IotHubKeys`` children, ``iotHubs[].resourceId``) or by host name
(``HostName=<hub>.azure-devices.net``).  Unknown values are searched through their
best-effort text and the targets of their causes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from engine.values import Unknown, ci_get

_HUB_ID = re.compile(r"providers/microsoft\.devices/iothubs/([^/\s;'\"{}]+)", re.I)
_HUB_HOST = re.compile(r"hostname=([a-z0-9-]+)\.azure-devices\.net", re.I)
_POLICY = re.compile(r"sharedaccesskeyname=([^;\s'\"{}]+)", re.I)
_KEYS_CHILD = re.compile(r"microsoft\.devices/iothubs/iothubkeys/([^/\s;'\"{}]+)/([^/\s;'\"{}]+)", re.I)
# The same child as a resolved resource ID: ``.../Microsoft.Devices/IotHubs/<hub>/IotHubKeys/<policy>``.
_KEYS_ID = re.compile(r"microsoft\.devices/iothubs/([^/\s;'\"{}]+)/iothubkeys/([^/\s;'\"{}]+)", re.I)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, Unknown):
        yield value.text
        for c in value.causes:
            if c.target:
                yield str(c.target)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _texts(v)
    elif isinstance(value, list):
        for v in value:
            yield from _texts(v)


def hub_names(value: Any) -> set[str]:
    """Lower-cased names of the hubs a value names (by resource ID or host name)."""
    out: set[str] = set()
    for text in _texts(value):
        out.update(m.group(1).lower() for m in _HUB_ID.finditer(text))
        out.update(m.group(1).lower() for m in _HUB_HOST.finditer(text))
    return out


def policy_names(value: Any) -> set[str]:
    """Shared access policy names a connection string or ``IotHubKeys`` reference uses."""
    out: set[str] = set()
    for text in _texts(value):
        out.update(m.group(1).lower() for m in _POLICY.finditer(text))
        out.update(m.group(2).lower() for m in _KEYS_CHILD.finditer(text))
        out.update(m.group(2).lower() for m in _KEYS_ID.finditer(text))
    return out


def identifies_hub(value: Any) -> bool:
    return bool(hub_names(value))


def hub_short_name(name: Any) -> str:
    """The hub's own name (the last segment of a possibly nested name), lower-cased."""
    text = name.text if isinstance(name, Unknown) else str(name)
    return text.rsplit("/", 1)[-1].lower()


def dps_entries(dps_body: Any) -> list[Any]:
    entries = ci_get(ci_get(dps_body, "properties"), "iotHubs")
    return entries if isinstance(entries, list) else []


def is_key_based_link(entry: Any) -> bool:
    """A DPS ``iotHubs[]`` entry that authenticates with the hub's shared access keys."""
    auth = ci_get(entry, "authenticationType")
    if auth is None:
        return True
    if isinstance(auth, Unknown):
        return True  # unknown: the evaluator treats the link as possibly key-based
    return isinstance(auth, str) and auth.lower() == "keybased"


def adu_hub_values(instance_body: Any) -> list[Any]:
    """Values of a Device Update instance that point at hubs (resource IDs and the
    2020-03-01-preview connection strings)."""
    props = ci_get(instance_body, "properties")
    out: list[Any] = []
    hubs = ci_get(props, "iotHubs")
    if isinstance(hubs, list):
        for h in hubs:
            for key in ("resourceId", "ioTHubConnectionString"):
                v = ci_get(h, key)
                if v is not None:
                    out.append(v)
    return out
