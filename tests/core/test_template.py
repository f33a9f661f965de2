"""Sandboxed templating: the reference's variable syntax, native types, hostile templates."""

from __future__ import annotations

import json
import tracemalloc
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runwire.errors import TemplateError, TemplateRefused
from runwire.references import lookups as _lookups
from runwire.template import (
    TemplateRenderer,
    check_template,
    inspect_template,
    referenced_nodes,
    render_string,
)

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


BIG = {"input": {"s": "a" * 1_000_000, "words": ["a"] * 200_000}, "_nodes": {}}
BOMBS = [
    '{{ "%300000000d" % 1 }}',
    '{{ "%*d" % (300000000, 1) }}',
    '{{ "%.300000000f" % 1.5 }}',
    '{{ "%s"|format(input.s ~ input.s) }}',
    '{{ (["a" * 1000000] * 300)|join }}',
    '{{ ["a" * 1000000] * 30 }}',
    "{{ input.s + input.s }}",
    "{{ input.s ~ input.s }}",
    "{{ [input.s, input.s] }}",
    "text {{ [input.s, input.s] }}",
    "{{ [input.s, input.s]|string }}",
    '{{ "x"|center(300000000) }}',
    '{{ "a\\nb"|indent(300000000) }}',
    '{{ "a b c"|wordwrap(1, wrapstring="x" * 900000) }}',
    '{{ [1]|batch(300000000, "x")|list }}',
    "{{ [1]|slice(300000000)|list }}",
    '{{ "ab"|replace("", "x" * 999999) }}',
    "{{ input.s|tojson|tojson }}",
    "{{ [input.words, input.words, input.words]|sum(start=[]) }}",
    '{{ input.s.split("a") }}',
    "{{ [" + ", ".join(["input.s|upper"] * 20) + "] }}",
    "{{ " + " ~ ".join(['"x"|center(999999)'] * 20) + " }}",
]


@pytest.mark.parametrize("template", BOMBS)
def test_template_bombs_are_refused_before_they_build(template: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TemplateRefused, match=r"over the limit of [\d,]+ characters"):
            render_string(template, BIG)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40_000_000  # each asked for 30 MB to 600 MB


@pytest.mark.parametrize(
    "template",
    [
        '{{ "%300000000d" % 1 }}',
        '{{ "x"|center(300000000) }}',
        "{{ " + " ~ ".join(['"y"|center(99999)'] * 50) + " }}",
    ],
)
def test_compiling_a_bomb_builds_nothing(template: str) -> None:
    tracemalloc.start()
    try:
        assert check_template(template) is None  # Jinja's constant folding must not run it
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3_000_000
    with pytest.raises(TemplateRefused):
        render_string(template, VARS)


def test_everything_one_value_builds_is_bounded_in_all() -> None:
    value = {f"k{i}": "{{ 'a' * 900000 }}" for i in range(20)}
    with pytest.raises(TemplateRefused, match="over the limit of 8,000,000 characters in all"):
        TemplateRenderer().render_value(value, VARS)
    assert len(TemplateRenderer().render_value(dict(list(value.items())[:5]), VARS)["k4"]) == 900_000


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{ "%05d|%-4s|%.2f" % (42, "ab", 3.14159) }}', "00042|ab  |3.14"),
        ('{{ "%*d" % (5, 42) }}', "   42"),
        ('{{ "%(n)s!" % {"n": "hi"} }}', "hi!"),
        ('{{ "%s-%s"|format("a", "b") }}', "a-b"),
        ("{{ 7 % 3 }}", 1),
        ('{{ "ab" * 3 }}', "ababab"),
        ("{{ [1, 2] * 2 }}", [1, 2, 1, 2]),
        ("{{ [1] + [2] }}", [1, 2]),
        ('{{ "x"|center(5) }}', "  x  "),
        ('{{ "a\\nb"|indent(2) }}', "a\n  b"),
        ('{{ "aaa bbb"|wordwrap(3) }}', "aaa\nbbb"),
        ("{{ [1, 2, 3]|batch(2, 0)|list }}", [[1, 2], [3, 0]]),
        ("{{ [1, 2, 3]|slice(2)|list }}", [[1, 2], [3]]),
        ("{{ [[1], [2]]|sum(start=[]) }}", [1, 2]),
        ("{{ ([[1]] * 50000)|sum(start=[])|length }}", 50_000),  # linear, not Python's quadratic sum
        ("{{ [1, 2, 3]|sum }}", 6),
        ('{{ input.tags|join(", ") }}', "admin, developer"),
        ('{{ input.users|join(",", attribute="name") }}', "Alice"),
        ("{{ input.tags[:1] }}", ["admin"]),
        ("{{ input.user_name[::-1] }}", "eoD nhoJ"),
        ('{{ input.age ~ "y" }}', "30y"),
        ("{{ input.preferences|tojson }}", '{"theme": "dark"}'),
        ("{{ 1000000|filesizeformat }}", "1.0 MB"),
        ("{{ input.tags|map('upper')|list }}", ["ADMIN", "DEVELOPER"]),
    ],
)
def test_bounded_operations_still_compute(template: str, expected: object) -> None:
    assert render_string(template, VARS) == expected


