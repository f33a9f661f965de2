"""The "Run Script" node through the real engine and real subprocesses."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from runwire.check import prepare_workflow
from runwire.errors import WorkflowInvalid
from runwire.host import DEFAULT_HOST
from runwire.plugins import Plugins, get_plugin_manager
from runwire.workflow import parse_workflow_data

from .conftest import NODE_ID, PY, SCRIPTS, RunScript, script_workflow

SHOW = str(SCRIPTS / "show_args.py")
HOSTILE = [
    "; rm -rf /",
    "$(id)",
    "`id`",
    "a\nb\r\nc",
    "'quoted' \"double\"",
    "| cat /etc/passwd &",
    "{{ ''.__class__ }}",
    "$RUNDIR",
    "--x=$(reboot)",
    "ünïcødé ☃",
]


def test_entry_point_is_found_by_a_fresh_manager() -> None:
    pm = get_plugin_manager()
    assert pm.has_plugin("subprocess")
    impl = Plugins(pm).node_type("basic-node", "Run Script")
    assert impl is not None and type(impl).__module__ == "runwire_subprocess.node"


async def test_runs_and_returns_stdout_code_and_stderr(run_script: RunScript) -> None:
    record = await run_script(
        {"command": [PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"]}
    )
    assert record.status == "succeed", record.error
    result = record.nodes[NODE_ID].result
    assert result == {"content": "out\n", "return_code": 0, "stderr": "err\n"}


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_values_arrive_byte_for_byte(run_script: RunScript, value: str) -> None:
    record = await run_script(
        {
            # "--": values that start with "-" (here "--x=$(reboot)") may follow it as operands
            "command": [PY, SHOW, "--x=$V", "pre$V.csv", "--", "$V", "{{ input.raw }}"],
            "variables": {"V": "{{ input.raw }}"},
        },
        {"raw": value},
    )
    assert record.status == "succeed", record.error
    shown = json.loads(record.nodes[NODE_ID].result["content"])
    assert shown["argv"] == [f"--x={value}", f"pre{value}.csv", "--", value, value]


async def test_longest_name_wins_and_dollar_dollar_is_literal(run_script: RunScript) -> None:
    record = await run_script(
        {
            "command": [PY, SHOW, "$NAME_LONG/$NAME", "$$NAME", "cost: $5"],
            "variables": {"NAME": "a", "NAME_LONG": "b"},
        }
    )
    assert record.status == "succeed", record.error
    assert json.loads(record.nodes[NODE_ID].result["content"])["argv"] == ["b/a", "$NAME", "cost: $5"]


def test_unbound_dollar_name_is_a_check_error(plugins: Plugins) -> None:
    wf = parse_workflow_data(
        script_workflow({"command": [PY, SHOW, "--city=$CITY"], "variables": {"X": "1"}})
    )
    with pytest.raises(WorkflowInvalid) as err:
        prepare_workflow(wf, plugins)
    assert "$CITY is not bound" in str(err.value)


def test_template_inside_command_is_checked(plugins: Plugins) -> None:
    wf = parse_workflow_data(script_workflow({"command": [PY, "{{ input.x "]}))
    with pytest.raises(WorkflowInvalid):
        prepare_workflow(wf, plugins)


async def test_template_injection_in_a_command_template_is_refused(run_script: RunScript) -> None:
    record = await run_script({"command": [PY, SHOW, "{{ ''.__class__.__mro__ }}"]})
    assert record.status == "failed"
    assert "not allowed" in (record.nodes[NODE_ID].error or "")


async def test_fresh_rundir_is_cwd_has_empty_out_and_is_removed(run_script: RunScript) -> None:
    code = "import os, json; print(json.dumps([os.getcwd(), os.environ['RUNDIR'], os.listdir('.'), os.listdir('out')]))"
    record = await run_script({"command": [PY, "-c", code, "$RUNDIR"]})
    assert record.status == "succeed", record.error
    cwd, rundir, listing, out = json.loads(record.nodes[NODE_ID].result["content"])
    assert cwd == rundir
    assert listing == ["out"] and out == []
    assert DEFAULT_HOST.disposal.drain(timeout=30)  # removed in the background, after the result
    assert not Path(rundir).exists()


@pytest.mark.parametrize(
    "leave",
    [
        "for i in range(3): open(f'out/r{i}.txt', 'w').write('x')",  # small
        "for i in range(40): open(f'f{i}', 'w').write('x')",  # many entries
        "os.makedirs('a/b/c'); open('a/b/c/deep', 'w').write('x'); os.symlink('/', 'out/root')",
    ],
)
async def test_whatever_a_program_leaves_in_its_rundir_is_removed(run_script: RunScript, leave: str) -> None:
    code = f"import os\n{leave}\nprint(os.getcwd())"
    record = await run_script({"command": [PY, "-c", code]})
    assert record.status == "succeed", record.error
    rundir = Path(record.nodes[NODE_ID].result["content"].strip())
    assert DEFAULT_HOST.disposal.drain(timeout=30)
    assert rundir.name.startswith("results-") and not rundir.exists()
    assert Path("/").is_dir()  # the link was removed, not followed


async def test_rundir_parent_base_and_keep(run_script: RunScript, tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "data").mkdir(parents=True)
    (base / "data" / "seed.txt").write_text("seeded")
    parent = tmp_path / "runs"
    parent.mkdir()
    code = "import os; print(os.getcwd()); print(open('data/seed.txt').read())"
    record = await run_script(
        {
            "command": [PY, "-c", code],
            "rundir_parent": str(parent),
            "rundir_base": str(base),
            "keep_rundir": True,
        }
    )
    assert record.status == "succeed", record.error
    cwd, seed = record.nodes[NODE_ID].result["content"].split()
    assert Path(cwd).parent == parent and seed == "seeded"
    assert (Path(cwd) / "out").is_dir()  # kept


async def test_environment_is_allowlist_plus_declared(
    run_script: RunScript, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWIRE_SECRET_FOR_TEST", "must-not-leak")
    monkeypatch.setenv("KEEP_ME", "kept")
    record = await run_script(
        {
            "command": [PY, SHOW],
            "variables": {"CITY": "{{ input.city }}"},
            "env": {"SHOW_ENV": "CITY,KEEP_ME,GREETING,RUNDIR", "GREETING": "hi {{ input.city }}"},
            "env_allowlist": ["PATH", "KEEP_ME"],
        },
        {"city": "Oslo"},
    )
    assert record.status == "succeed", record.error
    shown = json.loads(record.nodes[NODE_ID].result["content"])
    assert shown["env"]["CITY"] == "Oslo" and shown["env"]["KEEP_ME"] == "kept"
    assert shown["env"]["GREETING"] == "hi Oslo" and shown["env"]["RUNDIR"] == shown["cwd"]
    assert "RUNWIRE_SECRET_FOR_TEST" not in shown["env_names"]
    assert "HOME" not in shown["env_names"]


async def test_stdin_is_written(run_script: RunScript) -> None:
    record = await run_script(
        {"command": [PY, SHOW], "stdin": "line1\n{{ input.x }} end", "env": {"READ_STDIN": "1"}},
        {"x": "$(id)"},
    )
    assert json.loads(record.nodes[NODE_ID].result["content"])["stdin"] == "line1\n$(id) end"


async def test_nonzero_exit_fails_with_code_and_stderr_tail(run_script: RunScript) -> None:
    record = await run_script({"command": [PY, SHOW], "env": {"EXIT_CODE": "3"}})
    assert record.status == "failed"
    error = record.nodes[NODE_ID].error or ""
    assert "exited with code 3" in error and "failing on purpose" in error


async def test_nonzero_exit_is_a_result_when_not_checked(run_script: RunScript) -> None:
    record = await run_script({"command": [PY, SHOW], "env": {"EXIT_CODE": "4"}, "check_exit": False})
    assert record.status == "succeed"
    result = record.nodes[NODE_ID].result
    assert result["return_code"] == 4 and result["stderr"] == "failing on purpose\n"


@pytest.mark.parametrize("command", [["/no/such/program"], [str(SCRIPTS)], ["no-such-program-anywhere-xyz"]])
async def test_unstartable_commands_fail_the_node(run_script: RunScript, command: list[str]) -> None:
    record = await run_script({"command": command})
    assert record.status == "failed"
    assert "command" in (record.nodes[NODE_ID].error or "")


async def test_nul_in_an_argument_fails_clearly(run_script: RunScript) -> None:
    record = await run_script(
        {"command": [PY, SHOW, "$V"], "variables": {"V": "{{ input.v }}"}}, {"v": "a\x00b"}
    )
    assert record.status == "failed"
    assert "NUL" in (record.nodes[NODE_ID].error or "")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone for our purposes once its state is Z
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def assert_gone(*pids: int) -> None:
    """Every process in ``pids`` ends within 5 s (zombies count as ended)."""
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)


async def test_timeout_kills_the_whole_process_group(run_script: RunScript, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    record = await run_script(
        {"command": [PY, str(SCRIPTS / "never_exits.py"), str(pidfile)], "timeout": 1.5}
    )
    assert record.status == "failed"
    assert "timed out" in (record.nodes[NODE_ID].error or "")
    assert_gone(*(int(p) for p in pidfile.read_text().split()))


async def test_leftover_background_processes_are_killed_when_the_command_ends(
    run_script: RunScript, tmp_path: Path
) -> None:
    pidfile = tmp_path / "bg"
    code = (
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)']);"
        f" open({str(pidfile)!r}, 'w').write(str(p.pid)); print('left a child')"
    )
    record = await run_script({"command": [PY, "-c", code], "timeout": 30})
    assert record.status == "succeed", record.error
    assert_gone(int(pidfile.read_text()))


async def test_huge_output_is_capped_and_marked(run_script: RunScript) -> None:
    record = await run_script(
        {"command": [PY, str(SCRIPTS / "flood.py"), "100"], "max_output_bytes": 1024 * 1024}
    )
    assert record.status == "succeed", record.error
    result = record.nodes[NODE_ID].result
    assert len(result["content"]) < 1024 * 1024 + 200
    assert result["content"].endswith(
        f"[runwire: output truncated, {100 * 1024 * 1024 - 1024 * 1024} more bytes dropped]\n"
    )
    assert result["truncated"]["stdout"] == 99 * 1024 * 1024
    assert result["truncated"]["stderr"] == len("done\n")


async def test_results_and_attachments_from_the_lims_script(run_script: RunScript) -> None:
    record = await run_script(
        {
            "command": [PY, str(SCRIPTS / "lims_results.py"), "$RUNDIR", "plate7"],
            "results": {
                "kind": "file",
                "format": "csv",
                "input_path": "LIMS_results.csv",
                "remapped_columns": [
                    {"input_name": "Plate_384_Number", "output_name": "plateIndex", "skip_list": ["NA"]},
                    {"input_name": "Sample_Well", "output_name": "plateCell"},
                    {"input_name": "classification", "output_name": "classification"},
                ],
            },
            "attachments": ["out/*.pdf"],
        }
    )
    assert record.status == "succeed", record.error
    result = record.nodes[NODE_ID].result
    assert result["content"] == "wrote 3 rows for plate plate7\n"
    assert result["results"] == [
        {"plateIndex": "1", "plateCell": "A01", "classification": "failed: low S2 & RPP30"},
        {"plateIndex": "1", "plateCell": "A02", "classification": "negative"},
    ]

    assert base64.b64decode(result["attachments"]["results-plate7.pdf"]).startswith(b"%PDF-1.4")


@pytest.mark.parametrize(
    "kind,code", [("stdout", "print('[1, 2]')"), ("stderr", "import sys; sys.stderr.write('[1, 2]')")]
)
async def test_results_from_the_command_streams(run_script: RunScript, kind: str, code: str) -> None:
    record = await run_script({"command": [PY, "-c", code], "results": {"kind": kind, "format": "json"}})
    assert record.status == "succeed", record.error
    assert record.nodes[NODE_ID].result["results"] == [1, 2]


@pytest.mark.parametrize("count", [3, 20_000])  # ~30 bytes, and ~150 KiB: parsed in a thread
@pytest.mark.parametrize("kind", ["file", "stdout"])
async def test_small_and_big_results_read_the_same(run_script: RunScript, count: int, kind: str) -> None:
    target = "open('r.json', 'w')" if kind == "file" else "sys.stdout"
    code = f"import json, sys\njson.dump(list(range({count})), {target})"
    spec = {"kind": kind, "format": "json", **({"input_path": "r.json"} if kind == "file" else {})}
    record = await run_script({"command": [PY, "-c", code], "results": spec})
    assert record.status == "succeed", record.error
    assert record.nodes[NODE_ID].result["results"] == list(range(count))


@pytest.mark.parametrize("path", ["../escape.csv", "/etc/passwd", "link.csv"])
async def test_results_path_escaping_the_rundir_is_refused(run_script: RunScript, path: str) -> None:
    code = "import os; os.symlink('/etc/passwd', 'link.csv')"
    record = await run_script(
        {"command": [PY, "-c", code], "results": {"format": "text", "input_path": path}}
    )
    assert record.status == "failed"
    error = record.nodes[NODE_ID].error or ""
    assert "run directory" in error


async def test_attachments_refuse_symlinks_out_and_traversal(run_script: RunScript) -> None:
    code = "import os; os.symlink('/etc/passwd', 'out/passwd.pdf'); open('out/ok.pdf', 'w').write('ok')"
    retried = {"retries": 2, "retry_delay": 0}
    record = await run_script({"command": [PY, "-c", code], "attachments": ["out/*.pdf"], **retried})
    assert record.status == "failed"
    error = record.nodes[NODE_ID].error or ""
    assert "'out/passwd.pdf' is a symbolic link" in error
    assert record.nodes[NODE_ID].attempts == 1  # not retried
    record = await run_script({"command": [PY, "-c", code], "attachments": ["out/ok.pdf"]})
    assert list(record.nodes[NODE_ID].result["attachments"]) == ["ok.pdf"]
    record = await run_script({"command": [PY, "-c", "pass"], "attachments": ["../*"]})
    assert record.status == "failed" and "inside the run directory" in (record.nodes[NODE_ID].error or "")


async def test_attachments_total_size_is_capped(run_script: RunScript) -> None:
    code = "open('out/a.bin', 'wb').write(b'x' * 4096); open('out/b.bin', 'wb').write(b'x' * 4096)"
    record = await run_script(
        {"command": [PY, "-c", code], "attachments": ["out/*"], "attachments_max_bytes": 5000}
    )
    assert record.status == "failed" and "exceed 5000 bytes" in (record.nodes[NODE_ID].error or "")


async def test_missing_results_file_fails_the_node(run_script: RunScript) -> None:
    record = await run_script(
        {"command": [PY, "-c", "pass"], "results": {"format": "csv", "input_path": "none.csv"}}
    )
    assert record.status == "failed" and "was not written" in (record.nodes[NODE_ID].error or "")


def test_unknown_results_format_is_a_check_error(plugins: Plugins) -> None:
    wf = parse_workflow_data(
        script_workflow({"command": [PY], "results": {"format": "xml", "input_path": "a"}})
    )
    with pytest.raises(WorkflowInvalid) as err:
        prepare_workflow(wf, plugins)
    assert "unknown format 'xml'" in str(err.value)


def test_bad_data_is_a_check_error(plugins: Plugins) -> None:
    for data in ({"command": []}, {"command": "echo hi"}, {"command": [PY], "variables": {"1BAD": "x"}}):
        with pytest.raises(WorkflowInvalid):
            prepare_workflow(parse_workflow_data(script_workflow(data)), plugins)


async def test_command_timeout_kills_the_group_and_says_so(run_script: RunScript, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    record = await run_script(
        {"command": [PY, str(SCRIPTS / "never_exits.py"), str(pidfile)], "command_timeout": 1}
    )
    assert record.status == "failed"
    assert "timed out after 1 s; its process group was killed" in (record.nodes[NODE_ID].error or "")
    assert_gone(*(int(p) for p in pidfile.read_text().split()))


async def test_unchecked_timeout_and_start_failure_are_results(run_script: RunScript, tmp_path: Path) -> None:
    code = "import time; print('partial', flush=True); time.sleep(60)"
    record = await run_script({"command": [PY, "-c", code], "command_timeout": 0.5, "check_exit": False})
    assert record.status == "succeed", record.error
    result = record.nodes[NODE_ID].result
    assert result["return_code"] == -1 and result["content"] == "partial\n" and "timed out" in result["error"]
    record = await run_script({"command": ["/no/such/program"], "check_exit": False})
    result = record.nodes[NODE_ID].result
    assert record.status == "succeed" and result["return_code"] == -1 and "not found" in result["error"]


async def test_args_are_appended_without_substitution(run_script: RunScript) -> None:
    hostile = ["$RUNDIR", "; rm -rf /", "{{ input.x }}", "$(id)"]
    record = await run_script(
        {"command": [PY, SHOW, "first"], "args": "{{ input.args }}"}, {"args": hostile, "x": "X"}
    )
    assert record.status == "succeed", record.error
    assert json.loads(record.nodes[NODE_ID].result["content"])["argv"] == ["first", *hostile]
    record = await run_script({"command": [PY, SHOW], "args": "{{ input.args }}"}, {"args": "not a list"})
    assert record.status == "failed" and "args must be a list" in (record.nodes[NODE_ID].error or "")


def test_a_run_directory_being_made_as_its_event_loop_ends_is_removed(
    run_script: RunScript, tmp_path: Path
) -> None:
    base, parent = tmp_path / "base", tmp_path / "parent"
    base.mkdir()
    parent.mkdir()
    for i in range(200):  # seeding takes a moment
        (base / f"f{i}").write_text("x")
    data = {"command": [PY, "-c", "pass"], "rundir_base": str(base), "rundir_parent": str(parent)}
    _end_loop_while_a_thread_is_in("make_rundir", lambda: run_script(data))
    assert list(parent.iterdir()) == []


def _end_loop_while_a_thread_is_in(function: str, work: Callable[[], Awaitable[Any]]) -> None:
    """``asyncio.run`` of ``work()``, ended (every task cancelled) while a thread runs ``function``;
    tried again (a busy machine may not let this thread look while that one is inside)."""
    import asyncio
    import sys
    import threading

    def inside() -> bool:
        for ident, frame in sys._current_frames().items():
            while ident != threading.get_ident() and frame is not None:
                if frame.f_code.co_name == function:
                    return True
                frame = frame.f_back  # type: ignore[assignment]
        return False

    async def end_while_inside() -> bool:
        running = asyncio.ensure_future(work())
        deadline = time.monotonic() + 5
        while not inside():
            if running.done() or time.monotonic() > deadline:
                return False  # missed: asyncio.run cancels it, then try again
            await asyncio.sleep(0)
        return True  # returning now: asyncio.run cancels it, and every other task

    for _ in range(10):
        if asyncio.run(end_while_inside()):
            return
    pytest.fail(f"never saw a thread inside {function}")


async def test_a_relative_rundir_parent_gives_the_program_an_absolute_rundir(
    run_script: RunScript, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative ``rundir_parent`` (a config.json's ``command_rundir: "runs"``) is taken from the
    server's working directory; ``$RUNDIR`` was then relative too (Python 3.11's ``mkdtemp``),
    naming nothing from the program's own working directory, the run directory."""
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    code = "import os, sys; print(os.path.isdir(sys.argv[1]) and os.path.samefile(sys.argv[1], '.'))"
    record = await run_script({"command": [PY, "-c", code, "$RUNDIR"], "rundir_parent": "runs"})
    assert record.status == "succeed", record.error
    assert record.nodes[NODE_ID].result["content"].strip() == "True"
    assert DEFAULT_HOST.disposal.drain(timeout=30)
    assert list((tmp_path / "runs").iterdir()) == []
