"""Start real ``runwire serve`` / ``runwire worker`` processes for end-to-end tests.

Use from any test (core, plugins, front doors)::

    from runwire_server.testing import running_server

    def test_health():
        with running_server(env={"RUNWIRE_AUTH_PROVIDERS": "none"}) as server:
            assert httpx.get(f"{server.url}/healthz").status_code == 200

What it offers: :func:`running_server` and :func:`running_worker` (live processes),
:func:`free_port`, :func:`wait_for_run` (poll a run until it is terminal, by URL or through
any client, a test client too),
:func:`postgres_database` (a fresh database, dropped afterwards),
:func:`redis_namespace` (a fresh key prefix on Redis DB 11, deleted afterwards),
:func:`rabbitmq_namespace` (a fresh run queue on RabbitMQ, deleted afterwards) and
:func:`service_unavailable` (skip, or fail under ``CI=true``, when a service is missing).

Each process gets a fresh temporary data dir (removed afterwards) unless one is given,
inherits the test's environment *without* any ``RUNWIRE_*`` variables (so a developer's
settings never leak into a test) plus ``env``, and writes its output to ``<data_dir>/*.log``
(``.logs()`` reads it; failures include it). The API is stable: keyword arguments only are
added, never changed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from runwire.records import TERMINAL as TERMINAL_STATUSES
from runwire_server.cli.processes import WORKER_READY_LINE
from runwire_server.testing_services import (
    DEFAULT_POSTGRES_ADMIN_URL,
    DEFAULT_REDIS_URL,
    POSTGRES_ADMIN_URL_ENV,
    REDIS_URL_ENV,
    postgres_database,
    rabbitmq_namespace,
    redis_namespace,
    service_unavailable,
)

RESULT_PATH = "/api/v1/workflows/workflow_result/"

__all__ = [
    "DEFAULT_POSTGRES_ADMIN_URL",
    "DEFAULT_REDIS_URL",
    "POSTGRES_ADMIN_URL_ENV",
    "REDIS_URL_ENV",
    "TERMINAL_STATUSES",
    "WORKER_READY_LINE",
    "HttpGetter",
    "ProcessFailed",
    "RunningProcess",
    "RunningServer",
    "free_port",
    "postgres_database",
    "rabbitmq_namespace",
    "redis_namespace",
    "running_server",
    "running_worker",
    "service_unavailable",
    "wait_for_run",
]


class ProcessFailed(RuntimeError):
    """A process exited or did not become ready in time; the message carries its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningProcess:
    """A started ``runwire`` process.

    :param process: the ``subprocess.Popen`` (``.pid``, ``.poll()``, ``.send_signal()``).
    :param data_dir: its ``RUNWIRE_DATA_DIR``.
    :param log_path: the file its stdout and stderr go to.
    :param env: the full environment it was started with.
    """

    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    env: dict[str, str] = field(repr=False)

    def logs(self) -> str:
        """Everything the process printed so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL the process (no clean-up on its side) and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@dataclass
class RunningServer(RunningProcess):
    """A started ``runwire serve``; ``url`` is its base URL, e.g. ``http://127.0.0.1:40123``."""

    url: str = ""
    port: int = 0


