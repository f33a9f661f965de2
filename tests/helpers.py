"""What tests import as functions: keys, settings and apps, example workflows and task configs,
and ways to start runs and wait for them. Fixtures are in ``tests/conftest.py``.

Import as ``from tests.helpers import ...`` (pytest's importlib mode makes ``tests`` importable).
Waiting for a workflow run is :func:`runwire_server.testing.wait_for_run`, re-exported here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from runwire.plugins import Plugins
from runwire.records import TERMINAL as TERMINAL
from runwire_server.api.app import create_app
from runwire_server.services import build_services
from runwire_server.settings import Settings
from runwire_server.store.sync import SyncStore
from runwire_server.testing import wait_for_run as wait_for_run

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "tests" / "scripts"
PY = sys.executable
KEY = "test-bootstrap-key"
HEADERS = {"X-Api-Key": KEY}
SERVICE_KEY = "test-service-key"
RUN_SCRIPT = "Run Script"
TASK_READY_STATES = {"ready", "failed"}
"""Statuses of a ``/task`` job after which nothing changes any more."""

MakeClient = Callable[..., TestClient[Any]]


# --- settings and apps ------------------------------------------------------------------------


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: ``data_dir``, the bootstrap key :data:`KEY`, the execution-update key
    :data:`SERVICE_KEY`, an embedded SQLite store and queue, four worker threads."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": "",
        "broker_url": "",
        "api_keys": KEY,
        "auth_providers": "api-key",
        "service_api_key": SERVICE_KEY,
        "worker_threads": 4,
    }
    values.update(overrides)
    return Settings(**values)


def make_app(settings: Settings, plugins: Plugins) -> Litestar:
    """The real app for ``settings`` (with the session's plugins)."""
    return create_app(settings, services=build_services(settings, plugins))


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    """Write a task config as a new JSON file in ``tmp_path``; return its path."""
    path = tmp_path / f"config-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config))
    return path


@dataclass
class Server:
    """An in-process app and the keys to call it with (see the ``make_server`` fixture)."""

    client: TestClient[Any]
    keys: dict[str, str]
    """``bootstrap``, ``p0``, ``p0b`` (a second project-0 key), ``p1``, ``p2`` → X-Api-Key value."""

    def headers(self, who: str) -> dict[str, str]:
        """Headers authenticating as ``who`` (a name of :attr:`keys`; ``anonymous``: none)."""
        return {"X-Api-Key": self.keys[who]} if who in self.keys else {}

    def wait(self, run_id: str, who: str = "bootstrap", timeout: float = 30.0) -> dict[str, Any]:
        """Wait as ``who`` until the run is terminal; return its data."""
        return wait_for_run(self.client, run_id, self.headers(who), timeout=timeout)


MakeServer = Callable[..., Server]


# --- workflows --------------------------------------------------------------------------------

TRIGGER = "9b0c4b3e-0000-4000-8000-000000000001"
SLEEP = "9b0c4b3e-0000-4000-8000-000000000002"
OUTPUT = "9b0c4b3e-0000-4000-8000-000000000003"


def hello_data() -> dict[str, Any]:
    """The example workflow: trigger (name, age) → if age >= 18 → one of two outputs."""
    return json.loads((ROOT / "examples" / "hello.json").read_text())  # type: ignore[no-any-return]


def reference_data() -> dict[str, Any]:
    """The reference document's example workflow (its LLM nodes need the OpenAI plugin)."""
    return json.loads((ROOT / "tests" / "data" / "reference_example.json").read_text())["data"]  # type: ignore[no-any-return]


def sleep_data(seconds: float, marker_dir: Path | None = None) -> dict[str, Any]:
    """trigger → Test Sleep (``seconds``) → output (the sleep node's pid); needs the test plugin
    of the ``sleep_plugin_path`` fixture."""
    sleep: dict[str, Any] = {"name": "Test Sleep", "seconds": seconds}
    if marker_dir is not None:
        sleep["marker_dir"] = str(marker_dir)
    return {
        "nodes": [
            {"id": TRIGGER, "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
            {"id": SLEEP, "type": "basic-node", "data": sleep},
            {"id": OUTPUT, "type": "output-node", "data": {"output": "{{ " + SLEEP + ".result.pid }}"}},
        ],
        "edges": [
            {"id": "e1", "source": TRIGGER, "target": SLEEP},
            {"id": "e2", "source": SLEEP, "target": OUTPUT},
        ],
        "start_node": TRIGGER,
    }


def sleep_pid(result: dict[str, Any]) -> int:
    """The pid of the process that ran the sleep node of a :func:`sleep_data` run's ``data``."""
    return int(result["data"][SLEEP]["result"]["pid"])


def script_workflow(command: list[str], **data: Any) -> dict[str, Any]:
    """trigger → Run Script (``command`` and more ``data``) → output of its stdout."""
    return {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
            {"id": "s", "type": "basic-node", "data": {"name": RUN_SCRIPT, "command": command, **data}},
            {"id": "o", "type": "output-node", "data": {"output": "{{ s.result.content }}"}},
        ],
        "edges": [{"id": "e1", "source": "t", "target": "s"}, {"id": "e2", "source": "s", "target": "o"}],
        "start_node": "t",
    }


def output_workflow(text: str) -> dict[str, Any]:
    """trigger → output ``text``: no privileged node."""
    return {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"name": "Trigger", "input_fields": []}},
            {"id": "o", "type": "output-node", "data": {"output": text}},
        ],
        "edges": [{"id": "e1", "source": "t", "target": "o"}],
        "start_node": "t",
    }


