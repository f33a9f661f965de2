"""What a command run returns besides its streams: formatted ``results`` and base64 ``attachments``.

Paths are relative to the run directory and may never leave it: absolute paths and ``..``
beyond it are refused, and files are reached one directory at a time from a descriptor of the
run directory, never through a symbolic link (:func:`open_beneath`), so a program that swaps a
directory for a link while the server reads cannot lead it anywhere else. Only regular files
of their own are read: a FIFO, device, socket or hard-linked file is refused, and files are
opened non-blocking and checked with ``fstat`` before a byte is read, so nothing here can
wait on a writer. The functions block (file I/O, parsing): hosts
call them off the event loop. ``results`` go through the output formatter registry, so a
plugin's formatter works here like a built-in one.
"""

from __future__ import annotations

import base64
import errno
import fnmatch
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from runwire.errors import ConfigInvalid, NodeFailed
from runwire.fieldproblems import field_problems
from runwire.formatters import OutputFormatter

if TYPE_CHECKING:
    from runwire.plugins import Registry

DEFAULT_ATTACHMENTS_MAX_BYTES = 50 * 1024 * 1024
MAX_RESULTS_FILE_BYTES = 100 * 1024 * 1024
MAX_ATTACHMENT_MATCHES = 10_000
"""Paths one attachment pattern may match; more is refused (a program can make many)."""
MAX_WALKED_ENTRIES = 100_000
"""Entries of the run directory one attachment pattern may look at; more is refused."""
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

    model_config = ConfigDict(extra="allow", defer_build=True)

    kind: Literal["file", "stdout", "stderr"] = "file"
    format: str = Field(min_length=1)
    input_path: str | None = None

    _built: tuple[object, OutputFormatter] | None = PrivateAttr(default=None)

    def formatter_options(self) -> dict[str, Any]:
        """The fields meant for the formatter."""
        return dict(self.model_extra or {})

    def formatter(self, formatters: Registry[str, type[OutputFormatter]]) -> OutputFormatter:
        """This spec's formatter, built on first use and kept: one per configuration (a
        prepared workflow, a config.json task), not one per run.

        :raises ConfigInvalid: as :func:`build_formatter` (and again on each call until fixed).
        """
        if self._built is None or self._built[0] is not formatters:
            self._built = (formatters, build_formatter(self, formatters))
        return self._built[1]


def build_formatter(spec: ResultsSpec, formatters: Registry[str, type[OutputFormatter]]) -> OutputFormatter:
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
        raise ConfigInvalid("; ".join(map(str, field_problems(exc, "outputs.results")))) from None
    return cls(options)


def _parts(relative: str, what: str) -> list[str]:
    """The components of a path relative to the run directory, ``.`` and ``..`` folded lexically.

    :raises NodeFailed: absolute, NUL, empty, or leading out of the run directory.
    """
    if "\x00" in relative:
        raise NodeFailed(f"{what} {relative!r} contains a NUL character", retryable=False)
    if os.path.isabs(relative):
        raise NodeFailed(f"{what} {relative!r} must be relative to the run directory", retryable=False)
    parts: list[str] = []
    for part in relative.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise NodeFailed(f"{what} {relative!r} leaves the run directory", retryable=False)
            parts.pop()
        else:
            parts.append(part)
    if not parts:
        raise NodeFailed(f"{what} {relative!r} names the run directory itself", retryable=False)
    return parts


def _refusal(label: str, exc: OSError) -> NodeFailed:
    if exc.errno == errno.ENOENT:
        return NodeFailed(f"{label} was not written by the command")
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # O_NOFOLLOW met a link, or a part is no directory
        return NodeFailed(
            f"{label} is a symbolic link, or one (or a file) stands in its path; only regular files "
            "reached through the run directory's own directories are read",
            retryable=False,
        )
    if exc.errno == errno.ENXIO:  # a socket (or a device without its driver)
        return NodeFailed(f"{label} is a socket or device; only regular files are read", retryable=False)
    return NodeFailed(f"{label} cannot be read: {exc.strerror}")


def open_beneath(rundir: Path, parts: list[str], label: str) -> int:
    """A descriptor of ``rundir/<parts>``, walked one component at a time from a descriptor of
    ``rundir`` without ever following a symbolic link.

    The program that wrote the run directory may still be running (or have left a child behind)
    and can swap any directory in the path for a link while the server opens it; resolving the
    path first and opening it afterwards would let such a swap make the server, which may run
    as root, read any file of the host. Each step here opens the next component relative to the
    previous one with ``O_NOFOLLOW``, so a link anywhere in the path is refused, whenever it
    appears. The caller closes the descriptor.

    :raises NodeFailed: missing (retryable), a link or non-directory on the way, a socket.
    """
    flags_dir = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        current = os.open(rundir, flags_dir)
    except OSError as exc:
        raise _refusal(label, exc) from None
    try:
        for part in parts[:-1]:
            following = os.open(part, flags_dir, dir_fd=current)
            os.close(current)
            current = following
        return os.open(parts[-1], _OPEN_FLAGS, dir_fd=current)
    except OSError as exc:
        raise _refusal(label, exc) from None
    finally:
        os.close(current)


