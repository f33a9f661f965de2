"""Fresh run directories: made per run (with an empty ``out/``), optionally seeded, removed after.

Seeding (a copy of ``rundir_base``), handing to another user and removing walk the disk:
:func:`open_rundir`, :func:`close_rundir` and :func:`in_thread_then_remove` do it in a thread,
never on the event loop, and a finished run's directory usually goes to the host's
:class:`runwire.disposal.Disposal`, which removes it in the background. Only bounded work is
done on the loop, where a trip to a thread would cost more than the work: making a plain new
directory (no base, no other owner: two system calls). A base is measured before it is
copied and refused over :data:`MAX_BASE_BYTES` or :data:`MAX_BASE_ENTRIES`, or when it holds a
FIFO, device or socket (copying one would read it forever).
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from runwire import NodeFailed
from runwire.disposal import remove_tree
from runwire.host import RunAs
from runwire_subprocess.threads import to_the_end_in_thread

T = TypeVar("T")
PREFIX = "results-"
OUT = "out"
"""The subdirectory every run directory gets, empty, for the program's files."""
EMPTY = (OUT,)
"""What a run directory usually holds when its program wrote nothing: ``out/``, empty
(:func:`runwire.disposal.remove_tree` removes such a directory with two ``rmdir``)."""
MAX_BASE_BYTES = 100 * 1024 * 1024
"""Largest total size of the regular files of a ``rundir_base`` (it is copied for every run)."""
MAX_BASE_ENTRIES = 10_000
"""Most files, directories and links a ``rundir_base`` may hold."""


def measure_base(base: str) -> tuple[int, int]:
    """The entries and bytes of ``base``, refusing a base over the caps or holding special files.

    Symbolic links are counted, not followed (the copy keeps them as links). The walk stops
    as soon as a cap is passed, so a base like ``/usr`` fails at once.

    :raises NodeFailed: over a cap, a FIFO, device or socket inside, or not a directory.
    """
    if not os.path.isdir(base):
        raise NodeFailed(f"rundir_base {base!r} is not a directory", retryable=False)
    entries = size = 0
    for root, dirs, files in os.walk(base, onerror=_raise):
        for name in (*dirs, *files):
            entries += 1
            if entries > MAX_BASE_ENTRIES:
                raise NodeFailed(
                    f"rundir_base {base!r} holds more than {MAX_BASE_ENTRIES} entries "
                    "(it is copied for every run; pass large data by path instead)",
                    retryable=False,
                )
            path = os.path.join(root, name)
            info = os.lstat(path)
            mode = info.st_mode
            if stat.S_ISREG(mode):
                size += info.st_size
            elif not (stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                raise NodeFailed(
                    f"rundir_base {base!r} holds {path!r}, which is not a regular file, directory "
                    "or link (a FIFO, device or socket cannot be copied)",
                    retryable=False,
                )
            if size > MAX_BASE_BYTES:
                raise NodeFailed(
                    f"rundir_base {base!r} holds more than {MAX_BASE_BYTES} bytes "
                    "(it is copied for every run; pass large data by path instead)",
                    retryable=False,
                )
    return entries, size


def _raise(exc: OSError) -> None:
    raise exc


def make_rundir(parent: str | None, base: str | None, owner: RunAs | None = None) -> Path:
    """Create a new run directory (mode 0700) under ``parent`` (the temp dir when ``None``; a
    relative one from this process's working directory); its path is absolute.

    The contents of ``base`` (when given, and within the caps of :func:`measure_base`) are
    copied in first; then an empty ``out/`` is made. With an ``owner`` that is not this
    process's user, the directory and all it holds are handed to that user, so the program
    can write there and nobody else can look in. Blocks: call it through :func:`open_rundir`.

    :raises NodeFailed: the base is refused, or the directory cannot be made or seeded.
    """
    if base:
        try:
            measure_base(base)
        except OSError as exc:
            raise NodeFailed(f"cannot read rundir_base {base!r}: {exc}") from None
    if parent and not os.path.isabs(parent):  # from the server's working directory, named so
        parent = os.path.abspath(parent)  # (Python 3.11's mkdtemp returns a relative path)
    try:
        path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    except OSError as exc:
        raise NodeFailed(
            f"cannot create a run directory in {parent or tempfile.gettempdir()!r}: {exc.strerror}"
        ) from None
    try:
        if base:
            shutil.copytree(base, path, symlinks=True, dirs_exist_ok=True)
        (path / OUT).mkdir(exist_ok=True)
        if owner is not None and owner.switches:
            _give(path, owner)
    except (OSError, shutil.Error) as exc:
        remove_rundir(path)
        raise NodeFailed(f"cannot seed the run directory from {base!r}: {exc}") from None
    return path


async def open_rundir(parent: str | None, base: str | None, owner: RunAs | None = None) -> Path:
    """:func:`make_rundir`: in a thread when it seeds the directory or hands it to another user.
    Cancelled meanwhile, the directory the thread goes on to make is removed when it is done, so
    no run directory is left behind."""
    if not base and (owner is None or not owner.switches):
        return make_rundir(parent, None, owner)  # mkdtemp and out/: no walk of anything
    return await to_the_end_in_thread(functools.partial(make_rundir, parent, base, owner), remove_rundir)


def remove_rundir(path: Path) -> None:
    """Remove a run directory and everything in it; errors are ignored."""
    remove_tree(path, EMPTY)


async def close_rundir(path: Path) -> None:
    """:func:`remove_rundir` in a thread; the removal finishes even if the caller is cancelled."""
    await to_the_end_in_thread(functools.partial(remove_rundir, path))


async def in_thread_then_remove(work: Callable[[], T], path: Path | None) -> T:
    """``work()`` in a thread, then (unless ``path`` is ``None``) :func:`remove_rundir` of
    ``path`` in the same thread, whatever ``work`` did: one trip to a thread for a run's last
    steps instead of two. Cancelled meanwhile, the thread still finishes both (what ``work``
    returned or raised is then dropped)."""

    def both() -> T:
        try:
            return work()
        finally:
            if path is not None:
                remove_rundir(path)

    return await to_the_end_in_thread(both)


def _give(path: Path, owner: RunAs) -> None:
    """Hand ``path`` and everything below it (links themselves, not their targets) to ``owner``."""
    os.chown(path, owner.uid, owner.gid, follow_symlinks=False)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), owner.uid, owner.gid, follow_symlinks=False)
