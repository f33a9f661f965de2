"""Failures no retry can fix (the operator's or the node's own configuration, a request the API
refuses) fail the "LLM OpenAI" node on its first attempt, whatever its ``retries``."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import LLM_NODE, RunLlm, llm_node
from .fake_openai import FakeOpenAI


def retried_node(**settings: Any) -> dict[str, Any]:
    return {**llm_node([{"role": "user", "message": "hi"}], **settings), "retries": 2, "retry_delay": 0}


@pytest.mark.parametrize(
    ("setup", "settings", "message"),
    [
        ({"RUNWIRE_LLM_PRICES": "{not json"}, {}, "RUNWIRE_LLM_PRICES"),
        ({}, {"base_url": "http://127.0.0.1:9/v1"}, "is not allowed: list it in RUNWIRE_LLM_BASE_URLS"),
        ({"OPENAI_API_KEY": ""}, {}, "OPENAI_API_KEY is not set"),
    ],
)
async def test_a_configuration_error_is_not_retried(
    openai_server: FakeOpenAI,
    run_llm: RunLlm,
    monkeypatch: pytest.MonkeyPatch,
    setup: dict[str, str],
    settings: dict[str, Any],
    message: str,
) -> None:
    for name, value in setup.items():
        monkeypatch.setenv(name, value)
    record = await run_llm(retried_node(**settings))
    node = record.nodes[LLM_NODE]
    assert record.status == "failed" and node.attempts == 1, node
    assert message in (node.error or "")
    assert openai_server.requests == []


@pytest.mark.parametrize(("status", "attempts"), [(401, 1), (404, 1), (400, 1), (503, 3)])
async def test_only_answers_a_retry_may_change_spend_the_nodes_retries(
    openai_server: FakeOpenAI, run_llm: RunLlm, status: int, attempts: int
) -> None:
    for _ in range(3):
        openai_server.fail(status, "no")
    record = await run_llm(retried_node(max_retries=0))
    node = record.nodes[LLM_NODE]
    assert record.status == "failed" and node.attempts == attempts
    assert f"HTTP {status}" in (node.error or "") and len(openai_server.requests) == attempts
