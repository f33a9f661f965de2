"""The ``[[ ident ]]`` input binder."""

from __future__ import annotations

from runwire import RequestParts
from runwire.plugins import Plugins


def test_the_binder_binds_a_header(runwire_plugins: Plugins) -> None:
    cls = runwire_plugins.binders.get("[[ ident ]]")
    assert cls is not None
    binder = cls(cls.config_model.model_validate({"env_var_name": "TOKEN", "header": "X-Token"}))
    assert binder.variable == "TOKEN"
    assert binder.bind(RequestParts(headers={"x-token": "t0k"})) == "t0k"
    assert binder.bind(RequestParts()) == ""
