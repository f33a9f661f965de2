"""The ``[[ name ]]`` auth provider."""

from __future__ import annotations

import pytest
from runwire import AuthRefused, AuthServices, ConfigInvalid

from [[ module ]].auth import HEADER, SETTING, TokenAuth


async def test_the_right_token_is_accepted_and_a_wrong_one_refused() -> None:
    provider = TokenAuth(AuthServices(settings={SETTING: "s3cret"}))
    principal = await provider.authenticate({HEADER: "s3cret"})
    assert principal is not None and principal.provider == "[[ name ]]"
    assert await provider.authenticate({}) is None
    with pytest.raises(AuthRefused):
        await provider.authenticate({HEADER: "guess"})


def test_a_missing_setting_stops_start_up() -> None:
    with pytest.raises(ConfigInvalid, match=SETTING):
        TokenAuth(AuthServices(settings={}))
