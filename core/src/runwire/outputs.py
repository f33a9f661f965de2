"""What a command run returns besides its streams: formatted ``results`` and base64 ``attachments``.

Paths are relative to the run directory and may never leave it (``..``, absolute paths and
symlinks pointing outside are refused). Only regular files are read: a FIFO, device or socket
is refused, and files are opened non-blocking and checked with ``fstat`` before a byte is
read, so nothing here can wait on a writer. The functions block (file I/O, parsing): hosts
call them off the event loop. ``results`` go through the output formatter registry, so a
plugin's formatter works here like a built-in one.
"""

from __future__ import annotations

import base64
import errno
import os
import stat
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runwire.errors import ConfigInvalid, NodeFailed
from runwire.formatters import OutputFormatter

DEFAULT_ATTACHMENTS_MAX_BYTES = 50 * 1024 * 1024
MAX_RESULTS_FILE_BYTES = 100 * 1024 * 1024
MAX_ATTACHMENT_MATCHES = 10_000
"""Paths one attachment pattern may match; more is refused (a program can make many)."""
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symbolic link",
}


class ResultsSpec(BaseModel):
    """script-runner's ``outputs.results``: where the result is read from and how it is parsed.

    ``kind`` ``file`` reads ``input_path`` (relative to the run directory); ``stdout`` and
    ``stderr`` parse the command's own stream. Fields other than these four are the
    formatter's options (``remapped_columns`` for ``csv``).
    """

    model_config = ConfigDict(extra="allow")

    kind: Literal["file", "stdout", "stderr"] = "file"
    format: str = Field(min_length=1)
    input_path: str | None = None

    def formatter_options(self) -> dict[str, Any]:
        """The fields meant for the formatter."""
        return dict(self.model_extra or {})


def build_formatter(spec: ResultsSpec, formatters: Any) -> OutputFormatter:
    """Instantiate the formatter ``spec`` names with its options.

    :param formatters: the output formatter registry (``Plugins.formatters``).
    :raises ConfigInvalid: unknown format, bad options, or ``kind: file`` without ``input_path``.
    """
    cls = formatters.get(spec.format)
    if cls is None:
        known = ", ".join(sorted(k for k, _ in formatters)) or "none"
        raise ConfigInvalid(f"outputs.results.format: unknown format {spec.format!r} (installed: {known})")
    if spec.kind == "file" and not spec.input_path:
        raise ConfigInvalid("outputs.results.input_path: required when kind is 'file'")
    try:
        options = cls.options_model.model_validate(spec.formatter_options())
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigInvalid(f"outputs.results.{loc}: {first['msg']}") from None
    return cls(options)


def resolve_inside(base: Path, relative: str) -> Path:
    """``base / relative`` after resolving symlinks, refusing anything that ends up outside ``base``.

    :raises NodeFailed: the path is absolute, contains NUL, or escapes ``base`` (by ``..`` or
        through a symbolic link).
    """
    if "\x00" in relative:
        raise NodeFailed(f"path {relative!r} contains a NUL character", retryable=False)
    if os.path.isabs(relative):
        raise NodeFailed(f"path {relative!r} must be relative to the run directory", retryable=False)
    root = base.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        lexical = Path(os.path.normpath(root / relative))
        if lexical == root or root in lexical.parents:
            raise NodeFailed(
                f"path {relative!r} is a symbolic link leading outside the run directory", retryable=False
            )
        raise NodeFailed(f"path {relative!r} leaves the run directory", retryable=False)
    return target


