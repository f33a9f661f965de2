"""Sending one logical HTTP request: SSRF-checked hops, manual redirects, retries, a size cap.

Every hop (the first request and each redirect) is checked with :func:`runwire.netguard.check_url`
and sent to an address that check resolved, so DNS cannot answer differently in between.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin, urlsplit

import httpx

from runwire import NodeFailed
from runwire.netguard import CheckedUrl, UrlRefused, check_url
from runwire_http.outgoing import Fetched, Outgoing, Policy

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_BACKOFF = 30.0
# Headers that carry credentials: never forwarded to another origin on a redirect.
CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
BODY_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "transfer-encoding"})


class ResponseTooLarge(NodeFailed):
    """The response body is larger than the configured cap (the node fails; nothing is truncated)."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def follow(request: Outgoing, status: int, location: str) -> Outgoing:
    """The request a redirect asks for, as browsers and curl do it.

    303 (and 301/302 after a POST) become a body-less GET; 307/308 repeat method and body.
    Credential headers are dropped when the redirect leaves the origin.
    """
    target = urljoin(request.url, location)
    method, content = request.method, request.content
    headers = dict(request.headers)
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        method, content = "GET", None
        headers = {k: v for k, v in headers.items() if k.lower() not in BODY_HEADERS}
    if _origin(target) != _origin(request.url):
        headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
    return Outgoing(method=method, url=target, headers=headers, content=content)


async def fetch(client: httpx.AsyncClient, request: Outgoing, policy: Policy) -> Fetched:
    """Send ``request``, following redirects (each hop guarded) and retrying transient failures.

    :raises NodeFailed: a hop was refused by the SSRF guard, the server could not be reached
        after the retries, the body exceeded the cap, or there were too many redirects.
    """
    for _hop in range(policy.max_redirects + 1):
        try:
            async with asyncio.timeout(policy.timeout):
                checked = await check_url(request.url, policy.allow)
        except UrlRefused as exc:
            raise NodeFailed(str(exc), retryable=False) from None
        except TimeoutError:
            raise NodeFailed(f"resolving {request.url} timed out after {policy.timeout:g} s") from None
        fetched = await _send_with_retries(client, request, checked, policy)
        location = fetched.headers.get("location")
        if not (policy.follow_redirects and fetched.status_code in REDIRECT_STATUSES and location):
            return fetched
        request = follow(request, fetched.status_code, location)
    raise NodeFailed(f"too many redirects (more than {policy.max_redirects})")


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


async def _send_with_retries(
    client: httpx.AsyncClient, request: Outgoing, checked: CheckedUrl, policy: Policy
) -> Fetched:
    attempt = 0
    while True:
        attempt += 1
        delay = policy.backoff * 2 ** (attempt - 1)
        try:
            async with asyncio.timeout(policy.timeout):
                fetched = await _send_once(client, request, checked, policy)
        except httpx.LocalProtocolError as exc:  # what we would send is not HTTP: no retry helps
            raise NodeFailed(
                f"{request.method} {request.url} cannot be sent: {exc}", retryable=False
            ) from None
        except (httpx.TransportError, TimeoutError) as exc:
            if attempt > policy.retries:
                timed_out = isinstance(exc, (TimeoutError, httpx.TimeoutException))
                reason = (
                    f"timed out after {policy.timeout:g} s" if timed_out else f"{type(exc).__name__}: {exc}"
                )
                raise NodeFailed(
                    f"{request.method} {request.url} failed after {attempt} attempt(s): {reason}"
                ) from None
        else:
            if not _retryable(fetched.status_code) or attempt > policy.retries:
                return fetched
            delay = max(delay, _retry_after(fetched.headers) or 0.0)
        await asyncio.sleep(min(delay, MAX_BACKOFF))


async def _send_once(
    client: httpx.AsyncClient, request: Outgoing, checked: CheckedUrl, policy: Policy
) -> Fetched:
    address = str(checked.addresses[0])
    pinned = httpx.URL(request.url).copy_with(host=address)
    default_port = 443 if checked.scheme == "https" else 80
    host_header = checked.host if ":" not in checked.host else f"[{checked.host}]"
    if checked.port != default_port:
        host_header = f"{host_header}:{checked.port}"
    headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
    headers["Host"] = host_header
    extensions = {}
    if checked.scheme == "https" and address != checked.host:
        extensions["sni_hostname"] = checked.host
    built = client.build_request(
        request.method, pinned, headers=headers, content=request.content, extensions=extensions
    )
    response = await client.send(built, stream=True)
    try:
        response_headers = {k.lower(): v for k, v in response.headers.items()}
        if response.status_code in REDIRECT_STATUSES and "location" in response_headers:
            body = b""
        else:
            body = await _read_capped(response, policy.max_response_bytes)
        return Fetched(
            url=request.url,
            status_code=response.status_code,
            headers=response_headers,
            body=body,
            charset=response.charset_encoding,
        )
    finally:
        await response.aclose()


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ResponseTooLarge(f"response body of {declared} bytes exceeds max_response_bytes ({cap})")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > cap:
            raise ResponseTooLarge(f"response body exceeds max_response_bytes ({cap} bytes)")
    return bytes(body)
