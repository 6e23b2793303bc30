"""``python -m engine`` runs the ``iotguard`` command line."""

from engine.cli import entry

raise SystemExit(entry())
