"""The HTTP side of commands that talk to a running server (``runwire runs``): the ``--url`` and
``--key`` options, requests whose failures become one clear line, and a Server-Sent Events reader
that resumes with ``Last-Event-ID`` when the connection drops."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # imported when a command runs: ``runwire --help`` does not pay for it
    import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
RECONNECTS = 5
"""Tries in a row to reconnect a dropped event stream before giving up."""
BUSY = (429, 503)
"""Replies that say "not now" (too many streams open, the caller's or the server's): the stream
is asked for again after their ``Retry-After``, within :data:`RECONNECTS`."""
MAX_RETRY_AFTER_S = 10.0

CLIENT_OPTIONS = [
    click.option(
        "--url",
        envvar="RUNWIRE_URL",
        default=DEFAULT_URL,
        show_default=True,
        help="The server's base URL (RUNWIRE_URL).",
    ),
    click.option(
        "--key",
        envvar="RUNWIRE_API_KEY",
        default="",
        help="API key, sent as X-Api-Key (RUNWIRE_API_KEY).",
    ),
]


@dataclass
class Event:
    """One Server-Sent Event: its id, kind and JSON data."""

    id: str
    kind: str
    data: Any

    def to_json(self) -> dict[str, Any]:
        """``{"id", "event", "data"}``: what ``--json`` prints per line."""
        return {"id": int(self.id) if self.id.isdigit() else self.id, "event": self.kind, "data": self.data}


def parse_events(lines: Iterator[str]) -> Iterator[Event]:
    """Server-Sent Events from a stream's lines (comments and ``retry:`` ignored; data as JSON)."""
    event_id, kind = "", "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                text = "\n".join(data)
                try:
                    value: Any = json.loads(text)
                except ValueError:
                    value = text
                yield Event(event_id, kind, value)
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value_text = line.partition(":")
        value_text = value_text.removeprefix(" ")
        if name == "data":
            data.append(value_text)
        elif name == "event":
            kind = value_text
        elif name == "id":
            event_id = value_text


class Remote:
    """A synchronous client of one server, failing with a :class:`click.ClickException`."""

    def __init__(self, url: str, key: str) -> None:
        import httpx

        self.url = url.rstrip("/")
        headers = {"X-Api-Key": key} if key else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def call(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> httpx.Response:
        """Make one request; any status outside ``ok`` or a transport failure is a one-line error."""
        import httpx

        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self.unreachable(exc) from None
        if response.status_code not in ok:
            raise self.refused(response)
        return response

    def unreachable(self, exc: Exception) -> click.ClickException:
        """The error for a server that could not be reached or stopped answering."""
        reason = str(exc) or type(exc).__name__
        return click.ClickException(
            f"cannot reach the runwire server at {self.url}: {reason} (--url, RUNWIRE_URL)"
        )

    def refused(self, response: httpx.Response) -> click.ClickException:
        """The error for a reply the command cannot use: its status and the server's detail."""
        try:
            detail = response.json().get("detail") or response.reason_phrase
        except (ValueError, AttributeError):
            detail = response.reason_phrase
        hint = {401: " (--key, RUNWIRE_API_KEY)", 403: " (this key may not do that)"}.get(
            response.status_code, ""
        )
        return click.ClickException(f"{response.status_code} {detail}{hint}")

    def events(self, path: str, last_id: str = "") -> Iterator[Event]:
        """The event stream at ``path``, endless: stop iterating at the last event you want.

        When the connection drops or the server closes the stream, it reconnects with the last
        event id seen (``Last-Event-ID``: the events after it, no gap, no repeat), up to
        :data:`RECONNECTS` tries in a row before failing; a 429 or 503 (too many streams open) is
        tried again after its ``Retry-After``, within the same tries.
        """
        import httpx

        failures = 0
        # keep-alive comments come every 15 s: a minute of silence is a dead connection
        timeout = httpx.Timeout(30.0, read=60.0)
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            try:
                with self.client.stream("GET", path, headers=headers, timeout=timeout) as response:
                    if response.status_code != 200:
                        response.read()
                        if response.status_code in BUSY and failures < RECONNECTS:
                            failures += 1
                            time.sleep(retry_after(response))
                            continue
                        raise self.refused(response)
                    for event in parse_events(response.iter_lines()):
                        failures = 0
                        last_id = event.id or last_id
                        yield event
                reason: Exception = httpx.RemoteProtocolError("the server closed the event stream")
            except httpx.HTTPError as exc:
                reason = exc
            failures += 1
            if failures > RECONNECTS:
                raise self.unreachable(reason)
            time.sleep(min(0.25 * 2**failures, 4.0))


def retry_after(response: httpx.Response) -> float:
    """The seconds a reply's ``Retry-After`` asks for (1 when it gives no number), at most
    :data:`MAX_RETRY_AFTER_S`."""
    try:
        seconds = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        seconds = 1.0
    return min(seconds, MAX_RETRY_AFTER_S) if seconds >= 0 else 1.0  # NaN is not >= 0
