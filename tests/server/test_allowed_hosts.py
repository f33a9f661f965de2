"""``RUNWIRE_ALLOWED_HOSTS`` (docs/security.md, "Settings that narrow access"): the pagination
links are built from the ``Host`` header, so a server can refuse any Host but its own names."""

from __future__ import annotations

import subprocess
import sys

import httpx

from runwire_server.testing import running_server
from tests.helpers import KEY, api, create_workflow, hello_data

LIST = "/api/v1/workflows/?page_size=1"


def get(url: str, host: str, path: str = LIST, key: str | None = KEY) -> httpx.Response:
    headers = {"Host": host, **({"X-Api-Key": key} if key else {})}
    return httpx.get(url + path, headers=headers, timeout=30)


def test_only_the_allowed_hosts_are_answered_and_links_name_them() -> None:
    env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_ALLOWED_HOSTS": "runs.example.com, *.runs.test"}
    with running_server(env=env) as live:
        with api(live.url) as client:  # Host 127.0.0.1:<port> is not allowed: 400
            assert client.get("/api/v1/workflows/").status_code == 400
        for host in ("runs.example.com", "eu.runs.test"):
            with httpx.Client(base_url=live.url, headers={"Host": host, "X-Api-Key": KEY}) as client:
                create_workflow(client, hello_data())
        page = get(live.url, "runs.example.com")
        assert page.status_code == 200 and page.json()["count"] == 2
        assert page.json()["next"] == "http://runs.example.com/api/v1/workflows?page_size=1&page=2"
        assert get(live.url, "eu.runs.test").json()["next"].startswith("http://eu.runs.test/")

        for forged in ("evil.example", "runs.example.com.evil.example", "runs.example.com:8000", "runs.test"):
            refused = get(live.url, forged)
            assert refused.status_code == 400 and "invalid host header" in refused.text, forged
            assert forged not in refused.text
        assert get(live.url, "evil.example", "/ui/").status_code == 400  # the UI too
        # probes and scrapers ask by address: the health routes answer any Host
        for path in ("/healthz", "/readyz"):
            assert get(live.url, f"127.0.0.1:{live.port}", path, key=None).status_code == 200
        assert get(live.url, "10.0.0.7:8000", "/metrics").status_code == 200
        logs = live.logs()
        assert "ERROR" not in logs and "Traceback" not in logs and "evil.example" not in logs


def test_any_host_by_default() -> None:
    with running_server(env={"RUNWIRE_API_KEYS": KEY}) as live:
        with api(live.url) as client:
            create_workflow(client, hello_data())
            create_workflow(client, hello_data())
        for host in ("anything.example", "10.1.2.3:9"):
            page = get(live.url, host)
            assert page.status_code == 200 and page.json()["next"].startswith(f"http://{host}/")


def test_a_malformed_list_refuses_to_start() -> None:
    for value, message in (
        (" , ", "RUNWIRE_ALLOWED_HOSTS is empty; use '*' to answer any Host"),
        ("runs*.example.com", "RUNWIRE_ALLOWED_HOSTS: 'runs*.example.com' is not a host"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "runwire_server", "serve", "--port", "1"],
            env={"RUNWIRE_ALLOWED_HOSTS": value, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr
