"""The normalised model that rules see: documents, resources, templates, role subjects.

Load produces ``Document``s; normalisation (ARM expansion, role shapes) produces
``Subject``s; rules evaluate subjects; nothing downstream reads files again.  Every
subject can map a property path of its body back to a file position and an ``Origin``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.source import JsonPath, SourceFile
from engine.values import Located, Origin, Unknown

# ----------------------------------------------------------------------------- documents

KIND_TEMPLATE = "template"
KIND_PARAMETERS = "parameters"
KIND_ROLES = "roles"


@dataclass
class Document:
    """A parsed input file of one of our kinds.

    ``root`` is the JSON path of the document inside the file: ``()`` normally,
    ``("arm",)`` for the template inside an ``az iot hub state export`` file.
    For ``roles``, ``items`` lists the JSON paths of each role-definition object.
    """

    kind: str
    source: SourceFile
    data: Any
    root: JsonPath = ()
    items: list[JsonPath] = field(default_factory=list)
    abspath: str = ""  # where the file is on disk ("" for in-memory documents)


# ----------------------------------------------------------------------------- subjects


@dataclass
class Mapped:
    """Where a body sub-path of a subject comes from in a file."""

    source: SourceFile
    path: JsonPath
    origin: Origin | None = None


@dataclass
class Resource:
    """One resource that the template (after expansion) deploys or references.

    ``type`` is the full type as written (child types completed from their parent,
    e.g. ``Microsoft.Devices/IotHubs/eventHubEndpoints/ConsumerGroups``); ``name`` the
    full resolved name (``hub/events/cg``; may be an ``Unknown``); ``id`` the resolved
    resource ID (placeholder subscription/resource group, see ``engine.arm.scope``).
    ``body`` is the expanded resource object (``CIDict``s all the way down) with
    ``type``/``name``/``apiVersion``/``properties``/``identity``/... as ARM would see
    them.  ``path`` is the JSON path of the resource object in ``source`` (for copy
    loops, the one declaration all copies share).  ``mappings`` maps body sub-paths
    whose source is elsewhere (property copy items, values of parameters/variables)
    to that place; other sub-paths are found under ``path`` itself.
    """

    type: str
    name: str
    id: str
    body: dict[str, Any]
    source: SourceFile
    path: JsonPath
    api_version: str = ""
    symbolic_name: str | None = None
    condition: bool | Unknown = True
    existing: bool = False
    scope: str | None = None  # resolved scope ID for extension resources
    deployment: tuple[str, ...] = ()  # names of enclosing nested deployments
    copy_index: int | None = None
    mappings: dict[JsonPath, Mapped] = field(default_factory=dict)
    origins: dict[JsonPath, Origin] = field(default_factory=dict)
    written_name: str | None = None  # ``name`` as written in ``source`` (None: not a string)

    @property
    def type_lower(self) -> str:
        return self.type.lower()

    def map(self, subpath: JsonPath) -> Mapped:
        """Source location and origin for a body sub-path (longest mapped prefix wins)."""
        origin = None
        for i in range(len(subpath), -1, -1):
            prefix = subpath[:i]
            if origin is None:
                origin = self.origins.get(prefix)
            hit = self.mappings.get(prefix)
            if hit is not None:
                return Mapped(hit.source, hit.path + subpath[i:], origin or hit.origin)
        return Mapped(self.source, self.path + subpath, origin)


@dataclass
class Template:
    """One template (the file's root or a nested deployment's inline template).

    ``outputs``/``parameters``/``variables`` are the expanded values (outputs and
    variables evaluated; parameters resolved to their effective values).
    ``raw`` is the template object as written.
    """

    source: SourceFile
    path: JsonPath
    raw: dict[str, Any]
    schema_scope: str  # "resourceGroup" | "subscription" | "managementGroup" | "tenant"
    parameters: dict[str, Any] = field(default_factory=dict)
    parameter_types: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    deployment: tuple[str, ...] = ()
    # the condition of the deployment that carries the template (True for a file's root)
    condition: bool | Unknown = True
    origins: dict[JsonPath, Origin] = field(default_factory=dict)
    mappings: dict[JsonPath, Mapped] = field(default_factory=dict)

    def map(self, subpath: JsonPath) -> Mapped:
        origin = None
        for i in range(len(subpath), -1, -1):
            prefix = subpath[:i]
            if origin is None:
                origin = self.origins.get(prefix)
            hit = self.mappings.get(prefix)
            if hit is not None:
                return Mapped(hit.source, hit.path + subpath[i:], origin or hit.origin)
        return Mapped(self.source, self.path + subpath, origin)


@dataclass
class LinkedTemplate:
    """A linked template that was not checked (remote URI, template spec, missing file)."""

    source: SourceFile
    path: JsonPath
    target: str
    reason: str


@dataclass
class Expansion:
    """What expanding one template file produced."""

    resources: list[Resource] = field(default_factory=list)
    templates: list[Template] = field(default_factory=list)
    errors: list[Located] = field(default_factory=list)
    warnings: list[Located] = field(default_factory=list)
    not_checked: list[LinkedTemplate] = field(default_factory=list)
