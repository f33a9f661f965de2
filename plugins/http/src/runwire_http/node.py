"""The ``basic-node`` named "HTTP Request": a templated HTTP call whose response becomes the result."""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pydantic import Field, field_validator

from runwire import ConfigInvalid, NodeContext, NodeData, NodeFailed, NodeOutput, NodeType, to_text
from runwire.jsontext import JsonRefused, dumps, has_lone_surrogate, loads
from runwire_http.outgoing import Fetched, Outgoing, Policy
from runwire_http.settings import HttpSettings

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?")
"""RFC 9110 field-value (visible ASCII, inner spaces and tabs), as httpx and h11 send it."""
ERROR_SNIPPET_CHARS = 200


class HttpRequestData(NodeData):
    """``data`` of an "HTTP Request" node. ``url``, ``method``, ``headers`` and ``body`` take templates."""

    url: str = Field(min_length=1, description="Absolute http(s) URL; {{ }} templates allowed.")
    method: str = Field(
        default="GET", description="HTTP method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)."
    )
    headers: dict[str, Any] = Field(default_factory=dict, description="Request headers; values templated.")
    body: Any = Field(
        default=None,
        description="Request body: a string is sent as is, anything else as JSON; templates allowed.",
    )
    request_timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds per attempt.")
    http_retries: int = Field(
        default=2, ge=0, le=10, description="Extra attempts on connection errors, timeouts, 429 and 5xx."
    )
    retry_backoff: float = Field(
        default=0.5, ge=0, le=30, description="Seconds before the first retry; doubles each time."
    )
    follow_redirects: bool = True
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_response_bytes: int = Field(
        default=1_048_576,
        gt=0,
        le=64 * 1_048_576,
        description="Largest (decoded) response body accepted; a larger one fails the node.",
    )
    fail_on_status: bool = Field(
        default=True, description="Fail the node when the final response status is 400 or above."
    )

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if "{{" in value:
            return value
        if value.upper() not in METHODS:
            raise ValueError(f"method must be one of {', '.join(sorted(METHODS))}")
        return value.upper()


def build_request(data: HttpRequestData, ctx: NodeContext) -> Outgoing:
    """Render the node's templates into a request.

    :raises NodeFailed: the rendered method, URL or a header is not usable.
    """
    url = ctx.render(data.url)
    if not isinstance(url, str) or not url.strip():
        raise NodeFailed(f"url must render to a non-empty string, got {to_text(url)!r:.100}", retryable=False)
    method = to_text(ctx.render(data.method)).strip().upper()
    if method not in METHODS:
        raise NodeFailed(f"method {method!r:.40} is not one of {', '.join(sorted(METHODS))}", retryable=False)
    headers: dict[str, str] = {}
    for name, value in ctx.render(data.headers).items():
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise NodeFailed(f"header name {name!r:.60} is not a valid HTTP header name", retryable=False)
        headers[name] = header_value(name, to_text(value))
    content: bytes | None = None
    body = ctx.render(data.body) if data.body is not None else None
    if isinstance(body, str):
        if has_lone_surrogate(body):
            raise NodeFailed("body: holds a lone UTF-16 surrogate, which is not text", retryable=False)
        content = body.encode("utf-8")
    elif body is not None:
        try:
            content = dumps(body, default=str).encode("utf-8")
        except JsonRefused as exc:
            raise NodeFailed(f"body: {exc}", retryable=False) from None
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    return Outgoing(method=method, url=url.strip(), headers=headers, content=content)


def header_value(name: str, text: str) -> str:
    """``text`` if HTTP can carry it as the value of header ``name``.

    :raises NodeFailed: (not retryable: the node's own config) naming ``headers.<name>`` and
        what is wrong: a line break or NUL, another control or non-ASCII character, or
        whitespace at either end (``"Bearer "``: a template that rendered empty).
    """
    if _FIELD_VALUE.fullmatch(text):
        return text
    field = f"headers.{name}"
    if re.search(r"[\r\n\x00]", text):
        why = "contains a line break or NUL character"
    elif not text.isascii():
        why = "contains a non-ASCII character (percent- or base64-encode it)"
    elif text != text.strip(" \t"):
        why = "begins or ends with whitespace (did a template render empty?)"
    else:
        why = "contains a control character"
    raise NodeFailed(f"{field}: the value {text!r:.80} {why}; HTTP cannot send it", retryable=False)


def response_result(fetched: Fetched) -> dict[str, Any]:
    """The node result: ``content`` (body text), ``status_code``, ``headers``, ``url`` and ``json``.

    ``json`` is present only when the body parses as JSON that runwire accepts
    (:func:`runwire.jsontext.loads`: no ``NaN``, lone surrogates, duplicate keys, ...).
    """
    try:
        text = fetched.body.decode(fetched.charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name from the server
        text = fetched.body.decode("utf-8", errors="replace")
    result: dict[str, Any] = {
        "content": text,
        "status_code": fetched.status_code,
        "headers": fetched.headers,
        "url": fetched.url,
    }
    if text.strip():
        with contextlib.suppress(JsonRefused):
            result["json"] = loads(text)
    return result


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods a run interrupted while sending may send again (RFC 9110 safe methods)."""


class HttpRequestNode(NodeType):
    """Sends one HTTP request (SSRF-guarded, retried, size-capped) and returns the response."""

    type = "basic-node"
    name = "HTTP Request"
    title = "HTTP Request"
    description = (
        "Calls an HTTP API. url, method, headers and body take {{ }} templates. Private, loopback "
        "and link-local targets are refused unless allowed by RUNWIRE_HTTP_ALLOW."
    )
    data_model = HttpRequestData
    rerun_safe = False

    def safe_to_rerun(self, data: HttpRequestData) -> bool:
        """GET, HEAD and OPTIONS (literal, not templated) are safe to send again; others are not."""
        return data.method in SAFE_METHODS

    async def run(self, data: HttpRequestData, ctx: NodeContext) -> NodeOutput:
        """Render, send and return ``{content, status_code, headers, url, json?}``."""
        try:
            allow = self.plugin_settings(HttpSettings).allow_list
        except ConfigInvalid as exc:
            raise NodeFailed(str(exc), retryable=False) from None
        request = build_request(data, ctx)
        policy = Policy(
            timeout=data.request_timeout,
            retries=data.http_retries,
            backoff=data.retry_backoff,
            follow_redirects=data.follow_redirects,
            max_redirects=data.max_redirects,
            max_response_bytes=data.max_response_bytes,
            allow=allow,
        )
        import httpx  # when a request is sent, not at plugin load (see runwire_http.outgoing)

        from runwire_http.fetch import fetch

        async with httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=data.request_timeout,
            limits=httpx.Limits(max_keepalive_connections=0),
        ) as client:
            fetched = await fetch(client, request, policy)
        if data.fail_on_status and fetched.status_code >= 400:
            snippet = fetched.body[:ERROR_SNIPPET_CHARS].decode("utf-8", errors="replace")
            raise NodeFailed(f"HTTP {fetched.status_code} from {request.method} {fetched.url}: {snippet}")
        return NodeOutput(response_result(fetched))
