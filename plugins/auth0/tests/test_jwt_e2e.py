"""End to end: JWT-authenticated runs through a real `runwire serve` (RUNWIRE_AUTH_PROVIDERS=api-key,auth0).

The workflow is created with the bootstrap API key; a bearer token then runs it with the
reference's mode-2 body ``{"input_data": {...}}`` and polls its result.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from runwire_server.testing import RunningServer, running_server, wait_for_run

from .conftest import AUDIENCE, DOMAIN, JWKS_PATH, Jwks, SigningKey, claims, sign, unsigned

KEY = "e2e-auth0-key"
PROJECT = 12
TRIGGER, IF_ELSE, YES, NO = "t-1", "if-1", "out-yes", "out-no"

pytestmark = pytest.mark.timeout(180)


def branching_workflow() -> dict[str, Any]:
    """trigger (category) → if category == positive → output "yes: ..." / output "no: ..."."""
    return {
        "start_node": TRIGGER,
        "nodes": [
            {
                "id": TRIGGER,
                "type": "trigger-node",
                "data": {"name": "Trigger", "input_fields": [{"id": "category", "input_requirements": True}]},
            },
            {
                "id": IF_ELSE,
                "type": "if-else-node",
                "data": {
                    "condition": {"left": "{{ input.category }}", "operator": "==", "right": "positive"},
                    "true_node": YES,
                    "false_node": NO,
                },
            },
            {"id": YES, "type": "output-node", "data": {"output": "yes: {{ input.category }}"}},
            {"id": NO, "type": "output-node", "data": {"output": "no: {{ input.category }}"}},
        ],
        "edges": [
            {"id": "e1", "source": TRIGGER, "target": IF_ELSE},
            {"id": "e2", "source": IF_ELSE, "target": YES, "sourceHandle": "condition-true"},
            {"id": "e3", "source": IF_ELSE, "target": NO, "sourceHandle": "condition-false"},
        ],
    }


@pytest.fixture(scope="module")
def server(_jwks_http: HTTPServer) -> Iterator[RunningServer]:
    env = {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_AUTH_PROVIDERS": "api-key,auth0",
        "RUNWIRE_AUTH0_DOMAIN": DOMAIN,
        "RUNWIRE_AUTH0_AUDIENCE": AUDIENCE,
        "RUNWIRE_AUTH0_JWKS_URL": _jwks_http.url_for(JWKS_PATH),
    }
    with running_server(env=env) as running:
        yield running


@pytest.fixture(scope="module")
def workflow_id(server: RunningServer) -> int:
    body = {"project": PROJECT, "title": "JWT e2e", "data": branching_workflow()}
    created = httpx.post(f"{server.url}/api/v1/workflows/", headers={"X-Api-Key": KEY}, json=body, timeout=10)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("category", "taken", "output"), [("positive", YES, "yes: positive"), ("meh", NO, "no: meh")]
)
def test_a_jwt_run_takes_the_wrapped_input_data_body(
    server: RunningServer,
    workflow_id: int,
    jwks: Jwks,
    keys: dict[str, SigningKey],
    category: str,
    taken: str,
    output: str,
) -> None:
    headers = auth(sign(keys["current"], claims()))
    started = httpx.post(
        f"{server.url}/api/v1/workflows/{workflow_id}/run/",
        headers=headers,
        json={"input_data": {"category": category}},
        timeout=10,
    )
    assert started.status_code == 200, started.text
    assert started.json()["status"] == 201, started.text
    data = wait_for_run(server.url, started.json()["data"]["id"], headers, timeout=60, logs=server.logs)
    assert data["status"] == "succeed", data
    assert data["data"][TRIGGER]["result"]["input"] == {"category": category}
    assert data["data"][taken]["result"]["content"] == output
    skipped = NO if taken == YES else YES
    assert data["data"][skipped] == {"id": skipped, "status": "skipped"}


def _refused(server: RunningServer, workflow_id: int, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/v1/workflows/{workflow_id}/run/",
        headers=headers,
        json={"input_data": {"category": "positive"}},
        timeout=10,
    )


def test_bad_tokens_get_401_and_start_nothing(
    server: RunningServer, workflow_id: int, jwks: Jwks, keys: dict[str, SigningKey]
) -> None:
    now = int(time.time())
    bad_tokens = {
        "expired": sign(keys["current"], claims(exp=now - 3600)),
        "wrong audience": sign(keys["current"], claims(aud="https://other.example")),
        "forged": sign(keys["attacker"], claims(), kid=keys["current"].kid),
        "alg none": unsigned(claims(), {"alg": "none", "kid": keys["current"].kid}),
        "garbage": "not.a.jwt",
    }
    history_url = f"{server.url}/api/v1/workflows/{workflow_id}/history/"
    before = httpx.get(history_url, headers={"X-Api-Key": KEY}, timeout=10).json()
    for label, token in bad_tokens.items():
        response = _refused(server, workflow_id, auth(token))
        assert response.status_code == 401, (label, response.status_code, response.text)
        assert "Traceback" not in response.text
    assert _refused(server, workflow_id, {}).status_code == 401
    assert httpx.get(history_url, headers={"X-Api-Key": KEY}, timeout=10).json() == before


def test_a_token_without_the_project_cannot_see_the_workflow(
    server: RunningServer, workflow_id: int, jwks: Jwks, keys: dict[str, SigningKey]
) -> None:
    other_project = auth(sign(keys["current"], claims(**{"https://runwire/projects": [999]})))
    response = _refused(server, workflow_id, other_project)
    assert response.status_code == 404, response.text
    listed = httpx.get(f"{server.url}/api/v1/workflows/", headers=other_project, timeout=10)
    assert listed.status_code == 200
    assert f'"id":{workflow_id},' not in listed.text.replace(" ", "")


def _ui_sign_in(client: httpx.Client, credential: str) -> httpx.Response:
    page = client.get("/ui/")
    token = re.search(r'name="_csrf_token" value="([0-9a-f]+)"', page.text)
    assert token, page.text[:500]
    form = {"credential": credential, "_csrf_token": token.group(1)}
    return client.post("/ui/sign-in", data=form, follow_redirects=False)


def test_the_web_ui_signs_in_with_a_bearer_token_and_shows_its_projects(
    server: RunningServer, workflow_id: int, jwks: Jwks, keys: dict[str, SigningKey]
) -> None:
    """The UI takes a pasted bearer token (through the auth0 provider, checked on every page);
    an expired or forged token does not sign in."""
    with httpx.Client(base_url=server.url, timeout=10) as ui:
        assert _ui_sign_in(ui, "Bearer " + sign(keys["current"], claims())).status_code == 303
        listed = ui.get("/ui/")
        assert listed.status_code == 200 and "JWT e2e" in listed.text
        assert ui.get(f"/ui/workflows/{workflow_id}").status_code == 200
    outside = sign(keys["current"], claims(**{"https://runwire/projects": [307]}))
    with httpx.Client(base_url=server.url, timeout=10) as ui:
        assert _ui_sign_in(ui, "Bearer " + outside).status_code == 303
        assert ui.get(f"/ui/workflows/{workflow_id}").status_code == 404  # not its project
    expired = sign(keys["current"], claims(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200))
    for refused in ("Bearer " + expired, "Bearer " + unsigned(claims(), {"alg": "none", "typ": "JWT"})):
        with httpx.Client(base_url=server.url, timeout=10) as ui:
            reply = _ui_sign_in(ui, refused)
            assert reply.status_code in (400, 401), reply.status_code
            assert "JWT e2e" not in ui.get("/ui/").text
