"""The ``data`` of a "Run Script" node: the command and how it runs."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator

from runwire import NodeData
from runwire.nodes import API_MAX, operator_only
from runwire.outputs import DEFAULT_ATTACHMENTS_MAX_BYTES, ResultsSpec

NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
DEFAULT_ENV_ALLOWLIST = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")
DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024


class RunScriptData(NodeData):
    """Settings of one "Run Script" node (every text field may hold ``{{ }}`` templates).

    ``command_timeout`` kills the command's process group and reports it; the engine's own
    ``timeout`` (from :class:`runwire.nodes.NodeData`) also kills the group when it fires.
    """

    command: list[str] = Field(
        min_length=1, description="Program and arguments; items may use $NAME and {{ }} templates."
    )
    args: Any = Field(
        default=None,
        description=(
            "More arguments appended after the command: a list, or a template rendering to a list "
            "(e.g. '{{ input.args }}'); taken as they are, with no $NAME substitution."
        ),
    )
    command_timeout: float | None = Field(
        default=None, gt=0, description="Seconds before the command's whole process group is killed."
    )
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Values for $NAME in the command (templates allowed); also exported to the environment.",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables (templates allowed)."
    )
    env_allowlist: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENV_ALLOWLIST),
        description=(
            "Variables copied from the server's environment; nothing else is inherited (operator-only)."
        ),
        json_schema_extra=operator_only(),
    )
    stdin: str | None = Field(default=None, description="Text written to the command's standard input.")
    use_rundir: bool = Field(
        default=True,
        description=(
            "Run in a fresh directory ($RUNDIR, with an empty out/) that is removed afterwards; "
            "false runs in the server's working directory (operator-only)."
        ),
        json_schema_extra=operator_only(),
    )
    rundir_parent: str | None = Field(
        default=None,
        description="Where run directories are made (default: the server's run-dir root; operator-only).",
        json_schema_extra=operator_only(),
    )
    rundir_base: str | None = Field(
        default=None,
        description="A directory copied into each new run directory (operator-only).",
        json_schema_extra=operator_only(),
    )
    keep_rundir: bool = Field(
        default=False,
        description="Keep the run directory after the run (debugging; operator-only).",
        json_schema_extra=operator_only(),
    )
    executables_dir: str | None = Field(
        default=None,
        description=(
            "When set, the command's program (after rendering) is a name resolved inside this "
            "directory when the node runs, and refused if it leads outside it (operator-only)."
        ),
        json_schema_extra=operator_only(),
    )
    check_exit: bool = Field(
        default=True,
        description=(
            "Fail the node when the command exits non-zero, times out or cannot start; when false, "
            "those are results (return_code -1 and an error field for the last two)."
        ),
    )
    max_output_bytes: int = Field(
        default=DEFAULT_MAX_OUTPUT,
        ge=1024,
        le=1024**3,
        description="Cap on each of stdout and stderr (the API may lower it; only operators raise it).",
        json_schema_extra={API_MAX: DEFAULT_MAX_OUTPUT},
    )
    results: ResultsSpec | None = Field(default=None, description="script-runner's outputs.results.")
    attachments: list[str] = Field(
        default_factory=list, description="Globs of run-directory files to return base64."
    )
    attachments_max_bytes: int = Field(
        default=DEFAULT_ATTACHMENTS_MAX_BYTES,
        ge=0,
        description="Cap on the attachments' total size (the API may lower it; only operators raise it).",
        json_schema_extra={API_MAX: DEFAULT_ATTACHMENTS_MAX_BYTES},
    )

    @field_validator("variables", "env")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not NAME_RE.match(name):
                raise ValueError(
                    f"{name!r} is not a variable name (letters, digits, _; not starting with a digit)"
                )
        return value
