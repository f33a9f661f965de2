"""The README's usage example runs as written, through the `runwire run` CLI, against a real server."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from pytest_httpserver import HTTPServer

README = Path(__file__).parents[1] / "README.md"
EXAMPLE_HOST = "https://api.example.com"


def readme_example() -> tuple[str, str]:
    """The workflow JSON block and the `--input` of the `runwire run` command in the README."""
    text = README.read_text(encoding="utf-8")
    workflow = re.search(r"`workflow.json`.*?```json\n(.*?)```", text, re.DOTALL)
    command = re.search(r"^runwire run workflow\.json .*$", text, re.MULTILINE)
    assert workflow and command, "README lost its usage example"
    args = shlex.split(command.group(0))
    return workflow.group(1), args[args.index("--input") + 1]


def test_the_readme_example_runs_through_the_cli(target: HTTPServer, tmp_path: Path) -> None:
    workflow, run_input = readme_example()
    target.expect_request(
        "/users",
        method="POST",
        headers={"Authorization": "Bearer t0k3n"},
        json={"name": "John Doe", "email": "john@example.com", "age": 30},
    ).respond_with_json({"id": 42}, status=201)
    path = tmp_path / "workflow.json"
    path.write_text(workflow.replace(EXAMPLE_HOST, target.url_for("").rstrip("/")), encoding="utf-8")
    env = {**os.environ, "RUNWIRE_HTTP_ALLOW": "127.0.0.1"}
    runwire = Path(sys.executable).with_name("runwire")
    done = subprocess.run(
        [str(runwire), "run", str(path), "--json", "--input", run_input],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    record = json.loads(done.stdout)
    assert record["status"] == "succeed"
    result = record["data"]["create-user"]["result"]
    assert result["status_code"] == 201 and result["json"] == {"id": 42}
    target.check_assertions()


def test_the_readme_example_is_refused_without_the_allow_list(target: HTTPServer, tmp_path: Path) -> None:
    workflow, run_input = readme_example()
    path = tmp_path / "workflow.json"
    path.write_text(workflow.replace(EXAMPLE_HOST, target.url_for("").rstrip("/")), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "RUNWIRE_HTTP_ALLOW"}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("runwire")), "run", str(path), "--json", "--input", run_input],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    record = json.loads(done.stdout)
    assert "non-public address 127.0.0.1" in record["data"]["create-user"]["error"]
    assert target.log == []