def test_a_value_at_the_limit_is_returned() -> None:
    assert len(render_string('{{ "a" * 1000000 }}', VARS)) == 1_000_000
    assert len(render_string("{{ input.s|upper }}", BIG)) == 1_000_000


@pytest.mark.parametrize("depth", [150, 400])
def test_deep_nesting_is_a_template_error(depth: int) -> None:
    problem = check_template("{{ " + "+".join(["input.age"] * depth) + " }}")
    assert problem is None or "nested too deeply" in problem


_PIECES = st.sampled_from(
    ['"ab"', "input.s", "input.words", "[input.s]", '"%9999999d"', "999999", "(input.s, input.s)", "[1, 2]"]
)
_OPS = st.sampled_from(
    [" * ", " + ", " ~ ", " % ", "|join(", "|center(", "|batch(", "|replace('a', ", "|indent(", "|sum(start="]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_OPS, _PIECES), min_size=1, max_size=4), _PIECES)
def test_compositions_of_growing_operations_stay_bounded(steps: list[tuple[str, str]], first: str) -> None:
    expression = first
    for op, piece in steps:
        expression = f"({expression}{op}{piece}{')' if op.endswith(('(', '=', ', ')) else ''})"
    try:
        out = render_string("{{ " + expression + " }}", BIG)
    except TemplateError:
        return
    assert len(json.dumps(out, default=str)) <= 1_300_000  # json.dumps adds ", " separators


@pytest.mark.parametrize(
    "template",
    [
        "{{ self }}",
        '{{ [1]|map("string") }}',
        "{{ [1, 1]|unique }}",
        "{{ [1, 2]|reverse }}",
        '{{ {"a": 1}.items() }}',
    ],
)
def test_a_value_with_no_json_form_is_a_clear_template_error(template: str) -> None:
    with pytest.raises(TemplateError, match=r"JSON form|add \|list"):
        TemplateRenderer().render_value(template, {"input": {}})


def test_built_values_become_json_values() -> None:
    render = TemplateRenderer().render_value
    assert render("{{ [1, 2]|reverse|list }}", {}) == [2, 1]
    assert render("{{ (1, 2) }}", {}) == [1, 2]
    assert render('{{ {1: "a"} }}', {}) == {"1": "a"}


# --- plain lookups are rendered without compiling: the same values as the compiled path ---------

