"""End to end: the reference's example workflow through a real `runwire serve`, LLM calls on a fake API.

Created with ``POST /api/v1/workflows/``, run with ``POST /run/`` (API-key mode, flat body) and
followed by polling ``workflow_result`` — exactly the reference's client flow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from runwire_server.testing import RunningServer, running_server, wait_for_run

from .fake_openai import FakeOpenAI

REFERENCE = Path(__file__).parents[3] / "tests" / "data" / "reference_example.json"
KEY = "e2e-llm-key"
HEADERS = {"X-Api-Key": KEY}
TRIGGER = "052af1cb-86fd-443a-bc25-626c365025db"
IF_ELSE = "0a4c9bdb-0378-4426-9e4d-0ba5c6e3e5a8"
POSITIVE = "58a35684-7d25-4dff-b012-609eab065751"
NEGATIVE = "8f6bd336-3d7c-41fe-b94c-d47974c1e056"
GPT_4O = {"input": 2.5e-6, "output": 10e-6}  # USD per token, the default price table

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOpenAI]:
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as http:
        yield FakeOpenAI(http)


@pytest.fixture(scope="module")
def server(fake_llm: FakeOpenAI) -> Iterator[RunningServer]:
    env = {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_AUTH_PROVIDERS": "api-key",
        "OPENAI_API_KEY": "sk-e2e",
        "OPENAI_BASE_URL": fake_llm.base_url,
    }
    with running_server(env=env) as running:
        yield running


@pytest.fixture(scope="module")
def workflow_id(server: RunningServer) -> int:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    body = {"project": reference["project"], "title": reference["title"], "data": reference["data"]}
    created = httpx.post(f"{server.url}/api/v1/workflows/", headers=HEADERS, json=body, timeout=10)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def run_to_end(server: RunningServer, workflow_id: int, body: str) -> dict[str, Any]:
    """Start a run with a flat JSON body and poll workflow_result until it is terminal."""
    started = httpx.post(
        f"{server.url}/api/v1/workflows/{workflow_id}/run/",
        headers={**HEADERS, "Content-Type": "application/json"},
        content=body,
        timeout=10,
    )
    assert started.status_code == 200, started.text
    assert started.json()["status"] == 201, started.text
    run_id = started.json()["data"]["id"]
    data = wait_for_run(server.url, run_id, HEADERS, timeout=60, logs=server.logs)
    assert data["id"] == run_id
    return data


def expected_cost(result: dict[str, Any]) -> float:
    usage = result["usage"]
    return usage["prompt_tokens"] * GPT_4O["input"] + usage["completion_tokens"] * GPT_4O["output"]


def test_positive_takes_the_true_branch(
    server: RunningServer, workflow_id: int, fake_llm: FakeOpenAI
) -> None:
    before = len(fake_llm.requests)
    data = run_to_end(server, workflow_id, '{"category": "positive"}')
    assert data["status"] == "succeed", data
    nodes = data["data"]
    assert set(nodes) == {TRIGGER, IF_ELSE, POSITIVE, NEGATIVE}
    assert all(nodes[node_id]["id"] == node_id for node_id in nodes)
    assert nodes[IF_ELSE]["status"] == "succeed"
    assert nodes[NEGATIVE] == {"id": NEGATIVE, "status": "skipped"}
    answer = nodes[POSITIVE]
    assert answer["status"] == "succeed"
    assert (
        answer["result"]["content"]
        == "echo: The sentiment is positive. Provide a short encouraging response."
    )
    assert isinstance(answer["result"]["content"], str)
    assert data["metrics"]["total_cost"] > 0
    assert data["metrics"]["total_cost"] == pytest.approx(expected_cost(answer["result"]))
    sent = fake_llm.requests[before:]
    assert len(sent) == 1
    assert sent[0]["model"] == "gpt-4o" and sent[0]["temperature"] == 0.7
    assert sent[0]["messages"][0] == {
        "role": "system",
        "content": "You are a helpful assistant. Reply briefly.",
    }


@pytest.mark.parametrize("category", ["negative", "neutral", "Positive", "positive "])
def test_anything_else_takes_the_false_branch(
    server: RunningServer, workflow_id: int, fake_llm: FakeOpenAI, category: str
) -> None:
    data = run_to_end(server, workflow_id, json.dumps({"category": category}))
    assert data["status"] == "succeed", data
    nodes = data["data"]
    assert nodes[POSITIVE] == {"id": POSITIVE, "status": "skipped"}
    answer = nodes[NEGATIVE]["result"]
    assert answer["content"] == "echo: The sentiment is negative. Provide a short empathetic response."
    assert (
        data["metrics"]["total_cost"] == pytest.approx(expected_cost(answer))
        and data["metrics"]["total_cost"] > 0
    )


def test_a_failing_llm_api_fails_the_run_with_the_node_error(
    server: RunningServer, workflow_id: int, fake_llm: FakeOpenAI
) -> None:
    fake_llm.fail(401, "Incorrect API key provided")
    data = run_to_end(server, workflow_id, '{"category": "positive"}')
    assert data["status"] == "failed"
    assert data["data"][POSITIVE]["status"] == "failed"
    assert data["data"][POSITIVE]["error"] == "LLM API answered HTTP 401: Incorrect API key provided"
    assert data["metrics"]["total_cost"] == 0


def test_a_fenced_json_reply_is_parsed_on_the_server(
    server: RunningServer, workflow_id: int, fake_llm: FakeOpenAI
) -> None:
    fake_llm.reply('```json\n{"reply": "Keep going!"}\n```')
    data = run_to_end(server, workflow_id, '{"category": "positive"}')
    result = data["data"][POSITIVE]["result"]
    assert result["content"] == '```json\n{"reply": "Keep going!"}\n```'
    assert result["json"] == {"reply": "Keep going!"}
