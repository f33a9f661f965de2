"""runwire.testing, the core half of the plugin test kit: managers from modules, one-node and
workflow runs, and async tests run without any asyncio configuration."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

import runwire_http
from runwire import NodeData, NodeOutput, NodeType, hookimpl
from runwire.errors import PluginConflict, WorkflowInvalid
from runwire.plugins import Plugins
from runwire.testing import node_runner, node_workflow, plugins_from, run_node, run_workflow


def echo_module(name: str = "echo_plugin") -> types.ModuleType:
    """A plugin module made here: a "Echo" node returning its rendered ``text``."""

    class EchoData(NodeData):
        text: str = ""

    class EchoNode(NodeType):
        type = "basic-node"
        name = "Echo"
        data_model = EchoData

        async def run(self, data, ctx):  # type: ignore[no-untyped-def]
            return NodeOutput({"content": ctx.render(data.text)})

    module = types.ModuleType(name)

    @hookimpl
    def register_node_types() -> list[type[NodeType]]:
        return [EchoNode]

    module.register_node_types = register_node_types  # type: ignore[attr-defined]
    return module


def test_a_manager_from_modules_holds_the_builtins_and_those_modules_only() -> None:
    plugins = plugins_from(echo_module(), named={"http": "runwire_http"})
    owners = dict(plugins.node_types.owners)
    assert owners[("basic-node", "Echo")] == "echo_plugin"
    assert owners[("basic-node", "HTTP Request")] == "http"
    assert ("trigger-node", None) in owners
    assert plugins.node_type("basic-node", "Run Script") is None  # installed, but not asked for
    bare = plugins_from(runwire_http, builtins=False)
    assert [key for key, _ in bare.node_types] == [("basic-node", "HTTP Request")]


def test_a_conflict_between_given_modules_names_both() -> None:
    with pytest.raises(PluginConflict, match=r"plugin 'one' .* and plugin 'two'"):
        plugins_from(named={"one": echo_module("a"), "two": echo_module("b")})


async def test_run_node_and_run_workflow_return_the_record() -> None:
    plugins = plugins_from(echo_module())
    record = await run_node({"name": "Echo", "text": "{{ input.x }}"}, {"x": 5}, plugins=plugins)
    assert record.nodes["node"].result == {"content": 5}
    run = node_runner(plugins, "Echo", node_id="e")
    assert (await run({"text": "hi"})).nodes["e"].result == {"content": "hi"}
    workflow = node_workflow({"name": "Echo", "text": "{{ input }}"}, node_id="n")
    assert (await run_workflow(workflow, {"a": 1}, plugins=plugins)).nodes["n"].result == {
        "content": {"a": 1}
    }
    with pytest.raises(WorkflowInvalid, match="Nope"):
        await run_node({"name": "Nope"}, plugins=plugins)


def test_the_runwire_plugins_fixture_reads_the_ini_modules(runwire_plugins: Plugins) -> None:
    assert runwire_plugins.node_type("basic-node", "HTTP Request") is not None  # no ini option: all installed


def test_async_tests_and_the_ini_option_work_without_pytest_asyncio(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nrunwire_plugins = ["runwire_http"]\n'
    )
    (tmp_path / "test_out_of_tree.py").write_text(
        "import asyncio\n"
        "from runwire.testing import run_node\n"
        "async def test_async(runwire_plugins):\n"
        "    await asyncio.sleep(0)\n"
        "    assert runwire_plugins.node_type('basic-node', 'Run Script') is None\n"
        "    record = await run_node({'name': 'HTTP Request', 'url': 'http://10.0.0.1/'}, plugins=runwire_plugins)\n"
        "    assert 'non-public address' in record.nodes['node'].error\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:asyncio", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