LOOKUPS = [
    "{{ input.user_name }}",
    "{{ input.age }}",
    "{{ input.preferences }}",
    "{{ input.tags }}",
    "{{ input.missing }}",
    "{{ input.missing.deeper }}",
    "{{ input.user_name.upper }}",  # a method of a str: refused, as compiled
    "{{ input.preferences.items }}",  # a dict method name that is no key: refused
    "{{ input.items }}",  # a key named like a dict method: the key
    "{{ input.__raw_input__ }}",
    f"{{{{ {NODE}.result.content }}}}",
    "{{ llm1.result }}",
    "{{ nowhere.result.content }}",
    "Hello {{ input.user_name }}, {{ input.age }} {{ input.preferences }} {{ input.tags }}!",
    "a {{ input.missing }} b {{ llm1.result.content }}",
    # a missing step: empty where Jinja's undefined is, refused or a method where Jinja says so
    "{{ input.user_name.nowhere }}",  # of a str
    "{{ input.tags.nowhere.deeper }}",  # of a list
    "{{ input.age.nowhere }}",  # of an int
    "{{ input.age.real }}",  # an attribute of an int: its value
    "{{ input.tags.append }}",
    "{{ input.user_name.format }}",
    "{{ input.preferences.__class__ }}",
    "{{ input.missing.__class__ }}",
    "{{ input.missing._private }}",
    "{{ input.preferences._private }}",
    "{{ _hidden.result.content }}",
    "{{ keys.result.content }}",  # a node id named like a dict method
    "x {{ input.preferences.keys }} y",
    "x {{ input.missing._private }} y",
    "x {{ input.user_name.nowhere }} {{ input.tags }} {{ input.preferences }} y",
]


@pytest.mark.parametrize("template", LOOKUPS)
def test_a_plain_lookup_renders_as_its_compiled_form_does(template: str) -> None:
    # "(...)" makes the same lookup a template that is compiled and evaluated by Jinja
    compiled = template.replace("{{ ", "{{ (").replace(" }}", ") }}")

    def outcome(text: str) -> Any:
        try:
            return render_string(text, VARS)
        except TemplateError as exc:
            return type(exc), str(exc).replace(compiled, template)

    assert outcome(template) == outcome(compiled)


def test_lookups_with_an_unclosed_or_odd_expression_are_still_checked() -> None:
    assert "syntax error" in (check_template("http://x/{{ input.a") or "")
    assert "syntax error" in (check_template("{{ input.a }} and {{ input.") or "")
    assert check_template("{{ input.a.b }} {{ n-1.result.content }}") is None
    assert render_string("{{ input.tags.0 }}", VARS) == "admin"  # a digit step: Jinja's getitem


def test_the_engines_renderer_returns_a_template_free_value_as_the_jinja_one_does() -> None:
    """:class:`runwire.rendered.LazyRenderer` skips Jinja2 for a value without ``{{``: same
    value, new containers (a node may change its rendered data, never the workflow's)."""
    from runwire.rendered import LazyRenderer

    value = {"a": [1, {"b": "text", 2: None}], "c": "x {", "d": 1.5}
    lazy = LazyRenderer().render_value(value, {})
    assert lazy == TemplateRenderer().render_value(value, {}) == value
    assert lazy is not value and lazy["a"] is not value["a"] and lazy["a"][1] is not value["a"][1]
    assert LazyRenderer().render_value({"k": ["{{ x }}"]}, {"x": 1}) == {"k": [1]}
    assert LazyRenderer().render_value({"{{ x }}": 1}, {"x": "key"}) == {"key": 1}
    assert LazyRenderer().render_value("{{ x }}", {"x": [2]}) == [2]


@pytest.mark.parametrize(
    ("template", "parts"),
    [
        ("{{ n-1.result.content }}", (("_nodes", "n-1", "result", "content"),)),
        ("{{n0.result}}", (("_nodes", "n0", "result"),)),
        ("{{\tn0.result.a.b\n}}", (("_nodes", "n0", "result", "a", "b"),)),
        ("{{ input.result.a }}", (("input", "result", "a"),)),  # input is the run's input
        ("{{ n0.result.content }}}}", (("_nodes", "n0", "result", "content"), "}}")),  # "}}" is text
        ("{{ n0.result.1 }}", None),  # a digit step: Jinja's getitem
    ],
)
def test_the_usual_node_result_lookup_is_read_as_the_general_parse_reads_it(
    template: str, parts: Any
) -> None:
    assert _lookups(template) == parts


