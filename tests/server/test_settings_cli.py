"""Settings from the environment and CLI flags, and the CLI's refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from runwire_server.cli import main
from runwire_server.settings import Settings


def test_settings_come_from_runwire_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUNWIRE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RUNWIRE_DATABASE_URL", "postgresql://me@db/runs")
    monkeypatch.setenv("RUNWIRE_AUTH_PROVIDERS", " api-key , auth0 ")
    monkeypatch.setenv("RUNWIRE_WORKER_THREADS", "3")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.worker_threads == 3
    assert settings.store_url == "postgresql+psycopg://me@db/runs"
    assert settings.provider_names == ["api-key", "auth0"]
    assert Settings(worker_threads=5).worker_threads == 5  # explicit values (CLI flags) win


@pytest.mark.parametrize(
    ("name", "value"),
    [("RUNWIRE_WORKER_THREADS", "0"), ("RUNWIRE_WORKER_THREADS", "many"), ("RUNWIRE_AUTH_PROVIDERS", " , ")],
)
def test_invalid_settings_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_serve_refuses_bad_settings_before_listening(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    env["RUNWIRE_DATA_DIR"] = str(tmp_path)
    for extra, message in (
        (["--auth-providers", "nope"], "not installed"),
        (["--broker-url", "kafka://localhost:9092"], "unsupported scheme 'kafka'; use one of redis://"),
        (["--worker-threads", "0"], "invalid settings"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "runwire_server", "serve", "--port", "1", *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_refuses_a_port_no_socket_can_have(tmp_path: Path, port: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path), "--port", port])
    assert result.exit_code == 2 and "'--port'" in result.output and "0<=x<=65535" in result.output


def test_keys_create_needs_a_project(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["keys", "create", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--project" in result.output


def test_existing_commands_still_work(tmp_path: Path) -> None:
    runner = CliRunner()
    root = Path(__file__).resolve().parents[2]
    checked = runner.invoke(main, ["check", str(root / "examples" / "hello.json")])
    assert checked.exit_code == 0 and "no problems" in checked.output
    ran = runner.invoke(
        main, ["run", str(root / "examples" / "hello.json"), "--input", '{"name": "Al"}', "--json"]
    )
    assert ran.exit_code == 0 and "Welcome, Al!" in ran.output
    listed = runner.invoke(main, ["plugins"])
    assert listed.exit_code == 0 and "api-key" in listed.output


def test_serve_refuses_a_key_no_header_can_carry(tmp_path: Path) -> None:
    """A bootstrap key outside printable ASCII (compared as Unicode, while the ``X-Api-Key``
    header arrives as Latin-1) could never match: ``runwire serve`` refuses it, naming the
    setting and the key's position, not its value."""
    secret = tmp_path / "keys"
    secret.write_text("good-key,clé-secrète\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")}
    env["RUNWIRE_DATA_DIR"] = str(tmp_path)
    for extra, name, number in (
        ({"RUNWIRE_API_KEYS": "good-key, clé-secrète"}, "RUNWIRE_API_KEYS", 2),
        ({"RUNWIRE_API_KEYS_FILE": str(secret)}, "RUNWIRE_API_KEYS", 2),
        ({"RUNWIRE_API_KEYS": "tab\there"}, "RUNWIRE_API_KEYS", 1),
        ({"RUNWIRE_API_KEYS": "k", "RUNWIRE_SERVICE_API_KEY": "sérvice"}, "RUNWIRE_SERVICE_API_KEY", 1),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "runwire_server", "serve", "--port", "1"],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert f"{name}: key {number} holds a character outside printable ASCII" in done.stderr
        assert (
            "Traceback" not in done.stderr and "secrète" not in done.stderr and "sérvice" not in done.stderr
        )
