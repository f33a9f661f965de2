"""The "[[ node_name ]]" node, run through runwire's engine (runwire.testing)."""

from __future__ import annotations

import pytest
from runwire.errors import WorkflowInvalid
from runwire.plugins import Plugins
from runwire.testing import node_runner, run_node

NODE = "[[ node_name ]]"


def test_the_entry_point_registers_the_plugin() -> None:
    plugins = Plugins.load()  # every installed plugin: proves the packaging
    assert plugins.node_types.owners[("basic-node", NODE)] == "[[ name ]]"


async def test_the_node_renders_and_upper_cases(runwire_plugins: Plugins) -> None:
    run = node_runner(runwire_plugins, NODE)
    record = await run({"text": "{{ input.word }}"}, {"word": "runwire"})
    assert record.nodes["node"].status == "succeed"
    assert record.nodes["node"].result == {"content": "RUNWIRE", "length": 7}


async def test_a_too_long_text_fails_the_node(runwire_plugins: Plugins) -> None:
    record = await run_node({"name": NODE, "text": "abc", "max_chars": 2}, plugins=runwire_plugins)
    assert record.nodes["node"].error == "text is longer than max_chars (2)"


async def test_invalid_data_is_refused_before_the_run(runwire_plugins: Plugins) -> None:
    with pytest.raises(WorkflowInvalid, match=r"node node: data\.text"):
        await run_node({"name": NODE}, plugins=runwire_plugins)
