"""JSON values that parse but could break storage or the code downstream, on both stores.

Each test sends values through HTTP (the in-process app of ``make_server``) on SQLite and on
PostgreSQL (the ``database_url`` fixture), and checks that they are either refused with a clear
4xx or stored and returned the same on both stores: never a 500, never a run that ends on a
database error. ``tests/fuzz/test_hostile_inputs.py`` covers the bodies runwire refuses (NaN,
integers beyond 4,300 digits, lone surrogates, duplicate keys) against one live server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from litestar.testing import TestClient

from runwire.auth import AuthProvider, Principal
from runwire.hookspecs import hookimpl
from runwire.plugins import Plugins, get_plugin_manager
from runwire.settingstable import SettingsTable
from runwire_server.store import Store
from tests.helpers import (
    HEADERS,
    PY,
    MakeServer,
    Server,
    echo_task,
    hello_data,
    make_app,
    make_settings,
    output_workflow,
    ui_sign_in,
)

W = "/api/v1/workflows"
JSON_HEADERS = {**HEADERS, "Content-Type": "application/json"}
STDERR_NUL = "import sys; sys.stderr.write('bad\\x00byte'); sys.exit(3)"
"""A program that fails, with a NUL character in what it writes to stderr."""


def _server(make_server: MakeServer, database_url: str, tmp_path: Path, **overrides: Any) -> Server:
    task = {  # /task runs a program that fails writing a NUL to stderr
        "command": [PY, "-c", STDERR_NUL],
        "inputs": {"path_args": [], "query_args": [], "body_args": []},
        "outputs": {"results": {"kind": "stdout", "format": "json"}, "attachments": []},
    }
    config = tmp_path / "nul-task.json"
    config.write_text(json.dumps(task))
    return make_server(database_url=database_url, task_config=str(config), **overrides)


def _run(server: Server, workflow: int, body: dict[str, Any]) -> dict[str, Any]:
    reply = server.client.post(f"{W}/{workflow}/run/", json=body, headers=HEADERS)
    assert reply.status_code == 200 and reply.json()["status"] == 201, reply.text
    return server.wait(reply.json()["data"]["id"])


def _workflow(server: Server, data: dict[str, Any], title: str = "values") -> int:
    reply = server.client.post(f"{W}/", json={"project": 1, "title": title, "data": data}, headers=HEADERS)
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


# --- a run's error: text a program wrote ---------------------------------------------------------


def test_a_nul_in_a_failed_programs_stderr_ends_its_task_run_with_that_error_on_both_stores(
    database_url: str, make_server: MakeServer, tmp_path: Path
) -> None:
    """PostgreSQL's text refuses NUL: the run's error (the stderr tail) used to fail the final
    write there, and the run ended with the SQL statement as its error and its nodes lost."""
    server = _server(make_server, database_url, tmp_path)
    started = server.client.post("/task/x", headers=JSON_HEADERS, content=b"{}")
    assert started.status_code == 200, started.text
    task_id = started.json()["id"]
    for _ in range(500):
        polled = server.client.get(f"/task/{task_id}", headers=HEADERS).json()
        if polled["status"] in ("ready", "failed"):
            break
        time.sleep(0.02)
    assert polled["status"] == "failed", polled
    assert polled["error"].endswith("command exited with code 3: bad\ufffdbyte"), polled
    view = server.client.get(f"/api/v1/runs/{task_id}/", headers=HEADERS).json()
    assert view["error"] == polled["error"], view


def test_a_nul_in_a_run_scripts_error_is_u_fffd_in_the_run_and_kept_in_its_node(
    database_url: str, make_server: MakeServer, tmp_path: Path
) -> None:
    server = _server(make_server, database_url, tmp_path, privileged_projects="1")
    data = {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"input_fields": []}},
            {
                "id": "s",
                "type": "basic-node",
                "data": {"name": "Run Script", "command": [PY, "-c", STDERR_NUL]},
            },
        ],
        "edges": [{"id": "e", "source": "t", "target": "s"}],
        "start_node": "t",
    }
    result = _run(server, _workflow(server, data), {})
    assert result["status"] == "failed", result
    assert result["error"] == "node s failed: command exited with code 3: bad\ufffdbyte", result
    assert result["data"]["s"]["error"] == "command exited with code 3: bad\x00byte"  # JSON holds NUL


async def test_the_store_writes_nul_and_lone_surrogates_in_an_error_as_u_fffd(store: Store) -> None:
    workflow = await store.create_workflow(1, "w", {})
    for made in ("created", "saved"):
        run_id = f"00000000-0000-4000-8000-00000000000{1 if made == 'created' else 2}"
        error = "a\x00b\ud800c\udfff d 😀"
        if made == "created":
            row = await store.create_run(run_id, workflow, {}, "failed", {}, error=error)
            assert row.error == "a\ufffdb\ufffdc\ufffd d 😀"  # the row returned is the row stored
        else:
            await store.create_run(run_id, workflow, {})
            await store.save_run(run_id, "failed", {"n": {"error": error}}, 0.0, error)
        stored = await store.get_run(run_id)
        assert stored is not None and stored.error == "a\ufffdb\ufffdc\ufffd d 😀", made


def test_a_lone_surrogate_a_template_makes_for_a_program_fails_its_node_naming_it(
    database_url: str, make_server: MakeServer, tmp_path: Path
) -> None:
    """A template can make a lone surrogate (JSON bodies cannot carry one); no bytes stand for
    it, so a program cannot receive it: the node failed with a bare UnicodeEncodeError."""
    server = _server(make_server, database_url, tmp_path, privileged_projects="1")
    surrogate = "{{ '\\ud800' }}"
    echo = [PY, "-c", "import sys; print(sys.argv[1:])"]
    for settings, error in (
        ({"command": [*echo, surrogate]}, "argument 3 holds a lone UTF-16 surrogate ('\\ud800')"),
        (
            {"command": echo, "env": {"X": surrogate}},
            "environment variable 'X' holds a lone UTF-16 surrogate",
        ),
        ({"command": echo, "stdin": surrogate}, "stdin holds a lone UTF-16 surrogate, which is not text"),
    ):
        data = {
            "nodes": [
                {"id": "t", "type": "trigger-node", "data": {"input_fields": []}},
                {"id": "s", "type": "basic-node", "data": {"name": "Run Script", **settings}},
            ],
            "edges": [{"id": "e", "source": "t", "target": "s"}],
            "start_node": "t",
        }
        result = _run(server, _workflow(server, data), {})
        assert result["status"] == "failed", result
        assert result["data"]["s"]["error"].startswith(error), result["data"]["s"]
    # the surrogates that stand for undecodable bytes (os.fsencode's) still pass, as those bytes,
    # in an argument, a variable and stdin alike
    check = (
        "import os, sys; sys.exit(os.fsencode(sys.argv[1]) != b'\\xff' or os.environb[b'X'] != b'\\xfe'"
        " or sys.stdin.buffer.read() != b'\\xfd')"
    )
    data = {
        "nodes": [
            {"id": "t", "type": "trigger-node", "data": {"input_fields": []}},
            {
                "id": "s",
                "type": "basic-node",
                "data": {
                    "name": "Run Script",
                    "command": [PY, "-c", check, "{{ '\\udcff' }}"],
                    "env": {"X": "{{ '\\udcfe' }}"},
                    "stdin": "{{ '\\udcfd' }}",
                },
            },
        ],
        "edges": [{"id": "e", "source": "t", "target": "s"}],
        "start_node": "t",
    }
    result = _run(server, _workflow(server, data), {})
    assert result["status"] == "succeed", result


# --- numbers: exact, and what overflows a float ----------------------------------------------------


def test_numbers_in_input_are_kept_exactly_and_compared_exactly_on_both_stores(
    database_url: str, make_server: MakeServer, tmp_path: Path
) -> None:
    """A ``number`` field given text used to go through float(): "18446744073709551617" became
    ...616, "1" + 400 zeros was "not finite"; the if/else node turned a 400-digit integer into
    a float and failed the run with OverflowError."""
    server = _server(make_server, database_url, tmp_path)
    hello = _workflow(server, hello_data())
    big = 10**400
    cases: list[tuple[Any, Any]] = [  # (age sent, age the trigger passes on)
        (str(2**64 + 1), 2**64 + 1),
        (str(big), big),
        (" -9223372036854775809 ", -(2**63) - 1),
        (big, big),
        (-(10**4299), -(10**4299)),
        (-0.0, -0.0),
        ("4.5", 4.5),
        ("1e3", 1000.0),
    ]
    for sent, kept in cases:
        result = _run(server, hello, {"name": "Ada", "age": sent})
        assert result["status"] == "succeed", (sent, result)
        age = result["data"]["trigger"]["result"]["input"]["age"]
        assert age == kept and type(age) is type(kept), (sent, age)
        adult = kept >= 18
        assert result["data"]["adult" if adult else "minor"]["status"] == "succeed", (sent, result)
    for refused in ("1_000", "NaN", "-Infinity", "1e999", "1" * 4301, "²"):
        reply = server.client.post(f"{W}/{hello}/run/", json={"name": "Ada", "age": refused}, headers=HEADERS)
        assert reply.json() == {
            "data": {"errors": [f"input field 'age' must be a number, got {refused!r:.60}"]},
            "status": 400,
        }, (refused, reply.text)
    # integral text beyond a float's precision compares exactly
    unequal = {"left": str(2**64 + 1), "operator": "==", "right": str(2**64)}
    data = hello_data()
    data["nodes"][1]["data"]["condition"] = unequal
    result = _run(server, _workflow(server, data), {"name": "Ada"})
    assert result["data"]["is-adult"]["result"]["condition"] is False, result


# --- the web UI: values the forms and pages read -----------------------------------------------------


def test_a_stored_position_beyond_a_floats_range_draws_the_workflow_and_run_pages(
    make_server: MakeServer,
) -> None:
    server = make_server()
    data = hello_data()
    data["nodes"][0]["position"] = {"x": 10**400, "y": -(10**400)}  # an int no float can hold
    workflow = _workflow(server, data)
    ui_sign_in(server.client, server.keys["bootstrap"])
    page = server.client.get(f"/ui/workflows/{workflow}", headers={})
    assert page.status_code == 200 and "<svg" in page.text, page.text[:300]
    run = _run(server, workflow, {"name": "Ada"})
    assert server.client.get(f"/ui/runs/{run['id']}", headers={}).status_code == 200


def test_a_select_value_that_is_no_option_index_is_refused_by_the_run_form(make_server: MakeServer) -> None:
    """``"²".isdigit()`` holds but ``int("²")`` fails, and 5,000 digits pass the int-to-text
    limit: both were a 500 page."""
    server = make_server()
    data = hello_data()
    data["nodes"][0]["data"]["input_fields"].append(
        {"id": "pick", "title": "Pick", "type": "select", "options": [{"label": "A", "value": "a"}]}
    )
    workflow = _workflow(server, data)
    token = ui_sign_in(server.client, server.keys["bootstrap"])
    for pick in ("²", "1" * 5000, "\u0660"):  # a digit int() refuses, too many digits, Arabic-Indic 0
        reply = server.client.post(
            f"/ui/workflows/{workflow}/run",
            data={"_csrf_token": token, "input.name": "Ada", "input.pick": pick},
            headers={},
            follow_redirects=False,
        )
        assert reply.status_code == 400, (pick, reply.status_code, reply.text[:300])
        assert "input field &#39;pick&#39; must be one of" in reply.text, reply.text[-3000:]
    reply = server.client.post(
        f"/ui/workflows/{workflow}/run",
        data={"_csrf_token": token, "input.name": "Ada\x00", "input.pick": "0"},
        headers={},
        follow_redirects=False,
    )
    assert reply.status_code == 303, reply.text[:300]
    run = server.wait(reply.headers["location"].rsplit("/", 1)[1])
    assert run["data"]["trigger"]["result"]["input"]["pick"] == "a"
    assert run["data"]["trigger"]["result"]["input"]["name"] == "Ada\x00"
    assert server.client.get(f"/ui/runs/{run['id']}", headers={}).status_code == 200


# --- the workflow list's title filter ----------------------------------------------------------------


@pytest.mark.parametrize("title", ["Éclair", "Ünïcödé", "ΠΆΤΡΑ", "Жук", "日本語 ☃"])
def test_a_title_filter_finds_non_ascii_titles_on_both_stores(
    database_url: str, make_server: MakeServer, tmp_path: Path, title: str
) -> None:
    """SQLite's lower() folds ASCII only, so its filter found no non-ASCII title, not even given
    exactly; PostgreSQL's found them. (Letters whose case does not map one to one, "ß" and
    "SS", a final sigma, are left to each database's lower().)"""
    server = _server(make_server, database_url, tmp_path)
    _workflow(server, output_workflow("x"), title=title)
    _workflow(server, output_workflow("x"), title="other")
    for query in {title, title.upper(), title.lower(), title[1:]}:
        reply = server.client.get(f"{W}/", params={"title": query}, headers=HEADERS)
        assert [w["title"] for w in reply.json()["results"]] == [title], (query, reply.text)
    reply = server.client.get(f"{W}/", params={"title": "éclair"}, headers=HEADERS)
    assert [w["title"] for w in reply.json()["results"]] == (["Éclair"] if title == "Éclair" else [])


