"""A third-party input binder's return value, checked where the task front door calls it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from runwire.binders import InputBinder, RequestParts
from runwire.hookspecs import hookimpl
from runwire.plugins import Plugins, get_plugin_manager
from runwire_server.api.app import create_app
from runwire_server.services import build_services
from runwire_server.settings import Settings
from tests.helpers import HEADERS, KEY, PY, SCRIPTS, poll_task, write_config

# --- what a third-party binder returns is checked at the seam ---------------------------------

RETURNS: dict[str, Any] = {
    "str": "plain",
    "int": 42,
    "float": 2.5,
    "bool": True,
    "list": [1, "a"],
    "dict": {"a": [1, "b"], "é": None},
    "none": None,
    "bytes": b"raw",
    "nan": float("nan"),
    "huge": 10**5000,
    "object": object(),
    "surrogate": "\ud800",
    "nul": "a\x00b",
}


class TypedBinder(InputBinder):
    """Returns ``RETURNS[<?as=...>]``: whatever a careless plugin might hand back."""

    kind = "typed"

    def bind(self, request: RequestParts) -> Any:
        return RETURNS[dict(request.query)["as"]]


class TypedPlugin:
    @hookimpl
    def register_input_binders(self) -> list[type[InputBinder]]:
        return [TypedBinder]


@contextmanager
def binder_client(plugin: object, kind: str, variable: str, tmp: Path) -> Iterator[TestClient[Any]]:
    """A server whose task passes ``$<variable>``, bound by ``plugin``'s binder ``kind``, to
    show_args.py, on a fresh plugin manager (built-ins and ``plugin``)."""
    pm = get_plugin_manager()
    pm.register(plugin, name=f"{kind}-binder")
    config = {
        "command": [PY, str(SCRIPTS / "show_args.py"), f"${variable}"],
        "inputs": {f"{kind}_args": [{"env_var_name": variable}]},
        "outputs": {"results": {"kind": "stdout", "format": "json"}},
    }
    settings = Settings(
        data_dir=tmp / "data",
        api_keys=KEY,
        auth_providers="api-key",
        task_config=str(write_config(tmp, config)),
    )
    with TestClient(create_app(settings, services=build_services(settings, Plugins(pm)))) as client:
        yield client


@pytest.fixture(scope="module")
def typed_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    """A server whose task binds ``$V`` with :class:`TypedBinder`."""
    with binder_client(TypedPlugin(), "typed", "V", tmp_path_factory.mktemp("typed")) as client:
        yield client


@pytest.mark.parametrize(
    "returned,argv",
    [
        ("str", "plain"),
        ("int", "42"),
        ("float", "2.5"),
        ("bool", "true"),
        ("list", '[1,"a"]'),
        ("dict", '{"a":[1,"b"],"é":null}'),
    ],
)
def test_a_binders_number_bool_list_or_dict_reaches_the_program_as_json(
    typed_client: TestClient[Any], returned: str, argv: str
) -> None:
    started = typed_client.post("/task/x", params={"as": returned}, headers=HEADERS)
    assert started.status_code == 200, started.text
    result = poll_task(typed_client, started.json()["id"])
    assert result["status"] == "ready", result
    assert result["results"]["argv"] == [argv]


@pytest.mark.parametrize(
    "returned,why",
    [
        ("none", "returned None"),
        ("bytes", "returned bytes"),
        ("nan", "returned a value of type float"),
        ("huge", "returned a value of type int"),
        ("object", "returned a value of type object"),
        ("surrogate", "lone UTF-16 surrogate"),
        ("nul", "contains a NUL character"),
    ],
)
def test_a_binder_value_that_is_not_text_is_a_400_naming_the_binder(
    typed_client: TestClient[Any], returned: str, why: str
) -> None:
    refused = typed_client.post("/task/x", params={"as": returned}, headers=HEADERS)
    assert refused.status_code == 400, refused.text
    detail = refused.json()["detail"]
    assert "variable V" in detail and why in detail, detail
    if returned != "nul":
        assert detail.startswith("input binder 'typed' (variable V) ")
    assert typed_client.get("/healthz").status_code == 200


# --- every binder gets the parsed body, whichever kinds the config uses -----------------------


class PeekBinder(InputBinder):
    """Binds the whole JSON body (``""`` without one): a third-party binder reading ``request.body``."""

    kind = "peek"

    def bind(self, request: RequestParts) -> Any:
        return "" if request.body is None else request.body


class PeekPlugin:
    @hookimpl
    def register_input_binders(self) -> list[type[InputBinder]]:
        return [PeekBinder]


@pytest.fixture(scope="module")
def peek_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    """A server whose task binds ``$B`` with :class:`PeekBinder` and has no built-in body binder."""
    with binder_client(PeekPlugin(), "peek", "B", tmp_path_factory.mktemp("peek")) as client:
        yield client


@pytest.mark.parametrize(
    "body,argv",
    [(b'{"n": 1, "s": "\\u00e9"}', '{"n":1,"s":"é"}'), (b"7", "7"), (b"", ""), (b"  \n", "")],
)
def test_a_third_party_binder_gets_the_parsed_body_without_a_body_binder(
    peek_client: TestClient[Any], body: bytes, argv: str
) -> None:
    started = peek_client.post("/task", content=body, headers={**HEADERS, "Content-Type": "application/json"})
    assert started.status_code == 200, started.text
    result = poll_task(peek_client, started.json()["id"])
    assert result["status"] == "ready", result
    assert result["results"]["argv"] == [argv]


def test_a_large_body_reaches_the_binder_parsed(peek_client: TestClient[Any]) -> None:
    pad = "x" * 80_000  # over OFF_LOOP_CHARS: bound in a worker thread
    started = peek_client.post("/task", json={"pad": pad}, headers=HEADERS)
    assert started.status_code == 200, started.text
    result = poll_task(peek_client, started.json()["id"])
    assert result["results"]["argv"] == [f'{{"pad":"{pad}"}}']


@pytest.mark.parametrize(
    "body,detail",
    [(b"{not json", "malformed JSON"), (b'{"a": 1, "a": 2}', "duplicate"), (b"\xff", "UTF-8")],
)
def test_a_bad_body_is_a_400_when_a_binder_reads_it(
    peek_client: TestClient[Any], body: bytes, detail: str
) -> None:
    refused = peek_client.post("/task", content=body, headers={**HEADERS, "Content-Type": "application/json"})
    assert refused.status_code == 400, refused.text
    assert detail in refused.json()["detail"]


def test_a_bad_body_is_ignored_when_no_binder_reads_it(typed_client: TestClient[Any]) -> None:
    started = typed_client.post("/task/x", params={"as": "str"}, content=b"{not json", headers=HEADERS)
    assert started.status_code == 200, started.text