def read_regular_file(path: Path, label: str, max_bytes: int, too_big: str) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``.

    The file is opened with ``O_NONBLOCK | O_NOFOLLOW`` and checked with ``fstat`` before it is
    read: a FIFO, device, socket or symbolic link is refused without waiting on it.

    :param label: names the file in errors (``results file 'out/r.csv'``).
    :param too_big: the error when the file holds more than ``max_bytes``.
    :raises NodeFailed: missing, not a regular file (not retryable), too big, unreadable.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise NodeFailed(f"{label} was not written by the command") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NodeFailed(
                f"{label} is a symbolic link; only regular files are read", retryable=False
            ) from None
        if exc.errno == errno.ENXIO:  # a socket (or a device without its driver)
            raise NodeFailed(
                f"{label} is a socket or device; only regular files are read", retryable=False
            ) from None
        raise NodeFailed(f"{label} cannot be read: {exc.strerror}") from None
    with os.fdopen(fd, "rb", buffering=0) as file:
        info = os.fstat(fd)
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            raise NodeFailed(f"{label} is a directory", retryable=False)
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise NodeFailed(f"{label} is {kind}; only regular files are read", retryable=False)
        if info.st_size > max_bytes:
            raise NodeFailed(too_big)
        data = file.read(max_bytes + 1)  # the file may still be growing: never read past the cap
    if len(data) > max_bytes:
        raise NodeFailed(too_big)
    return data


def read_results(
    spec: ResultsSpec, formatter: OutputFormatter, rundir: Path, stdout: bytes, stderr: bytes
) -> Any:
    """Parse the configured source (a file of the run directory, stdout or stderr) with ``formatter``.

    :raises NodeFailed: the file is missing, outside the run directory, not a regular file,
        larger than :data:`MAX_RESULTS_FILE_BYTES`, or unreadable.
    """
    if spec.kind == "stdout":
        return formatter.format_bytes(stdout)
    if spec.kind == "stderr":
        return formatter.format_bytes(stderr)
    path = resolve_inside(rundir, spec.input_path or "")
    label = f"results file {spec.input_path!r}"
    too_big = f"{label} is larger than {MAX_RESULTS_FILE_BYTES} bytes"
    return formatter.format_bytes(read_regular_file(path, label, MAX_RESULTS_FILE_BYTES, too_big))


def collect_attachments(rundir: Path, patterns: list[str], max_total_bytes: int) -> dict[str, str]:
    """Files of the run directory matching ``patterns`` (globs), base64-encoded, keyed by file name.

    Matched directories are left out; ``**`` does not descend into symbolic links. Names
    starting with a dot match only a pattern that has such a part itself.

    :raises NodeFailed: a pattern is absolute or uses ``..``, or matches more than
        :data:`MAX_ATTACHMENT_MATCHES` paths; a match is a symbolic link leading outside the run
        directory, a FIFO, device or socket; the files exceed ``max_total_bytes``.
    """
    root = rundir.resolve()
    found: dict[str, str] = {}
    total = 0
    too_big = f"attachments exceed {max_total_bytes} bytes in total"
    for pattern in patterns:
        for relative in _matches(root, pattern):
            target = resolve_inside(root, relative)
            label = f"attachment {relative!r}"
            if target.is_dir():
                continue
            data = read_regular_file(target, label, max_total_bytes - total, too_big)
            total += len(data)
            found[os.path.basename(relative)] = base64.b64encode(data).decode("ascii")
    return found


def _matches(root: Path, pattern: str) -> list[str]:
    """The paths (relative to ``root``) that ``pattern`` matches, sorted.

    ``Path.glob`` rather than ``glob.glob``: its ``**`` never follows a symbolic link, so a
    program's ``out/a -> ..`` cannot make the walk endless.
    """
    if os.path.isabs(pattern) or ".." in Path(pattern).parts or "\x00" in pattern:
        raise NodeFailed(
            f"attachment pattern {pattern!r} must stay inside the run directory", retryable=False
        )
    if not pattern.strip("/"):
        return []
    hidden_ok = any(part.startswith(".") for part in Path(pattern).parts)
    found: list[str] = []
    try:
        for path in root.glob(pattern):
            relative = path.relative_to(root)
            if not hidden_ok and any(part.startswith(".") for part in relative.parts):
                continue
            found.append(str(relative))
            if len(found) > MAX_ATTACHMENT_MATCHES:
                raise NodeFailed(
                    f"attachment pattern {pattern!r} matches more than {MAX_ATTACHMENT_MATCHES} paths",
                    retryable=False,
                )
    except ValueError as exc:
        raise NodeFailed(f"attachment pattern {pattern!r}: {exc}", retryable=False) from None
    return sorted(found)
