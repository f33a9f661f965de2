"""Redirects are followed by hand: each hop passes the SSRF guard, methods and credentials as browsers do."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from .conftest import NODE_ID, RunHttp

pytestmark = pytest.mark.usefixtures("allow_loopback")


def redirect(location: str, status: int = 302) -> Response:
    return Response("", status=status, headers={"Location": location})


async def test_a_relative_redirect_is_followed_and_the_final_url_reported(
    target: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request("/old").respond_with_response(redirect("/new?x=1", 301))
    target.expect_request("/new", query_string="x=1").respond_with_json({"moved": True})
    record = await run_http({"url": target.url_for("/old")})
    assert record.status == "succeed", record.error
    result = record.nodes[NODE_ID].result
    assert result["json"] == {"moved": True}
    assert result["url"] == target.url_for("/new?x=1")
    assert [r.path for r, _ in target.log] == ["/old", "/new"]


@pytest.mark.parametrize(
    "destination", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]/"]
)
async def test_a_redirect_to_a_non_public_address_is_refused_before_connecting(
    target: HTTPServer, run_http: RunHttp, destination: str
) -> None:
    target.expect_request("/hop").respond_with_response(redirect(destination))
    record = await run_http({"url": target.url_for("/hop")})
    assert record.status == "failed"
    error = record.nodes[NODE_ID].error or ""
    assert error.startswith("refusing ") and "non-public address" in error
    assert len(target.log) == 1


async def test_a_redirect_to_another_loopback_address_is_refused_too(
    target: HTTPServer, run_http: RunHttp
) -> None:
    """Allowing 127.0.0.1 allows neither the rest of 127.0.0.0/8 nor other schemes."""
    port = target.port
    for destination in (f"http://127.0.0.2:{port}/", f"http://[::1]:{port}/", "gopher://127.0.0.1/"):
        target.clear()
        target.expect_request("/hop").respond_with_response(redirect(destination))
        record = await run_http({"url": target.url_for("/hop")})
        assert record.status == "failed", destination
        assert len(target.log) == 1, destination


async def test_303_after_post_becomes_get_without_body(target: HTTPServer, run_http: RunHttp) -> None:
    target.expect_request("/submit", method="POST").respond_with_response(redirect("/status", 303))
    target.expect_request("/status", method="GET").respond_with_data("done")
    record = await run_http({"url": target.url_for("/submit"), "method": "POST", "body": {"a": 1}})
    assert record.status == "succeed", record.error
    status_request = target.log[1][0]
    assert status_request.get_data() == b"" and "Content-Type" not in status_request.headers


async def test_307_repeats_method_and_body(target: HTTPServer, run_http: RunHttp) -> None:
    target.expect_request("/v1/items", method="POST").respond_with_response(redirect("/v2/items", 307))
    target.expect_request("/v2/items", method="POST", json={"a": 1}).respond_with_data("created", status=201)
    record = await run_http({"url": target.url_for("/v1/items"), "method": "POST", "body": {"a": 1}})
    assert record.status == "succeed", record.error
    assert record.nodes[NODE_ID].result["status_code"] == 201


async def test_credentials_are_not_forwarded_to_another_origin(
    target: HTTPServer, other: HTTPServer, run_http: RunHttp
) -> None:
    target.expect_request("/same").respond_with_response(redirect("/here"))
    target.expect_request("/here").respond_with_data("same origin")
    target.expect_request("/away").respond_with_response(redirect(other.url_for("/there")))
    other.expect_request("/there").respond_with_data("other origin")
    headers = {"Authorization": "Bearer s3cret", "Cookie": "sid=1", "X-Trace": "t"}

    await run_http({"url": target.url_for("/same"), "headers": headers})
    assert target.log[1][0].headers.get("Authorization") == "Bearer s3cret"

    record = await run_http({"url": target.url_for("/away"), "headers": headers})
    assert record.nodes[NODE_ID].result["content"] == "other origin"
    forwarded = other.log[0][0].headers
    assert "Authorization" not in forwarded and "Cookie" not in forwarded
    assert forwarded.get("X-Trace") == "t"


async def test_redirect_loops_stop_at_max_redirects(target: HTTPServer, run_http: RunHttp) -> None:
    target.expect_request("/loop").respond_with_response(redirect("/loop"))
    record = await run_http({"url": target.url_for("/loop"), "max_redirects": 3})
    assert record.status == "failed"
    assert "too many redirects (more than 3)" in (record.nodes[NODE_ID].error or "")
    assert len(target.log) == 4


async def test_redirects_can_be_returned_instead_of_followed(target: HTTPServer, run_http: RunHttp) -> None:
    target.expect_request("/hop").respond_with_response(redirect("http://169.254.169.254/"))
    record = await run_http({"url": target.url_for("/hop"), "follow_redirects": False})
    assert record.status == "succeed"
    result = record.nodes[NODE_ID].result
    assert result["status_code"] == 302
    assert result["headers"]["location"] == "http://169.254.169.254/"
