"""A third-party front door, installed as its own distribution, served by a real ``runwire serve``.

The door registers through the ``runwire`` entry point group like any plugin and implements
every server hook (:mod:`runwire_server.hookspecs`): its routes sit behind the app's
authentication without declaring anything, its boot-time state reaches its handlers as a named
dependency, its error type has its own status, and the workflow it writes is its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from runwire_server.testing import running_server
from tests.helpers import KEY, api, with_plugin

DOOR_MODULE = textwrap.dedent(
    '''
    """A small front door: GET /hello (its greeting), /hello/whoami, /hello/closed, /hello/public."""

    from __future__ import annotations

    from dataclasses import dataclass
    from typing import Any

    from litestar import get
    from litestar.params import SkipValidation
    from pydantic import BaseModel

    from runwire import hookimpl
    from runwire_server.api.deps import PrincipalDep
    from runwire_server.api.openapi import documented

    TITLE = "hello door"


    @dataclass
    class Greeting:
        text: str
        workflow_id: int


    class DoorClosed(Exception):
        """The door is closed."""


    class HelloReply(BaseModel):
        """What /hello answers."""

        greeting: str
        workflow: int


    @get("/hello", operation_class=documented(replies={200: (HelloReply, "the door's greeting")}))
    async def hello(greeting: SkipValidation[Greeting]) -> dict[str, Any]:
        return {"greeting": greeting.text, "workflow": greeting.workflow_id}


    @get("/hello/whoami")
    async def whoami(principal: PrincipalDep) -> dict[str, Any]:
        return {"identity": principal.identity}


    @get("/hello/closed")
    async def closed() -> None:
        raise DoorClosed("the hello door is closed today")


    @get("/hello/public", opt={"public": True})
    async def public() -> dict[str, str]:
        return {"open": "to all"}


    @hookimpl
    def register_routes() -> list[Any]:
        return [hello, whoami, closed, public]


    @hookimpl
    def register_dependencies(services: Any) -> dict[str, Any]:
        data = {"nodes": [{"id": "t", "type": "trigger-node", "data": {"name": "Trigger"}}],
                "edges": [], "start_node": "t"}
        row = services.store.sync.create_workflow(1, TITLE, data)
        return {"greeting": Greeting(f"hello from {services.settings.data_dir.name}", row.id)}


    @hookimpl
    def register_error_statuses() -> dict[type[Exception], int]:
        return {DoorClosed: 418}


    @hookimpl
    def register_managed_workflows() -> list[tuple[int, str]]:
        return [(1, TITLE)]
    '''
)


@pytest.fixture(scope="module")
def door_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ``PYTHONPATH`` entry holding the door's module and a dist-info declaring its entry point."""
    root = tmp_path_factory.mktemp("hello-door")
    (root / "runwire_hello_door.py").write_text(DOOR_MODULE)
    info = root / "runwire_hello_door-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: runwire-hello-door\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[runwire]\nhello-door = runwire_hello_door\n")
    return str(root)


def test_a_third_party_front_door_is_served_behind_authentication(door_path: str, tmp_path: Path) -> None:
    env = with_plugin({"RUNWIRE_API_KEYS": KEY}, door_path)
    with running_server(env=env, data_dir=tmp_path / "data") as server, api(server.url) as client:
        anonymous = httpx.get(f"{server.url}/hello", timeout=10)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
        forged = httpx.get(f"{server.url}/hello", headers={"X-Api-Key": "forged"}, timeout=10)
        assert forged.status_code == 401, forged.text

        reply = client.get("/hello")
        assert reply.status_code == 200, reply.text
        assert reply.json()["greeting"] == "hello from data"  # its boot-time state, by name
        assert client.get("/hello/whoami").json()["identity"].startswith("api-key:")

        closed = client.get("/hello/closed")  # its error type, with its status
        assert (closed.status_code, closed.json()) == (418, {"detail": "the hello door is closed today"})
        assert httpx.get(f"{server.url}/hello/closed", timeout=10).status_code == 401

        assert httpx.get(f"{server.url}/hello/public", timeout=10).json() == {"open": "to all"}

        # the workflow it wrote is its own: the workflow API may not change it
        workflow = reply.json()["workflow"]
        patched = client.patch(f"/api/v1/workflows/{workflow}/", json={"title": "mine now"})
        assert patched.status_code == 403, patched.text
        assert "managed by the server's front door" in patched.json()["detail"]

        # documented like every route, for clients generated from /schema
        schema = httpx.get(f"{server.url}/schema/openapi.json", timeout=10).json()
        assert {"/hello", "/hello/whoami"} <= set(schema["paths"])
        hello_reply = schema["paths"]["/hello"]["get"]["responses"]["200"]["content"]["application/json"]
        assert hello_reply["schema"] == {"$ref": "#/components/schemas/HelloReply"}
        assert schema["components"]["schemas"]["HelloReply"]["required"] == ["greeting", "workflow"]


def test_the_door_is_listed_among_the_installed_plugins(door_path: str) -> None:
    env = {**os.environ, **with_plugin({}, door_path)}
    out = subprocess.run(
        [sys.executable, "-m", "runwire_server", "plugins"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "hello-door" in out.stdout and "runwire-hello-door" in out.stdout
