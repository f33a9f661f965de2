"""What a command run returns besides its streams: formatted ``results`` and base64 ``attachments``.

Paths are relative to the run directory and may never leave it (``..``, absolute paths and
symlinks pointing outside are refused). ``results`` go through the output formatter registry,
so a plugin's formatter works here like a built-in one.
"""

from __future__ import annotations

import base64
import glob
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runwire.errors import ConfigInvalid, NodeFailed
from runwire.formatters import OutputFormatter

DEFAULT_ATTACHMENTS_MAX_BYTES = 50 * 1024 * 1024
MAX_RESULTS_FILE_BYTES = 100 * 1024 * 1024


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

    :raises NodeFailed: the path is absolute, contains NUL, or escapes ``base``.
    """
    if "\x00" in relative:
        raise NodeFailed(f"path {relative!r} contains a NUL character", retryable=False)
    if os.path.isabs(relative):
        raise NodeFailed(f"path {relative!r} must be relative to the run directory", retryable=False)
    root = base.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise NodeFailed(f"path {relative!r} leaves the run directory", retryable=False)
    return target


def read_results(
    spec: ResultsSpec, formatter: OutputFormatter, rundir: Path, stdout: bytes, stderr: bytes
) -> Any:
    """Parse the configured source (a file of the run directory, stdout or stderr) with ``formatter``."""
    if spec.kind == "stdout":
        return formatter.format_bytes(stdout)
    if spec.kind == "stderr":
        return formatter.format_bytes(stderr)
    path = resolve_inside(rundir, spec.input_path or "")
    try:
        if path.stat().st_size > MAX_RESULTS_FILE_BYTES:
            raise NodeFailed(
                f"results file {spec.input_path!r} is larger than {MAX_RESULTS_FILE_BYTES} bytes"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise NodeFailed(f"results file {spec.input_path!r} was not written by the command") from None
    except IsADirectoryError:
        raise NodeFailed(f"results file {spec.input_path!r} is a directory") from None
    except OSError as exc:
        raise NodeFailed(f"results file {spec.input_path!r} cannot be read: {exc.strerror}") from None
    return formatter.format_bytes(data)


def collect_attachments(rundir: Path, patterns: list[str], max_total_bytes: int) -> dict[str, str]:
    """Files of the run directory matching ``patterns`` (globs), base64-encoded, keyed by file name.

    Files that resolve outside the run directory and directories are left out; a pattern that
    is absolute or uses ``..`` is refused.

    :raises NodeFailed: a pattern escapes the run directory, or the files exceed ``max_total_bytes``.
    """
    root = rundir.resolve()
    found: dict[str, str] = {}
    total = 0
    for pattern in patterns:
        if os.path.isabs(pattern) or ".." in Path(pattern).parts or "\x00" in pattern:
            raise NodeFailed(
                f"attachment pattern {pattern!r} must stay inside the run directory", retryable=False
            )
        for name in sorted(glob.glob(glob.escape(str(root)) + os.sep + pattern, recursive=True)):
            path = Path(name).resolve()
            if root not in path.parents or not path.is_file():
                continue
            total += path.stat().st_size
            if total > max_total_bytes:
                raise NodeFailed(f"attachments exceed {max_total_bytes} bytes in total")
            found[os.path.basename(name)] = base64.b64encode(path.read_bytes()).decode("ascii")
    return found
