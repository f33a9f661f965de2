"""``field_problems``: every pydantic error as a field path and a message, and nothing more."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from runwire.fieldproblems import FieldProblem, field_problems


class Item(BaseModel):
    name: str


class Order(BaseModel):
    items: list[Item]
    count: int


def problems_of(value: object, prefix: str = "") -> list[FieldProblem]:
    with pytest.raises(ValidationError) as caught:
        Order.model_validate(value)
    return field_problems(caught.value, prefix)


def test_each_problem_names_its_field_with_list_indexes_and_the_prefix() -> None:
    problems = problems_of({"items": [{"name": "a"}, {"name": 5}], "count": "secret-value"}, "body.order")
    assert [p.field for p in problems] == ["body.order.items.1.name", "body.order.count"]
    assert str(problems[0]) == "body.order.items.1.name: Input should be a valid string"
    assert problems[1].to_json() == {
        "field": "body.order.count",
        "message": "Input should be a valid integer, unable to parse string as an integer",
    }
    assert "secret-value" not in " ".join(map(str, problems))  # the input is never echoed


def test_a_problem_of_the_whole_value_is_its_message_alone() -> None:
    (problem,) = problems_of([1, 2])
    assert problem == FieldProblem("", "Input should be a valid dictionary or instance of Order")
    assert str(problem) == problem.message
