"""Server settings from ``RUNWIRE_*`` environment variables (CLI flags override them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runwire.check import DEFAULT_MAX_NODES
from runwire.engine import DEFAULT_MAX_RESULT_BYTES
from runwire.host import DEFAULT_MAX_PARALLEL_NODES, DEFAULT_MAX_PROCESSES
from runwire.secretfiles import read_secret
from runwire_server.interrupted import RerunPolicy
from runwire_server.retention import parse_retention


class Settings(BaseSettings):
    """Everything ``runwire serve`` and ``runwire worker`` read from the environment."""

    model_config = SettingsConfigDict(env_prefix="RUNWIRE_", extra="ignore")

    data_dir: Path = Field(default=Path(".runwire"), description="Where the default SQLite store lives.")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty: SQLite in data_dir.")
    database_url_file: str = Field(default="", description="A file holding RUNWIRE_DATABASE_URL instead.")
    broker_url: str = Field(
        default="", description="redis://... or amqp://... for distributed workers; empty: embedded."
    )
    broker_url_file: str = Field(default="", description="A file holding RUNWIRE_BROKER_URL instead.")
    broker_namespace: str = Field(
        default="runwire", description="Prefix of every Redis key of the queue; RabbitMQ: of its queue name."
    )
    broker_heartbeat_timeout_ms: int = Field(
        default=60_000,
        ge=1000,
        description="Redis: a worker silent this long is dead; its runs go to others.",
    )
    api_keys: str = Field(default="", description="Comma-separated bootstrap keys (every project).")
    api_keys_file: str = Field(default="", description="A file holding RUNWIRE_API_KEYS instead.")
    auth_providers: str = Field(default="api-key", description="Comma-separated auth providers, in order.")
    service_api_key: str = Field(default="", description="X-Service-Api-Key of execution-update.")
    service_api_key_file: str = Field(
        default="", description="A file holding RUNWIRE_SERVICE_API_KEY instead."
    )
    privileged_projects: str = Field(
        default="", description="Projects whose workflows may hold privileged nodes: ids, or '*'."
    )
    run_as_user: str = Field(default="", description="The user (name or uid) programs run as.")
    rundir_root: str = Field(
        default="", description="Where run directories are made; empty: <tmp>/runwire-rundirs-<uid>."
    )
    worker_threads: int = Field(default=8, ge=1, le=256, description="Runs executed at once per process.")
    queue_max: int = Field(
        default=10_000, ge=1, description="Runs that may wait in the queue; past it, submits get 503."
    )
    rate_limit: str = Field(
        default="", description="Requests per caller, e.g. '100/second' (second|minute|hour|day); empty: off."
    )
    long_requests_per_principal: int = Field(
        default=100,
        ge=1,
        description="Event streams, waiting polls and starts, blocking executes one principal may "
        "hold open at once; over it: 429.",
    )
    max_long_requests: int = Field(
        default=1000,
        ge=1,
        description="Event streams and waiting requests open at once in all (at most half of "
        "RUNWIRE_MAX_CONNECTIONS as it applies); over it: 503.",
    )
    max_connections: int = Field(
        default=0,
        ge=0,
        description="HTTP connections open at once; past it new ones get 503 and are closed. 0: the "
        "open-file limit less a reserve for programs and the store.",
    )
    http_header_timeout_s: float = Field(
        default=10.0, gt=0, description="A request whose headers have not all arrived by then is dropped."
    )
    http_request_timeout_s: float = Field(
        default=60.0, gt=0, description="A request whose body has not all arrived by then is dropped."
    )
    http_keepalive_timeout_s: float = Field(
        default=5.0, gt=0, description="An idle kept-alive connection is closed after this."
    )
    run_time_limit_s: int = Field(default=3600, ge=1, description="A run still going after this is stopped.")
    rerun_interrupted: RerunPolicy = Field(
        default="safe",
        description="Re-run a run a crash or stop interrupted: never, safe (no unsafe node started), always.",
    )
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="Largest request body.")
    max_result_bytes: int = Field(
        default=DEFAULT_MAX_RESULT_BYTES, ge=1024, description="Largest node result, as JSON; larger fails."
    )
    max_run_bytes: int | None = Field(
        default=None, ge=1024, description="A run's node results together, as JSON; unset: 4 x the node's."
    )
    max_nodes: int = Field(default=DEFAULT_MAX_NODES, ge=1, description="Most nodes a workflow may have.")
    max_edges: int | None = Field(
        default=None, ge=1, description="Most edges, next_nodes entries included; unset: 4 times max_nodes."
    )
    max_processes: int = Field(
        default=DEFAULT_MAX_PROCESSES, ge=1, le=4096, description="Child processes at once per process."
    )
    max_parallel_nodes: int = Field(
        default=DEFAULT_MAX_PARALLEL_NODES, ge=1, le=4096, description="Nodes of one run executing at once."
    )
    task_config: str = Field(default="", description="A script-runner config.json to mount at /task.")
    executables_dir: str = Field(default="", description="Where /api/execute/ runs programs from.")
    execute_timeout: float = Field(default=3600.0, gt=0, description="Seconds per /api/execute/ program.")
    requeue_after_s: float = Field(
        default=300.0,
        gt=0,
        description="Distributed: a run in queue this long is enqueued again (sooner if the queue is empty).",
    )
    allowed_hosts: str = Field(
        default="*",
        description="Host headers answered (comma-separated; '*.example.com': its subdomains); '*': any.",
    )
    ui_cookie_secure: bool = Field(
        default=False,
        description="Mark the UI's session and CSRF cookies Secure (set it when served over https).",
    )
    ui_session_max_age_s: int = Field(
        default=8 * 3600,
        ge=1,
        le=30 * 86400,
        description="A UI sign-in ends this long after it was made, however often it is used.",
    )
    ui_sessions_per_key: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="UI sessions one principal may hold at once; a sign-in past it ends its oldest.",
    )
    ui_max_sessions: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="UI sessions this process holds at once; a sign-in past it ends the oldest of all.",
    )
    heartbeat_s: float = Field(
        default=3.0, gt=0, description="How often every serve and worker process renews its lease."
    )
    process_timeout_s: float = Field(
        default=10.0, gt=0, description="A process silent this long is dead: its runs are enqueued again."
    )
    metrics: bool = Field(default=True, description="Serve GET /metrics (false: 404, no worker port).")
    metrics_public: bool = Field(default=False, description="GET /metrics without credentials.")
    metrics_host: str = Field(default="127.0.0.1", description="runwire worker: address of its metrics.")
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="runwire worker: port of its /metrics; 0: none."
    )
    run_retention: str = Field(
        default="", description="Delete finished runs older than this (30d, 12h, 90m, 3600s); empty: kept."
    )
    retention_sweep_s: float = Field(
        default=60.0, gt=0, description="How often each process deletes runs past RUNWIRE_RUN_RETENTION."
    )

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        if value.strip():
            parse_rate(value)
        return value.strip()

    @field_validator("run_retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        parse_retention(value)
        return value.strip()

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        hosts = [h.strip() for h in value.split(",") if h.strip()]
        if not hosts:
            raise ValueError("RUNWIRE_ALLOWED_HOSTS is empty; use '*' to answer any Host")
        for host in hosts:
            if host != "*" and ("*" in host.removeprefix("*.") or any(c.isspace() for c in host)):
                raise ValueError(
                    f"RUNWIRE_ALLOWED_HOSTS: {host!r} is not a host, host:port or *.domain "
                    "(a wildcard may only start a name)"
                )
        return ",".join(hosts)

    @field_validator("auth_providers")
    @classmethod
    def _providers_not_empty(cls, value: str) -> str:
        if not [p for p in value.split(",") if p.strip()]:
            raise ValueError("RUNWIRE_AUTH_PROVIDERS is empty; use 'none' to open the API")
        return value

    @model_validator(mode="after")
    def _lease(self) -> Settings:
        if self.process_timeout_s < 2 * self.heartbeat_s:
            raise ValueError(
                "RUNWIRE_PROCESS_TIMEOUT_S must be at least twice RUNWIRE_HEARTBEAT_S "
                "(a live process must not look dead between two heartbeats)"
            )
        return self

    @model_validator(mode="after")
    def _secret_files(self) -> Settings:
        for name in ("api_keys", "service_api_key", "database_url", "broker_url"):
            env = f"RUNWIRE_{name.upper()}"
            given = {env: getattr(self, name), f"{env}_FILE": getattr(self, f"{name}_file")}
            setattr(self, name, read_secret(given, env) or "")
        return self

    @model_validator(mode="after")
    def _header_safe_keys(self) -> Settings:
        # a header value reaches the auth provider as Latin-1 text, the setting as Unicode: a key
        # outside printable ASCII would be refused on every request, so it is refused here
        keys = {
            "RUNWIRE_API_KEYS": [k.strip() for k in self.api_keys.split(",") if k.strip()],
            "RUNWIRE_SERVICE_API_KEY": [self.service_api_key] if self.service_api_key else [],
        }
        for env, values in keys.items():
            for number, key in enumerate(values, 1):
                if not all(" " <= char <= "~" for char in key):
                    raise ValueError(
                        f"{env}: key {number} holds a character outside printable ASCII; an HTTP "
                        "header carries ASCII only, so that key could never be matched"
                    )
        return self

    @property
    def provider_names(self) -> list[str]:
        """``auth_providers`` as a list, in order."""
        return [p.strip() for p in self.auth_providers.split(",") if p.strip()]

    @property
    def allowed_host_list(self) -> list[str] | None:
        """``allowed_hosts`` as a list, or ``None`` when any Host is answered (``*``)."""
        hosts = self.allowed_hosts.split(",")
        return None if "*" in hosts else hosts

    @property
    def run_retention_s(self) -> int | None:
        """``run_retention`` in seconds; ``None``: runs are kept."""
        return parse_retention(self.run_retention)

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the store (PostgreSQL URLs mapped to the psycopg 3 driver)."""
        return store_url(self.database_url, self.data_dir)

    def provider_settings(self) -> dict[str, str]:
        """The ``settings`` mapping auth providers get: the environment plus these values."""
        import os

        values: dict[str, Any] = dict(os.environ)
        values["RUNWIRE_API_KEYS"] = self.api_keys
        values["RUNWIRE_AUTH_PROVIDERS"] = self.auth_providers
        return values


RATE_UNITS = ("second", "minute", "hour", "day")


def parse_rate(text: str) -> tuple[str, int]:
    """``RUNWIRE_RATE_LIMIT`` (``N/unit``) as ``(unit, N)``.

    :raises ValueError: not ``N/unit`` with a positive N and a unit of :data:`RATE_UNITS`.
    """
    count, _, unit = text.strip().partition("/")
    unit = unit.strip().lower().removesuffix("s")
    if not count.strip().isdigit() or int(count) < 1 or unit not in RATE_UNITS:
        raise ValueError(f"{text!r} is not N/unit with N ≥ 1 and unit one of {', '.join(RATE_UNITS)}")
    return unit, int(count)


def store_url(database_url: str, data_dir: Path) -> str:
    """Resolve a database URL: empty → SQLite file in ``data_dir``; ``postgresql://`` → psycopg 3."""
    if not database_url:
        return f"sqlite:///{(Path(data_dir) / 'runwire.db').resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if database_url.startswith(prefix):
            return "postgresql+psycopg://" + database_url[len(prefix) :]
    return database_url
