"""script-runner's ``config.json``: its model, and its compilation into a workflow of the one engine.

The compiled workflow is trigger → "Run Script" node (the command, its run directory, its
output formatting) → output node. The request's bound variables reach the run as its input,
``{"vars": {NAME: text}}``, and the Run Script node takes ``$NAME`` from ``{{ input.vars.NAME }}``.
Every problem is reported at start-up as :class:`ConfigInvalid` naming the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runwire.binders import InputBinder, RequestParts, bound_text
from runwire.check import prepare_workflow
from runwire.errors import ConfigInvalid, WorkflowInvalid
from runwire.fieldproblems import field_problems
from runwire.jsontext import JsonRefused, loads
from runwire.outputs import DEFAULT_ATTACHMENTS_MAX_BYTES, ResultsSpec
from runwire.workflow import PreparedWorkflow, WorkflowData

if TYPE_CHECKING:
    from runwire.plugins import Plugins

DEFAULT_TIMEOUT = 3600.0
RUN_SCRIPT = "Run Script"
SCRIPT_NODE = "script"
RESERVED = frozenset({"RUNDIR"})
_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")


class InputsConfig(BaseModel):
    """``inputs``: one list per binder kind, named ``<kind>_args`` (``path_args``, ``query_args``, ...)."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    path_args: list[dict[str, Any]] = Field(default_factory=list)
    query_args: list[dict[str, Any]] = Field(default_factory=list)
    body_args: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sections(self) -> InputsConfig:
        for key, value in (self.model_extra or {}).items():
            if not key.endswith("_args"):
                raise ValueError(f"unknown input section {key!r} (sections are named <kind>_args)")
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ValueError(f"{key} must be a list of objects")
        return self

    def sections(self) -> dict[str, list[dict[str, Any]]]:
        """Every section keyed by its binder kind (``path_args`` → ``path``)."""
        items = {"path_args": self.path_args, "query_args": self.query_args, "body_args": self.body_args}
        items.update(self.model_extra or {})
        return {key.removesuffix("_args"): value for key, value in items.items()}


