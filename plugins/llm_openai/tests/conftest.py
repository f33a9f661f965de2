"""Fixtures of the runwire-llm-openai tests: a fake OpenAI API on 127.0.0.1 and a one-node runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

import runwire_llm_openai
from runwire.plugins import Plugins
from runwire.records import RunRecord
from runwire.testing import node_runner, plugins_from, reload_settings

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
    """Core's built-ins and this plugin (registered as its entry point does), nothing else."""
    return plugins_from(named={"llm_openai": runwire_llm_openai})


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
    """Run trigger → "LLM OpenAI" (node id ``llm-1``) through the engine; ``data`` is the
    node's whole ``data`` (see :func:`llm_node`)."""
    runner = node_runner(plugins, node_id=LLM_NODE)

    async def run(node_data: dict[str, Any], run_input: Any = None) -> RunRecord:
        reload_settings(plugins)  # the environment as this test set it
        return await runner(node_data, run_input)

    return run
