"""Sandboxed rendering of ``{{ }}`` expressions in node data.

Only expressions are templates: ``{% %}`` and ``{# #}`` are plain text, so a template cannot
loop. Rendering runs in Jinja2's sandbox with no globals, refuses dunder/private attribute
access with :class:`TemplateRefused` (instead of the sandbox's silent empty value), bounds
``*``/``**`` and the output size, and renders a missing field as empty.

A template of plain lookups (``{{ <node-id>.result.<key> }}``) is rendered by
:mod:`runwire.references` (no compile); everything else is compiled here.

Node ids may contain dashes, so ``<node-id>.result...`` is rewritten to
``_nodes["<node-id>"].result...`` before Jinja parses the expression.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from runwire.errors import TemplateError, TemplateRefused
from runwire.jsontext import to_text as to_text  # re-exported: its home until Jinja2 became lazy
from runwire.references import (
    ReferenceRenderer,
    expressions,
    finalize,
    inspect_lookups,
    lookups,
    single_value,
)
from runwire.template_budget import (
    MAX_BUILT_CHARS,
    MAX_FOLDED_CHARS,
    budget,
    charge,
    close_budget,
    joined_output,
    open_budget,
)
from runwire.template_limits import SizedOperations, add, bounded_filters, is_reference, mod, mul, power

_EXPR = expressions()
_SINGLE = re.compile(r"\A\{\{((?:(?!\}\}).)*)\}\}\Z", re.DOTALL)
# `<id>.result` where <id> is not preceded by an attribute dot, a name char or a quote.
_NODE_REF = re.compile(r"(?<![\w.\-'\"\]\)])([0-9A-Za-z_][\w\-]*)(?=\s*\.\s*result\b)")
_SAFE_STR_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "count",
        "endswith",
        "find",
        "index",
        "isalnum",
        "isalpha",
        "isdecimal",
        "isdigit",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "rfind",
        "rindex",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "get",
        "keys",
        "values",
        "items",
    }
)
_HTML_FILTERS = ("xmlattr", "urlize")


class _Empty(ChainableUndefined):
    """A missing value: renders as the empty string and may be chained (``a.b.c``)."""

    __slots__ = ()

    def __str__(self) -> str:
        return ""


_BINOPS: dict[str, Callable[[Any, Any], Any]] = {"*": mul, "+": add, "%": mod, "**": power}


class _Sandbox(SandboxedEnvironment):
    # intercepted operators reach call_binop at render time and are never constant-folded
    intercepted_binops = frozenset(_BINOPS)

    def unsafe_undefined(self, obj: Any, attribute: Any) -> Any:
        raise TemplateRefused(f"access to attribute {attribute!r} of {type(obj).__name__} is not allowed")

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        if attribute.startswith("__") and hasattr(obj, attribute):
            raise TemplateRefused(f"access to attribute {attribute!r} is not allowed")
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            raise TemplateRefused(f"calling method {attribute!r} is not allowed in templates")
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and argument.startswith("_") and not isinstance(obj, Mapping):
            raise TemplateRefused(f"access to attribute {argument!r} is not allowed")
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        return _BINOPS[op](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")
        bound_to = getattr(__obj, "__self__", None)
        if bound_to is not None and not isinstance(bound_to, type) and name not in _SAFE_STR_METHODS:
            raise TemplateRefused(f"calling method {name!r} is not allowed in templates")
        return charge(super().call(__context, __obj, *args, **kwargs), f"{name}() result")

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        # the one step every compile passes through, with the parsed tree, before code is made
        return super()._generate(SizedOperations().visit(source), name, filename, defer_init)


def _finalize(value: Any) -> Any:
    """Each ``{{ }}`` of a text template: values only (no functions), and not too big."""
    return value if isinstance(value, _Empty) else finalize(value)


def _make_env() -> _Sandbox:
    env = _Sandbox(
        finalize=_finalize,
        undefined=_Empty,
        autoescape=False,
        block_start_string="\x00{%",
        block_end_string="%}\x00",
        comment_start_string="\x00{#",
        comment_end_string="#}\x00",
        line_statement_prefix=None,
        line_comment_prefix=None,
        cache_size=0,
        keep_trailing_newline=True,
    )
    env.globals.clear()
    for name in _HTML_FILTERS:
        env.filters.pop(name, None)
    env.filters["tojson"] = lambda v: json.dumps(v, ensure_ascii=False)
    env.filters = bounded_filters(env.filters)
    return env


_ENV = _make_env()


def rewrite_node_refs(expression: str) -> tuple[str, frozenset[str]]:
    """Rewrite ``<node-id>.result`` in one expression; return it and the ids it names."""
    ids: set[str] = set()

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "input":
            return name
        ids.add(name)
        return f"_nodes[{name!r}]"

    return _NODE_REF.sub(sub, expression), frozenset(ids)


def referenced_nodes(template: str) -> frozenset[str]:
    """Node ids a template string refers to through ``<id>.result``."""
    parts = lookups(template)
    if parts is not None:  # already parsed: the ids are the second key of each ``_nodes`` path
        return frozenset(part[1] for part in parts if isinstance(part, tuple) and part[0] == "_nodes")
    found: set[str] = set()
    for m in _EXPR.finditer(template):
        found |= rewrite_node_refs(m.group(1))[1]
    return frozenset(found)


@lru_cache(maxsize=4096)
def _compile(template: str) -> tuple[bool, bool, Any]:
    """Compile once; returns (is_single_expression, is_a_pure_reference, compiled)."""
    try:
        with budget(MAX_FOLDED_CHARS):  # constant folding builds values too
            single = _SINGLE.match(template)
            if single:
                expr = rewrite_node_refs(single.group(1))[0]
                compiled = _ENV.compile_expression(expr, undefined_to_none=False)
                return True, is_reference(Parser(_ENV, expr, state="variable").parse_expression()), compiled
            source = _EXPR.sub(lambda m: "{{" + rewrite_node_refs(m.group(1))[0] + "}}", template)
            return False, False, _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error in {_short(template)!r}: {exc.message}") from None
    except (RecursionError, SyntaxError):  # Python's own parser refuses deep nesting too
        raise TemplateError(f"template nested too deeply: {_short(template)!r}") from None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def check_template(template: str) -> str | None:
    """Return a syntax problem of ``template`` or ``None`` when it compiles."""
    if "{{" not in template or lookups(template) is not None:
        return None
    try:
        _compile(template)
    except TemplateError as exc:
        return str(exc)
    return None


def inspect_template(template: str) -> tuple[str | None, list[str]]:
    """``template``'s syntax problem (or ``None``) and the node ids it refers to, sorted (none
    when it does not compile): :func:`check_template` and :func:`referenced_nodes` in one step,
    a plain lookup (``{{ <node-id>.result.content }}``) read from one cached parse."""
    found = inspect_lookups(template)
    if found is not None:
        return found
    syntax = check_template(template)
    return syntax, [] if syntax else sorted(referenced_nodes(template))


def render_string(template: str, variables: Mapping[str, Any]) -> Any:
    """Render one template string.

    A string that is exactly one ``{{ expr }}`` returns the expression's value with its own
    type (a missing value gives ``""``); anything else returns a string. The value, as JSON,
    is at most :data:`MAX_OUTPUT_CHARS` characters, and building it may not take more than
    :data:`MAX_BUILT_CHARS` (shared with the rest of a :meth:`TemplateRenderer.render_value`).

    :raises TemplateError: the template does not parse or rendering failed.
    :raises TemplateRefused: the template tried something the sandbox forbids, or too big a value.
    """
    return _RENDERER.render_string(template, variables)


def _single_value(value: Any, reference: bool) -> Any:
    """Check the value of a one-expression template; ``reference``: it was only looked up."""
    return "" if isinstance(value, _Empty) else single_value(value, reference)


class TemplateRenderer(ReferenceRenderer):
    """Renders templates found anywhere inside JSON-like values: plain lookups as
    :class:`runwire.references.ReferenceRenderer` does, any other template compiled by Jinja2."""

    def render_compiled(self, template: str, variables: Mapping[str, Any]) -> Any:
        """Render a template through its compiled form (:func:`render_string`)."""
        single, reference, compiled = _compile(template)
        token = open_budget(MAX_BUILT_CHARS)
        try:
            if single:
                return _single_value(compiled(**variables), reference)
            return joined_output(compiled.generate(**variables))
        except TemplateError:
            raise
        except Exception as exc:  # any error raised while evaluating user-written expressions
            raise TemplateError(f"cannot render {_short(template)!r}: {type(exc).__name__}: {exc}") from None
        finally:
            close_budget(token)


_RENDERER = TemplateRenderer()
