"""The HTTP node's settings: a pydantic-settings model the host builds once (``settings_model``)."""

from __future__ import annotations

from pydantic import Field, field_validator

from runwire import PluginSettings
from runwire.netguard import ALLOW_ENV, AllowList, UrlRefused


class HttpSettings(PluginSettings):
    """What the operator configured.

    :param allow: ``RUNWIRE_HTTP_ALLOW``: host names and IP networks (comma-separated) the node
        may reach although they are private, loopback or link-local.
    """

    allow: str = Field(default="", validation_alias=ALLOW_ENV)

    @field_validator("allow")
    @classmethod
    def _valid_allow_list(cls, value: str) -> str:
        try:
            AllowList.parse(value)
        except UrlRefused as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def allow_list(self) -> AllowList:
        """``RUNWIRE_HTTP_ALLOW`` parsed."""
        return AllowList.parse(self.allow)
