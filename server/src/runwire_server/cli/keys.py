"""API keys on the command line: ``runwire keys create|list|revoke`` (on the store, blocking)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from runwire_server.cli.base import STORE_OPTIONS, main, settings_from, with_options
from runwire_server.cli.terminal import printable, shown

if TYPE_CHECKING:  # the store is imported by the commands that use it (a fast CLI start)
    from runwire_server.store.sync import SyncStore


@main.group()
def keys() -> None:
    """Manage API keys (stored hashed, scoped to projects)."""


_DURATION = re.compile(r"([0-9]{1,9})([mhdw])")
_DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Duration(click.ParamType):
    """A duration: a positive whole number and a unit, m(inutes), h(ours), d(ays) or w(eeks): ``30d``."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        """The ``timedelta`` of ``value``; a click usage error for anything else."""
        if isinstance(value, timedelta):
            return value
        match = _DURATION.fullmatch(str(value).strip())
        if match is None or int(match[1]) == 0:
            hint = "use a positive whole number and m, h, d or w (minutes, hours, days, weeks)"
            self.fail(f"{value!r} is not a duration: {hint}, e.g. 90m, 12h, 30d, 2w", param, ctx)
        try:
            delta = timedelta(**{_DURATION_UNITS[match[2]]: int(match[1])})
            datetime.now(UTC) + delta
        except OverflowError:
            self.fail(f"{value!r} is too long", param, ctx)
        return delta


@contextmanager
def _key_store(overrides: dict[str, Any]) -> Iterator[SyncStore]:
    """The configured store (its blocking form: no event loop here), its schema brought up to
    date; disposed of afterwards."""
    from runwire.errors import ConfigInvalid
    from runwire_server.hostsetup import open_store

    try:
        store = open_store(settings_from(**overrides))
    except ConfigInvalid as exc:  # a store upgraded by a newer runwire
        raise click.ClickException(str(exc)) from None
    try:
        yield store.sync
    finally:
        store.dispose()


def _when(value: datetime | None, missing: str = "never") -> str:
    """A stored time for people: ``2025-01-31 17:05`` (UTC), or ``missing``."""
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else missing


@keys.command("create")
@click.option(
    "--project",
    "projects",
    type=click.IntRange(0, 2**31 - 1),
    multiple=True,
    required=True,
    help="Project the key may access (repeat for several).",
)
@click.option("--name", default="", help="A label to recognise the key by (at most 255 characters).")
@click.option(
    "--expires", type=Duration(), help="Refuse the key after this long: 90m, 12h, 30d, 2w (default: never)."
)
@with_options(STORE_OPTIONS)
def keys_create(projects: tuple[int, ...], name: str, expires: timedelta | None, **overrides: Any) -> None:
    """Create an API key for PROJECT(s) and print it once (only its hash is stored).

    Its id (for ``runwire keys revoke``) and its expiry go to stderr.
    """
    from runwire_server.store import iso, utcnow

    with _key_store(overrides) as store:
        try:
            key, row = store.issue_api_key(projects, name, utcnow() + expires if expires else None)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="'--name'") from None
    click.echo(key)
    until = f"expires {iso(row.expires_at)}" if row.expires_at is not None else "never expires"
    click.echo(
        f"key {row.id} ({row.name}) for project(s) {', '.join(map(str, row.projects))} created, {until}; "
        "it is shown only this once",
        err=True,
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (times in ISO 8601 UTC, null if none).")
@with_options(STORE_OPTIONS)
def keys_list(as_json: bool, **overrides: Any) -> None:
    """List API keys: id, name, projects, created, last used, expires, status (never a secret).

    Status is active, expired or revoked. Last used is written at most once a minute per key
    per server or worker process, so it may lag by that much.
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from runwire_server.store import utcnow

    with _key_store(overrides) as store:
        rows = store.list_api_keys()
    now = utcnow()
    if as_json:
        click.echo(json.dumps([row.to_json(now) for row in rows], indent=2, ensure_ascii=False))
        return
    table = Table("id", "name", "projects", "created (UTC)", "last used", "expires", "status")
    colour = {"active": "green", "expired": "yellow", "revoked": "red"}
    for row in rows:
        status = row.status(now)
        times = (_when(row.created_at), _when(row.last_used_at), _when(row.expires_at))
        projects = ",".join(map(str, row.projects))
        table.add_row(str(row.id), shown(row.name), projects, *times, Text(status, style=colour[status]))
    # piped: wide enough that no cell is wrapped (a terminal wraps at its own width)
    (Console(highlight=False) if sys.stdout.isatty() else Console(width=240, highlight=False)).print(table)


@keys.command("revoke")
@click.argument("key_id", metavar="ID", type=int)
@with_options(STORE_OPTIONS)
def keys_revoke(key_id: int, **overrides: Any) -> None:
    """Revoke the API key with ID (see ``runwire keys list``): its next request gets 401."""
    with _key_store(overrides) as store:
        revoked = store.revoke_api_key(key_id)
        row = store.get_api_key(key_id)
    if row is None:
        raise click.ClickException(f"no API key with id {key_id} (runwire keys list shows them)")
    if revoked:
        click.echo(f"API key {key_id} ({printable(row.name)}) revoked: requests with it now get 401")
    else:
        click.echo(
            f"API key {key_id} ({printable(row.name)}) was already revoked (at {_when(row.revoked_at)} UTC)"
        )
