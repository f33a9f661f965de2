"""Run Script limits through the real engine: only regular files are read, run-dir bases are
capped, and programs at once never exceed the host's ``max_processes``."""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path
from typing import Any

import pytest

from runwire.check import prepare_workflow
from runwire.engine import Engine
from runwire.host import HostPolicy
from runwire.plugins import Plugins
from runwire.workflow import parse_workflow_data
from runwire_subprocess.rundir import MAX_BASE_BYTES, MAX_BASE_ENTRIES

from .conftest import NODE_ID, PY, SCRIPTS, RunScript

MARK = SCRIPTS / "mark_interval.py"
most_at_once = runpy.run_path(str(MARK))["most_at_once"]
NOT_RETRIED = {"retries": 2, "retry_delay": 0}


def results_from(code: str, path: str = "out/r.csv") -> dict[str, Any]:
    """A node whose program runs ``code`` and whose results are read from ``path``."""
    return {"command": [PY, "-c", code], "results": {"format": "text", "input_path": path}, **NOT_RETRIED}


async def assert_refused(run_script: RunScript, data: dict[str, Any], message: str) -> None:
    record = await run_script(data)
    node = record.nodes[NODE_ID]
    assert record.status == "failed" and message in (node.error or ""), node.error
    assert node.attempts == 1  # the program cannot fix it by running again


async def test_a_fifo_results_file_fails_the_node_without_waiting(run_script: RunScript) -> None:
    # nobody ever writes the FIFO: reading it the plain way would wait forever
    await assert_refused(
        run_script, results_from("import os; os.mkfifo('out/r.csv')"), "'out/r.csv' is a FIFO (named pipe)"
    )


async def test_a_socket_results_file_is_refused(run_script: RunScript) -> None:
    code = "import socket; socket.socket(socket.AF_UNIX).bind('out/r.csv')"
    await assert_refused(run_script, results_from(code), "'out/r.csv' is a socket")


async def test_a_device_in_the_run_dir_is_refused(run_script: RunScript) -> None:
    code = "import os, stat; os.mknod('out/r.csv', stat.S_IFCHR | 0o600, os.makedev(1, 5))"
    record = await run_script(results_from(code))
    if "Operation not permitted" in (record.nodes[NODE_ID].error or ""):
        pytest.skip("this machine does not let the test make a device node")
    await assert_refused(run_script, results_from(code), "'out/r.csv' is a character device")


@pytest.mark.parametrize("target", ["/dev/zero", "/etc/passwd"])
async def test_a_symlink_leading_outside_is_refused(run_script: RunScript, target: str) -> None:
    code = f"import os; os.symlink({target!r}, 'out/r.csv')"
    message = "'out/r.csv' is a symbolic link"
    await assert_refused(run_script, results_from(code), message)


async def test_a_symlink_inside_the_run_dir_is_refused_too(run_script: RunScript) -> None:
    """Links are never followed, even those that stay inside: the program could swap their
    target (or a directory on the way) while the server reads."""
    code = "import os; open('data.txt', 'w').write('inside'); os.symlink('../data.txt', 'out/r.csv')"
    await assert_refused(run_script, results_from(code), "results file 'out/r.csv' is a symbolic link")


async def test_a_fifo_or_device_attachment_is_refused(run_script: RunScript) -> None:
    code = "import os; os.mkfifo('out/b.pdf'); open('out/a.pdf', 'w').write('a')"
    data = {"command": [PY, "-c", code], "attachments": ["out/*.pdf"], **NOT_RETRIED}
    await assert_refused(run_script, data, "attachment 'out/b.pdf' is a FIFO (named pipe)")
    data = {"command": [PY, "-c", "import os; os.symlink('/dev/zero', 'out/z')"], "attachments": ["out/*"]}
    await assert_refused(run_script, data, "'out/z' is a symbolic link")


async def test_attachment_globs_do_not_walk_symlink_loops(run_script: RunScript) -> None:
    # with glob.glob, ``**`` follows out/a and out/b back up: 2**depth paths, an endless walk
    code = (
        "import os; os.symlink('..', 'out/a'); os.symlink('..', 'out/b'); open('out/r.pdf', 'w').write('r')"
    )
    record = await run_script({"command": [PY, "-c", code], "attachments": ["out/**/*.pdf"]})
    assert record.status == "succeed", record.error
    assert list(record.nodes[NODE_ID].result["attachments"]) == ["r.pdf"]


async def test_a_rundir_base_like_usr_fails_clearly(run_script: RunScript) -> None:
    # /usr is far over the caps: the walk stops at the first entry past one, nothing is copied
    record = await run_script({"command": [PY, "-c", "pass"], "rundir_base": "/usr", **NOT_RETRIED})
    node = record.nodes[NODE_ID]
    assert record.status == "failed" and node.attempts == 1
    assert re.search(r"rundir_base '/usr' holds more than \d+ (entries|bytes)", node.error or ""), node.error


async def test_a_rundir_base_over_the_entry_cap_fails(run_script: RunScript, tmp_path: Path) -> None:
    for i in range(MAX_BASE_ENTRIES + 1):
        (tmp_path / str(i)).touch()
    record = await run_script({"command": [PY, "-c", "pass"], "rundir_base": str(tmp_path)})
    assert f"holds more than {MAX_BASE_ENTRIES} entries" in (record.nodes[NODE_ID].error or "")


async def test_a_rundir_base_over_the_byte_cap_or_with_a_fifo_fails(
    run_script: RunScript, tmp_path: Path
) -> None:
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "sparse.bin", "wb") as file:
        file.truncate(MAX_BASE_BYTES + 1)  # sparse: costs no disk
    record = await run_script({"command": [PY, "-c", "pass"], "rundir_base": str(big)})
    assert f"holds more than {MAX_BASE_BYTES} bytes" in (record.nodes[NODE_ID].error or "")
    piped = tmp_path / "piped"
    piped.mkdir()
    os.mkfifo(piped / "p")
    record = await run_script({"command": [PY, "-c", "pass"], "rundir_base": str(piped)})
    assert "a FIFO, device or socket cannot be copied" in (record.nodes[NODE_ID].error or "")
    record = await run_script({"command": [PY, "-c", "pass"], "rundir_base": str(tmp_path / "none")})
    assert "is not a directory" in (record.nodes[NODE_ID].error or "")


def fan_out(count: int, log: Path) -> dict[str, Any]:
    """trigger → ``count`` parallel Run Script nodes, each running ``mark_interval.py log``."""
    nodes = [{"id": "t", "type": "trigger-node", "data": {"name": "Trigger"}}]
    edges = []
    for i in range(count):
        nodes.append(
            {
                "id": f"s{i}",
                "type": "basic-node",
                "data": {"name": "Run Script", "command": [PY, str(MARK), str(log)]},
            }
        )
        edges.append({"id": f"e{i}", "source": "t", "target": f"s{i}"})
    return {"start_node": "t", "nodes": nodes, "edges": edges}


async def test_programs_at_once_never_exceed_max_processes(plugins: Plugins, tmp_path: Path) -> None:
    log = tmp_path / "log"
    prepared = prepare_workflow(parse_workflow_data(fan_out(6, log)), plugins)
    host = HostPolicy(max_processes=2)
    record = await Engine(host=host).execute(prepared, {})
    assert record.status == "succeed", record.error
    most, started = most_at_once(str(log))
    assert started == 6 and 1 <= most <= 2
    assert host.process_slots.in_use == 0 and host.process_slots.waiting == 0