def _child_env(env: Mapping[str, str] | None, data_dir: Path) -> dict[str, str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    child["PYTHONUNBUFFERED"] = "1"
    child["RUNWIRE_DATA_DIR"] = str(data_dir)
    child.update(env or {})
    return child


def _spawn(
    argv: list[str], env: dict[str, str], log_path: Path, python: str | None = None
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [python or sys.executable, "-m", "runwire_server", *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def _data_dir(data_dir: str | Path | None) -> Iterator[Path]:
    if data_dir is not None:
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="runwire-test-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _fail(proc: RunningProcess, why: str) -> ProcessFailed:
    return ProcessFailed(f"{why}\n--- process output ---\n{proc.logs()[-8000:]}")


@contextmanager
def running_server(
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    data_dir: str | Path | None = None,
    timeout: float = 30.0,
    python: str | None = None,
) -> Iterator[RunningServer]:
    """Run ``runwire serve --host 127.0.0.1 --port <free> *args`` until the block ends.

    Waits until ``GET /healthz`` answers 200; on exit sends SIGTERM (SIGKILL after 10 s).

    :param env: extra environment variables (``RUNWIRE_*`` settings, ``OPENAI_BASE_URL`` ...).
    :param args: extra ``runwire serve`` arguments.
    :param data_dir: use this data dir (kept afterwards) instead of a fresh temporary one;
        pass the same one twice to restart a server on the same store.
    :param timeout: seconds to wait for readiness.
    :param python: the interpreter to run it with (another virtual environment's); default
        this process's.
    :raises ProcessFailed: the server exited or did not answer in time (with its output).
    """
    with _data_dir(data_dir) as path:
        for attempt in range(3):
            port = free_port()
            log_path = path / f"serve-{port}-{uuid.uuid4().hex[:6]}.log"
            child_env = _child_env(env, path)
            argv = ["serve", "--host", "127.0.0.1", "--port", str(port), *args]
            server = RunningServer(
                _spawn(argv, child_env, log_path, python),
                path,
                log_path,
                child_env,
                url=f"http://127.0.0.1:{port}",
                port=port,
            )
            try:
                if _wait_healthy(server, timeout):
                    break
                if attempt == 2 or "address already in use" not in server.logs().lower():
                    raise _fail(server, f"runwire serve exited with code {server.process.returncode}")
            except BaseException:
                server.stop()
                raise
        try:
            yield server
        finally:
            server.stop()


def _wait_healthy(server: RunningServer, timeout: float) -> bool:
    """True once /healthz answers; False if the process exited; raise on timeout."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False
            try:
                if client.get(f"{server.url}/healthz").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise _fail(server, f"runwire serve did not answer /healthz within {timeout:g} s")


@contextmanager
def running_worker(
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    data_dir: str | Path | None = None,
    timeout: float = 30.0,
) -> Iterator[RunningProcess]:
    """Run ``runwire worker *args`` until the block ends.

    Waits until the worker prints :data:`WORKER_READY_LINE`. Give it the same
    ``RUNWIRE_DATABASE_URL`` and ``RUNWIRE_BROKER_URL`` as the server it works for.

    :raises ProcessFailed: the worker exited or did not get ready in time (with its output).
    """
    with _data_dir(data_dir) as path:
        log_path = path / f"worker-{uuid.uuid4().hex[:8]}.log"
        child_env = _child_env(env, path)
        worker = RunningProcess(_spawn(["worker", *args], child_env, log_path), path, log_path, child_env)
        try:
            deadline = time.monotonic() + timeout
            while WORKER_READY_LINE not in worker.logs():
                if worker.process.poll() is not None:
                    raise _fail(worker, f"runwire worker exited with code {worker.process.returncode}")
                if time.monotonic() > deadline:
                    raise _fail(worker, f"runwire worker not ready within {timeout:g} s")
                time.sleep(0.05)
            yield worker
        finally:
            worker.stop()


class HttpGetter(Protocol):
    """Anything with httpx's ``get``: an ``httpx.Client`` or Litestar's ``TestClient``."""

    def get(self, url: str, *, params: Any = ..., headers: Any = ...) -> httpx.Response: ...


def wait_for_run(
    server: str | HttpGetter,
    run_id: str,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    interval: float = 0.02,
    logs: Callable[[], str] | None = None,
) -> dict[str, Any]:
    """Poll ``GET /api/v1/workflows/workflow_result/?id=run_id`` until the run is terminal.

    :param server: the server's base URL, or a client to poll with (an ``httpx.Client`` with a
        ``base_url``, or a test client); ``headers`` are added to the client's own.
    :param logs: e.g. ``server.logs``: its tail is added to a failure's message.
    :returns: the reply's ``data`` object (``id``, ``status``, ``data``, ``metrics`` ...).
    :raises AssertionError: a poll answered other than 200, or the run was not terminal after
        ``timeout`` seconds (the message carries the last reply).
    """
    if isinstance(server, str):
        with httpx.Client(base_url=server, timeout=10.0) as client:
            return wait_for_run(client, run_id, headers, timeout, interval, logs)
    tail = (lambda: f"\n--- server output ---\n{logs()[-3000:]}") if logs else (lambda: "")
    deadline = time.monotonic() + timeout
    while True:
        reply = server.get(RESULT_PATH, params={"id": run_id}, headers=dict(headers or {}))
        if reply.status_code != 200:
            raise AssertionError(f"polling run {run_id}: {reply.status_code} {reply.text}{tail()}")
        data: dict[str, Any] = reply.json()["data"]
        if data["status"] in TERMINAL_STATUSES:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} not terminal after {timeout:g} s: {data}{tail()}")
        time.sleep(interval)
