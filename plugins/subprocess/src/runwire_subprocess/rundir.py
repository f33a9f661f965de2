"""Fresh run directories: made per run (with an empty ``out/``), optionally seeded, removed after."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from runwire.errors import NodeFailed

PREFIX = "results-"


def make_rundir(parent: str | None, base: str | None) -> Path:
    """Create a new run directory under ``parent`` (the temp dir when ``None``).

    The contents of ``base`` (when given) are copied in first; then an empty ``out/`` is made.

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
    except (OSError, shutil.Error) as exc:
        remove_rundir(path)
        raise NodeFailed(f"cannot seed the run directory from {base!r}: {exc}") from None
    return path


def remove_rundir(path: Path) -> None:
    """Remove a run directory and everything in it; errors are ignored."""
    shutil.rmtree(path, ignore_errors=True)
