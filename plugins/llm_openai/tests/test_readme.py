"""The README's usage example runs as written, through `runwire run`, against the fake OpenAI API."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from .conftest import API_KEY
from .fake_openai import FakeOpenAI

README = Path(__file__).parents[1] / "README.md"


def test_the_readme_example_runs_and_its_result_is_as_documented(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    text = README.read_text(encoding="utf-8")
    workflow = re.search(r"`workflow.json`.*?```json\n(.*?)```", text, re.DOTALL)
    command = re.search(r"^runwire run workflow\.json .*$", text, re.MULTILINE)
    documented = re.search(r"The node's result.*?```json\n(.*?)\n```\n", text, re.DOTALL)
    assert workflow and command and documented, "README lost its usage example"
    expected = json.loads(documented.group(1))
    openai_server.reply(
        expected["content"],
        prompt_tokens=expected["usage"]["prompt_tokens"],
        completion_tokens=expected["usage"]["completion_tokens"],
    )
    (tmp_path / "workflow.json").write_text(workflow.group(1), encoding="utf-8")
    argv = shlex.split(command.group(0))
    argv[0] = str(Path(sys.executable).with_name("runwire"))
    env = {**os.environ, "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": openai_server.base_url}
    done = subprocess.run(
        argv, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr + done.stdout
    record = json.loads(done.stdout)
    result = record["data"]["classify"]["result"]
    assert {k: result[k] for k in ("content", "json", "usage")} == {
        k: expected[k] for k in ("content", "json", "usage")
    }
    assert record["metrics"]["total_cost"] > 0
    sent = openai_server.requests[0]
    assert sent["model"] == "gpt-4o-mini" and sent["messages"][1] == {
        "role": "user",
        "content": "I love this product!",
    }