# --- task configs (the /task front door) ------------------------------------------------------

LIMS_RESULTS = [  # what the reference's example config makes of lims_results.py's CSV
    {
        "plateIndex": "1",
        "plateCell": "A01",
        "marker1": "CATCTGTATC",
        "marker2": "ATGAGACTTG",
        "classification": "failed: low S2 & RPP30",
    },
    {
        "plateIndex": "1",
        "plateCell": "A02",
        "marker1": "GTTCGGCATG",
        "marker2": "CCAATCTGAG",
        "classification": "negative",
    },
]


def lims_config() -> dict[str, Any]:
    """The script-runner reference's example: LIMS_results.csv remapped, the PDF attached."""
    return {
        "command": [PY, str(SCRIPTS / "lims_results.py"), "$RUNDIR", "$PLATE"],
        "inputs": {
            "path_args": [{"env_var_name": "PLATE", "path_regex": "([^/]+)", "path_regex_match_group": 1}],
            "query_args": [],
            "body_args": [],
        },
        "outputs": {
            "results": {
                "kind": "file",
                "format": "csv",
                "input_path": "LIMS_results.csv",
                "remapped_columns": [
                    {"output_name": "plateIndex", "input_name": "Plate_384_Number", "skip_list": ["NA"]},
                    {"output_name": "plateCell", "input_name": "Sample_Well"},
                    {"output_name": "marker1", "input_name": "marker1"},
                    {"output_name": "marker2", "input_name": "marker2"},
                    {"output_name": "classification", "input_name": "classification"},
                ],
            },
            "attachments": ["out/*.pdf"],
        },
    }


def echo_config() -> dict[str, Any]:
    """A task that shows what its command received: path, query and body variables."""
    return {
        "command": [PY, str(SCRIPTS / "show_args.py"), "$P", "--season=$SEASON", "$CITY", "$TAGS"],
        "inputs": {
            "path_args": [{"env_var_name": "P", "path_regex": "(.*)", "path_regex_match_group": 1}],
            "query_args": [{"env_var_name": "SEASON", "query_var_name": "season"}],
            "body_args": [
                {"env_var_name": "CITY", "body_jsonpath": "$.city"},
                {"env_var_name": "TAGS", "body_jsonpath": "$.tags[*]"},
            ],
        },
        "outputs": {"results": {"kind": "stdout", "format": "json"}, "attachments": []},
    }


def echo_task() -> dict[str, Any]:
    """A task whose command prints the query variable ``WHO`` as JSON."""
    return {
        "command": [PY, str(SCRIPTS / "show_args.py"), "$WHO"],
        "inputs": {
            "path_args": [],
            "query_args": [{"env_var_name": "WHO", "query_var_name": "who"}],
            "body_args": [],
        },
        "outputs": {"results": {"kind": "stdout", "format": "json"}, "attachments": []},
    }


# --- runs through the API ---------------------------------------------------------------------


def api(url: str, key: str = KEY) -> httpx.Client:
    """An HTTP client for a live server with an API key."""
    return httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=10.0)


def _headers(client: httpx.Client) -> Mapping[str, str]:
    """:data:`HEADERS` unless the client brings its own key."""
    return {} if "X-Api-Key" in client.headers else HEADERS


