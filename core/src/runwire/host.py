"""What the operator grants the programs runwire starts: the user they run as, where they run.

A :class:`HostPolicy` is built once per process by whoever hosts the engine (the server from
its settings; ``runwire run`` uses the default, the operator's own user) and reaches every
node through :attr:`runwire.nodes.NodeContext.host`. Node types that start programs honour it.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from runwire.errors import ConfigInvalid


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
    """

    run_as: RunAs | None = None
    rundir_parent: str | None = None
    environ: Mapping[str, str] = field(default_factory=_environment)

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
