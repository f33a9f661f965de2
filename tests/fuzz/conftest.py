"""Shared settings of the fuzz tests' live servers: every front door mounted, small body limit."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEY = "fuzz-key"
SERVICE_KEY = "fuzz-service-key"
MAX_BODY = 65536


def server_env() -> dict[str, str]:
    """``runwire serve`` settings: one bootstrap key, the execution-update key, the example task
    config and executables, and a body limit of :data:`MAX_BODY` bytes."""
    return {
        "RUNWIRE_API_KEYS": KEY,
        "RUNWIRE_SERVICE_API_KEY": SERVICE_KEY,
        "RUNWIRE_TASK_CONFIG": str(ROOT / "examples" / "task" / "config.json"),
        "RUNWIRE_EXECUTABLES_DIR": str(ROOT / "examples" / "bin"),
        "RUNWIRE_MAX_BODY_BYTES": str(MAX_BODY),
    }
