"""The price table and the server-side parse_content rule, through their public functions."""

from __future__ import annotations

import pytest

from runwire.errors import ConfigInvalid
from runwire_llm_openai.content import NOT_JSON, parse_json_content
from runwire_llm_openai.prices import DEFAULT_PRICES, PriceTable


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
        ("o3-mini-2025-01-31", "o3-mini"),
    ],
)
def test_dated_snapshots_use_their_longest_matching_family(model: str, family: str) -> None:
    assert PriceTable(DEFAULT_PRICES).price(model) == DEFAULT_PRICES[family]


@pytest.mark.parametrize("model", ["gpt-4omega", "llama3:8b", "", "GPT-4O"])
def test_models_without_a_price_cost_nothing_known(model: str) -> None:
    table = PriceTable(DEFAULT_PRICES)
    assert table.price(model) is None
    assert table.cost(model, 100, 100) is None


def test_cost_is_usage_times_price_per_million_tokens() -> None:
    table = PriceTable.from_env({"RUNWIRE_LLM_PRICES": '{"local": {"input": 0.2, "output": 0.6}}'})
    assert table.cost("local", 2_000_000, 500_000) == pytest.approx(0.4 + 0.3)
    assert table.cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)  # defaults stay


@pytest.mark.parametrize(
    "raw",
    [
        "[1]",
        "not json",
        '{"m": {"input": 1}}',
        '{"m": {"input": 1, "output": 1, "x": 2}}',
        '{"m": 3}',
        "[" * 5000,
    ],
)
def test_a_malformed_price_table_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigInvalid, match="RUNWIRE_LLM_PRICES"):
        PriceTable.from_env({"RUNWIRE_LLM_PRICES": raw})


@pytest.mark.parametrize(
    ("content", "parsed"),
    [
        ('{"key": "value"}', {"key": "value"}),
        ('```json\n{"key": "value"}\n```', {"key": "value"}),
        (
            "```JSON\n[1]\n```",
            NOT_JSON,
        ),  # the reference's pattern is case-sensitive: "JSON" stays in the text
        ("\n```json [1, 2] ```\n", [1, 2]),
        ("42", 42),
        ("null", None),
        ("Hello, world!", NOT_JSON),
        ('text before ```json\n{"a": 1}\n```', NOT_JSON),
        ("```json\n{broken\n```", NOT_JSON),
        ("", NOT_JSON),
        ('{"a": ' * 20_000, NOT_JSON),
    ],
)
def test_parse_json_content_follows_the_reference_rule(content: str, parsed: object) -> None:
    result = parse_json_content(content)
    if parsed is NOT_JSON:
        assert result is NOT_JSON
    else:
        assert result == parsed and result is not NOT_JSON
