"""The LLM node's settings: a pydantic-settings model the host builds once (``settings_model``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from runwire import ConfigInvalid, PluginSettings, SettingsConfigDict
from runwire_llm_openai.prices import PRICES_ENV, PriceTable

API_KEY_ENV = "OPENAI_API_KEY"
API_KEY_FILE_ENV = "OPENAI_API_KEY_FILE"
BASE_URL_ENV = "OPENAI_BASE_URL"
ALLOWED_BASE_URLS_ENV = "RUNWIRE_LLM_BASE_URLS"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""Where a node goes when ``OPENAI_BASE_URL`` is unset or empty (the SDK's own default)."""


def _normal(url: str) -> str:
    return url.strip().rstrip("/")


class OpenAISettings(PluginSettings):
    """What the operator configured.

    :param api_key: ``OPENAI_API_KEY``, or the content of the file ``OPENAI_API_KEY_FILE`` names.
    :param base_url: ``OPENAI_BASE_URL`` (``None`` when unset or empty: :data:`DEFAULT_BASE_URL`).
    :param base_urls: ``RUNWIRE_LLM_BASE_URLS``, the base URLs (comma-separated) a node may pick
        with ``settings.base_url``. The API key is sent to whatever base URL a node uses, so a
        workflow may not name one the operator did not list.
    :param prices: ``RUNWIRE_LLM_PRICES``, prices added to the defaults (:attr:`price_table`).
    """

    model_config = SettingsConfigDict(env_prefix="RUNWIRE_LLM_")

    api_key: SecretStr | None = Field(default=None, validation_alias=API_KEY_ENV)
    base_url: str | None = Field(default=None, validation_alias=BASE_URL_ENV)
    base_urls: str = Field(default="", validation_alias=ALLOWED_BASE_URLS_ENV)
    prices: str = Field(default="", validation_alias=PRICES_ENV)

    @field_validator("base_url")
    @classmethod
    def _normal_base_url(cls, value: str | None) -> str | None:
        return (_normal(value) or None) if value is not None else None

    @field_validator("prices")
    @classmethod
    def _valid_prices(cls, value: str) -> str:
        try:
            PriceTable.parse(value)
        except ConfigInvalid as exc:
            raise ValueError(str(exc)) from None
        return value

    @property
    def allowed_base_urls(self) -> frozenset[str]:
        """The base URLs of ``RUNWIRE_LLM_BASE_URLS``, normalised."""
        return frozenset(_normal(u) for u in self.base_urls.split(",") if u.strip())

    @property
    def price_table(self) -> PriceTable:
        """The price table: the defaults updated with ``RUNWIRE_LLM_PRICES``."""
        return PriceTable.parse(self.prices)

    def base_url_for(self, requested: str | None) -> str:
        """The base URL a node with ``settings.base_url = requested`` talks to: always one, so
        the SDK never reads ``OPENAI_BASE_URL`` itself (it would take an empty one as a URL).

        :raises ConfigInvalid: ``requested`` is neither ``OPENAI_BASE_URL`` nor listed in
            ``RUNWIRE_LLM_BASE_URLS``.
        """
        if requested is None or not requested.strip():
            return self.base_url or DEFAULT_BASE_URL
        wanted = _normal(requested)
        if wanted == (self.base_url or DEFAULT_BASE_URL) or wanted in self.allowed_base_urls:
            return wanted
        raise ConfigInvalid(
            f"settings.base_url {requested!r:.200} is not allowed: list it in {ALLOWED_BASE_URLS_ENV}"
        )
