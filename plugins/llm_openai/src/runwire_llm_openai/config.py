"""Process-wide settings of the LLM node, read from the environment when a node runs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from runwire import ConfigInvalid
from runwire.secretfiles import read_secret
from runwire_llm_openai.prices import PriceTable

API_KEY_ENV = "OPENAI_API_KEY"
API_KEY_FILE_ENV = "OPENAI_API_KEY_FILE"
BASE_URL_ENV = "OPENAI_BASE_URL"
ALLOWED_BASE_URLS_ENV = "RUNWIRE_LLM_BASE_URLS"


def _normal(url: str) -> str:
    return url.strip().rstrip("/")


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """What the operator configured.

    :param api_key: ``OPENAI_API_KEY``, or the content of the file ``OPENAI_API_KEY_FILE`` names.
    :param base_url: ``OPENAI_BASE_URL`` (``None``: the SDK's default, api.openai.com).
    :param allowed_base_urls: ``RUNWIRE_LLM_BASE_URLS``, the base URLs a node may pick with
        ``settings.base_url``. The API key is sent to whatever base URL a node uses, so a
        workflow may not name one the operator did not list.
    :param prices: the price table (defaults + ``RUNWIRE_LLM_PRICES``).
    """

    api_key: str | None
    base_url: str | None
    allowed_base_urls: frozenset[str]
    prices: PriceTable

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LlmConfig:
        """Read the configuration.

        :raises ConfigInvalid: a bad price table, both ``OPENAI_API_KEY`` and
            ``OPENAI_API_KEY_FILE`` set, or an unreadable key file.
        """
        env = os.environ if environ is None else environ
        base_url = _normal(env.get(BASE_URL_ENV, "")) or None
        allowed = {_normal(u) for u in env.get(ALLOWED_BASE_URLS_ENV, "").split(",") if u.strip()}
        return cls(
            api_key=read_secret(env, API_KEY_ENV) or None,
            base_url=base_url,
            allowed_base_urls=frozenset(allowed),
            prices=PriceTable.from_env(env),
        )

    def base_url_for(self, requested: str | None) -> str | None:
        """The base URL a node with ``settings.base_url = requested`` talks to.

        :raises ConfigInvalid: ``requested`` is neither ``OPENAI_BASE_URL`` nor listed in
            ``RUNWIRE_LLM_BASE_URLS``.
        """
        if requested is None or not requested.strip():
            return self.base_url
        wanted = _normal(requested)
        if wanted == self.base_url or wanted in self.allowed_base_urls:
            return wanted
        raise ConfigInvalid(
            f"settings.base_url {requested!r:.200} is not allowed: list it in {ALLOWED_BASE_URLS_ENV}"
        )
