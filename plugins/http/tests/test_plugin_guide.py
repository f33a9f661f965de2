"""The plugin guide's (docs/plugins.md) code examples work as written."""

from __future__ import annotations

import re
import types
from pathlib import Path
from typing import Any

import pytest

from runwire import binders, formatters, hookspecs
from runwire.check import prepare_workflow
from runwire.engine import Engine
from runwire.errors import WorkflowInvalid
from runwire.plugins import Plugins, get_plugin_manager
from runwire.workflow import parse_workflow_data

GUIDE = Path(__file__).parents[3] / "docs" / "plugins.md"


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of the guide section whose heading starts with ``section``."""
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index(section)
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else None], re.DOTALL)


def as_module(name: str, source: str, **namespace: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(namespace)
    exec(compile(source, f"{GUIDE}:{name}", "exec"), module.__dict__)
    return module


def plugins_with(module: types.ModuleType, name: str) -> Plugins:
    """A fresh manager with ``module`` registered as a plugin, as its entry point would."""
    pm = get_plugin_manager()
    pm.register(module, name=name)
    return Plugins(pm)


async def test_the_guides_complete_plugin_registers_and_runs() -> None:
    (source,) = python_blocks("## 2. The plugin module")
    plugins = plugins_with(as_module("runwire_reverse", source), "reverse")
    assert plugins.node_types.owners[("basic-node", "Reverse Text")] == "reverse"
    workflow = {
        "start_node": "t",
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"next_nodes": ["r"]}},
            {"id": "r", "type": "basic-node", "data": {"name": "Reverse Text", "text": "{{ input.word }}"}},
        ],
        "edges": [{"source": "t", "target": "r"}],
    }
    prepared = prepare_workflow(parse_workflow_data(workflow), plugins)
    record = await Engine().execute(prepared, {"word": "runwire"})
    assert record.nodes["r"].result == {"content": "eriwnur", "length": 7}

    too_long = await Engine().execute(prepared, {"word": "x" * 10_001})
    assert too_long.nodes["r"].error == "text is longer than max_chars (10000)"

    workflow["nodes"][1]["data"] = {"name": "Reverse Text"}
    with pytest.raises(WorkflowInvalid, match=r"node r: data\.text"):
        prepare_workflow(parse_workflow_data(workflow), plugins)


def test_the_guides_binder_and_formatter_examples_work() -> None:
    namespace = {
        "hookimpl": hookspecs.hookimpl,
        "BinderConfig": binders.BinderConfig,
        "InputBinder": binders.InputBinder,
        "RequestParts": binders.RequestParts,
        "OutputFormatter": formatters.OutputFormatter,
    }
    binder_source, formatter_source = python_blocks("## 4. The hooks")[:2]
    module = as_module("runwire_header", binder_source + "\n" + formatter_source, **namespace)
    plugins = plugins_with(module, "header")
    binder_class = plugins.binders.get("header")
    assert binder_class is module.HeaderBinder
    binder = binder_class(binder_class.config_model(env_var_name="TOKEN", header="X-Token"))
    assert binder.bind(binders.RequestParts(headers={"x-token": "t0k"})) == "t0k"
    assert module.LinesFormatter().format_bytes(b"one\ntwo\r\n\xff") == ["one", "two", "\ufffd"]


def test_the_guide_documents_every_hook() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    hooks = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert hooks and all(f"### `{hook}`" in guide for hook in hooks)
