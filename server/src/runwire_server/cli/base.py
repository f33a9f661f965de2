"""The ``runwire`` command group and what its commands share: plugins, settings, store options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from runwire.errors import PluginConflict
from runwire.plugins import Plugins


@click.group()
@click.version_option(package_name="runwire-server")
def main() -> None:
    """runwire: turn scripts and node graphs into authenticated HTTP APIs."""


def load_plugins(*, warn: bool = True, keep_conflicts: bool = False) -> Plugins:
    """The installed plugins, with the server's hookspecs (so a misspelt hook is caught).

    A plugin that fails is left out and, with ``warn``, printed as a warning (``serve`` and
    ``worker`` log them instead); a conflict is a click error naming both plugins and the fix,
    unless ``keep_conflicts`` (``runwire plugins`` shows it as a problem).
    """
    from runwire_server import hookspecs

    try:
        plugins = Plugins.load(host_specs=[hookspecs], keep_conflicts=keep_conflicts)
    except PluginConflict as exc:
        raise click.ClickException(str(exc)) from None
    if warn:
        for error in plugins.load_errors:
            click.echo(f"warning: {error}", err=True)
    return plugins


def settings_from(**overrides: Any) -> Any:
    """Settings from the environment, with the CLI flags that were given on top."""
    from pydantic import ValidationError

    from runwire.errors import ConfigInvalid
    from runwire.fieldproblems import field_problems
    from runwire_server.settings import Settings

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(map(str, field_problems(exc)))
        raise click.ClickException(f"invalid settings: {problems}") from None
    except ConfigInvalid as exc:  # a secret file that cannot be read, a secret set twice
        raise click.ClickException(str(exc)) from None


def prepare_process() -> None:
    """Logging, the memory settings and the open-file limit of a long-lived process (``serve``,
    ``worker``)."""
    import logging

    from runwire_server.memory import pin_mmap_threshold, share_the_gil_sooner
    from runwire_server.openfiles import raise_open_file_limit

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pin_mmap_threshold()
    share_the_gil_sooner()
    raise_open_file_limit()


def build_process_services(settings: Any) -> Any:
    """The process's services for ``settings``; a configuration error becomes a click error."""
    from runwire.errors import ConfigInvalid
    from runwire_server.services import build_services

    try:
        return build_services(settings, load_plugins(warn=False))
    except ConfigInvalid as exc:
        raise click.ClickException(str(exc)) from None


STORE_OPTIONS = [
    click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="RUNWIRE_DATA_DIR"),
    click.option("--database-url", help="RUNWIRE_DATABASE_URL (default: SQLite in the data dir)"),
]


def with_options(options: list[Any]) -> Any:
    """Decorate a command with each of ``options``, in order."""

    def wrap(fn: Any) -> Any:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return wrap
