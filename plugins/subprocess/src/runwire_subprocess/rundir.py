"""Fresh run directories: made per run (with an empty ``out/``), optionally seeded, removed after."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from runwire.errors import NodeFailed
from runwire.host import RunAs

PREFIX = "results-"


def make_rundir(parent: str | None, base: str | None, owner: RunAs | None = None) -> Path:
    """Create a new run directory (mode 0700) under ``parent`` (the temp dir when ``None``).

    The contents of ``base`` (when given) are copied in first; then an empty ``out/`` is made.
    With an ``owner`` that is not this process's user, the directory and all it holds are
    handed to that user, so the program can write there and nobody else can look in.

    :raises NodeFailed: the directory cannot be made or seeded.
    """
    try:
        path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    except OSError as exc:
        raise NodeFailed(
            f"cannot create a run directory in {parent or tempfile.gettempdir()!r}: {exc.strerror}"
        ) from None
    try:
        if base:
            shutil.copytree(base, path, symlinks=True, dirs_exist_ok=True)
        (path / "out").mkdir(exist_ok=True)
        if owner is not None and owner.switches:
            _give(path, owner)
    except (OSError, shutil.Error) as exc:
        remove_rundir(path)
        raise NodeFailed(f"cannot seed the run directory from {base!r}: {exc}") from None
    return path


def remove_rundir(path: Path) -> None:
    """Remove a run directory and everything in it; errors are ignored."""
    shutil.rmtree(path, ignore_errors=True)


def _give(path: Path, owner: RunAs) -> None:
    """Hand ``path`` and everything below it (links themselves, not their targets) to ``owner``."""
    os.chown(path, owner.uid, owner.gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), owner.uid, owner.gid, follow_symlinks=False)
