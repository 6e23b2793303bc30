"""``python -m engine`` runs the ``iotguard`` command line."""

from engine.cli import main

raise SystemExit(main())
