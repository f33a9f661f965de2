"""The fixtures of every test under ``tests/`` (helpers imported as functions: ``tests/helpers.py``).

Layout: a test sits next to what it tests. ``tests/core/`` tests the core package ``runwire``,
``tests/server/`` tests ``runwire_server`` (a subfolder per server subpackage with tests of its
own, e.g. ``tests/server/frontdoors/``); suites across both keep their own folders: ``trust``,
``e2e``, ``fuzz``, ``docs``. Each plugin's tests live in ``plugins/<name>/tests/``. Test folders
have no ``__init__.py``: pytest runs with ``--import-mode=importlib``, which gives each test module
a unique name from its path, and shared code is imported absolutely from the top, as
``from tests.helpers import ...`` (``tests/fake_nodes.py`` holds the core tests' node plugins).
A fixture used by more than one test module lives here, one used by one module in that module;
there is no folder ``conftest.py`` (the plugins, separate distributions, keep their own).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from runwire.plugins import Plugins
from runwire.settingstable import SettingsTable
from runwire_server.api.app import create_app
from runwire_server.services import build_services
from runwire_server.settings import store_url
from runwire_server.store import Store, open_database
from runwire_server.testing import postgres_database, rabbitmq_namespace, redis_namespace
from tests.helpers import (
    KEY,
    SCRIPTS,
    MakeClient,
    MakeServer,
    Server,
    echo_task,
    make_app,
    make_settings,
    write_config,
)

RUNDIR_ROOT = Path(tempfile.gettempdir()) / f"runwire-rundirs-{os.geteuid()}"
"""The default run-directory root, shared with every runwire of this user (not the tests' own)."""
_root_made_by: dict[str, str] = {}


def _own_rundir_roots() -> set[str]:
    """The run-directory roots of services built in this process (``<pid>-<random>``)."""
    try:
        return {p.name for p in RUNDIR_ROOT.iterdir() if p.name.startswith(f"{os.getpid()}-")}
    except FileNotFoundError:
        return set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Note which test made each run-directory root of this process still there after it."""
    before = _own_rundir_roots()
    yield
    for name in _own_rundir_roots() - before:
        _root_made_by[name] = item.nodeid


@pytest.fixture(scope="session", autouse=True)
def no_run_directory_root_left() -> Iterator[None]:
    """Fail the session if services built in this process (an app, ``build_services``) left their
    run-directory root in the shared :data:`RUNDIR_ROOT`: services never closed, e.g. an app
    whose shutdown did not run. runwire removes a dead process's root at its next start, but
    tests clean what they made."""
    before = _own_rundir_roots()
    yield
    left = sorted(_own_rundir_roots() - before)
    made_by = [f"{RUNDIR_ROOT / name} (made by {_root_made_by.get(name, 'the last test')})" for name in left]
    assert not left, "run-directory roots left behind:\n" + "\n".join(made_by)


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    """The installed plugins, loaded once for the whole session (as a server does at boot)."""
    return Plugins.load()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store: SQLite in ``tmp_path``, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield store_url("", tmp_path)
        return
    with postgres_database() as url:
        yield store_url(url, tmp_path)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """``RUNWIRE_BROKER_URL`` and ``RUNWIRE_BROKER_NAMESPACE`` of a fresh queue on Redis, or on
    RabbitMQ (the distributed mode's two brokers), removed afterwards."""
    namespace = redis_namespace if request.param == "redis" else rabbitmq_namespace
    with namespace() as (url, name):
        yield {"RUNWIRE_BROKER_URL": url, "RUNWIRE_BROKER_NAMESPACE": name}


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A store with its schema, on each backend of :func:`database_url` (the async API; the
    backend's blocking form is ``store.sync``)."""
    made = open_database(database_url)
    made.create_schema()
    yield made
    made.dispose()


@pytest.fixture
def executables(tmp_path: Path) -> Path:
    """A RUNWIRE_EXECUTABLES_DIR: copies of the test scripts, ``hello.sh`` (prints its arguments)
    and traps: a file that is not executable, a link to ``tmp_path/outside.sh``."""
    root = tmp_path / "executables"
    (root / "subdir").mkdir(parents=True)
    for script in SCRIPTS.iterdir():
        shutil.copy2(script, root / script.name)
    (root / "hello.sh").write_text('#!/bin/sh\necho "hello, $*"\n')
    (root / "hello.sh").chmod(0o755)
    (root / "not-executable.sh").write_text("#!/bin/sh\necho no\n")
    (root / "not-executable.sh").chmod(0o644)
    outside = tmp_path / "outside.sh"
    outside.write_text("#!/bin/sh\necho escaped\n")
    outside.chmod(0o755)
    (root / "escape.sh").symlink_to(outside)
    return root


@pytest.fixture
def make_client(tmp_path: Path, plugins: Plugins, executables: Path) -> Iterator[MakeClient]:
    """Build test clients of real apps (embedded store and queue, a fresh data dir each) for
    :func:`~tests.helpers.make_settings` overrides; ``config=`` mounts a task config."""
    clients: list[TestClient[Any]] = []

    def make(config: dict[str, Any] | None = None, **overrides: Any) -> TestClient[Any]:
        values: dict[str, Any] = {
            "data_dir": tmp_path / f"data-{len(clients)}",
            "executables_dir": str(executables),
        }
        if config is not None:
            values["task_config"] = str(write_config(tmp_path, config))
        settings = make_settings(**{**values, **overrides})
        plugins.settings = SettingsTable.collect(plugins.pm)  # plugin settings, as at a server's boot
        client = TestClient(make_app(settings, plugins))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient[Any]:
    """A test client of an app with the default settings of :func:`make_client`."""
    return make_client()


@pytest.fixture
def make_server(tmp_path: Path, plugins: Plugins, executables: Path) -> Iterator[MakeServer]:
    """Build an app for settings overrides (a task mounted, execute on) and API keys scoped to
    projects 0, 1 and 2 besides the bootstrap key."""
    made: list[TestClient[Any]] = []

    def make(data_dir: Path | None = None, **overrides: Any) -> Server:
        config = tmp_path / f"task-{uuid.uuid4().hex[:6]}.json"
        config.write_text(json.dumps(echo_task()))
        values: dict[str, Any] = {
            "executables_dir": str(executables),
            "task_config": str(config),
            # this process's own user: explicit, so granting privileged projects as root is allowed
            "run_as_user": pwd.getpwuid(os.geteuid()).pw_name,
        }
        values.update(overrides)
        settings = make_settings(data_dir or tmp_path / f"data-{len(made)}", **values)
        plugins.settings = SettingsTable.collect(plugins.pm)  # plugin settings, as at a server's boot
        services = build_services(settings, plugins)
        keys = {"bootstrap": KEY}
        for name, project in (("p0", 0), ("p0b", 0), ("p1", 1), ("p2", 2)):
            keys[name] = services.store.sync.create_api_key([project], name)
        client = TestClient(create_app(settings, services=services))
        client.__enter__()
        made.append(client)
        return Server(client, keys)

    yield make
    for client in made:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def sleep_plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ``PYTHONPATH`` entry holding the test plugin ``tests/e2e/sleep_plugin`` and a dist-info
    declaring its entry point (a node ``Test Sleep``; see :func:`~tests.helpers.sleep_data`)."""
    root = tmp_path_factory.mktemp("sleep-plugin")
    shutil.copy(Path(__file__).parent / "e2e" / "sleep_plugin" / "runwire_test_sleep.py", root)
    info = root / "runwire_test_sleep-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: runwire-test-sleep\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[runwire]\ntest-sleep = runwire_test_sleep\n")
    return str(root)