def create_workflow(
    client: httpx.Client, data: dict[str, Any] | None = None, project: int = 1, title: str = "Hello"
) -> int:
    """Create a workflow (default: :func:`hello_data`) through the API; return its id."""
    response = client.post(
        "/api/v1/workflows/",
        json={"project": project, "title": title, "data": data or hello_data()},
        headers=_headers(client),
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def start_run(client: httpx.Client, workflow_id: int, body: str = "{}") -> str:
    """Start a run with a flat JSON body; return its id."""
    reply = client.post(
        f"/api/v1/workflows/{workflow_id}/run/", content=body, headers=_headers(client)
    ).json()
    assert reply["status"] == 201, reply
    return str(reply["data"]["id"])


def poll_task(client: Any, task_id: str, prefix: str = "/task", timeout: float = 30) -> dict[str, Any]:
    """GET a ``/task`` job until it is ready or failed (or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get(f"{prefix}/{task_id}", headers=HEADERS)
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        if body["status"] in TASK_READY_STATES or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


def poll_job(
    client: Any, job_id: str, timeout: float = 30, until: Callable[[dict[str, Any]], bool] | None = None
) -> Any:
    """GET an execute job until its run is terminal (or ``until`` holds, or ``timeout`` passed)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = client.get(f"/api/execute/{job_id}", headers=HEADERS)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        done = until(body) if until else body["status"] in TERMINAL
        if done or time.monotonic() > deadline:
            return body
        time.sleep(0.02)


# --- live servers -----------------------------------------------------------------------------

MAX_BODY = 65536


SHORT_LEASES = {"RUNWIRE_HEARTBEAT_S": "1", "RUNWIRE_PROCESS_TIMEOUT_S": "4"}
"""Process leases for tests that kill processes: a dead one's runs are taken over after ~4 s
instead of the default ~10 s (bench/recovery.py measures the defaults)."""


def server_env() -> dict[str, str]:
    """``runwire serve`` settings with every front door mounted: the bootstrap key, the
    execution-update key, the example task config and executables, a body limit of
    :data:`MAX_BODY` bytes."""
    return {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_SERVICE_API_KEY": SERVICE_KEY,
        "RUNWIRE_TASK_CONFIG": str(ROOT / "examples" / "task" / "config.json"),
        "RUNWIRE_EXECUTABLES_DIR": str(ROOT / "examples" / "bin"),
        "RUNWIRE_MAX_BODY_BYTES": str(MAX_BODY),
    }


def with_plugin(env: dict[str, str], plugin_path: str) -> dict[str, str]:
    """``env`` plus the test plugin (the ``sleep_plugin_path`` fixture) on ``PYTHONPATH``."""
    paths = [plugin_path, *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


def rewrite_run(store: SyncStore, run_id: str, status: str, nodes: dict[str, Any], cost: float = 0.0) -> None:
    """Test set-up: write a run's status, nodes and cost straight into the store, finished or not
    (the store's ``save_run`` never rewrites a finished run), e.g. to make a finished run look
    like an external execution service's, still going."""
    from sqlalchemy import update

    from runwire_server.store.tables import runs

    with store._transaction(write=True) as conn:
        conn.execute(
            update(runs).where(runs.c.id == run_id).values(status=status, nodes=nodes, total_cost=cost)
        )


def wait_for_marker(marker_dir: Path, run_id: str, timeout: float = 20.0) -> int:
    """Wait until the sleep node of ``run_id`` started; return the pid running it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(marker_dir.glob(f"{run_id}.*"))
        if found:
            return int(found[0].suffix[1:])
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} never started its sleep node")


# --- a scratch virtual environment -------------------------------------------------------------


def scratch_venv(root: Path) -> Path:
    """A virtual environment at ``root`` seeing this project's packages (nothing downloaded);
    what is installed into it (``pip --python <it> install``) stays out of the project's.
    Returns its interpreter."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = root / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    project_site = sysconfig.get_paths()["purelib"]
    # addsitedir: the project's own .pth files (its editable installs) are read too
    (site / "_runwire_project.pth").write_text(f"import site; site.addsitedir({project_site!r})\n")
    return root / "bin" / "python"


# --- the web UI -------------------------------------------------------------------------------


def ui_csrf_token(client: Any) -> str:
    """The CSRF token of the UI's forms for ``client`` (a TestClient or httpx client keeping cookies)."""
    page = client.get("/ui/", headers={})
    found = re.search(r'name="_csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def ui_sign_in(client: Any, key: str) -> str:
    """Sign ``client`` in to the UI with an API key; return the CSRF token for its forms."""
    token = ui_csrf_token(client)
    reply = client.post(
        "/ui/sign-in", data={"credential": key, "_csrf_token": token}, headers={}, follow_redirects=False
    )
    assert reply.status_code == 303, reply.text[:500]
    return token


def make_key(data_dir: Path, project: int, env: Mapping[str, str] | None = None) -> str:
    """``runwire keys create --project N`` on the store of ``data_dir``, as an operator would
    (``env``: the server's environment; default: this one without ``RUNWIRE_*`` settings)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runwire_server",
            "keys",
            "create",
            "--project",
            str(project),
            "--name",
            f"p{project}",
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=dict(env)
        if env is not None
        else {k: v for k, v in os.environ.items() if not k.startswith("RUNWIRE_")},
    )
    return done.stdout.strip().splitlines()[0]


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""A metrics page's samples by name and labels."""


def samples(text: str) -> Samples:
    """Every sample of a metrics page, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent: a counter never incremented)."""
    return found.get((name, frozenset(labels.items())), 0.0)
