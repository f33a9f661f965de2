"""Preparing this machine for the programs runs start: who they run as, where, and what they
cannot read (the data dir). Done once per server or worker process, at boot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

from runwire.errors import ConfigInvalid
from runwire.host import HostPolicy, RunAs
from runwire_server.settings import Settings
from runwire_server.store import SchemaUpgrade, Store, open_database

log = logging.getLogger("runwire.server")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
KEPT_PREFIX = "kept-"
DRAIN_TIMEOUT_S = 30
"""How long a stop waits for the host's disposal to remove the finished runs' directories."""
PASSABLE_DIR = 0o711
"""Run-directory roots: anyone may pass through to a directory they own, nobody may list them."""

ROOT_WITHOUT_RUN_AS = (
    "runwire runs as root and RUNWIRE_PRIVILEGED_PROJECTS grants privileged nodes, but "
    "RUNWIRE_RUN_AS_USER is not set: API callers' programs would run as root and could read the "
    "server's secrets and data. Set RUNWIRE_RUN_AS_USER to an unprivileged user (e.g. nobody), or "
    "to root to accept that risk."
)
RUN_AS_ROOT_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!! RUNWIRE_RUN_AS_USER=root: programs of privileged projects run as root and can read !!
!! this server's secrets (its environment, its data dir). Use an unprivileged user.   !!
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def resolve_run_as(settings: Settings, grants_privileged: bool) -> RunAs | None:
    """The user programs run as, after checking the operator's settings make sense.

    :raises ConfigInvalid: root with privileged projects and no run-as user; a run-as user this
        process cannot switch to (it is not root); an unknown user.
    """
    euid = os.geteuid()
    if not settings.run_as_user.strip():
        if euid == 0 and grants_privileged:
            raise ConfigInvalid(ROOT_WITHOUT_RUN_AS)
        if euid == 0 and (settings.task_config or settings.executables_dir):
            log.warning("runwire runs as root without RUNWIRE_RUN_AS_USER: front-door programs run as root")
        elif grants_privileged:
            log.warning(
                "privileged projects are granted and programs run as this server's own user: they can "
                "read its environment, its data dir and its secret files; run the server as root with "
                "RUNWIRE_RUN_AS_USER set to an unprivileged user to keep them apart (docs/security.md)"
            )
        return None
    run_as = RunAs.lookup(settings.run_as_user)
    if run_as.switches and euid != 0:
        raise ConfigInvalid(
            f"RUNWIRE_RUN_AS_USER={settings.run_as_user} needs this process to run as root to switch "
            f"users (it runs as uid {euid}); unset it to run programs as this process's own user"
        )
    if run_as.uid == 0:
        log.warning("%s", RUN_AS_ROOT_WARNING)
    elif not run_as.switches:
        log.warning(
            "RUNWIRE_RUN_AS_USER is this process's own user: programs can read its environment, "
            "its data dir and its secret files (docs/security.md)"
        )
    return run_as


def open_store(settings: Settings, pool_size: int = 10) -> Store:
    """The configured store, its schema up to date, readable by this process's user alone: the
    default data dir 0700, an SQLite database file 0600. Every process that opens the store
    (``serve``, ``worker``, ``runwire keys``) opens it here.

    :raises SchemaTooNew: a newer runwire has upgraded the store's schema.
    """
    return open_upgraded_store(settings, pool_size)[0]


def open_upgraded_store(settings: Settings, pool_size: int = 10) -> tuple[Store, SchemaUpgrade]:
    """:func:`open_store`, and what bringing its schema to the newest revision did."""
    if not settings.database_url:
        secure_data_dir(settings.data_dir)
    store = open_database(settings.store_url, pool_size=pool_size)
    try:
        upgrade = store.create_schema()
    except BaseException:
        store.dispose()
        raise
    if upgrade.changed:
        log.info("store schema upgraded from revision %s to %s", upgrade.before or "(none)", upgrade.after)
    secure_sqlite_file(settings.store_url)
    return store, upgrade


def secure_data_dir(data_dir: Path) -> None:
    """Make the data dir (made if missing) readable by this process's user alone (0700)."""
    data_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if stat.S_IMODE(data_dir.stat().st_mode) != PRIVATE_DIR:
        os.chmod(data_dir, PRIVATE_DIR)


def secure_sqlite_file(store_url: str) -> None:
    """Make an SQLite store's database file (and its WAL files) 0600."""
    prefix = "sqlite:///"
    if not store_url.startswith(prefix):
        return
    database = Path(store_url[len(prefix) :])
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_uid == os.geteuid():
                os.chmod(path, PRIVATE_FILE)


def _own_dir(path: Path, mode: int) -> None:
    """Make ``path`` (if missing) and check it is a real directory of ours; set ``mode``.

    :raises ConfigInvalid: it is a link or belongs to another user (someone may have made it
        first to read or swap what runs put there).
    """
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=mode, parents=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise ConfigInvalid(f"run-directory root {str(path)!r} is not a directory owned by this user")
    if stat.S_IMODE(info.st_mode) != mode:
        os.chmod(path, mode)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_rundir_root(settings: Settings) -> Path:
    """This process's own directory for run directories, under the run-directory root.

    Each process (each set of services in it) has ``<root>/<pid>-<random>``; the directories of
    processes that no longer exist (a crash, a kill) are removed here, with whatever runs left.
    """
    default = Path(tempfile.gettempdir()) / f"runwire-rundirs-{os.geteuid()}"
    root = Path(settings.rundir_root) if settings.rundir_root else default
    _own_dir(root, PASSABLE_DIR)
    for child in root.iterdir():
        pid = child.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            log.info("removing run directories left by process %s: %s", pid, child)
            shutil.rmtree(child, ignore_errors=True)
    mine = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
    os.chmod(mine, PASSABLE_DIR)
    return mine


def build_host_policy(settings: Settings, grants_privileged: bool) -> HostPolicy:
    """The host policy of this process: run-as user, its own run-directory root and limits.

    Built once per process: its process limiter is shared by every engine and thread here.

    :raises ConfigInvalid: as :func:`resolve_run_as`, or the run-directory root is unsafe.
    """
    run_as = resolve_run_as(settings, grants_privileged)
    return HostPolicy(
        run_as=run_as,
        rundir_parent=str(prepare_rundir_root(settings)),
        max_processes=settings.max_processes,
        max_parallel_nodes=settings.max_parallel_nodes,
    )


def release_rundir_root(policy: HostPolicy) -> None:
    """Remove this process's run-directory root at stop, if empty, once the host's disposal has
    removed the finished runs' directories it was given. Run directories kept on
    purpose (``keep_rundir``, a task's ``debug``) are left, renamed ``kept-<name>`` so that the
    next start does not take them for a crash's leftovers."""
    if not policy.disposal.drain(timeout=DRAIN_TIMEOUT_S):
        log.warning(
            "%d finished run directories were still being removed after %d s; their root is kept",
            policy.disposal.pending(),
            DRAIN_TIMEOUT_S,
        )
    if not policy.rundir_parent:
        return
    mine = Path(policy.rundir_parent)
    try:
        mine.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        kept = mine.with_name(f"{KEPT_PREFIX}{mine.name}")
        with contextlib.suppress(OSError):
            mine.rename(kept)
            log.info("run directories kept for debugging are in %s", kept)
