"""Fixtures of the runwire-llm-openai tests: a fake OpenAI API on 127.0.0.1 and a one-node runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from runwire.check import prepare_workflow
from runwire.engine import Engine
from runwire.plugins import Plugins
from runwire.records import RunRecord
from runwire.settingstable import SettingsTable
from runwire.workflow import parse_workflow_data

from .fake_openai import FakeOpenAI

API_KEY = "sk-test-key"
LLM_NODE = "llm-1"

RunLlm = Callable[..., Awaitable[RunRecord]]


@pytest.fixture(scope="session")
def _llm_server() -> Iterator[HTTPServer]:
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as server:
        yield server


@pytest.fixture
def openai_server(_llm_server: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """A fresh fake API; ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` point the node at it."""
    _llm_server.clear()
    fake = FakeOpenAI(_llm_server)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    for name in ("OPENAI_API_KEY_FILE", "RUNWIRE_LLM_PRICES", "RUNWIRE_LLM_BASE_URLS"):
        monkeypatch.delenv(name, raising=False)
    return fake


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    """A fresh plugin manager: built-ins plus every installed entry point."""
    return Plugins.load()


def with_current_settings(plugins: Plugins) -> Plugins:
    """``plugins`` with its plugins' settings built again from the environment as it is now
    (the host builds them once, at load time; these tests change the environment as they go)."""
    plugins.settings = SettingsTable.collect(plugins.pm)
    return plugins


def llm_node(messages: list[dict[str, str]], **settings: Any) -> dict[str, Any]:
    """``data`` of an "LLM OpenAI" node (model gpt-4o unless ``model_name`` is given)."""
    return {
        "name": "LLM OpenAI",
        "label": "LLMOpenAI",
        "messages": messages,
        "settings": {"model_name": "gpt-4o", **settings},
    }


@pytest.fixture
def run_llm(plugins: Plugins) -> RunLlm:
    """Run trigger → "LLM OpenAI" (node id ``llm-1``) through the engine."""

    async def run(node_data: dict[str, Any], run_input: Any = None) -> RunRecord:
        workflow = {
            "start_node": "trigger",
            "nodes": [
                {
                    "id": "trigger",
                    "type": "trigger-node",
                    "data": {"name": "Trigger", "next_nodes": [LLM_NODE]},
                },
                {"id": LLM_NODE, "type": "basic-node", "data": node_data},
            ],
            "edges": [{"id": "e1", "source": "trigger", "target": LLM_NODE}],
        }
        prepared = prepare_workflow(parse_workflow_data(workflow), with_current_settings(plugins))
        return await Engine().execute(prepared, {} if run_input is None else run_input)

    return run
