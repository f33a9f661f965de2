"""Sandboxed rendering of ``{{ }}`` expressions in node data.

Only expressions are templates: ``{% %}`` and ``{# #}`` are plain text, so a template cannot
loop. Rendering runs in Jinja2's sandbox with no globals, refuses dunder/private attribute
access with :class:`TemplateRefused` (instead of the sandbox's silent empty value), bounds
``*``/``**`` and the output size, and renders a missing field as empty.

Node ids may contain dashes, so ``<node-id>.result...`` is rewritten to
``_nodes["<node-id>"].result...`` before Jinja parses the expression.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from runwire.errors import TemplateError, TemplateRefused

MAX_OUTPUT_CHARS = 1_000_000
MAX_EXPONENT = 1_000

_EXPR = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_SINGLE = re.compile(r"\A\{\{((?:(?!\}\}).)*)\}\}\Z", re.DOTALL)
# `<id>.result` where <id> is not preceded by an attribute dot, a name char or a quote.
_NODE_REF = re.compile(r"(?<![\w.\-'\"\]\)])([0-9A-Za-z_][\w\-]*)(?=\s*\.\s*result\b)")
_SAFE_STR_METHODS = frozenset(
    {
        "capitalize", "casefold", "count", "endswith", "find", "index", "isalnum", "isalpha",
        "isdecimal", "isdigit", "islower", "isnumeric", "isspace", "istitle", "isupper",
        "lower", "lstrip", "partition", "removeprefix", "removesuffix", "rfind", "rindex",
        "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
        "swapcase", "title", "upper", "get", "keys", "values", "items",
    }
)  # fmt: skip
_UNSAFE_FILTERS = ("center", "indent", "wordwrap", "format", "xmlattr", "urlize", "filesizeformat")


class _Empty(ChainableUndefined):
    """A missing value: renders as the empty string and may be chained (``a.b.c``)."""

    __slots__ = ()

    def __str__(self) -> str:
        return ""


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

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
        if op == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise TemplateRefused(f"exponent {right} is too large")
            if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > 100_000:
                raise TemplateRefused("power result too large")
            return operator.pow(left, right)
        if op == "*":
            for seq, n in ((left, right), (right, left)):
                sized = isinstance(seq, (str, list, tuple)) and isinstance(n, int)
                if sized and len(seq) * n > MAX_OUTPUT_CHARS:
                    raise TemplateRefused("repetition result too large")
            return operator.mul(left, right)
        return super().call_binop(context, op, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")
        bound_to = getattr(__obj, "__self__", None)
        if bound_to is not None and not isinstance(bound_to, type) and name not in _SAFE_STR_METHODS:
            raise TemplateRefused(f"calling method {name!r} is not allowed in templates")
        return super().call(__context, __obj, *args, **kwargs)


def _bounded_replace(s: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(s)
    hits = text.count(old) if old else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - len(old)) > MAX_OUTPUT_CHARS:
        raise TemplateRefused("replace result too large")
    return text.replace(old, new, -1 if count is None else count)


def _finalize(value: Any) -> Any:
    """Refuse to output functions (``{{ input.get }}``): a template yields values only."""
    if callable(value) and not isinstance(value, _Empty):
        raise TemplateRefused("expression evaluates to a function, not a value")
    return value


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
    for name in _UNSAFE_FILTERS:
        env.filters.pop(name, None)
    env.filters["replace"] = _bounded_replace
    env.filters["tojson"] = lambda v: json.dumps(v, ensure_ascii=False)
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
    found: set[str] = set()
    for m in _EXPR.finditer(template):
        found |= rewrite_node_refs(m.group(1))[1]
    return frozenset(found)


@lru_cache(maxsize=4096)
def _compile(template: str) -> tuple[bool, Any]:
    """Compile once; returns (is_single_expression, compiled)."""
    try:
        single = _SINGLE.match(template)
        if single:
            expr = rewrite_node_refs(single.group(1))[0]
            return True, _ENV.compile_expression(expr, undefined_to_none=False)
        source = _EXPR.sub(lambda m: "{{" + rewrite_node_refs(m.group(1))[0] + "}}", template)
        return False, _ENV.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error in {_short(template)!r}: {exc.message}") from None
    except RecursionError:
        raise TemplateError(f"template nested too deeply: {_short(template)!r}") from None


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def check_template(template: str) -> str | None:
    """Return a syntax problem of ``template`` or ``None`` when it compiles."""
    if "{{" not in template:
        return None
    try:
        _compile(template)
    except TemplateError as exc:
        return str(exc)
    return None


def render_string(template: str, variables: Mapping[str, Any]) -> Any:
    """Render one template string.

    A string that is exactly one ``{{ expr }}`` returns the expression's value with its own
    type (a missing value gives ``""``); anything else returns a string.

    :raises TemplateError: the template does not parse or rendering failed.
    :raises TemplateRefused: the template tried something the sandbox forbids.
    """
    if "{{" not in template:
        return template
    single, compiled = _compile(template)
    try:
        if single:
            value = _finalize(compiled(**variables))
            if isinstance(value, _Empty):
                return ""
            if isinstance(value, str) and len(value) > MAX_OUTPUT_CHARS:
                raise TemplateRefused("template output too large")
            return value
        parts: list[str] = []
        size = 0
        for chunk in compiled.generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateRefused("template output too large")
            parts.append(chunk)
        return "".join(parts)
    except TemplateError:
        raise
    except Exception as exc:  # any error raised while evaluating user-written expressions
        raise TemplateError(f"cannot render {_short(template)!r}: {type(exc).__name__}: {exc}") from None


class TemplateRenderer:
    """Renders templates found anywhere inside JSON-like values."""

    def render_value(self, value: Any, variables: Mapping[str, Any]) -> Any:
        """Render every string inside ``value`` (dicts and lists recursively; keys too)."""
        if isinstance(value, str):
            return render_string(value, variables)
        if isinstance(value, list):
            return [self.render_value(v, variables) for v in value]
        if isinstance(value, dict):
            return {
                (render_string(k, variables) if isinstance(k, str) else k): self.render_value(v, variables)
                for k, v in value.items()
            }
        return value


def to_text(value: Any) -> str:
    """Turn a rendered value into text: strings as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
