"""Every ``RUNWIRE_AUTH0_*`` setting may come from the file its ``_FILE`` variable names."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwire.auth import AuthServices
from runwire.errors import ConfigInvalid
from runwire_auth0.provider import Auth0Auth

from .conftest import Jwks, SigningKey, bearer, claims, sign


def _as_files(settings: dict[str, str], names: list[str], directory: Path) -> dict[str, str]:
    """``settings`` with each of ``names`` moved into a file named by ``<NAME>_FILE``."""
    moved = dict(settings)
    for name in names:
        path = directory / name.lower()
        path.write_text(moved.pop(name) + "\n", encoding="utf-8")
        moved[f"{name}_FILE"] = str(path)
    return moved


async def test_settings_read_from_files_authenticate_a_real_token(
    auth0_env: dict[str, str], keys: dict[str, SigningKey], jwks: Jwks, tmp_path: Path
) -> None:
    settings = _as_files(auth0_env, sorted(auth0_env), tmp_path)
    assert not any(name in settings for name in auth0_env)
    provider = Auth0Auth(AuthServices(settings=settings))
    assert provider.settings.jwks_url == jwks.url
    principal = await provider.authenticate(bearer(sign(keys["current"], claims())))
    assert principal is not None and principal.subject == "auth0|alice"
    assert jwks.fetches == 1


def test_a_setting_given_both_ways_stops_start_up(auth0_env: dict[str, str], tmp_path: Path) -> None:
    settings = _as_files(auth0_env, ["RUNWIRE_AUTH0_AUDIENCE"], tmp_path)
    settings["RUNWIRE_AUTH0_AUDIENCE"] = "https://other.example"
    with pytest.raises(ConfigInvalid, match="both RUNWIRE_AUTH0_AUDIENCE and RUNWIRE_AUTH0_AUDIENCE_FILE"):
        Auth0Auth(AuthServices(settings=settings))


def test_a_missing_settings_file_stops_start_up_naming_it(auth0_env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    settings = {**auth0_env, "RUNWIRE_AUTH0_JWKS_URL_FILE": str(missing)}
    del settings["RUNWIRE_AUTH0_JWKS_URL"]
    with pytest.raises(ConfigInvalid, match="RUNWIRE_AUTH0_JWKS_URL_FILE") as caught:
        Auth0Auth(AuthServices(settings=settings))
    assert str(missing) in str(caught.value)
