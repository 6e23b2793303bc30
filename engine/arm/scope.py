"""Placeholder deployment scope.

A template is checked without a real deployment, so ``subscription()``,
``resourceGroup()``, ``tenant()``, ``managementGroup()`` and ``deployment()`` return
fixed, documented placeholder values.  They are known values (not unknowns) so that
resource IDs compose and resources correlate by ID across the files of one run; no rule
may depend on their content.
"""

from __future__ import annotations

from typing import Any

SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
TENANT_ID = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "iotguard-rg"
LOCATION = "iotguard-location"
MANAGEMENT_GROUP = "iotguard-mg"
DEPLOYMENT_NAME = "iotguard-deployment"


def subscription() -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{SUBSCRIPTION_ID}",
        "subscriptionId": SUBSCRIPTION_ID,
        "tenantId": TENANT_ID,
        "displayName": "iotguard placeholder subscription",
    }


def resource_group() -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}",
        "name": RESOURCE_GROUP,
        "type": "Microsoft.Resources/resourceGroups",
        "location": LOCATION,
        "tags": {},
        "properties": {"provisioningState": "Succeeded"},
    }


def tenant() -> dict[str, Any]:
    return {"tenantId": TENANT_ID, "countryCode": "US", "displayName": "iotguard placeholder tenant"}


def management_group() -> dict[str, Any]:
    return {
        "id": f"/providers/Microsoft.Management/managementGroups/{MANAGEMENT_GROUP}",
        "name": MANAGEMENT_GROUP,
        "type": "Microsoft.Management/managementGroups",
        "properties": {"tenantId": TENANT_ID, "displayName": MANAGEMENT_GROUP},
    }


def deployment(name: str = DEPLOYMENT_NAME) -> dict[str, Any]:
    return {
        "name": name,
        "location": LOCATION,
        "properties": {"templateLink": None, "mode": "Incremental"},
    }


def environment() -> dict[str, Any]:
    return {
        "name": "AzureCloud",
        "resourceManager": "https://management.azure.com/",
        "authentication": {"loginEndpoint": "https://login.microsoftonline.com/"},
        "suffixes": {
            "storage": "core.windows.net",
            "keyvaultDns": ".vault.azure.net",
            "sqlServerHostname": ".database.windows.net",
        },
    }


def scope_value(name: str) -> dict[str, Any]:
    """The placeholder object for a scope function name (case-insensitive)."""
    table = {
        "subscription": subscription,
        "resourcegroup": resource_group,
        "tenant": tenant,
        "managementgroup": management_group,
        "deployment": deployment,
        "environment": environment,
    }
    return table[name.lower()]()
