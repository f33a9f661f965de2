"""The built-in path/query/body input binders, through the plugin registry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runwire.binders import InputBinder, RequestParts
from runwire.errors import BindingError
from runwire.plugins import Plugins


def binder(plugins: Plugins, kind: str, **config: Any) -> InputBinder:
    cls = plugins.binders.get(kind)
    assert cls is not None
    return cls(cls.config_model.model_validate({"env_var_name": "V", **config}))


def test_registered_kinds(plugins: Plugins) -> None:
    assert {"path", "query", "body"} <= {k for k, _ in plugins.binders}


@pytest.mark.parametrize(
    "regex,group,path,expected",
    [
        ("([^/]+)", 1, "run-42/extra", "run-42"),
        ("([^/]+)/([^/]+)", 2, "a/b", "b"),
        ("([^/]+)", 0, "abc/def", "abc"),
        ("items/(?P<id>\\d+)", "id", "items/17", "17"),
        ("([0-9]+)", 1, "abc", ""),  # no match binds ""
        ("([^/]*)", 1, "", ""),  # no path given binds ""
    ],
)
def test_path(plugins: Plugins, regex: str, group: Any, path: str, expected: str) -> None:
    b = binder(plugins, "path", path_regex=regex, path_regex_match_group=group)
    assert b.bind(RequestParts(path=path)) == expected


def test_path_config_errors(plugins: Plugins) -> None:
    with pytest.raises(ValueError, match="regular expression"):
        binder(plugins, "path", path_regex="([", path_regex_match_group=1)
    with pytest.raises(ValueError, match="group"):
        binder(plugins, "path", path_regex="(a)", path_regex_match_group=3)


@pytest.mark.parametrize(
    "query,expected",
    [
        ([("season", "summer")], "summer"),
        ([], ""),
        ([("other", "x")], ""),
        ([("season", "a"), ("season", "b;c")], json.dumps(["a", "b;c"], separators=(",", ":"))),
        ([("season", "")], ""),
    ],
)
def test_query(plugins: Plugins, query: list[tuple[str, str]], expected: str) -> None:
    assert binder(plugins, "query", query_var_name="season").bind(RequestParts(query=query)) == expected


@pytest.mark.parametrize(
    "path,body,expected",
    [
        ("$", "Paris", "Paris"),
        ("$", {"a": 1}, '{"a":1}'),
        ("$.city", {"city": "Oslo"}, "Oslo"),
        ("$.n", {"n": 3}, "3"),
        ("$.flag", {"flag": True}, "true"),
        ("$.items[*].id", {"items": [{"id": "a"}, {"id": 2}]}, '["a",2]'),
        ("$.items[*].id", {"items": [{"id": "only"}]}, "only"),
        ("$.s", {"s": "$(id); rm -rf /"}, "$(id); rm -rf /"),
    ],
)
def test_body(plugins: Plugins, path: str, body: Any, expected: str) -> None:
    assert binder(plugins, "body", body_jsonpath=path).bind(RequestParts(body=body)) == expected


@pytest.mark.parametrize("body", [None, {"other": 1}, {"items": []}])
def test_body_no_match_names_the_variable(plugins: Plugins, body: Any) -> None:
    b = binder(plugins, "body", body_jsonpath="$.items[*].id")
    with pytest.raises(BindingError, match="variable V"):
        b.bind(RequestParts(body=body))


def test_body_bad_jsonpath_is_a_config_error(plugins: Plugins) -> None:
    with pytest.raises(ValueError, match="JSONPath"):
        binder(plugins, "body", body_jsonpath="$[[[")


def test_unknown_config_key_is_refused(plugins: Plugins) -> None:
    with pytest.raises(ValueError, match=r"query_name\n  unknown field \(did you mean 'query_var_name'\?\)"):
        binder(plugins, "query", query_var_name="a", query_name="typo")


def test_the_raw_body_is_parsed_once_on_first_read() -> None:
    parts = RequestParts(raw_body=b'{"a": [1]}')
    first = parts.body
    assert first == {"a": [1]} and parts.body is first
    assert RequestParts(raw_body=b" \n").body is None
    assert RequestParts().body is None


def test_a_bad_raw_body_is_a_binding_error_each_time_it_is_read() -> None:
    parts = RequestParts(path="p", raw_body=b"{nope")
    assert parts.path == "p"  # nothing is parsed until the body is read
    for _ in range(2):
        with pytest.raises(BindingError, match="malformed JSON"):
            _ = parts.body
