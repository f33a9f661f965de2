"""Property-based fuzzing of every documented operation of a live ``runwire serve`` (schemathesis).

The server is a real process with the example task config and executables mounted. Its OpenAPI
schema describes every request and response body, so every operation gets valid and invalid
parameters and bodies straight from ``/schema``. Checks: no response is a 5xx, and
responses with a documented status conform to the documented schema and content type.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from runwire_server.testing import running_server
from tests.helpers import KEY, ROOT, SERVICE_KEY, server_env

HEADERS = {"X-Api-Key": KEY, "X-Service-Api-Key": SERVICE_KEY}

MAX_EXAMPLES = int(os.environ.get("RUNWIRE_FUZZ_EXAMPLES", "30"))
"""Examples per operation and mode: 30 keeps the module well under a minute; raise it for a deep run."""
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """A live server with a workflow, the example task config and the example executables."""
    env = server_env()
    with running_server(env=env) as server:
        hello = (ROOT / "examples" / "hello.json").read_text()
        for project in (0, 1):
            created = httpx.post(
                f"{server.url}/api/v1/workflows/",
                headers=HEADERS,
                content=f'{{"project": {project}, "title": "fuzz", "data": {hello}}}',
            )
            assert created.status_code == 201, created.text
        yield server.url
        assert "Traceback" not in server.logs(), server.logs()[-4000:]


@pytest.fixture(scope="module")
def api_schema(server_url: str) -> Any:
    """The live server's OpenAPI schema, aimed at the live server."""
    raw = httpx.get(f"{server_url}/schema/openapi.json").json()
    loaded = schemathesis.openapi.from_dict(raw)
    loaded.config.update(base_url=server_url)
    return loaded


def fuzz(operation: Any, mode: GenerationMode) -> None:
    """Send ``MAX_EXAMPLES`` generated requests to ``operation``; raise on the first failed check."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(headers=HEADERS, timeout=30, checks=CHECKS)

    check()


# schemathesis' own ``parametrize`` cannot take a fixture's schema under pytest 9 (its lazy
# loader reads a removed attribute), so each mode walks the operations itself.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_documented_shapes(api_schema: Any, mode: GenerationMode) -> None:
    """Any input to any operation: never a 5xx; documented statuses have the documented shape."""
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:
        try:
            fuzz(operation, mode)
        except Unsatisfiable:  # negative mode: nothing in this operation can be made invalid
            continue
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
