"""Run input: flat bodies, plain text, and trigger input fields (required, defaults, types)."""

from __future__ import annotations

import pytest

from runwire.errors import InputInvalid
from runwire.inputs import apply_input_fields, input_from_text
from runwire.workflow import InputField


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ("Hello, process this text", {"__raw_input__": "Hello, process this text"}),
        ("", {}),
        ('"just a string"', {"__raw_input__": '"just a string"'}),
        ("{broken", {"__raw_input__": "{broken"}),
    ],
)
def test_input_from_text(body: str, expected: object) -> None:
    assert input_from_text(body) == expected


@pytest.mark.parametrize(
    ("body", "refused"),
    [("[" * 10000 + "]" * 10000, "nested deeper"), ('{"a": NaN}', "NaN"), ('{"a": 1, "a": 2}', "duplicate")],
)
def test_input_from_text_refuses_json_runwire_refuses(body: str, refused: str) -> None:
    with pytest.raises(InputInvalid, match=refused):
        input_from_text(body)


FIELDS = [
    InputField(id="name", type="text", input_requirements=True),
    InputField(id="age", type="number", default_value="18"),
    InputField(
        id="lang",
        type="select",
        default_value="en",
        options=[{"title": "English", "value": "en"}, {"title": "Russian", "value": "ru"}],
    ),
    InputField(id="note", type="text"),
]


def test_defaults_and_number_coercion() -> None:
    assert apply_input_fields(FIELDS, {"name": "Ann", "age": "42", "extra": True}) == {
        "name": "Ann",
        "age": 42,
        "lang": "en",
        "note": "",
        "extra": True,
    }
    assert apply_input_fields(FIELDS, {"name": "Ann", "age": "4.5"})["age"] == 4.5
    assert apply_input_fields(FIELDS, {"name": "Ann"})["age"] == 18


def test_every_problem_is_named() -> None:
    with pytest.raises(InputInvalid) as info:
        apply_input_fields(FIELDS, {"age": "old", "lang": "fr"})
    assert info.value.problems == [
        "input field 'name' is required",
        "input field 'age' must be a number, got 'old'",
        "input field 'lang' must be one of ['en', 'ru'], got 'fr'",
    ]


@pytest.mark.parametrize("bad", [True, "nan", "inf", [1], {"a": 1}])
def test_number_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(InputInvalid, match="'age'"):
        apply_input_fields(FIELDS, {"name": "x", "age": bad})


def test_non_object_input_with_required_fields() -> None:
    with pytest.raises(InputInvalid, match="JSON object"):
        apply_input_fields(FIELDS, ["a"])
    assert apply_input_fields([InputField(id="x")], ["a"]) == ["a"]
