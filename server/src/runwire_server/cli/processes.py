"""Long-lived processes: ``runwire serve`` (the API) and ``runwire worker`` (Dramatiq workers)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any

import click

from runwire.errors import ConfigInvalid, PluginConflict
from runwire_server.cli.base import (
    STORE_OPTIONS,
    build_process_services,
    main,
    prepare_process,
    settings_from,
    with_options,
)

log = logging.getLogger("runwire.server")
_WEBSOCKET_ADVICE = ("Unsupported upgrade request.", "No supported WebSocket library detected.")


def _no_websocket_advice(record: logging.LogRecord) -> bool:
    """Drops uvicorn's two warnings on each ``Upgrade: websocket`` request, which ``ws="none"``
    makes it log: runwire has no WebSocket route, so it answers such a request as plain HTTP,
    and the advice to install a WebSocket library would mislead."""
    return not str(record.msg).startswith(_WEBSOCKET_ADVICE)


WORKER_READY_LINE = "runwire worker ready"
"""What ``runwire worker`` prints (to stderr) once it consumes messages."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@with_options(STORE_OPTIONS)
@click.option(
    "--broker-url",
    help="RUNWIRE_BROKER_URL (redis://... or amqp://...); default: runs execute in this process",
)
@click.option("--auth-providers", help="RUNWIRE_AUTH_PROVIDERS, e.g. api-key,auth0 or none")
@click.option("--worker-threads", type=int, help="RUNWIRE_WORKER_THREADS: runs at once (embedded mode)")
@click.option("--task-config", help="RUNWIRE_TASK_CONFIG: a script-runner config.json to mount at /task")
def serve(host: str, port: int, **overrides: Any) -> None:
    """Serve the HTTP API; without a broker URL, also execute runs in this process."""
    from runwire_server.memory import boot_without_collections, freeze_boot_objects

    with boot_without_collections():
        import uvicorn

        from runwire_server.api.app import create_app
        from runwire_server.openfiles import UNBOUNDED, connection_cap, open_file_limit
        from runwire_server.slow_clients import deadline_protocol

        prepare_process()
        settings = settings_from(**overrides)
        try:  # front doors start in create_app: a bad RUNWIRE_TASK_CONFIG stops here, named
            app = create_app(settings, services=build_process_services(settings))
        except (ConfigInvalid, PluginConflict) as exc:
            raise click.ClickException(str(exc)) from None
        freeze_boot_objects()
    mode = (
        "distributed (runwire worker processes execute runs)"
        if settings.broker_url
        else "embedded (runs execute in this process)"
    )
    click.echo(
        f"runwire serve: http://{host}:{port} — {mode}, store {settings.store_url.split('://')[0]}", err=True
    )
    limit = open_file_limit()
    connections = connection_cap(settings.max_connections, limit, settings.max_processes)
    if settings.max_connections > connections:
        log.warning(
            "RUNWIRE_MAX_CONNECTIONS=%d lowered to %d: the open-file limit (%d) less what programs "
            "and the store need",
            settings.max_connections,
            connections,
            limit,
        )
    if connections < UNBOUNDED:
        log.info("at most %d connections at once (RUNWIRE_MAX_CONNECTIONS)", connections)
    http = deadline_protocol(settings.http_header_timeout_s, settings.http_request_timeout_s, connections)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        loop="auto",
        http=http,
        ws="none",  # no WebSocket route: importing a WebSocket library would cost ~30 ms of start
        lifespan="on",
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.http_keepalive_timeout_s,
    )
    logging.getLogger("uvicorn.error").addFilter(_no_websocket_advice)
    endings = app.state.services.endings

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            endings.stop_waiting()  # long-polls answer now: a shutdown waits for no one's poll
            super().handle_exit(sig, frame)

    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(3)  # as uvicorn.run: the server did not start (e.g. the port is taken)


@main.command()
@with_options(STORE_OPTIONS)
@click.option("--broker-url", help="RUNWIRE_BROKER_URL (required: redis://... or amqp://...)")
@click.option("--threads", "worker_threads", type=int, help="RUNWIRE_WORKER_THREADS")
def worker(**overrides: Any) -> None:
    """Execute runs from the broker until SIGTERM/SIGINT (distributed mode)."""
    import signal
    import threading

    from runwire_server.memory import boot_without_collections, freeze_boot_objects

    with boot_without_collections():
        from runwire_server.metrics import serve_worker_metrics

        prepare_process()
        settings = settings_from(**overrides)
        if not settings.broker_url:
            raise click.ClickException(
                "runwire worker needs RUNWIRE_BROKER_URL (or --broker-url), e.g. redis://..."
            )
        services = build_process_services(settings)
        freeze_boot_objects()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    services.start_worker()
    metrics = serve_worker_metrics(services.metrics, settings)
    click.echo(f"{WORKER_READY_LINE}: {settings.worker_threads} threads, pid {os.getpid()}", err=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        click.echo("runwire worker: stopping (unfinished messages go back to the queue)", err=True)
        if metrics is not None:
            metrics.shutdown()
        services.close()