def _multipart(fields: dict[str, bytes], part_type: str = "") -> bytes:
    parts = [
        b'--x\r\nContent-Disposition: form-data; name="'
        + name.encode()
        + b'"\r\n'
        + (f"Content-Type: {part_type}\r\n".encode() if part_type else b"")
        + b"\r\n"
        + value
        + b"\r\n"
        for name, value in fields.items()
    ]
    return b"".join(parts) + b"--x--\r\n"


def test_a_multipart_form_field_that_is_not_text_is_a_400_page(make_server: MakeServer) -> None:
    """Litestar's CSRF check reads the form: a field not in UTF-8 (or in a charset no codec has)
    raised from inside it, a 500 before any route or session was reached."""
    server = make_server()
    client = server.client
    token = ui_sign_in(client, server.keys["bootstrap"])
    form = {"Content-Type": "multipart/form-data; boundary=x"}
    for body, detail in (
        (_multipart({"credential": b"\xff\x00", "_csrf_token": token.encode()}), "a form field is not text"),
        (
            _multipart({"credential": b"k", "_csrf_token": token.encode()}, "text/plain; charset=no-such"),
            "a form field is not text",
        ),
        (_multipart({"\xff": b"x"}).replace("ÿ".encode(), b"\xff"), "Invalid multipart/form-data"),
    ):
        reply = client.post("/ui/sign-in", content=body, headers=form, follow_redirects=False)
        assert reply.status_code == 400, (body, reply.status_code, reply.text[:300])
        assert detail in reply.text, reply.text[-2000:]
    # a multipart form that is text still signs in (the form read first is the one the route gets)
    fields = {"credential": server.keys["bootstrap"].encode(), "_csrf_token": token.encode()}
    reply = client.post("/ui/sign-in", content=_multipart(fields), headers=form, follow_redirects=False)
    assert reply.status_code == 303, reply.text[:300]


