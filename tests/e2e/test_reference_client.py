"""The reference document's own Python client code, run against a live ``runwire serve``.

The snippets below are the ScriptRun reference's polling example and ``poll_workflow_result``
as published (the text copy lost its indentation, restored here); the only change made before
running them is the base URL. The server is started with the reference's placeholder ``<Your API Key>`` as its bootstrap key and a
workflow with id 6 (the id the snippets use), so nothing else needs editing.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

import httpx

from runwire_server.testing import running_server
from tests.helpers import create_workflow

REFERENCE_BASE_URL = "https://scriptrun.ai"

POLLING_PATTERN = """
import time
import requests
API_KEY = "<Your API Key>"
WORKFLOW_ID = 6
# 1. Start the run
run_resp = requests.post(
f"https://scriptrun.ai/api/v1/workflows/{WORKFLOW_ID}/run/",
headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
data='{"user_name": "John Doe"}',
)
run_body = run_resp.json()
if run_body.get("status") != 201:
    raise RuntimeError(f"Workflow failed to start: {run_body}")
run_id = run_body["data"]["id"] # UUID string
# 2. Poll until complete
TERMINAL_STATUSES = {"succeed", "failed"}
for _ in range(60):
    result_resp = requests.get(
    "https://scriptrun.ai/api/v1/workflows/workflow_result/",
    headers={"X-Api-Key": API_KEY},
    params={"id": run_id},
    )
    result = result_resp.json()
    executor_data = result.get("data", {})
    current_status = executor_data.get("status")
    if current_status in TERMINAL_STATUSES:
        print("Done:", executor_data)
        break
    time.sleep(3)
else:
    print("Timed out")
"""

POLL_WORKFLOW_RESULT = """
import time
import requests
def poll_workflow_result(run_id: str, api_key: str, timeout_seconds: int = 180):
    headers = {"X-Api-Key": api_key}
    url = "https://scriptrun.ai/api/v1/workflows/workflow_result/"
    terminal = {"succeed", "failed"}
    deadline = time.time() + timeout_seconds
    while time.time() < deadline:
        resp = requests.get(url, headers=headers, params={"id": run_id})
        body = resp.json()
        data = body.get("data", {})
        status = data.get("status")
        if status in terminal:
            node_results = data.get("data", {})
            if node_results:
                return data # fully consistent result
            # Terminal but data not yet available — brief consistency window
            time.sleep(2)
            continue
        time.sleep(3)
    raise TimeoutError(f"Workflow run {run_id} did not complete within {timeout_seconds}s")
"""

GREETER = {
    "nodes": [
        {
            "id": "93e9822b-63a4-4553-adb4-79029db3c09b",
            "type": "trigger-node",
            "data": {
                "name": "Trigger",
                "input_fields": [
                    {"id": "user_name", "title": "User Name", "type": "text", "input_requirements": True}
                ],
            },
        },
        {
            "id": "a7bf1234-0000-0000-0000-000000000001",
            "type": "output-node",
            "data": {"output": "Hi {{ input.user_name }}! How can I help you today?"},
        },
    ],
    "edges": [
        {
            "id": "e",
            "source": "93e9822b-63a4-4553-adb4-79029db3c09b",
            "target": "a7bf1234-0000-0000-0000-000000000001",
        }
    ],
    "start_node": "93e9822b-63a4-4553-adb4-79029db3c09b",
}
OUTPUT_NODE = "a7bf1234-0000-0000-0000-000000000001"


def reference_code(snippet: str, base_url: str) -> str:
    """The snippet with only its base URL changed."""
    assert REFERENCE_BASE_URL in snippet
    return snippet.replace(REFERENCE_BASE_URL, base_url)


def test_reference_polling_examples_work_with_only_the_base_url_changed() -> None:
    with running_server(env={"RUNWIRE_API_KEYS": "<Your API Key>"}) as server:
        client = httpx.Client(base_url=server.url, headers={"X-Api-Key": "<Your API Key>"})
        ids = [create_workflow(client, GREETER) for _ in range(6)]
        assert ids[-1] == 6

        printed = io.StringIO()
        namespace: dict[str, Any] = {}
        with contextlib.redirect_stdout(printed):
            exec(compile(reference_code(POLLING_PATTERN, server.url), "reference-polling", "exec"), namespace)
        assert printed.getvalue().startswith("Done: ")
        executor_data = namespace["executor_data"]
        assert executor_data["status"] == "succeed"
        assert (
            executor_data["data"][OUTPUT_NODE]["result"]["content"]
            == "Hi John Doe! How can I help you today?"
        )

        exec(compile(reference_code(POLL_WORKFLOW_RESULT, server.url), "reference-poll", "exec"), namespace)
        data = namespace["poll_workflow_result"](namespace["run_id"], "<Your API Key>")
        assert data == executor_data
        assert "Traceback" not in server.logs()