_TEMPLATE_PIECES = [
    "{{",
    "}}",
    " ",
    "  ",
    "\t",
    ".",
    "result",
    "input",
    "n0",
    "n-1",
    "1a",
    "_x",
    "é",
    "a.b",
    "-",
]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(_TEMPLATE_PIECES), max_size=10))
def test_the_usual_template_is_read_as_its_pattern_reads_it(pieces: list[str]) -> None:
    """``{{ <node-id>.result.<key>... }}`` alone is read as the usual pattern reads it, whether
    by the pattern or by the shorter reading of its commonest form (one space inside the braces,
    ASCII names): the same key path, and kept for :func:`runwire.references.node_lookup` exactly
    when the pattern matches a node's result."""
    from runwire.references import _NODE_PATHS, _usual, usual_path
    from runwire.rendered import inspect_template as inspect_lazily

    template = "".join(pieces)
    for text in (template, "{{ " + template + " }}", "{{ " + template + ".result.content }}"):
        match = _usual().match(text)
        _NODE_PATHS.pop(text, None)  # read afresh, by each reader
        path = usual_path(text)  # what a workflow's check reads of a node's one template
        reference = None if path is None else path[0]
        _NODE_PATHS.pop(text, None)
        found = _lookups.__wrapped__(text)  # type: ignore[attr-defined]
        if match is not None and match[1] != "input":
            assert found == (("_nodes", match[1], "result", *match[2].split(".")[1:]),)
            assert _NODE_PATHS[text] == found[0][1:]
            # the check's shortcut reads the same path, and finds the node both inspections find
            assert path == found[0][1:]
            assert reference == match[1]
            assert inspect_lazily(text) == inspect_template(text) == (None, [reference])
        else:
            assert text not in _NODE_PATHS
            assert reference is None


class _Result(dict):  # type: ignore[type-arg]
    """A node result of a dict subclass: the renderer decides its lookups."""


@pytest.mark.parametrize(
    "template",
    [
        "{{ a.result.content }}",
        "{{ a.result.count }}",
        "{{ a.result.items }}",
        "{{ a.result.nested.deeper }}",
        "{{ a.result.missing }}",
        "{{ a.result.missing.deeper }}",
        "{{ a.result.none }}",
        "{{ a.result.long }}",
        "{{ ghost.result.content }}",
        "{{ b.result.content }}",
        "{{ c.result.content }}",
        "{{ a.result.content.upper }}",
        "{{a.result.content}}",
        "{{ input.name }}",
        "x {{ a.result.content }}",
        "plain text",
    ],
)
def test_a_nodes_usual_template_renders_as_the_renderers_render_it(template: str) -> None:
    """:meth:`runwire.nodes.NodeContext.render` reads ``{{ <node-id>.result.<key> }}`` itself
    (:func:`runwire.references.node_lookup`) only where the renderers' answer is the text found:
    every template renders as :class:`LazyRenderer` and the Jinja renderer render it."""
    from runwire.nodes import NodeContext
    from runwire.rendered import LazyRenderer
    from runwire.template_limits import MAX_OUTPUT_CHARS

    results: dict[str, Any] = {
        "a": {
            "content": "true",
            "count": 3,
            "items": [1, 2],
            "nested": {"deeper": "x"},
            "none": None,
            "long": "y" * (MAX_OUTPUT_CHARS + 1),
        },
        "b": "not a dict",
        "c": _Result(content="from a subclass"),
    }
    variables = {"input": {"name": "Ada"}, "_nodes": {k: {"result": v} for k, v in results.items()}}
    _lookups(template)  # as a workflow's check reads it first

    def outcome(render: Any, value: str) -> Any:
        try:
            return "value", render(value)
        except TemplateError as exc:
            return type(exc), str(exc)

    for nodes in (variables["_nodes"], MappingProxyType(variables["_nodes"])):  # a mapping: the renderers'
        given = {**variables, "_nodes": nodes}
        ctx = NodeContext("run", None, given["input"], results, LazyRenderer(), node_variables=nodes)  # type: ignore[arg-type]
        expected = outcome(lambda value, given=given: TemplateRenderer().render_value(value, given), template)
        assert outcome(ctx.render, template) == expected
        assert (
            outcome(lambda value, given=given: LazyRenderer().render_value(value, given), template)
            == expected
        )
