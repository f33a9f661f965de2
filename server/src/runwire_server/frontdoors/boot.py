"""Boot-time state of the script-runner and LSO front doors: their workflows, stored like any other.

Both front doors create runs of stored workflows in the one store and queue, so a worker
anywhere executes them exactly like a ScriptRun workflow. Their workflows live in project
:data:`FRONT_DOOR_PROJECT` under fixed titles; a workflow whose data changed since the last boot
is updated in place (its version bump refreshes every prepared-workflow cache).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runwire.workflow import dump_workflow_data
from runwire_server.frontdoors.taskconfig import CompiledTask, load_task
from runwire_server.store import Store, WorkflowRow

if TYPE_CHECKING:
    from runwire_server.services import Services

log = logging.getLogger("runwire.server")

FRONT_DOOR_PROJECT = 0
TASK_TITLE = "runwire front door: script-runner task"
EXECUTE_TITLE = "runwire front door: LSO execute"
EXECUTE_CALLBACK_TITLE = "runwire front door: LSO execute with callback"
EXECUTE_BLOCKING_TITLE = "runwire front door: LSO blocking execute"
SCRIPT_NODE = "script"
CALLBACK_NODE = "callback"
TASK_KEY = "task_door"
"""The name task routes receive the :class:`TaskDoor` by (``None`` without RUNWIRE_TASK_CONFIG)."""
EXECUTE_KEY = "execute_door"
"""The name execute routes receive the :class:`ExecuteDoor` by."""
RUN_SCRIPT = "Run Script"
HTTP_REQUEST = "HTTP Request"
CALLBACK_RETRIES = 5
CALLBACK_RETRY_DELAY = 0.5
CALLBACK_TIMEOUT = 10.0


@dataclass
class TaskDoor:
    """The compiled script-runner config and the stored workflow its runs belong to."""

    task: CompiledTask
    workflow: WorkflowRow


def execute_workflow(
    timeout: float, callback: bool, executables_dir: str = "", blocking: bool = False
) -> dict[str, Any]:
    """An LSO execute run: the executable named by the caller, resolved inside ``executables_dir``
    when it runs, with its args, never failing on its exit code; with ``callback``, then POST
    ``{"job_id", "result"}`` to ``input.callback``. A ``blocking`` one is never run again after
    an interruption (its caller is gone): every node says ``rerun_if_interrupted: false``."""
    nodes: list[dict[str, Any]] = [
        {"id": "trigger", "type": "trigger-node", "data": {"name": "Trigger"}},
        {
            "id": SCRIPT_NODE,
            "type": "basic-node",
            "data": {
                "name": RUN_SCRIPT,
                "command": ["{{ input.executable }}"],
                "args": "{{ input.args }}",
                "check_exit": False,
                "command_timeout": timeout,
                "use_rundir": False,  # as LSO: the server's working directory
                "executables_dir": executables_dir,  # resolved again when it runs
            },
        },
    ]
    if blocking:
        for node in nodes:
            node["data"]["rerun_if_interrupted"] = False
    edges = [{"id": "trigger-script", "source": "trigger", "target": SCRIPT_NODE}]
    if callback:
        script = f"{SCRIPT_NODE}.result"
        output = f"{{{{ {script}.content }}}}{{{{ {script}.stderr }}}}{{{{ {script}.error }}}}"
        nodes.append(
            {
                "id": CALLBACK_NODE,
                "type": "basic-node",
                "data": {
                    "name": HTTP_REQUEST,
                    "url": "{{ input.callback }}",
                    "method": "POST",
                    "body": {
                        "job_id": "{{ input.job_id }}",
                        "result": {
                            "output": output,
                            "return_code": f"{{{{ {script}.return_code }}}}",
                            "status": f"{{{{ 'successful' if {script}.return_code == 0 else 'failed' }}}}",
                        },
                    },
                    "http_retries": 0,
                    "follow_redirects": False,
                    "request_timeout": CALLBACK_TIMEOUT,
                    "retries": CALLBACK_RETRIES,
                    "retry_delay": CALLBACK_RETRY_DELAY,
                },
            }
        )
        edges.append({"id": "script-callback", "source": SCRIPT_NODE, "target": CALLBACK_NODE})
    return {"start_node": "trigger", "nodes": nodes, "edges": edges}


@dataclass
class ExecuteDoor:
    """LSO execute settings and its three stored workflows (made on first use)."""

    root: Path | None
    timeout: float
    _rows: dict[tuple[bool, bool], WorkflowRow] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def workflow(self, store: Store, callback: bool, blocking: bool = False) -> WorkflowRow:
        """The stored workflow for async runs with or without a callback, or blocking runs."""
        key = (callback and not blocking, blocking)
        row = self._rows.get(key)
        if row is None:
            async with self._lock:
                row = self._rows.get(key)
                if row is None:
                    title = EXECUTE_CALLBACK_TITLE if key[0] else EXECUTE_TITLE
                    title = EXECUTE_BLOCKING_TITLE if blocking else title
                    root = str(self.root.resolve()) if self.root is not None else ""
                    data = execute_workflow(self.timeout, key[0], root, blocking)
                    row = await store.ensure_workflow(FRONT_DOOR_PROJECT, title, data)
                    self._rows[key] = row
        return row

    async def workflow_ids(self, store: Store) -> set[int]:
        """Ids of the workflows whose runs are LSO jobs."""
        kinds = ((False, False), (True, False), (False, True))
        return {(await self.workflow(store, callback, blocking)).id for callback, blocking in kinds}


def boot_task(services: Services) -> TaskDoor | None:
    """Compile ``RUNWIRE_TASK_CONFIG`` (if set) and store its workflow; ``None`` when unset.

    :raises runwire.errors.ConfigInvalid: the task config is invalid (start-up stops, naming the field).
    """
    settings = services.settings
    if not settings.task_config:
        return None
    task = load_task(settings.task_config, services.plugins)
    data = dump_workflow_data(task.workflow)  # at boot, before the event loop: blocking
    row = services.store.sync.ensure_workflow(FRONT_DOOR_PROJECT, TASK_TITLE, data)
    log.info("script-runner task from %s mounted at /task (workflow %d)", settings.task_config, row.id)
    return TaskDoor(task, row)


def boot_execute(services: Services) -> ExecuteDoor:
    """The LSO door's settings (its workflows are stored on first use)."""
    settings = services.settings
    root = Path(settings.executables_dir) if settings.executables_dir else None
    return ExecuteDoor(root, settings.execute_timeout)
