"""The ``runwire`` command line: serve the API, run workers, run and check workflows, keys, runs.

One module per group of commands (:mod:`.workflows`, :mod:`.processes`, :mod:`.keys`,
:mod:`.runs`), all on the group :func:`main` of :mod:`.base` (the ``runwire`` console script).
"""

from __future__ import annotations

from runwire_server.cli import db, keys, new_plugin, processes, runs, workflows
from runwire_server.cli.base import main

__all__ = ["db", "keys", "main", "new_plugin", "processes", "runs", "workflows"]
