"""The price table: USD per million tokens by model, and the cost of one completion's usage.

Defaults cover common OpenAI models (list prices, standard tier); ``RUNWIRE_LLM_PRICES`` adds or
overrides entries as JSON: ``{"my-model": {"input": 0.2, "output": 0.6}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runwire import ConfigInvalid

PRICES_ENV = "RUNWIRE_LLM_PRICES"
PER_TOKENS = 1_000_000


class Price(BaseModel):
    """USD per million input (prompt) and output (completion) tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)


DEFAULT_PRICES: dict[str, Price] = {
    name: Price(input=i, output=o)
    for name, (i, o) in {
        "gpt-5": (1.25, 10.0),
        "gpt-5-mini": (0.25, 2.0),
        "gpt-5-nano": (0.05, 0.40),
        "gpt-4.1": (2.0, 8.0),
        "gpt-4.1-mini": (0.40, 1.60),
        "gpt-4.1-nano": (0.10, 0.40),
        "gpt-4o": (2.50, 10.0),
        "gpt-4o-mini": (0.15, 0.60),
        "gpt-4-turbo": (10.0, 30.0),
        "gpt-4": (30.0, 60.0),
        "gpt-3.5-turbo": (0.50, 1.50),
        "o1": (15.0, 60.0),
        "o3": (2.0, 8.0),
        "o3-mini": (1.10, 4.40),
        "o4-mini": (1.10, 4.40),
    }.items()
}


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices by model name; a dated snapshot (``gpt-4o-2024-08-06``) uses its family's price."""

    prices: Mapping[str, Price]

    @classmethod
    def parse(cls, raw: str) -> PriceTable:
        """The defaults updated with ``raw``, the value of ``RUNWIRE_LLM_PRICES`` (``""``: none).

        :raises ConfigInvalid: ``raw`` is not a JSON object of ``{"input", "output"}`` prices.
        """
        prices = dict(DEFAULT_PRICES)
        raw = raw.strip()
        if raw:
            try:
                loaded = json.loads(raw)
                if not isinstance(loaded, dict):
                    raise ValueError("expected a JSON object keyed by model name")
                prices.update({str(k): Price.model_validate(v) for k, v in loaded.items()})
            except (ValueError, RecursionError, ValidationError) as exc:
                raise ConfigInvalid(
                    f'{PRICES_ENV} must be JSON like {{"model": {{"input": 2.5, "output": 10}}}} '
                    f"(USD per million tokens): {exc}"
                ) from None
        return cls(prices)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PriceTable:
        """The defaults updated with ``environ["RUNWIRE_LLM_PRICES"]`` (see :meth:`parse`)."""
        return cls.parse(environ.get(PRICES_ENV, ""))

    def price(self, model: str) -> Price | None:
        """The price of ``model``: an exact entry, else the longest entry it starts with + ``-``."""
        if model in self.prices:
            return self.prices[model]
        best = max((name for name in self.prices if model.startswith(name + "-")), key=len, default=None)
        return self.prices[best] if best is not None else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """USD for that usage, or ``None`` when the model has no price."""
        price = self.price(model)
        if price is None:
            return None
        return (prompt_tokens * price.input + completion_tokens * price.output) / PER_TOKENS