# --- ids in paths --------------------------------------------------------------------------------


def _aliases(number: int) -> list[str]:
    """Ways int() reads ``number`` that are not how an id is written (percent-encoded)."""
    digits = str(number)
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in digits)
    arabic_indic = "".join(chr(0x0660 + int(d)) for d in digits)
    return [
        quote(fullwidth),
        quote(arabic_indic),
        f"0{digits}",
        f"%2B{digits}",  # +1
        f"%20{digits}",
        f"{digits}%20",
        f"{digits[0]}_{digits[1:]}" if len(digits) > 1 else f"0_{digits}",
    ]


def test_a_workflow_id_written_any_other_way_is_404_on_every_route(make_server: MakeServer) -> None:
    """Litestar read ``{workflow_id:int}`` with int(): ``/api/v1/workflows/%EF%BC%91/`` (a
    fullwidth 1), ``/01/``, ``/+1/`` were workflow 1, under paths a proxy's rules for ``/1/``
    do not match (a DELETE there deleted it)."""
    server = make_server()
    workflow = _workflow(server, hello_data())
    for alias in _aliases(workflow):
        for method, path in (
            ("GET", f"{W}/{alias}/"),
            ("GET", f"{W}/{alias}/input-fields/"),
            ("PATCH", f"{W}/{alias}/"),
            ("POST", f"{W}/{alias}/run/"),
            ("DELETE", f"{W}/{alias}/"),
        ):
            body = b'{"title": "renamed"}' if method == "PATCH" else b"{}"
            reply = server.client.request(method, path, content=body, headers=JSON_HEADERS)
            assert reply.status_code == 404, (method, path, reply.status_code, reply.text[:300])
    ui_sign_in(server.client, server.keys["bootstrap"])
    assert server.client.get(f"/ui/workflows/{_aliases(workflow)[0]}", headers={}).status_code == 404
    kept = server.client.get(f"{W}/{workflow}/", headers=HEADERS)
    assert kept.status_code == 200 and kept.json()["title"] == "values", kept.text
    assert server.client.get(f"{W}/{workflow}/history/", headers=HEADERS).json()["count"] == 0


