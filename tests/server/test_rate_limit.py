"""RUNWIRE_RATE_LIMIT: per-credential counts, 429 with Retry-After, health probes never limited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from pydantic import ValidationError

from runwire.plugins import Plugins
from tests.helpers import HEADERS, make_app, make_settings


def test_a_caller_over_the_limit_gets_429_with_retry_after(tmp_path: Path, plugins: Plugins) -> None:
    with TestClient(make_app(make_settings(tmp_path, rate_limit="3/minute"), plugins)) as client:
        answers = [client.get("/api/v1/workflows/", headers=HEADERS) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        limited = answers[-1]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.headers["RateLimit-Limit"] == "3" and limited.headers["RateLimit-Remaining"] == "0"
        assert limited.json()["detail"] == "Too Many Requests"
        # the count is the principal's: headers it adds do not give it a fresh one
        for made_up in ("a", "b"):
            extra = {**HEADERS, "Authorization": f"Bearer {made_up}", "X-Other": made_up}
            assert client.get("/api/v1/workflows/", headers=extra).status_code == 429
        # another principal has its own count; unknown keys are refused; probes are never limited
        other = client.app.state.services.store.sync.create_api_key([1], "other")
        assert client.get("/api/v1/workflows/", headers={"X-Api-Key": other}).status_code == 200
        assert client.get("/api/v1/workflows/", headers={"X-Api-Key": "not-a-key"}).status_code == 401
        assert all(client.get("/healthz").status_code == 200 for _ in range(5))


def test_the_limit_is_off_by_default(client: TestClient[Any]) -> None:
    assert all(client.get("/api/v1/workflows/", headers=HEADERS).status_code == 200 for _ in range(50))


@pytest.mark.parametrize("rate", ["100", "0/second", "5/fortnight", "x/minute", "5/"])
def test_a_malformed_rate_is_refused_at_start(tmp_path: Path, rate: str) -> None:
    with pytest.raises(ValidationError, match="N/unit"):
        make_settings(tmp_path, rate_limit=rate)


def test_units_may_be_plural(tmp_path: Path) -> None:
    assert make_settings(tmp_path, rate_limit="10/seconds").rate_limit == "10/seconds"
