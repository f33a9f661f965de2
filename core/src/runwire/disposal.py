"""Removing finished run directories in the background, off the event loop and off the run's path.

On some file systems removing even an empty directory waits for the disk (ext4 mounted with
``discard`` spends most of a millisecond in each ``rmdir``, idle). A node that removed its run
directory before answering made every run wait for that, and, on the event loop, every other
request too. A node hands the directory to its host's :class:`Disposal` instead, which removes it
in one background thread; the host drains it before it releases the run directories' root, and
a process drains every disposal before it exits, so nothing is left behind.

The backlog is bounded: when :data:`BACKLOG` directories already wait, :meth:`Disposal.submit`
refuses and the node removes its directory itself, as before, so a disk that cannot keep up slows
the nodes down instead of filling up.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

BACKLOG = 64
"""Most directories waiting for removal at once, per disposal."""
TICK_S = 0.02
"""How often the removing thread looks for directories handed over: submitting wakes nothing
(under load a wake-up per run, a thread switch and the GIL handed back and forth, cost more than
the removal's own CPU); a drain wakes it at once."""
LINGER_S = 2.0
"""How long the removing thread waits for more work before it ends (a new one starts on demand)."""

_live: weakref.WeakSet[Disposal] = weakref.WeakSet()


def remove_tree(path: Path, empty: Iterable[str] = ()) -> None:
    """Remove the directory ``path`` and everything in it; errors are ignored (what cannot be
    removed stays), as :func:`shutil.rmtree` with ``ignore_errors`` does.

    ``empty`` names subdirectories that ``path`` usually holds, empty (a run directory's
    ``out/``): they and ``path`` are first removed with plain ``rmdir``, a few system calls where
    the walk takes a dozen. ``rmdir`` removes only an empty directory and does not follow a link
    in the last step of its path, so anything else (a file, a link, a directory with something
    in it) fails it, and the descriptor-based walk of :func:`shutil.rmtree` (which does not
    follow links either) removes the rest. The subdirectories are removed relative to ``path``
    opened without following a link: a program that owns its run directory in a shared parent
    (a sticky ``/tmp``) may swap it for a link, and ``rmdir("<link>/out")`` would remove an empty
    ``out`` wherever the link points, with the host's rights.
    """
    try:
        if empty:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                for name in empty:
                    with contextlib.suppress(FileNotFoundError):  # the program removed it: fine
                        os.rmdir(name, dir_fd=fd)
            finally:
                os.close(fd)
        os.rmdir(path)
    except FileNotFoundError:
        return
    except OSError:  # not empty, not a directory (a link: ELOOP), or not ours to remove: the walk
        shutil.rmtree(path, ignore_errors=True)


class Disposal:
    """Removes directories (and everything in them) in one background thread, in the order given.

    Thread-safe: any thread or event loop may :meth:`submit`; :meth:`drain` waits for the removals.
    Errors are ignored (:func:`remove_tree`): what cannot be removed stays (the server removes
    its process's whole run-directory root at its next start). A forked child's disposal starts
    empty, with a thread of its own on demand (the parent's removes what the parent was given).
    """

    def __init__(self, backlog: int = BACKLOG) -> None:
        self._backlog = backlog
        self._changed = threading.Condition()
        self._waiting: deque[tuple[Path, tuple[str, ...]]] = deque()
        self._removing = 0
        self._thread: threading.Thread | None = None
        _live.add(self)

    def submit(self, path: Path, empty: tuple[str, ...] = ()) -> bool:
        """Queue ``path`` for removal (by :func:`remove_tree`, ``empty`` as it says) and return at
        once; ``False`` (nothing queued) when the backlog is full, or no thread can be started to
        remove it: the caller removes it itself."""
        with self._changed:
            if len(self._waiting) + self._removing >= self._backlog:
                return False
            self._waiting.append((path, empty))
            if self._thread is None:
                thread = threading.Thread(target=self._remove_all, name="runwire-disposal", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no thread to be had (a memory or task limit, exit under way):
                    self._waiting.pop()  # the caller removes it; the next submit tries again
                    return False
                self._thread = thread
        return True  # no wake-up: the thread looks every TICK_S (a wake-up per run cost more)

    def pending(self) -> int:
        """How many directories wait for removal or are being removed."""
        with self._changed:
            return len(self._waiting) + self._removing

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every submitted directory is removed (at most ``timeout`` seconds);
        whether they all were."""
        with self._changed:
            self._changed.notify_all()  # the thread starts now instead of at its next look
            return self._changed.wait_for(lambda: not self._waiting and not self._removing, timeout)

    def _remove_all(self) -> None:
        last_work = time.monotonic()
        while True:
            with self._changed:
                if not self._waiting:
                    self._changed.wait(TICK_S)  # or until a drain wakes it
                if not self._waiting:
                    if time.monotonic() - last_work >= LINGER_S:
                        self._thread = None  # a later submit starts a new thread
                        return
                    continue
                batch = list(self._waiting)
                self._waiting.clear()
                self._removing = len(batch)
            for path, empty in batch:
                try:
                    remove_tree(path, empty)
                finally:
                    with self._changed:
                        self._removing -= 1
            with self._changed:
                self._changed.notify_all()  # drains waiting for these
            last_work = time.monotonic()

    def _forget_parent(self) -> None:
        """In a forked child: the removing thread (and whoever held the lock) stayed in the
        parent, which removes what it was given; the child starts afresh."""
        self._changed = threading.Condition()
        self._waiting.clear()
        self._removing = 0
        self._thread = None


def _after_fork_in_child() -> None:
    for disposal in list(_live):
        disposal._forget_parent()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _drain_all() -> None:
    """At exit, finish every queued removal (the thread is a daemon: it would be stopped)."""
    for disposal in list(_live):
        if not disposal.drain(timeout=60):
            log.warning("%d run directories were not removed before exit", disposal.pending())
