"""Sandboxed templating: the reference's variable syntax, native types, hostile templates."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runwire.errors import TemplateError, TemplateRefused
from runwire.template import TemplateRenderer, check_template, referenced_nodes, render_string

NODE = "93e9822b-63a4-4553-adb4-79029db3c09b"
VARS = {
    "input": {
        "user_name": "John Doe",
        "age": 30,
        "preferences": {"theme": "dark"},
        "tags": ["admin", "developer"],
        "users": [{"name": "Alice"}],
        "company": {"departments": [{"employees": [{"name": "Alice"}, {"role": "DevOps"}]}]},
        "__raw_input__": "plain text",
        "items": "a field named like a dict method",
    },
    "_nodes": {NODE: {"result": {"content": "Hi!", "score": 7}}, "llm1": {"result": {"content": "x"}}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ input.user_name }}", "John Doe"),
        ("{{ input.preferences.theme }}", "dark"),
        ("{{ input.users[0].name }}", "Alice"),
        ("{{ input.tags[1] }}", "developer"),
        ("{{ input.tags.0 }}", "admin"),
        ("{{ input.company.departments[0].employees[1].role }}", "DevOps"),
        ("{{ input.__raw_input__ }}", "plain text"),
        ("{{ input.items }}", "a field named like a dict method"),
        (f"{{{{ {NODE}.result.content }}}}", "Hi!"),
        (f"{{{{ {NODE}.result.score }}}}", 7),
        ("{{ llm1.result.content }}", "x"),
        ("Hello {{ input.user_name }}, age {{ input.age }}", "Hello John Doe, age 30"),
    ],
)
def test_reference_variable_syntax(template: str, expected: object) -> None:
    assert render_string(template, VARS) == expected


def test_statements_are_plain_text_so_templates_cannot_loop() -> None:
    out = render_string("{% for x in input.tags %}{{ input.age }}{% endfor %}", VARS)
    assert out == "{% for x in input.tags %}30{% endfor %}"


def test_single_expression_keeps_native_type() -> None:
    assert render_string("{{ input.age }}", VARS) == 30
    assert render_string("{{ input.tags }}", VARS) == ["admin", "developer"]
    assert render_string("{{ input.preferences }}", VARS) == {"theme": "dark"}
    assert render_string("age: {{ input.age }}", VARS) == "age: 30"


def test_array_input_by_index() -> None:
    assert render_string("{{ input[0].name }}", {"input": [{"name": "Bob"}], "_nodes": {}}) == "Bob"


@pytest.mark.parametrize("template", ["{{ input.nonexistent }}", "{{ input.a.b.c }}", "{{ input.tags[9] }}"])
def test_missing_field_renders_empty(template: str) -> None:
    assert render_string(template, VARS) == ""
    assert render_string("[" + template + "]", VARS) == "[]"


def test_render_value_recurses_into_structures() -> None:
    value = {"Authorization": "Bearer {{ input.user_name }}", "body": ["{{ input.age }}", 1, None]}
    assert TemplateRenderer().render_value(value, VARS) == {
        "Authorization": "Bearer John Doe",
        "body": [30, 1, None],
    }


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ input.__class__ }}",
        "{{ input['__class__'] }}",
        "{{ input.tags.__len__() }}",
        "{{ input.tags.pop() }}",
        "{{ 'a' * 100000000 }}",
        "{{ 9 ** 99999 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ ('a' * 999999) | replace('a', 'aa') }}",
        "x {{ self.__init__.__globals__ }}",
    ],
)
def test_hostile_templates_are_refused(template: str) -> None:
    with pytest.raises(TemplateError):
        render_string(template, VARS)


def test_dunder_access_is_refused_not_silently_empty() -> None:
    with pytest.raises(TemplateRefused, match="__class__"):
        render_string("{{ ''.__class__ }}", VARS)


def test_dunder_names_that_are_not_python_attributes_render_empty() -> None:
    assert render_string("{{ lipsum.__globals__ }}", VARS) == ""
    assert render_string("{{ input[0].__raw_input__ }}", {"input": [{}], "_nodes": {}}) == ""


def test_syntax_errors_are_reported() -> None:
    assert check_template("{{ input. }}") is not None
    assert check_template("{{ }}") is not None
    assert check_template("{{ input.x }}") is None
    with pytest.raises(TemplateError, match="syntax"):
        render_string("{{ input.( }}", VARS)


def test_referenced_nodes() -> None:
    assert referenced_nodes(f"{{{{ {NODE}.result.content }}}} and {{{{ b-2.result }}}}") == {NODE, "b-2"}
    assert referenced_nodes("{{ input.result }}") == frozenset()
    assert referenced_nodes("no template here") == frozenset()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_escapes_the_sandbox(text: str) -> None:
    for template in (text, "{{" + text + "}}", "{{ input." + text + " }}"):
        try:
            out = render_string(template, VARS)
        except TemplateError:
            continue
        assert not callable(out) or isinstance(out, str)
        if isinstance(out, str):
            assert len(out) <= 1_000_000


DANGEROUS = ["__class__", "__mro__", "__subclasses__", "__globals__", "__init__", "__builtins__", "_nodes"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*DANGEROUS, "input", "tags", "0", "format", "mro"]), min_size=1, max_size=5))
def test_attribute_chains_never_reach_python_internals(chain: list[str]) -> None:
    template = "{{ " + ".".join(["input", *chain]) + " }}"
    try:
        out = render_string(template, VARS)
    except TemplateError:
        return
    assert isinstance(out, (str, int, float, list, dict))