# --- who a provider says is calling ---------------------------------------------------------------


class SubjectAuth(AuthProvider):
    """Takes the subject a caller names in ``X-Subject`` (percent-decoded), as a token provider
    takes ``sub`` from a token its identity provider signed: any text, any length."""

    name = "test-subject"

    async def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        subject = headers.get("x-subject")
        return None if subject is None else Principal(subject=unquote(subject), provider=self.name)


class SubjectPlugin:
    @hookimpl
    def register_auth_providers(self) -> list[type[AuthProvider]]:
        return [SubjectAuth]


def test_a_subject_the_store_cannot_keep_is_401_on_both_stores(database_url: str, tmp_path: Path) -> None:
    """A front-door run keeps who started it (``owner``, 300 characters): a longer subject, or one
    holding a NUL, was stored on SQLite and refused by PostgreSQL (400 "a value cannot be
    stored", the run not started), whose column is as long as its type says."""
    pm = get_plugin_manager()
    pm.register(SubjectPlugin(), name="test-subject-plugin")
    plugins = Plugins(pm)
    config = tmp_path / "task.json"
    config.write_text(json.dumps(echo_task()))
    settings = make_settings(
        tmp_path / "data", database_url=database_url, auth_providers="test-subject", task_config=str(config)
    )
    plugins.settings = SettingsTable.collect(plugins.pm)
    with TestClient(make_app(settings, plugins)) as client:
        longest = "s" * (300 - len("test-subject:"))
        started = client.post("/task/x?who=a", headers={"X-Subject": longest}, content=b"{}")
        assert started.status_code == 200, started.text
        for subject, detail in (
            (longest + "s", "the credential's subject is too long: test-subject:<288 characters> is 301"),
            ("a%00b", "the credential's subject holds a NUL character"),
        ):
            reply = client.post("/task/x?who=a", headers={"X-Subject": subject, "Idempotency-Key": "k"})
            assert reply.status_code == 401, (subject, reply.status_code, reply.text)
            assert detail in reply.json()["detail"], reply.text
        polled = client.get(f"/task/{started.json()['id']}", headers={"X-Subject": longest})
        assert polled.status_code == 200, polled.text
