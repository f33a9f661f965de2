"""``runwire new-plugin``: the distribution it writes installs, passes its own tests and runs
inside a real ``runwire serve`` (tests/docs/test_plugins_guide.py lints and type-checks one)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from runwire_server.cli import main
from runwire_server.testing import running_server, wait_for_run
from tests.helpers import scratch_venv

REPO = Path(__file__).parents[2]


def test_an_invalid_name_or_a_used_directory_is_refused(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(main, ["new-plugin", "My Plugin", "--dir", str(tmp_path / "x")])
    assert bad.exit_code == 2
    assert "'My Plugin' is not a plugin name" in bad.output
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    used = runner.invoke(main, ["new-plugin", "reverse", "--dir", str(tmp_path / "used")])
    assert used.exit_code == 1
    assert "exists and is not an empty directory" in used.output
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"


def test_a_directory_that_cannot_be_written_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    runner = CliRunner()
    blocked = tmp_path / "file"
    blocked.write_text("a file, not a directory")
    under_a_file = runner.invoke(main, ["new-plugin", "reverse", "--dir", str(blocked / "plugin")])
    assert under_a_file.exit_code == 1, under_a_file.output
    assert "cannot write" in under_a_file.output and "Not a directory" in under_a_file.output
    too_long = runner.invoke(main, ["new-plugin", "a" * 300, "--dir", str(tmp_path / "long")])
    assert too_long.exit_code == 1 and "cannot write" in too_long.output, too_long.output


def test_the_default_directory_is_named_after_the_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["new-plugin", "runwire-reverse"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = tmp_path / "runwire-reverse" / "src" / "runwire_reverse"
    assert (written / "node.py").is_file()
    assert not (written / "binder.py").exists()


def test_a_new_plugin_installs_passes_its_tests_and_serves(tmp_path: Path) -> None:
    pytest.importorskip("hatchling", reason="installing offline needs hatchling (the dev group has it)")
    plugin = tmp_path / "runwire-shout"
    made = CliRunner().invoke(
        main, ["new-plugin", "shout", "--dir", str(plugin), "--binder", "--formatter", "--auth"]
    )
    assert made.exit_code == 0, made.output
    python = scratch_venv(tmp_path / "venv")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    subprocess.run([*pip, "--no-deps", "--no-build-isolation", "--no-index", "-e", str(plugin)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWIRE_", "PYTEST_"))}
    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=plugin,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "passed" in tests.stdout and "skipped" not in tests.stdout, tests.stdout

    workflow = {
        "start_node": "t",
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"name": "Trigger"}},
            {"id": "s", "type": "basic-node", "data": {"name": "Shout", "text": "{{ input.word }}"}},
        ],
        "edges": [{"id": "e", "source": "t", "target": "s"}],
    }
    with (
        running_server(env={"RUNWIRE_AUTH_PROVIDERS": "none"}, python=str(python)) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        nodes = client.get("/api/v1/workflows/get_nodes/").json()
        assert ("basic-node", "Shout") in {(n["type"], n["name"]) for n in nodes}
        created = client.post("/api/v1/workflows/", json={"project": 1, "title": "shout", "data": workflow})
        assert created.status_code == 201, created.text
        started = client.post(f"/api/v1/workflows/{created.json()['id']}/run/", json={"word": "hey"})
        run = wait_for_run(client, started.json()["data"]["id"], logs=server.logs)
    assert run["status"] == "succeed", run
    assert run["data"]["s"]["result"] == {"content": "HEY", "length": 3}
