"""The exploits that made a scoped API key root on the host, against a real ``runwire serve``:
programs run as ``RUNWIRE_RUN_AS_USER`` and read neither the server's environment nor its data
dir; secrets come from files; a root server without a run-as user refuses to start; run
directories left by a killed server are removed at the next start."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runwire_server.testing import ProcessFailed, running_server, service_unavailable, wait_for_run
from tests.helpers import make_key, script_workflow

ROOT = Path(__file__).resolve().parents[2]
RUN_AS = "runwire-test"
BOOTSTRAP = "isolation-bootstrap-key"
OPENAI_SECRET = "sk-isolation-secret"
W = "/api/v1/workflows"


@pytest.fixture(scope="module")
def run_as_user() -> Iterator[pwd.struct_passwd]:
    """An unprivileged user for programs: made here (and removed after) when running as root."""
    if os.geteuid() != 0:
        service_unavailable("run-as tests need root to create a user and switch to it")
    made = False
    try:
        entry = pwd.getpwnam(RUN_AS)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_AS],
            check=True,
            capture_output=True,
        )
        entry, made = pwd.getpwnam(RUN_AS), True
    yield entry
    if made:
        subprocess.run(["userdel", RUN_AS], check=False, capture_output=True)


def refused_start(env: dict[str, str], data_dir: Path | None = None) -> str:
    """Start a server that must refuse to start; return what it said."""
    with pytest.raises(ProcessFailed) as refused, running_server(env=env, data_dir=data_dir, timeout=20):
        pass
    return str(refused.value)


def run_workflow(url: str, key: str, data: dict[str, Any], project: int = 1) -> dict[str, Any]:
    headers = {"X-Api-Key": key}
    made = httpx.post(
        f"{url}{W}/", json={"project": project, "title": "probe", "data": data}, headers=headers
    )
    assert made.status_code == 201, made.text
    started = httpx.post(f"{url}{W}/{made.json()['id']}/run/", json={}, headers=headers).json()
    return wait_for_run(url, started["data"]["id"], headers)


def test_a_scoped_keys_program_reads_no_secret_and_runs_unprivileged(
    run_as_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    key = make_key(data_dir, 1)
    database = data_dir / "runwire.db"
    assert (data_dir.stat().st_mode & 0o777, database.stat().st_mode & 0o777) == (0o700, 0o600)
    env = {
        "RUNWIRE_API_KEYS": BOOTSTRAP,
        "RUNWIRE_PRIVILEGED_PROJECTS": "1",
        "RUNWIRE_RUN_AS_USER": RUN_AS,
        "RUNWIRE_EXECUTABLES_DIR": str(ROOT / "examples" / "bin"),
        "OPENAI_API_KEY": OPENAI_SECRET,
    }
    with running_server(env=env, data_dir=data_dir) as server:
        probe = (  # the server's own environment, by its pid (the program's parent is outside its namespace)
            f"id -u; id -g; id -G; cat /proc/{server.process.pid}/environ; echo; env; "
            f"cat {database}; ls {data_dir}; echo written > {data_dir}/planted"
        )
        result = run_workflow(server.url, key, script_workflow(["/bin/sh", "-c", probe], check_exit=False))
        script = result["data"]["s"]["result"]
        out, err = script["content"], script["stderr"]
        uid, gid, groups = out.splitlines()[:3]
        assert (int(uid), int(gid), groups.split()) == (run_as_user.pw_uid, run_as_user.pw_gid, [gid])
        for secret in (BOOTSTRAP, OPENAI_SECRET, "RUNWIRE_API_KEYS", "OPENAI_API_KEY"):
            assert secret not in out and secret not in err, secret
        assert f"HOME={run_as_user.pw_dir}" in out and f"USER={RUN_AS}" in out
        assert err.count("Permission denied") >= 4, err  # environ, database, listing, planting
        assert not (data_dir / "planted").exists()

        # the LSO workflow is no back door to any program: its generic /run/ is refused
        headers = {"X-Api-Key": BOOTSTRAP}
        httpx.post(
            f"{server.url}/api/execute/",
            json={"executable_name": "hello.sh", "is_async": False},
            headers=headers,
        )
        doors = httpx.get(f"{server.url}{W}/", params={"project": 0}, headers=headers).json()["results"]
        exploit = {"executable": "/bin/sh", "args": ["-c", "id"]}
        for door in doors:
            reply = httpx.post(f"{server.url}{W}/{door['id']}/run/", json=exploit, headers=headers)
            assert reply.status_code == 403, reply.text
        # nor is another project: the scoped key cannot see or run project 2's workflows
        other = httpx.post(
            f"{server.url}{W}/",
            headers=headers,
            json={"project": 2, "title": "other", "data": script_workflow(["id"])},
        )
        assert other.status_code == 403  # not granted to project 2, even for the bootstrap key


def test_a_root_server_with_privileged_projects_needs_a_run_as_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        service_unavailable("only a root server refuses to start without RUNWIRE_RUN_AS_USER")
    env = {"RUNWIRE_API_KEYS": BOOTSTRAP, "RUNWIRE_PRIVILEGED_PROJECTS": "*"}
    said = refused_start(env, tmp_path / "data")
    assert "RUNWIRE_RUN_AS_USER" in said and "root" in said
    with running_server(env={**env, "RUNWIRE_RUN_AS_USER": "root"}, data_dir=tmp_path / "data") as server:
        assert "RUNWIRE_RUN_AS_USER=root" in server.logs()  # the opt-out is said out loud


def test_secrets_are_read_from_files(tmp_path: Path) -> None:
    keys, service = tmp_path / "api-keys", tmp_path / "service-key"
    keys.write_text("from-a-file\n")
    service.write_text("service-from-a-file\n")
    env = {"RUNWIRE_API_KEYS_FILE": str(keys), "RUNWIRE_SERVICE_API_KEY_FILE": str(service)}
    with running_server(env=env) as server:
        assert "from-a-file" not in server.env.get("RUNWIRE_API_KEYS", "")
        listed = httpx.get(f"{server.url}{W}/", headers={"X-Api-Key": "from-a-file"})
        assert listed.status_code == 200, listed.text
        assert httpx.get(f"{server.url}{W}/", headers={"X-Api-Key": str(keys)}).status_code == 401
        update = httpx.post(
            f"{server.url}{W}/execution-update/{'0' * 8}-0000-4000-8000-{'0' * 12}/",
            json={"payload": {"status": "failed"}},
            headers={"X-Service-Api-Key": "service-from-a-file"},
        )
        assert update.status_code == 404  # accepted as the service, and no such run
    said = refused_start({**env, "RUNWIRE_API_KEYS": "also-here"})
    assert "both RUNWIRE_API_KEYS and RUNWIRE_API_KEYS_FILE are set" in said
    said = refused_start({"RUNWIRE_API_KEYS_FILE": str(tmp_path / "nope")})
    assert "RUNWIRE_API_KEYS_FILE" in said and "from-a-file" not in said


def test_run_directories_left_by_a_killed_server_are_removed_at_the_next_start(tmp_path: Path) -> None:
    rundirs, data_dir = tmp_path / "rundirs", tmp_path / "data"
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer runs: its directories are leftovers
    (rundirs / f"{gone.pid}-old" / "results-x").mkdir(parents=True)
    env = {
        "RUNWIRE_API_KEYS": BOOTSTRAP,
        "RUNWIRE_PRIVILEGED_PROJECTS": "1",
        "RUNWIRE_RUNDIR_ROOT": str(rundirs),
        "RUNWIRE_RUN_AS_USER": pwd.getpwuid(os.geteuid()).pw_name,
    }
    headers = {"X-Api-Key": BOOTSTRAP}
    with running_server(env=env, data_dir=data_dir) as server:
        assert not (rundirs / f"{gone.pid}-old").exists()
        assert oct(rundirs.stat().st_mode & 0o777) == oct(0o711)
        made = httpx.post(
            f"{server.url}{W}/",
            headers=headers,
            json={"project": 1, "title": "s", "data": script_workflow(["sleep", "30"])},
        )
        httpx.post(f"{server.url}{W}/{made.json()['id']}/run/", json={}, headers=headers)
        deadline = time.monotonic() + 20
        while not list(rundirs.glob(f"{server.process.pid}-*/results-*")):
            assert time.monotonic() < deadline, "the run never made its run directory"
            time.sleep(0.05)
        left = list(rundirs.glob(f"{server.process.pid}-*"))
        os.killpg(server.process.pid, signal.SIGKILL)  # a crash: nothing cleans up
        server.process.wait()
        assert all(path.exists() for path in left)
    with running_server(env=env, data_dir=data_dir):
        assert not any(path.exists() for path in left)


def test_store_and_broker_urls_may_come_from_files(tmp_path: Path) -> None:
    url = tmp_path / "database-url"
    url.write_text(f"sqlite:///{tmp_path / 'from-file.db'}\n")
    env = {"RUNWIRE_API_KEYS": BOOTSTRAP, "RUNWIRE_DATABASE_URL_FILE": str(url)}
    with running_server(env=env) as server:
        assert httpx.get(f"{server.url}{W}/", headers={"X-Api-Key": BOOTSTRAP}).status_code == 200
    assert (tmp_path / "from-file.db").stat().st_mode & 0o777 == 0o600
    said = refused_start({**env, "RUNWIRE_BROKER_URL_FILE": str(tmp_path / "missing")})
    assert "RUNWIRE_BROKER_URL_FILE" in said


def test_nothing_a_program_starts_outlives_it(run_as_user: pwd.struct_passwd, tmp_path: Path) -> None:
    """A child that leaves the process group (setsid) dies with the program: as PID 1 of its own
    PID namespace, the program takes everything it started with it."""
    marker = f"runwire-escape-{os.getpid()}"
    escape = (
        "import os, time, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    sys.argv[0] = {marker!r}\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(os.getpid())\n"
    )
    env = {"RUNWIRE_API_KEYS": BOOTSTRAP, "RUNWIRE_PRIVILEGED_PROJECTS": "1", "RUNWIRE_RUN_AS_USER": RUN_AS}
    with running_server(env=env, data_dir=tmp_path / "data") as server:
        python = shutil.which("python3", path="/usr/bin:/bin") or pytest.skip(
            "no system python3 for the run-as user"
        )
        result = run_workflow(server.url, BOOTSTRAP, script_workflow([python, "-c", escape, marker]))
        assert result["status"] == "succeed", result
        assert result["data"]["s"]["result"]["content"].strip() == "1"  # PID 1 of its own namespace
        deadline = time.monotonic() + 10
        while True:  # the kernel kills the namespace's other processes as PID 1 exits
            left = subprocess.run(["pgrep", "-u", RUN_AS, "-f", marker], capture_output=True, text=True)
            if not left.stdout.strip():
                break
            assert time.monotonic() < deadline, f"still running: {left.stdout}"
            time.sleep(0.1)


def test_a_program_swapping_its_run_directory_for_a_link_removes_nothing_through_it(
    run_as_user: pwd.struct_passwd, tmp_path: Path
) -> None:
    """A task's ``command_rundir`` in a sticky, world-writable directory (as ``/tmp`` is): the
    run-as user owns its run directory there, so it may rename it and leave a link in its place.
    The root server removing the finished run's directory must not remove anything behind the
    link: here an empty ``out/`` in a root-only directory the program cannot reach itself."""
    import json
    import tempfile

    victim = tmp_path / "root-only"
    (victim / "out").mkdir(parents=True)
    os.chmod(tmp_path, 0o700)
    shared = Path(tempfile.mkdtemp(prefix="runwire-sticky-", dir="/tmp"))
    try:
        os.chmod(shared, 0o1777)
        swap = f'mv "$RUNDIR" "$RUNDIR.moved" && ln -s {victim} "$RUNDIR" && echo swapped'
        config = tmp_path / "task.json"
        config.write_text(json.dumps({"command": ["/bin/sh", "-c", swap], "command_rundir": str(shared)}))
        env = {
            "RUNWIRE_API_KEYS": BOOTSTRAP,
            "RUNWIRE_RUN_AS_USER": RUN_AS,
            "RUNWIRE_TASK_CONFIG": str(config),
        }
        with running_server(env=env, data_dir=tmp_path / "data") as server:
            headers = {"X-Api-Key": BOOTSTRAP}
            task = httpx.post(f"{server.url}/task", headers=headers).json()["id"]
            deadline = time.monotonic() + 30
            while True:
                done = httpx.get(f"{server.url}/task/{task}", headers=headers).json()
                if done["status"] != "not-ready":
                    break
                assert time.monotonic() < deadline, done
                time.sleep(0.05)
            assert done["status"] == "ready" and "swapped" in done["stdout"], done
        # the server has stopped: its disposal removed every finished run's directory
        assert (victim / "out").is_dir()
    finally:
        shutil.rmtree(shared, ignore_errors=True)
