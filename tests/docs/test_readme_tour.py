"""The README's five-minute tour, run as written against `make run` on a free port."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from runwire_server.testing import free_port

REPO = Path(__file__).parents[2]


def tour_script() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A five-minute tour", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the tour has a ```sh block"
    return match.group(1)


def expected_output(script: str) -> list[str]:
    return [line[2:] for line in script.splitlines() if re.match(r"# [\"\[{]", line)]


@pytest.mark.skipif(
    shutil.which("jq") is None or shutil.which("curl") is None, reason="the tour needs curl and jq"
)
def test_readme_tour_works_as_written(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    env["RUNWIRE_DATA_DIR"] = str(tmp_path / "data")
    server = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            assert time.monotonic() < deadline, "make run did not answer /healthz"
            time.sleep(0.2)
        script = tour_script().replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}")
        out = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", f"timeout 60 bash -euo pipefail <<'TOUR'\n{script}\nTOUR"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert out.returncode == 0, out.stderr
        expected = expected_output(script)
        assert len(expected) == 10
        assert out.stdout.splitlines() == expected
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
