"""The open-file limit of a long-lived process (``serve``, ``worker``).

Every connection, program pipe and store file is a file descriptor, and the soft
``RLIMIT_NOFILE`` a process inherits is often 1024 (the shell's, systemd's default) while the hard
limit allows far more (524288 under systemd, 1048576 in a container). A server left at 1024
answers nobody once about a thousand connections are open: past the limit the event loop's
``accept`` fails and uvloop drops each new connection unanswered (health probes too), with
nothing in the log. :func:`raise_open_file_limit` raises the soft limit to the hard one at start
(at most :data:`RAISE_UP_TO`), which any process may do; the hard limit stays the operator's
(``LimitNOFILE=``, ``ulimit -Hn``, ``docker run --ulimit``).

:func:`long_request_cap` keeps ``RUNWIRE_MAX_LONG_REQUESTS`` under half the limit, so the
connections that may stay open for long (event streams, waits) leave room for everything else;
:func:`connection_cap` keeps all connections (``RUNWIRE_MAX_CONNECTIONS``) under the limit less
what programs and the store need.
:class:`OpenFilesWatch` logs a warning while the process is close to its limit.
"""

from __future__ import annotations

import errno
import logging
import os
import time

log = logging.getLogger("runwire.server")

RAISE_UP_TO = 65_536
"""The most the soft limit is raised to, whatever the hard limit (a container's is often 1048576).
Programs started here inherit it: some close every descriptor up to their limit before they
start another program, or use ``select()``, which fails on descriptors past 1024, and the higher
the limit the worse those get (Go restores the original limit in its children; Python's
``subprocess`` cannot without giving up ``vfork``). 65,536 descriptors leave room for tens of
thousands of connections per process; the operator raises the soft limit beyond it before the
start (``ulimit -n``) and runwire keeps that."""


def open_file_limit() -> int | None:
    """This process's soft open-file limit; ``None`` where there is none to read (not POSIX) or
    it is unlimited."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raise_open_file_limit() -> tuple[int, int] | None:
    """Raise the soft open-file limit to the hard limit, at most :data:`RAISE_UP_TO`; return
    ``(before, after)`` when it rose (logged at info), ``None`` when it was already there or
    cannot be changed (logged as a warning: the process keeps its limit)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = RAISE_UP_TO if hard == resource.RLIM_INFINITY else min(hard, RAISE_UP_TO)
    if soft != resource.RLIM_INFINITY and soft >= target:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("open-file limit stays at %d: raising it to %d failed: %s", soft, target, exc)
        return None
    log.info("open-file limit raised from %d to %d (the hard limit, at most %d)", soft, target, RAISE_UP_TO)
    return soft, target


def long_request_cap(setting: int, connections: int) -> int:
    """``RUNWIRE_MAX_LONG_REQUESTS`` as it applies when ``connections`` may be open
    (:func:`connection_cap`): at most half of them (at least 1), so that short requests always
    find a connection; logged as a warning when that lowers the setting."""
    if setting <= connections // 2:
        return setting
    cap = max(1, connections // 2)
    log.warning(
        "RUNWIRE_MAX_LONG_REQUESTS=%d lowered to %d: half of the %d connections this process "
        "keeps open (RUNWIRE_MAX_CONNECTIONS, itself at most the open-file limit less a reserve); "
        "to allow more, raise RUNWIRE_MAX_CONNECTIONS if it is set, or the hard open-file limit "
        "(ulimit -Hn, systemd LimitNOFILE=); set RUNWIRE_MAX_LONG_REQUESTS=%d to keep this quiet",
        setting,
        cap,
        connections,
        cap,
    )
    return cap


RESERVE = 64
"""Descriptors kept from connections for the process itself (store, broker, threads, logs)..."""
RESERVE_PER_PROGRAM = 8
"""... and per program slot (``RUNWIRE_MAX_PROCESSES``): its pipes while it starts and runs,
its run directory's files while they are read."""
UNBOUNDED = 1 << 30


def connection_cap(setting: int, limit: int | None, max_processes: int) -> int:
    """``RUNWIRE_MAX_CONNECTIONS`` as it applies under the open-file limit ``limit``: at most the
    limit less :data:`RESERVE` and :data:`RESERVE_PER_PROGRAM` per program slot (and at least
    half the limit); 0, the default, is that bound (:data:`UNBOUNDED` without a limit)."""
    if limit is None:
        return setting or UNBOUNDED
    bound = max(limit // 2, limit - RESERVE - RESERVE_PER_PROGRAM * max_processes)
    return min(setting, bound) if setting else bound


FD_DIR = "/proc/self/fd"
SHORT_FRACTION = 0.9
"""A process with this share of its open-file limit in use is warned about."""
WARN_EVERY_S = 60.0


def open_files() -> int | None:
    """The file descriptors this process holds now (all of its limit when none is left to list
    them with); ``None`` without ``/proc`` (not Linux)."""
    try:
        return len(os.listdir(FD_DIR)) - 1  # the listing's own descriptor
    except OSError as exc:
        return open_file_limit() if exc.errno == errno.EMFILE else None


class OpenFilesWatch:
    """Warns, at most every :data:`WARN_EVERY_S`, while the process holds
    :data:`SHORT_FRACTION` of its open-file limit or more: past the limit, the event loop drops
    new connections without a word and programs cannot be started, so the log must say it.
    The reconciler thread calls :meth:`check` every tick."""

    def __init__(self) -> None:
        self._next_warning = 0.0

    def check(self) -> None:
        """Count the descriptors and warn when short of them."""
        limit = open_file_limit()
        used = open_files() if limit is not None else None
        if used is None or limit is None or used < limit * SHORT_FRACTION:
            return
        now = time.monotonic()
        if now < self._next_warning:
            return
        self._next_warning = now + WARN_EVERY_S
        log.warning(
            "%d of %d file descriptors in use (the open-file limit): at the limit new connections "
            "are dropped unanswered and programs cannot be started; raise the hard limit (ulimit -Hn, "
            "systemd LimitNOFILE=) or lower RUNWIRE_MAX_LONG_REQUESTS, and limit connections at the proxy",
            used,
            limit,
        )
