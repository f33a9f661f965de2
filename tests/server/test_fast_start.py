"""Starting a command imports only what it uses: a plugin's SDK waits until its node or
provider is used, and the commands that need no server part import none (issue #17)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY_SDKS = ("openai", "jwt", "httpx", "cryptography")
"""Imported by the LLM, HTTP and Auth0 plugins when a node runs or the provider is built."""
PARSED_ON_USE = ("jsonpath_ng",)
"""Imported when a body binder is built (a config.json or a workflow with ``body_args``)."""
RENDERED_ON_USE = ("jinja2", "runwire.template")
"""Imported at the first template a run renders or a check parses that is not plain lookups
(``{{ <node-id>.result.<key> }}``), or the first UI page; a start that renders none (``run`` of
template-free nodes or plain lookups, ``plugins``, ``serve`` to its first answer) does not."""
SERVER_ONLY = ("litestar", "sqlalchemy", "alembic", "uvicorn", "dramatiq", "redis", "pika", "rich")
"""What ``serve``, ``worker`` and the store commands use; ``run``, ``check`` and ``plugins``
(without progress) do not."""


def imported_after(code: str) -> set[str]:
    """Top-level packages imported by a fresh interpreter running ``code`` (and the runwire
    modules among them, by full name)."""
    script = (
        f"import sys\n{code}\nimport json\n"
        "names = {m.split('.')[0] for m in sys.modules} | {m for m in sys.modules if m.startswith('runwire.')}\n"
        "print(json.dumps(sorted(names)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_loading_every_installed_plugin_imports_no_sdk() -> None:
    loaded = imported_after(
        "import runwire\nfrom runwire.plugins import Plugins\nassert not Plugins.load().problems"
    )
    assert loaded.isdisjoint(HEAVY_SDKS), loaded & set(HEAVY_SDKS)


def test_the_workflow_commands_import_no_sdk_and_no_server_part() -> None:
    code = (
        "from runwire_server.cli import main\n"
        "from runwire_server.cli.base import load_plugins\n"
        "plugins = load_plugins()\n"
        "plugins.describe()\n"
    )
    loaded = imported_after(code)
    unused = HEAVY_SDKS + SERVER_ONLY + PARSED_ON_USE + RENDERED_ON_USE
    assert loaded.isdisjoint(unused), loaded & set(unused)


def test_a_run_imports_jinja2_at_its_first_template_only(tmp_path: Path) -> None:
    """``runwire run`` of template-free nodes, or of templates that are plain lookups, loads no
    Jinja2; another template still renders (and a bad one is still refused by the check)."""
    plain = {
        "nodes": [{"id": "start", "type": "trigger-node", "data": {"label": "plain"}}],
        "edges": [],
        "start_node": "start",
    }
    looked_up = {
        "nodes": [
            {"id": "start", "type": "trigger-node", "data": {}},
            {"id": "out", "type": "output-node", "data": {"output": "{{ start.result.input.x }}!"}},
        ],
        "edges": [{"source": "start", "target": "out"}],
        "start_node": "start",
    }
    templated = json.loads(json.dumps(looked_up).replace(".x }}", ".x | upper }}"))
    code = (
        "import asyncio, sys\n"
        "from runwire.check import prepare_workflow\n"
        "from runwire.engine import Engine\n"
        "from runwire.plugins import Plugins\n"
        "from runwire.workflow import WorkflowData\n"
        "plugins = Plugins.load()\n"
        "def run(raw, data):\n"
        "    workflow = prepare_workflow(WorkflowData.model_validate(raw), plugins)\n"
        "    return asyncio.run(Engine().execute(workflow, data))\n"
        f"record = run({plain!r}, {{}})\n"
        "assert record.status == 'succeed', record\n"
        "assert 'jinja2' not in sys.modules\n"
        f"record = run({looked_up!r}, {{'x': 'hi'}})\n"
        "assert record.status == 'succeed', record\n"
        "assert 'hi!' in str(record.to_json()), record\n"
        "assert 'jinja2' not in sys.modules\n"
        f"record = run({templated!r}, {{'x': 'hi'}})\n"
        "assert record.status == 'succeed', record\n"
        "assert 'HI!' in str(record.to_json()), record\n"
        "assert 'jinja2' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


def test_a_server_without_a_broker_imports_no_broker_and_alembic_only_to_migrate(tmp_path: Path) -> None:
    """Embedded ``serve``: no Dramatiq, Redis or pika; Alembic only while the store is behind
    the newest revision (the first start), not on a start that finds it current."""
    code = (
        "import os\n"
        f"os.environ.update(RUNWIRE_DATA_DIR={str(tmp_path)!r}, RUNWIRE_API_KEYS='k')\n"
        "from runwire_server.api.app import create_app\n"
        "from runwire_server.cli.base import build_process_services, settings_from\n"
        "settings = settings_from()\n"
        "create_app(settings, services=build_process_services(settings))\n"
    )
    first = imported_after(code)
    assert "alembic" in first  # the store was made: every revision ran
    again = imported_after(code)
    unused = ("alembic", "dramatiq", "redis", "pika", *HEAVY_SDKS, *PARSED_ON_USE, *RENDERED_ON_USE)
    assert again.isdisjoint(unused), again & set(unused)


def test_serve_builds_no_openapi_document_until_asked(tmp_path: Path) -> None:
    """Starting the app builds neither the OpenAPI document nor the pydantic validators of the
    shapes that only document it; the first ``/schema`` request builds both (finished: runwire's
    error body). The boot runs without collections and turns them back on."""
    code = (
        "import gc, os\n"
        f"os.environ.update(RUNWIRE_DATA_DIR={str(tmp_path)!r}, RUNWIRE_API_KEYS='k')\n"
        "from litestar.testing import TestClient\n"
        "from runwire_server.api.app import create_app\n"
        "from runwire_server.api.shapes import Readiness, Workflow\n"
        "from runwire_server.cli.base import build_process_services, settings_from\n"
        "from runwire_server.memory import boot_without_collections\n"
        "with boot_without_collections():\n"
        "    assert not gc.isenabled()\n"
        "    settings = settings_from()\n"
        "    app = create_app(settings, services=build_process_services(settings))\n"
        "assert gc.isenabled()\n"
        "assert not Workflow.__pydantic_complete__ and not Readiness.__pydantic_complete__\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/healthz').status_code == 200\n"
        "    assert not Workflow.__pydantic_complete__\n"
        "    document = client.get('/schema/openapi.json').json()\n"
        "assert 'Workflow' in document['components']['schemas']\n"
        "assert 'status_code' not in str(document)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


BUILT_AT_START = {"runwire_llm_openai.prices.Price"}
"""The runwire models besides settings whose validators a start builds: the LLM plugin's price
table is made of ``Price`` objects at import."""


def test_serve_builds_only_the_settings_validators_until_a_request_needs_one(tmp_path: Path) -> None:
    """Node data, workflow, request-body and config-file models defer their pydantic build
    (``defer_build``) to their first validation; settings are read at start, so theirs are built."""
    code = (
        "import os\n"
        f"os.environ.update(RUNWIRE_DATA_DIR={str(tmp_path)!r}, RUNWIRE_API_KEYS='k')\n"
        "from pydantic import BaseModel\n"
        "from pydantic_settings import BaseSettings\n"
        "from runwire_server.api.app import create_app\n"
        "from runwire_server.cli.base import build_process_services, settings_from\n"
        "settings = settings_from()\n"
        "create_app(settings, services=build_process_services(settings))\n"
        "def models(cls):\n"
        "    for sub in cls.__subclasses__():\n"
        "        yield sub\n"
        "        yield from models(sub)\n"
        "built = sorted({f'{m.__module__}.{m.__qualname__}' for m in models(BaseModel)\n"
        "    if m.__module__.startswith('runwire') and m.__pydantic_complete__\n"
        "    and not issubclass(m, BaseSettings)})\n"
        "from runwire.workflow import WorkflowData\n"
        "assert not WorkflowData.__pydantic_complete__\n"
        "WorkflowData.model_validate({'nodes': [], 'edges': []})\n"
        "assert WorkflowData.__pydantic_complete__\n"
        "import json\n"
        "print(json.dumps(built))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    built = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert built <= BUILT_AT_START, built - BUILT_AT_START


def test_the_documentation_pages_are_the_documented_ones(tmp_path: Path) -> None:
    """``/schema`` serves the pages docs/server.md names (each one a route registered at start),
    not Litestar's default RapiDoc and YAML pages."""
    code = (
        "import os\n"
        f"os.environ.update(RUNWIRE_DATA_DIR={str(tmp_path)!r}, RUNWIRE_API_KEYS='k')\n"
        "from litestar.testing import TestClient\n"
        "from runwire_server.api.app import create_app\n"
        "app = create_app()\n"
        "import json\n"
        "print(json.dumps(sorted(r.path for r in app.routes if r.path.startswith('/schema'))))\n"
        "with TestClient(app) as client:\n"
        "    for page in ('', '/redoc', '/swagger', '/elements', '/openapi.json'):\n"
        "        assert client.get('/schema' + page).status_code == 200, page\n"
        "    assert client.get('/schema/openapi.yaml').status_code == 404\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    paths = json.loads(out.stdout.strip().splitlines()[-1])
    documented = ["/schema", "/schema/elements", "/schema/openapi.json", "/schema/redoc", "/schema/swagger"]
    assert set(paths) - {"/schema/{path:str}", "/schema/oauth2-redirect.html"} == set(documented)


def test_a_model_built_on_first_use_validates_as_itself_from_many_threads_at_once() -> None:
    """Worker threads may be the first to validate a node's data: each gets the node type's own
    validator (pydantic >= 2.14 builds a deferred model under a lock), never its parent's,
    which would accept an if-else node without its ``condition``."""
    code = (
        "import threading\n"
        "from pydantic import ValidationError\n"
        "from runwire.builtin.nodes import IfElseData\n"
        "assert not IfElseData.__pydantic_complete__\n"
        "start = threading.Barrier(16)\n"
        "refused = []\n"
        "def validate():\n"
        "    start.wait()\n"
        "    try:\n"
        "        IfElseData.model_validate({'label': 'no condition'})\n"
        "    except ValidationError:\n"
        "        refused.append(True)\n"
        "threads = [threading.Thread(target=validate) for _ in range(16)]\n"
        "for t in threads: t.start()\n"
        "for t in threads: t.join()\n"
        "assert len(refused) == 16, len(refused)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_the_boot_runs_no_program_and_still_pins_the_malloc_threshold(tmp_path: Path) -> None:
    """``serve``'s boot (process settings, services, app) starts no child process: the C
    library's ``mallopt`` is found among the process's own symbols (``ctypes.util.find_library``
    ran ``ldconfig -p`` for it at every start); on glibc the threshold is still pinned."""
    code = (
        "import os, platform, subprocess\n"
        f"os.environ.update(RUNWIRE_DATA_DIR={str(tmp_path)!r}, RUNWIRE_API_KEYS='k')\n"
        "spawned = []\n"
        "popen = subprocess.Popen.__init__\n"
        "def recorded(self, args, *rest, **options):\n"
        "    spawned.append(args)\n"
        "    popen(self, args, *rest, **options)\n"
        "subprocess.Popen.__init__ = recorded\n"
        "from runwire_server.api.app import create_app\n"
        "from runwire_server.cli.base import build_process_services, prepare_process, settings_from\n"
        "from runwire_server.memory import pin_mmap_threshold\n"
        "prepare_process()\n"
        "settings = settings_from()\n"
        "create_app(settings, services=build_process_services(settings))\n"
        "assert not spawned, spawned\n"
        "assert pin_mmap_threshold() is (platform.libc_ver()[0] == 'glibc')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_apps_made_one_after_another_each_serve_the_ui_and_the_schema_pages(tmp_path: Path) -> None:
    """The UI's and ``/schema``'s routers are mounted as they are, not as Litestar's deep copy:
    each app makes its own, so a second app in the process (tests make many) serves the same
    pages, and the first one still does after the second was made."""
    code = (
        "import os\n"
        f"os.environ.update(RUNWIRE_DATA_DIR={str(tmp_path)!r}, RUNWIRE_API_KEYS='k')\n"
        "from litestar.testing import TestClient\n"
        "from runwire_server.api.app import create_app\n"
        "first = create_app()\n"
        "second = create_app()\n"
        "def paths(app):\n"
        "    return sorted(r.path for r in app.routes)\n"
        "assert paths(first) == paths(second)\n"
        "assert first.route_handler_method_map.keys() == second.route_handler_method_map.keys()\n"
        "for app in (second, first):\n"
        "    with TestClient(app) as client:\n"
        "        assert client.get('/ui/static/ui.css').status_code == 200\n"
        "        assert client.get('/ui/static/nothing.css').status_code == 404\n"
        "        page = client.get('/ui/runs')\n"  # the sign-in page, with the UI router's headers
        "        assert page.status_code == 200 and 'Sign in' in page.text, page.status_code\n"
        "        assert 'frame-ancestors' in page.headers['content-security-policy']\n"
        "        assert client.get('/schema/openapi.json').status_code == 200\n"
        "        assert client.get('/schema/swagger').status_code == 200\n"
        "        assert client.get('/api/v1/workflows').status_code == 401\n"
        "        assert client.get('/api/v1/workflows', headers={'X-Api-Key': 'k'}).status_code == 200\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_the_servers_own_route_handlers_are_annotated_with_objects_not_strings(tmp_path: Path) -> None:
    """Litestar reads every route handler's annotations at each start: those of the API's and
    the UI's handlers are objects (their modules do without ``from __future__ import
    annotations``), not strings it would parse one by one (~35 M instructions of a start)."""
    code = (
        "import os\n"
        f"os.environ.update(RUNWIRE_DATA_DIR={str(tmp_path)!r}, RUNWIRE_API_KEYS='k')\n"
        "from runwire_server.api.app import create_app\n"
        "app = create_app()\n"
        "own = [h.fn for r in app.routes for h in getattr(r, 'route_handlers', [])\n"
        "    if h.fn.__module__.startswith(('runwire_server.api.', 'runwire_server.ui.'))]\n"
        "assert len(own) >= 25, len(own)\n"
        "strings = {f'{fn.__module__}.{fn.__qualname__}': name for fn in own\n"
        "    for name, annotation in fn.__annotations__.items() if isinstance(annotation, str)}\n"
        "assert not strings, strings\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_the_servers_query_parameters_hash_and_work_as_litestars_own(tmp_path: Path) -> None:
    """``Query`` is Litestar's ``QueryParameter`` with its hash computed once (Litestar copies
    every field to compute the same number each time): equal hashes, and the parameters are still
    checked and documented."""
    code = (
        "import os\n"
        f"os.environ.update(RUNWIRE_DATA_DIR={str(tmp_path)!r}, RUNWIRE_API_KEYS='k')\n"
        "from litestar.params import QueryParameter\n"
        "from litestar.testing import TestClient\n"
        "from runwire_server.api.app import create_app\n"
        "from runwire_server.api.params import Query\n"
        "assert hash(Query(ge=1, le=9)) == hash(QueryParameter(ge=1, le=9)) == hash(Query(name='id'))\n"
        "with TestClient(create_app()) as client:\n"
        "    key = {'X-Api-Key': 'k'}\n"
        "    assert client.get('/api/v1/workflows?page=0', headers=key).status_code == 400\n"
        "    assert client.get('/api/v1/workflows?page=1', headers=key).status_code == 200\n"
        "    assert client.get('/api/v1/workflows?title=' + 'x' * 256, headers=key).status_code == 400\n"
        "    document = client.get('/schema/openapi.json').json()\n"
        "parameters = {p['name']: p for p in document['paths']['/api/v1/workflows']['get']['parameters']}\n"
        "assert parameters['page']['in'] == 'query', parameters\n"
        "assert parameters['page']['schema']['minimum'] == 1, parameters\n"
        "assert parameters['title']['schema']['maxLength'] == 255, parameters\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
