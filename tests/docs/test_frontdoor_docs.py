"""The examples of docs/tasks.md and docs/execute.md, executed against the real app."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.helpers import HEADERS, SCRIPTS, MakeClient, poll_task

DOCS = Path(__file__).resolve().parents[2] / "docs"


def json_blocks(name: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", (DOCS / name).read_text(), re.DOTALL)


def test_tasks_doc_config_runs_as_documented(make_client: MakeClient) -> None:
    config = json.loads(json_blocks("tasks.md")[0])
    assert config["command"][0] == "/app/lims_results.py"
    config["command"][0] = str(SCRIPTS / "lims_results.py")  # the doc's script, from the test tree
    client = make_client(config)
    started = client.post("/task/n1a54tmd?season=summer", headers=HEADERS).json()
    done = poll_task(client, started["id"])
    assert done["status"] == "ready", done
    assert [row["plateIndex"] for row in done["results"]] == ["1", "1"]
    assert set(done["results"][0]) == {"plateIndex", "plateCell", "marker1", "marker2", "classification"}
    assert list(done["attachments"]) == ["results-n1a54tmd.pdf"]


def test_execute_doc_request_runs_as_documented(make_client: MakeClient, executables: Path) -> None:
    text = (DOCS / "execute.md").read_text()
    body = json.loads(re.search(r"-d '(\{.*?\})'", text).group(1))  # type: ignore[union-attr]
    script = executables / body["executable_name"]
    script.write_text('#!/bin/sh\necho "deploying $2"\necho "warning" >&2\n')
    script.chmod(0o755)
    reply = make_client().post("/api/execute/", json=body, headers=HEADERS)
    assert reply.status_code == 201
    assert reply.json()["result"] == {
        "output": "deploying ams\nwarning\n",
        "return_code": 0,
        "status": "successful",
    }
    poll_example = json.loads(json_blocks("execute.md")[0])
    assert set(poll_example) == {"job_id", "status", "result", "callback"}
