"""The README's example, executed: its workflow through the real ``runwire run`` CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.DOTALL)


def test_readme_example_runs_as_documented(tmp_path: Path) -> None:
    workflow, expected = (json.loads(b) for b in blocks("json"))
    (tmp_path / "workflow.json").write_text(json.dumps(workflow))
    command = next(line for b in blocks("sh") for line in b.splitlines() if line.startswith("runwire run"))
    input_json = re.search(r"--input '(.*)'", command).group(1)  # type: ignore[union-attr]
    proc = subprocess.run(
        [sys.executable, "-m", "runwire_server", "run", "workflow.json", "--json", "--input", input_json],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["status"] == "succeed"
    assert record["data"]["report"]["result"] == expected