def read_regular_file(rundir: Path, relative: str, label: str, max_bytes: int, too_big: str) -> bytes | None:
    """The bytes of ``rundir/relative`` if it is a regular file of at most ``max_bytes``;
    ``None`` if it is a directory.

    The file is reached by :func:`open_beneath` (no symbolic link anywhere on the way), opened
    with ``O_NONBLOCK`` and checked with ``fstat`` before it is read: a FIFO, device or socket
    is refused without waiting on it, and so is a file with other hard links (a link to a file
    outside the run directory would otherwise read as one of its own).

    :param label: names the file in errors (``results file 'out/r.csv'``).
    :param too_big: the error when the file holds more than ``max_bytes``.
    :raises NodeFailed: missing, not a regular file (not retryable), too big, unreadable.
    """
    fd = open_beneath(rundir, _parts(relative, "path"), label)
    with os.fdopen(fd, "rb", buffering=0) as file:
        info = os.fstat(fd)
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            return None
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise NodeFailed(f"{label} is {kind}; only regular files are read", retryable=False)
        if info.st_nlink > 1:
            raise NodeFailed(f"{label} has other hard links; only files of its own are read", retryable=False)
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
    label = f"results file {spec.input_path!r}"
    too_big = f"{label} is larger than {MAX_RESULTS_FILE_BYTES} bytes"
    data = read_regular_file(rundir, spec.input_path or "", label, MAX_RESULTS_FILE_BYTES, too_big)
    if data is None:
        raise NodeFailed(f"{label} is a directory", retryable=False)
    return formatter.format_bytes(data)


def collect_attachments(rundir: Path, patterns: list[str], max_total_bytes: int) -> dict[str, str]:
    """Files of the run directory matching ``patterns`` (globs), base64-encoded, keyed by file name.

    Matched directories are left out; the walk never follows a symbolic link. Names starting
    with a dot match only a pattern that has such a part itself.

    :raises NodeFailed: a pattern is absolute or uses ``..``, or matches more than
        :data:`MAX_ATTACHMENT_MATCHES` paths; a match is a symbolic link, a FIFO, device,
        socket or hard-linked file; the files exceed ``max_total_bytes``.
    """
    root = rundir.resolve()
    found: dict[str, str] = {}
    total = 0
    too_big = f"attachments exceed {max_total_bytes} bytes in total"
    for pattern in patterns:
        for relative in _matches(root, pattern):
            label = f"attachment {relative!r}"
            data = read_regular_file(root, relative, label, max_total_bytes - total, too_big)
            if data is None:
                continue
            total += len(data)
            found[os.path.basename(relative)] = base64.b64encode(data).decode("ascii")
    return found


def _matches(root: Path, pattern: str) -> list[str]:
    """The paths (relative to ``root``) of the entries ``pattern`` matches, sorted.

    The run directory is walked by descriptors (``os.fwalk``), never through a symbolic link,
    so a program's ``out/a -> ..`` can neither make the walk endless nor lead it outside. A
    ``*``/``?``/``[...]`` part matches one name (as :mod:`fnmatch`), ``**`` any number of
    directories; names starting with a dot only match a part that starts with one.
    """
    if os.path.isabs(pattern) or ".." in pattern.split("/") or "\x00" in pattern:
        raise NodeFailed(
            f"attachment pattern {pattern!r} must stay inside the run directory", retryable=False
        )
    wanted = [part for part in pattern.split("/") if part not in ("", ".")]
    if not wanted:
        return []
    found: list[str] = []
    seen = 0
    try:
        top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise _refusal("the run directory", exc) from None
    try:
        for directory, dirs, files, _ in os.fwalk(".", dir_fd=top, follow_symlinks=False):
            base = [] if directory == "." else directory[2:].split("/")
            for name in (*dirs, *files):
                seen += 1
                if seen > MAX_WALKED_ENTRIES:
                    raise NodeFailed(
                        f"attachment pattern {pattern!r}: the run directory holds more than "
                        f"{MAX_WALKED_ENTRIES} entries",
                        retryable=False,
                    )
                if _glob_match(wanted, [*base, name]):
                    found.append("/".join([*base, name]))
                    if len(found) > MAX_ATTACHMENT_MATCHES:
                        raise NodeFailed(
                            f"attachment pattern {pattern!r} matches more than "
                            f"{MAX_ATTACHMENT_MATCHES} paths",
                            retryable=False,
                        )
    finally:
        os.close(top)
    return sorted(found)


def _glob_match(pattern: list[str], path: list[str]) -> bool:
    """Whether the path components match the pattern's (see :func:`_matches`)."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        # zero directories, or one more (not hidden) and try again
        return _glob_match(rest, path) or (
            bool(path) and not path[0].startswith(".") and _glob_match(pattern, path[1:])
        )
    if not path or (path[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(path[0], head) and _glob_match(rest, path[1:])