class OutputsConfig(BaseModel):
    """``outputs``: the ``results`` to parse and the ``attachments`` (globs) to return."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    results: ResultsSpec | None = None
    attachments: list[str] = Field(default_factory=list)
    attachments_max_bytes: int = Field(default=DEFAULT_ATTACHMENTS_MAX_BYTES, ge=0)


class TaskConfig(BaseModel):
    """A script-runner ``config.json``; every key of the reference is accepted.

    ``celery_broker_url`` and ``celery_result_backend`` are accepted and ignored: runwire runs
    tasks on its own queue. ``timeout`` (seconds) and ``rerun_if_interrupted`` (the Run Script
    node's field: a run interrupted while the command ran starts over) are runwire's additions.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    command: list[str] = Field(min_length=1)
    command_rundir: str | None = None
    command_rundir_base: str | None = None
    debug: bool | None = False
    inputs: InputsConfig = Field(default_factory=InputsConfig)
    outputs: OutputsConfig = Field(default_factory=OutputsConfig)
    timeout: float = Field(default=DEFAULT_TIMEOUT, gt=0)
    rerun_if_interrupted: bool = False
    celery_broker_url: str | None = None
    celery_result_backend: str | None = None


def _field_error(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(str(problem) for problem in field_problems(exc, prefix))


def parse_task_config(raw: Any) -> TaskConfig:
    """Validate a config.json value.

    :raises ConfigInvalid: naming every bad field.
    """
    try:
        return TaskConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigInvalid(f"task config is invalid: {_field_error(exc)}") from None


def load_task_config(path: str | Path) -> TaskConfig:
    """Read and validate a config.json file.

    :raises ConfigInvalid: unreadable file, invalid JSON (with its line), or bad fields.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalid(f"task config {str(path)!r} cannot be read: {exc}") from None
    try:
        raw = loads(text)
    except JsonRefused as exc:
        raise ConfigInvalid(f"task config {str(path)!r} is not valid JSON: {exc}") from None
    return parse_task_config(raw)


@dataclass(slots=True)
class CompiledTask:
    """A config compiled for serving: its binders and the prepared workflow they feed."""

    config: TaskConfig
    binders: list[InputBinder]
    workflow: WorkflowData
    prepared: PreparedWorkflow

    def bind(self, request: RequestParts) -> dict[str, Any]:
        """Bind every variable from ``request`` and return the run input ``{"vars": {...}}``.

        :raises BindingError: a body variable matches nothing, a binder returned something
            that is not text (:func:`runwire.binders.bound_text`), or a value holds a NUL
            character (a program's argv cannot carry one).
        """
        return {
            "vars": {binder.variable: bound_text(binder, binder.bind(request)) for binder in self.binders}
        }


def _build_binders(config: TaskConfig, plugins: Plugins) -> list[InputBinder]:
    binders: list[InputBinder] = []
    seen: set[str] = set()
    for kind, entries in config.inputs.sections().items():
        cls = plugins.binders.get(kind)
        if cls is None and entries:
            known = ", ".join(f"{k}_args" for k, _ in plugins.binders)
            raise ConfigInvalid(
                f"inputs.{kind}_args: no installed input binder handles it (installed: {known})"
            )
        for i, entry in enumerate(entries):
            where = f"inputs.{kind}_args.{i}"
            assert cls is not None
            try:
                binder = cls(cls.config_model.model_validate(entry))
            except ValidationError as exc:
                raise ConfigInvalid(f"task config is invalid: {_field_error(exc, where)}") from None
            except ValueError as exc:
                raise ConfigInvalid(f"task config is invalid: {where}: {exc}") from None
            name = binder.variable
            if not _NAME.match(name):
                raise ConfigInvalid(f"{where}.env_var_name: {name!r} is not a variable name")
            if name in RESERVED:
                raise ConfigInvalid(f"{where}.env_var_name: {name!r} is reserved (set by runwire)")
            if name in seen:
                raise ConfigInvalid(f"{where}.env_var_name: {name!r} is bound twice")
            seen.add(name)
            binders.append(binder)
    return binders


def task_workflow(config: TaskConfig, variables: list[str]) -> WorkflowData:
    """The workflow a config compiles to: trigger → Run Script → output."""
    script = {
        "name": RUN_SCRIPT,
        "command": config.command,
        "variables": {name: f"{{{{ input.vars.{name} }}}}" for name in variables},
        "rundir_parent": config.command_rundir,
        "rundir_base": config.command_rundir_base,
        "keep_rundir": bool(config.debug),
        "attachments": config.outputs.attachments,
        "attachments_max_bytes": config.outputs.attachments_max_bytes,
        "command_timeout": config.timeout,
    }
    if config.rerun_if_interrupted:
        script["rerun_if_interrupted"] = True
    if config.outputs.results is not None:
        script["results"] = config.outputs.results.model_dump(mode="json", exclude_none=True)
    return WorkflowData.model_validate(
        {
            "start_node": "trigger",
            "nodes": [
                {"id": "trigger", "type": "trigger-node", "data": {"name": "Trigger"}},
                {"id": SCRIPT_NODE, "type": "basic-node", "data": script},
                {"id": "output", "type": "output-node", "data": {"name": "Output"}},
            ],
            "edges": [
                {"id": "trigger-script", "source": "trigger", "target": SCRIPT_NODE},
                {"id": "script-output", "source": SCRIPT_NODE, "target": "output"},
            ],
        }
    )


def compile_task_config(config: TaskConfig, plugins: Plugins) -> CompiledTask:
    """Build the binders and the prepared workflow of ``config``.

    :raises ConfigInvalid: a binder section or entry is invalid, the "Run Script" node type is
        not installed, a ``$NAME`` in the command is bound by nothing, or an output is invalid.
    """
    if plugins.node_type("basic-node", RUN_SCRIPT) is None:
        raise ConfigInvalid(
            f"the {RUN_SCRIPT!r} node type is not installed (install the runwire-subprocess plugin)"
        )
    binders = _build_binders(config, plugins)
    workflow = task_workflow(config, [b.variable for b in binders])
    try:
        prepared = prepare_workflow(workflow, plugins)
    except WorkflowInvalid as exc:
        problems = [
            p.replace(f"node {SCRIPT_NODE}: data.", "").replace("data.results: ", "") for p in exc.problems
        ]
        raise ConfigInvalid("task config is invalid: " + "; ".join(problems)) from None
    return CompiledTask(config, binders, workflow, prepared)


def load_task(path: str | Path, plugins: Plugins) -> CompiledTask:
    """Read, validate and compile a config.json file (what the server does at start-up)."""
    return compile_task_config(load_task_config(path), plugins)
