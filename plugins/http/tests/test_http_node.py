"""The "HTTP Request" node against a real server on 127.0.0.1: templating, results, retries, caps."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from runwire.errors import WorkflowInvalid
from runwire.plugins import Plugins

from .conftest import NODE_ID, RunHttp

pytestmark = pytest.mark.usefixtures("allow_loopback")


def test_a_fresh_plugin_manager_finds_the_node_through_the_entry_point() -> None:
    plugins = Plugins.load()
    impl = plugins.node_type("basic-node", "HTTP Request")
    assert impl is not None and type(impl).__module__ == "runwire_http.node"
    assert plugins.node_types.owners[("basic-node", "HTTP Request")] == "http"
    info = next(i for i in plugins.describe() if i.name == "http")
    assert info.distribution == "runwire-http"
    assert info.node_types == ["basic-node:HTTP Request"]


async def test_url_headers_and_json_body_are_templated_like_the_reference(
    target: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request(
        "/users",
        method="POST",
        headers={"Authorization": "Bearer tok-123", "Content-Type": "application/json"},
        json={"name": "John Doe", "email": "john@example.com", "age": 30},
    ).respond_with_json({"id": 7, "created": True}, status=201, headers={"X-Request-Id": "abc"})
    record = await run_http(
        {
            "url": target.url_for("/users"),
            "method": "POST",
            "headers": {"Authorization": "Bearer {{ input.api_token }}", "Content-Type": "application/json"},
            "body": {"name": "{{ input.user_name }}", "email": "{{ input.email }}", "age": "{{ input.age }}"},
        },
        {"api_token": "tok-123", "user_name": "John Doe", "email": "john@example.com", "age": 30},
    )
    assert record.status == "succeed", record.error
    result = record.nodes[NODE_ID].result
    assert result is not None
    assert result["status_code"] == 201
    assert json.loads(result["content"]) == {"id": 7, "created": True}
    assert result["json"] == {"id": 7, "created": True}
    assert result["headers"]["x-request-id"] == "abc"
    assert result["url"] == target.url_for("/users")
    target.check_assertions()


async def test_templated_method_and_query_and_plain_text_body(target: HTTPServer, run_http: RunHttp) -> None:
    target.expect_request(
        "/echo", method="PUT", query_string={"q": "a b&c"}, data=b"hello Ann"
    ).respond_with_data("stored", content_type="text/plain")
    record = await run_http(
        {
            "url": target.url_for("/echo") + "?q={{ input.q | urlencode }}",
            "method": "{{ input.verb }}",
            "body": "hello {{ input.who }}",
        },
        {"q": "a b&c", "verb": "put", "who": "Ann"},
    )
    assert record.status == "succeed", record.error
    result = record.nodes[NODE_ID].result
    assert result == {
        "content": "stored",
        "status_code": 200,
        "headers": result["headers"],
        "url": result["url"],
    }  # no "json": the body is not JSON
    assert result["headers"]["content-type"].startswith("text/plain")


async def test_5xx_is_retried_until_it_succeeds(target: HTTPServer, run_http: RunHttp) -> None:
    for _ in range(2):
        target.expect_ordered_request("/flaky").respond_with_data("busy", status=503)
    target.expect_ordered_request("/flaky").respond_with_json({"ok": True})
    record = await run_http({"url": target.url_for("/flaky"), "http_retries": 2, "retry_backoff": 0})
    assert record.status == "succeed", record.error
    assert record.nodes[NODE_ID].result["json"] == {"ok": True}
    assert len(target.log) == 3


async def test_429_honours_a_zero_retry_after(target: HTTPServer, run_http: RunHttp) -> None:
    target.expect_ordered_request("/limited").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "0"}
    )
    target.expect_ordered_request("/limited").respond_with_data("fine")
    record = await run_http({"url": target.url_for("/limited"), "retry_backoff": 0})
    assert record.status == "succeed", record.error
    assert record.nodes[NODE_ID].result["content"] == "fine"


async def test_a_persistent_500_fails_the_node_after_every_retry(
    target: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request("/down").respond_with_data("kaputt", status=500)
    record = await run_http({"url": target.url_for("/down"), "http_retries": 3, "retry_backoff": 0})
    assert record.status == "failed"
    error = record.nodes[NODE_ID].error
    assert error is not None and "HTTP 500" in error and "kaputt" in error
    assert len(target.log) == 4


async def test_a_4xx_is_not_retried_and_can_be_returned_instead_of_failing(
    target: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request("/missing").respond_with_json({"detail": "no such user"}, status=404)
    failed = await run_http({"url": target.url_for("/missing"), "retry_backoff": 0})
    assert failed.status == "failed"
    assert "HTTP 404" in (failed.nodes[NODE_ID].error or "")
    assert len(target.log) == 1

    kept = await run_http({"url": target.url_for("/missing"), "fail_on_status": False})
    assert kept.status == "succeed"
    result = kept.nodes[NODE_ID].result
    assert result["status_code"] == 404 and result["json"] == {"detail": "no such user"}
    assert len(target.log) == 2


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


async def test_connection_errors_are_retried_then_reported(closed_port: int, run_http: RunHttp) -> None:
    record = await run_http(
        {"url": f"http://127.0.0.1:{closed_port}/", "http_retries": 2, "retry_backoff": 0}
    )
    assert record.status == "failed"
    error = record.nodes[NODE_ID].error or ""
    assert "failed after 3 attempt(s)" in error and "ConnectError" in error


async def test_the_per_attempt_timeout_fails_a_slow_server(target: HTTPServer, run_http: RunHttp) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(10)  # answers only once the node has given up
        return Response("late")

    target.expect_request("/slow").respond_with_handler(slow)
    record = await run_http({"url": target.url_for("/slow"), "request_timeout": 0.2, "http_retries": 0})
    release.set()
    assert record.status == "failed"
    assert "failed after 1 attempt(s): timed out after 0.2 s" in (record.nodes[NODE_ID].error or "")
    for _ in range(200):  # let the late answer finish so it cannot land in another test's log
        if target.log:
            break
        await asyncio.sleep(0.01)


async def test_a_body_over_the_cap_fails_the_node_instead_of_being_truncated(
    target: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request("/sized").respond_with_data("x" * 2000)
    target.expect_request("/stream").respond_with_response(Response(iter([b"y" * 600] * 4)))  # chunked
    target.expect_request("/fits").respond_with_data("z" * 1000)
    for path in ("/sized", "/stream"):
        record = await run_http({"url": target.url_for(path), "max_response_bytes": 1000})
        assert record.status == "failed", path
        assert "exceeds max_response_bytes" in (record.nodes[NODE_ID].error or "")
    record = await run_http({"url": target.url_for("/fits"), "max_response_bytes": 1000})
    assert record.status == "succeed"
    assert record.nodes[NODE_ID].result["content"] == "z" * 1000


async def test_hostile_response_bodies_become_text_without_crashing(
    target: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request("/deep").respond_with_data(
        "[" * 10_000 + "]" * 10_000, content_type="application/json"
    )
    target.expect_request("/bytes").respond_with_data(b"ok \xff\xfe done", content_type="text/plain")
    target.expect_request("/charset").respond_with_data(
        b"caf\xe9", content_type="text/plain; charset=nonsense-9"
    )
    deep = await run_http({"url": target.url_for("/deep")})
    assert deep.status == "succeed"
    assert "json" not in deep.nodes[NODE_ID].result
    assert len(deep.nodes[NODE_ID].result["content"]) == 20_000
    raw = await run_http({"url": target.url_for("/bytes")})
    assert raw.nodes[NODE_ID].result["content"] == "ok \ufffd\ufffd done"
    odd = await run_http({"url": target.url_for("/charset")})
    assert odd.nodes[NODE_ID].result["content"] == "caf\ufffd"


async def test_loopback_is_refused_without_the_allow_list(
    target: HTTPServer, run_http: RunHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNWIRE_HTTP_ALLOW")
    target.expect_request("/secret").respond_with_data("internal data")
    for url in (target.url_for("/secret"), target.url_for("/secret").replace("127.0.0.1", "localhost")):
        record = await run_http({"url": url})
        assert record.status == "failed"
        assert "non-public address" in (record.nodes[NODE_ID].error or "")
    assert target.log == []


@pytest.mark.parametrize(
    "url",
    [
        "http://[fec0::1]/",  # deprecated site-local
        "http://[::ffff:127.0.0.1]:{port}/secret",  # allowing 127.0.0.1 does not open its IPv6 forms
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://198.18.0.1/",  # benchmarking
        "http://{{{{ input.host }}}}/",
    ],
)
async def test_url_literals_that_are_not_global_unicast_are_refused(
    url: str, target: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request("/secret").respond_with_data("internal data")
    record = await run_http({"url": url.format(port=target.port)}, {"host": "100.64.0.1"})
    assert record.status == "failed"
    error = record.nodes[NODE_ID].error or ""
    assert "non-public address" in error and "RUNWIRE_HTTP_ALLOW" in error
    assert target.log == []


@pytest.mark.parametrize(
    ("node_data", "run_input", "message"),
    [
        ({"url": "{{ ''.__class__ }}"}, {}, "not allowed"),
        ({"url": "{{ input.u }}"}, {"u": "file:///etc/passwd"}, "only http and https"),
        ({"url": "http://127.0.0.1/{{ input.p }}"}, {"p": "a\r\nHost: evil"}, "not a valid URL"),
        (
            {"url": "http://127.0.0.1/", "headers": {"X-A": "{{ input.v }}"}},
            {"v": "1\r\nX-B: 2"},
            "line break",
        ),
        ({"url": "http://127.0.0.1/", "headers": {"Bad Name": "v"}}, {}, "not a valid HTTP header name"),
        ({"url": "http://127.0.0.1/", "method": "{{ input.m }}"}, {"m": "TRACE"}, "not one of"),
        ({"url": "{{ input.n }}"}, {"n": 42}, "must render to a non-empty string"),
        ({"url": "http://127.0.0.1/{{ input.x"}, {}, "syntax error"),
    ],
)
async def test_hostile_node_input_fails_the_node_with_a_clear_message(
    run_http: RunHttp, node_data: dict[str, object], run_input: dict[str, object], message: str
) -> None:
    try:
        record = await run_http(node_data, run_input)
    except WorkflowInvalid as exc:  # syntax errors are caught when the workflow is prepared
        assert message in str(exc)
        return
    assert record.status == "failed"
    assert message in (record.nodes[NODE_ID].error or "")


@pytest.mark.parametrize(
    "node_data",
    [
        {"url": "http://x/", "method": "TRACE"},
        {"url": ""},
        {"url": "http://x/", "max_response_bytes": 0},
        {"url": "http://x/", "http_retries": 99},
        {"method": "GET"},
    ],
)
async def test_invalid_node_data_is_reported_when_the_workflow_is_checked(
    run_http: RunHttp, node_data: dict[str, object]
) -> None:
    with pytest.raises(WorkflowInvalid, match=f"node {NODE_ID}: data"):
        await run_http(node_data)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("Bearer {{ input.token }}", "begins or ends with whitespace"),
        ("{{ input.token }} x", "begins or ends with whitespace"),
        ("Bearer é{{ input.token }}", "non-ASCII"),
        ("a\x01b{{ input.token }}", "control character"),
        ("a{{ input.token }}\nb", "line break"),
    ],
)
async def test_a_header_http_cannot_send_fails_once_naming_the_field(
    target: HTTPServer, run_http: RunHttp, value: str, why: str
) -> None:
    target.expect_request("/h").respond_with_data("reached")
    node = {"url": target.url_for("/h"), "headers": {"Authorization": value}, "retries": 2, "retry_delay": 0}
    record = await run_http(node, {"token": ""})
    assert record.status == "failed"
    node_record = record.nodes[NODE_ID]
    assert node_record.attempts == 1  # the node's own config: no retry can fix it
    assert (node_record.error or "").startswith("headers.Authorization: the value "), node_record.error
    assert why in (node_record.error or "")
    assert target.log == []  # refused before anything was sent


async def test_a_body_json_cannot_carry_fails_once_naming_the_field(
    target: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request("/b").respond_with_data("reached")
    node = {"url": target.url_for("/b"), "method": "POST", "body": {"n": "{{ input.n }}"}, "retries": 2}
    record = await run_http(node, {"n": float("nan")})
    node_record = record.nodes[NODE_ID]
    assert record.status == "failed" and node_record.attempts == 1
    assert (node_record.error or "").startswith("body: the value has no JSON form"), node_record.error
    assert target.log == []


async def test_a_response_json_runwire_cannot_store_is_left_as_content(
    target: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request("/r").respond_with_data(
        '{"a": NaN, "b": "\\ud800"}', content_type="application/json"
    )
    record = await run_http({"url": target.url_for("/r")})
    assert record.status == "succeed", record.error
    result = record.nodes[NODE_ID].result
    assert result is not None and "json" not in result
    assert result["content"] == '{"a": NaN, "b": "\\ud800"}'
