"""Built-in input binders: ``path``, ``query`` and ``body`` (script-runner's config inputs).

Every binder returns text, the form a value takes in a command's argv: strings as they are,
anything else as JSON. A variable the request does not supply binds to ``""`` (path, query);
a JSONPath that matches nothing is a client error naming the variable.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from runwire.binders import BinderConfig, InputBinder, RequestParts, as_text
from runwire.errors import BindingError
from runwire.hookspecs import hookimpl

if TYPE_CHECKING:
    from jsonpath_ng import JSONPath


class PathConfig(BinderConfig):
    """``path_args`` entry: a regex matched at the start of the path below the route."""

    path_regex: str
    path_regex_match_group: int | str = Field(default=0)

    @field_validator("path_regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class PathBinder(InputBinder):
    """Binds a regex group of the request path (``""`` when the regex does not match)."""

    kind = "path"
    config_model = PathConfig
    config: PathConfig

    def __init__(self, config: PathConfig) -> None:
        super().__init__(config)
        self.regex = re.compile(config.path_regex)
        group = config.path_regex_match_group or 0
        if isinstance(group, int) and group > self.regex.groups:
            raise ValueError(f"path_regex_match_group {group} but the regex has {self.regex.groups} group(s)")
        if isinstance(group, str) and group not in self.regex.groupindex:
            raise ValueError(f"path_regex_match_group {group!r} is not a named group of the regex")
        self.group = group

    def bind(self, request: RequestParts) -> str:
        """The configured group of ``path_regex`` matched at the start of ``request.path``."""
        match = self.regex.match(request.path)
        if match is None:
            return ""
        return match.group(self.group) or ""


class QueryConfig(BinderConfig):
    """``query_args`` entry: the query parameter's name."""

    query_var_name: str = Field(min_length=1)


class QueryBinder(InputBinder):
    """Binds a query parameter: its value, a JSON array when repeated, ``""`` when absent."""

    kind = "query"
    config_model = QueryConfig
    config: QueryConfig

    def bind(self, request: RequestParts) -> str:
        """The parameter's value (or a JSON array of its values when given several times)."""
        values = [v for k, v in request.query if k == self.config.query_var_name]
        if not values:
            return ""
        return values[0] if len(values) == 1 else as_text(values)


class BodyConfig(BinderConfig):
    """``body_args`` entry: a JSONPath into the JSON body (jsonpath-ng, extended syntax)."""

    body_jsonpath: str = Field(min_length=1)

    @field_validator("body_jsonpath")
    @classmethod
    def _parses(cls, value: str) -> str:
        compile_jsonpath(value)
        return value


def compile_jsonpath(expression: str) -> JSONPath:
    """Parse a JSONPath expression; ``ValueError`` with a readable message when it does not parse."""
    # imported here: its parser costs every start ~10 ms, and only body binders use it
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext.parser import parse as parse_jsonpath

    try:
        return parse_jsonpath(expression)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        raise ValueError(f"not a valid JSONPath: {exc}") from None


class BodyBinder(InputBinder):
    """Binds what a JSONPath finds in the body: one match as itself, several as a JSON array."""

    kind = "body"
    config_model = BodyConfig
    config: BodyConfig

    def __init__(self, config: BodyConfig) -> None:
        super().__init__(config)
        self.path = compile_jsonpath(config.body_jsonpath)

    def bind(self, request: RequestParts) -> str:
        """One match binds that value, several bind a JSON array; none is a :class:`BindingError`."""
        try:
            matches = [m.value for m in self.path.find(request.body)] if request.body is not None else []
        except RecursionError:
            raise BindingError(f"variable {self.variable}: the request body is nested too deeply") from None
        if not matches:
            raise BindingError(
                f"variable {self.variable}: the JSON body has nothing at {self.config.body_jsonpath!r}"
            )
        return as_text(matches[0] if len(matches) == 1 else matches)


@hookimpl
def register_input_binders() -> list[type[InputBinder]]:
    """Core's input binders."""
    return [PathBinder, QueryBinder, BodyBinder]
