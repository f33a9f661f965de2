"""Resolving an LSO-style ``executable_name`` inside the one directory programs may come from.

Each refusal is its own error type (the server maps them to the reference's statuses): a name
with characters outside the safe set, an absolute path or a ``..`` / symlink that leads out of
the directory, a missing file, a directory, a file that is not executable.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from runwire.errors import RunwireError

SAFE_NAME = re.compile(r"\A[A-Za-z0-9._/-]+\Z")


class ExecutableRefused(RunwireError):
    """An ``executable_name`` cannot be run; subclasses say why."""


class ExecutableNameInvalid(ExecutableRefused):
    """The name holds characters outside ``[A-Za-z0-9._/-]`` (or is empty)."""


class ExecutableOutsideRoot(ExecutableRefused):
    """The name is absolute, or resolves (through ``..`` or a symlink) outside the directory."""


class ExecutableNotFound(ExecutableRefused):
    """Nothing exists at that name."""


class ExecutableIsDirectory(ExecutableRefused):
    """The name is a directory (or another non-regular file)."""


class ExecutableNotExecutable(ExecutableRefused):
    """The file has no execute permission."""


class ExecutablesNotConfigured(ExecutableRefused):
    """No executables directory is configured, so nothing may be run."""


def resolve_executable(name: str, root: str | Path | None) -> Path:
    """Return the resolved path of ``name`` inside ``root``, or raise why it cannot run.

    Checks, in order: the safe character set (``ExecutableNameInvalid``), containment after
    resolving symlinks and ``..`` (``ExecutableOutsideRoot``), existence
    (``ExecutableNotFound``), a regular file (``ExecutableIsDirectory``), an execute bit
    (``ExecutableNotExecutable``). Messages echo only what the caller sent, never server paths.
    """
    if root is None or str(root) == "":
        raise ExecutablesNotConfigured("no executables directory is configured (RUNWIRE_EXECUTABLES_DIR)")
    if not SAFE_NAME.match(name):
        raise ExecutableNameInvalid(f"executable name {name!r} contains characters that are not allowed")
    if os.path.isabs(name):
        raise ExecutableOutsideRoot(f"executable name {name!r} must be relative to the executables directory")
    base = Path(root).resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise ExecutableOutsideRoot(f"executable {name!r} is outside the executables directory")
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ExecutableNotFound(f"executable {name!r} does not exist") from None
    except OSError:
        raise ExecutableNotFound(f"executable {name!r} cannot be accessed") from None
    if not stat.S_ISREG(info.st_mode):
        raise ExecutableIsDirectory(f"executable {name!r} is not a regular file")
    if not info.st_mode & 0o111 or not os.access(path, os.X_OK):
        raise ExecutableNotExecutable(f"executable {name!r} is not marked as executable")
    return path
