"""Test a runwire plugin: a plugin manager from given modules, run a node or a workflow.

The core half of runwire's plugin test kit (the server half, an in-process client, a live
``runwire serve`` and config.json tasks, is :mod:`runwire_server.pytest_plugin`). Installed
runwire gives every pytest session the fixtures of :mod:`runwire.testing.plugin` through the
``pytest11`` entry point; the functions here work in any test::

    from runwire.testing import plugins_from, run_node
    import runwire_reverse

    async def test_reverse() -> None:
        plugins = plugins_from(runwire_reverse)
        record = await run_node({"name": "Reverse Text", "text": "abc"}, plugins=plugins)
        assert record.nodes["node"].result == {"content": "cba", "length": 3}

An ``async def`` test needs no configuration: the pytest plugin runs it on a fresh event loop
unless another plugin (pytest-asyncio, anyio) already does.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from runwire.check import prepare_workflow
from runwire.engine import Engine
from runwire.plugins import BUILTIN_MODULES, Plugins, get_plugin_manager
from runwire.records import RunRecord
from runwire.workflow import WorkflowData, parse_workflow_data

__all__ = [
    "TRIGGER_ID",
    "NodeRunner",
    "node_runner",
    "node_workflow",
    "plugins_from",
    "reload_settings",
    "run_node",
    "run_workflow",
]

#: The id of the trigger node of :func:`node_workflow`.
TRIGGER_ID = "trigger"

PluginSource = ModuleType | str | object


def plugins_from(
    *plugins: PluginSource,
    named: Mapping[str, PluginSource] | None = None,
    builtins: bool = True,
) -> Plugins:
    """Registries of a new plugin manager holding exactly the given plugins.

    Nothing is loaded from the ``runwire`` entry point group (so neither the plugin under test
    needs installing nor do other installed plugins interfere) and
    ``RUNWIRE_BLOCKED_PLUGINS`` is ignored.

    :param plugins: plugin objects (usually modules) or dotted module names, registered under
        their module name's last part (``runwire_reverse`` → ``"runwire_reverse"``).
    :param named: more plugins by the name to register them under (the name of their entry
        point, e.g. ``{"reverse": runwire_reverse}``): what conflicts and ``owners`` report.
    :param builtins: register core's built-in nodes, binders, formatters and auth providers
        (the trigger, if-else and output nodes a workflow needs).
    :raises runwire.errors.PluginConflict: two plugins register the same name.
    :raises runwire.errors.PluginApiMismatch: a plugin declares API versions excluding this one.
    """
    pm = get_plugin_manager(blocked=() if builtins else BUILTIN_MODULES, load_entry_points=False)
    entries: list[tuple[str | None, PluginSource]] = [(None, p) for p in plugins]
    entries += list((named or {}).items())
    for name, source in entries:
        plugin = importlib.import_module(source) if isinstance(source, str) else source
        default = getattr(plugin, "__name__", None) or type(plugin).__name__
        pm.register(plugin, name=name or str(default).rsplit(".", 1)[-1])
    return Plugins(pm)


def node_workflow(
    data: Mapping[str, Any], *, type: str = "basic-node", node_id: str = "node"
) -> dict[str, Any]:
    """A workflow ``data`` object: a trigger (id :data:`TRIGGER_ID`) followed by one node.

    :param data: the node's ``data`` (for a ``basic-node``, its ``name`` picks the node type).
    :param type: the node's ``type``.
    :param node_id: the node's id: its record is ``record.nodes[node_id]``.
    """
    return {
        "start_node": TRIGGER_ID,
        "nodes": [
            {"id": TRIGGER_ID, "type": "trigger-node", "data": {"name": "Trigger"}},
            {"id": node_id, "type": type, "data": dict(data)},
        ],
        "edges": [{"id": f"{TRIGGER_ID}-{node_id}", "source": TRIGGER_ID, "target": node_id}],
    }


async def run_workflow(
    workflow: WorkflowData | Mapping[str, Any],
    input: Any = None,
    *,
    plugins: Plugins,
    engine: Engine | None = None,
) -> RunRecord:
    """Check and run ``workflow`` (a workflow's ``data``) as the server would; return the record.

    :param input: the run input (default ``{}``).
    :param engine: an engine with other limits (default ``Engine()``).
    :raises pydantic.ValidationError: ``workflow`` is not a workflow ``data`` object.
    :raises runwire.errors.WorkflowInvalid: the workflow does not check (a node's ``data``
        invalid, an unknown node type ...), naming each problem.
    """
    data = workflow if isinstance(workflow, WorkflowData) else parse_workflow_data(workflow)
    prepared = prepare_workflow(data, plugins)
    return await (engine or Engine()).execute(prepared, {} if input is None else input)


async def run_node(
    data: Mapping[str, Any],
    input: Any = None,
    *,
    plugins: Plugins,
    type: str = "basic-node",
    node_id: str = "node",
    engine: Engine | None = None,
) -> RunRecord:
    """Run the one-node workflow :func:`node_workflow` and return its record.

    The node's outcome is ``record.nodes[node_id]`` (``status``, ``result``, ``error``).
    """
    workflow = node_workflow(data, type=type, node_id=node_id)
    return await run_workflow(workflow, input, plugins=plugins, engine=engine)


@dataclass
class NodeRunner:
    """Runs one node type: ``await runner({"url": ...}, run_input)`` returns the run record.

    ``data`` given to a call is merged over :attr:`defaults` (``name`` of a ``basic-node``).
    """

    plugins: Plugins
    defaults: dict[str, Any] = field(default_factory=dict)
    type: str = "basic-node"
    node_id: str = "node"
    engine: Engine | None = None

    def __call__(self, data: Mapping[str, Any] | None = None, input: Any = None) -> Awaitable[RunRecord]:
        """Run the node with ``data`` (over the defaults) and run ``input``."""
        merged = {**self.defaults, **(data or {})}
        return run_node(
            merged, input, plugins=self.plugins, type=self.type, node_id=self.node_id, engine=self.engine
        )


def reload_settings(plugins: Plugins, environ: Mapping[str, str] | None = None) -> Plugins:
    """Build ``plugins``' settings again from ``environ`` (default: the environment as it is now).

    A host builds every plugin's ``settings_model`` once, when it loads the plugins; a test that
    changes the environment afterwards (``monkeypatch.setenv``) calls this before running nodes.
    Returns ``plugins``.
    """
    from runwire.settingstable import SettingsTable

    plugins.settings = SettingsTable.collect(plugins.pm, environ)
    return plugins


def node_runner(
    plugins: Plugins,
    name: str | None = None,
    *,
    type: str = "basic-node",
    node_id: str = "node",
    engine: Engine | None = None,
) -> NodeRunner:
    """A :class:`NodeRunner` for the ``basic-node`` named ``name`` (or another ``type``)."""
    return NodeRunner(plugins, {} if name is None else {"name": name}, type, node_id, engine)


#: What :func:`node_runner` returns, as a plain callable type for annotations.
RunNode = Callable[..., Awaitable[RunRecord]]
