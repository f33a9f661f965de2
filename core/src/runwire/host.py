"""What the operator grants the programs runwire starts: the user they run as, where they run.

A :class:`HostPolicy` is built once per process by whoever hosts the engine (the server from
its settings; ``runwire run`` uses the default, the operator's own user) and reaches every
node through :attr:`runwire.nodes.NodeContext.host`. Node types that start programs honour it.
It also carries the process's limits: its :attr:`HostPolicy.process_slots` is the one limiter
of child processes that every engine, executor and thread of the process shares; and its
:attr:`HostPolicy.disposal`, which removes finished run directories in the background.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from runwire.disposal import Disposal
from runwire.errors import ConfigInvalid
from runwire.slots import Slots

DEFAULT_MAX_PROCESSES = 16
"""Child processes at once per process: twice the default ``RUNWIRE_WORKER_THREADS``, so
every run at once can have a program and a second branch's; programs mostly wait on I/O,
so a CPU-count rule would leave a small machine idle. Operators raise it for wide graphs."""
DEFAULT_MAX_PARALLEL_NODES = 32
"""Nodes of one run that execute at once (its parallel branches)."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """A user (and its primary group) that programs run as.

    :param uid: the user id.
    :param gid: the user's primary group id.
    :param name: the user name (``USER``/``LOGNAME`` of the program).
    :param home: the user's home directory (``HOME`` of the program).
    """

    uid: int
    gid: int
    name: str
    home: str

    @classmethod
    def lookup(cls, spec: str) -> RunAs:
        """The user named ``spec`` (a name or a numeric uid) from the password database.

        :raises ConfigInvalid: no such user.
        """
        text = spec.strip()
        try:
            entry = pwd.getpwuid(int(text)) if text.isdigit() else pwd.getpwnam(text)
        except (KeyError, OverflowError):
            raise ConfigInvalid(f"RUNWIRE_RUN_AS_USER: no user {text!r} on this machine") from None
        return cls(entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir)

    @property
    def switches(self) -> bool:
        """Whether running as this user means switching away from the current one."""
        return self.uid != os.geteuid()


def _environment() -> Mapping[str, str]:
    return MappingProxyType(os.environ)


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """The operator's terms for programs started by nodes.

    :param run_as: the user programs run as; ``None``: this process's own user.
    :param rundir_parent: where run directories are made when a node names none; ``None``:
        the system's temporary directory.
    :param environ: the environment a node's ``env_allowlist`` copies variables from.
    :param max_processes: child processes running at once in this process, all runs together.
    :param max_parallel_nodes: nodes of one run executing at once.
    """

    run_as: RunAs | None = None
    rundir_parent: str | None = None
    environ: Mapping[str, str] = field(default_factory=_environment)
    max_processes: int = DEFAULT_MAX_PROCESSES
    max_parallel_nodes: int = DEFAULT_MAX_PARALLEL_NODES
    process_slots: Slots = field(init=False, repr=False, compare=False)
    """Held by a node while its program runs; built here so that every user of this policy
    (each engine, executor and worker thread of the process) shares the one limit."""
    disposal: Disposal = field(init=False, repr=False, compare=False)
    """Removes finished run directories in the background (node types hand theirs over); whoever
    releases :attr:`rundir_parent` drains it first."""

    def __post_init__(self) -> None:
        for name in ("max_processes", "max_parallel_nodes"):
            if getattr(self, name) < 1:
                raise ConfigInvalid(f"{name} must be at least 1, got {getattr(self, name)}")
        object.__setattr__(self, "process_slots", Slots(self.max_processes))  # frozen dataclass
        object.__setattr__(self, "disposal", Disposal())

    def program_environment(self, allowlist: list[str] | tuple[str, ...]) -> dict[str, str]:
        """The allow-listed variables of :attr:`environ`; with a run-as user, the allow-listed
        ones of ``HOME``, ``USER`` and ``LOGNAME`` are that user's."""
        env = {name: self.environ[name] for name in allowlist if name in self.environ}
        if self.run_as is not None:
            identity = {"HOME": self.run_as.home, "USER": self.run_as.name, "LOGNAME": self.run_as.name}
            env.update({name: value for name, value in identity.items() if name in allowlist})
        return env


DEFAULT_HOST = HostPolicy()
"""The policy of a process that sets none: programs run as this process's user."""
