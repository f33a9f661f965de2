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
import re
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, Set, ValuesView
from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from runwire.errors import TemplateError, TemplateRefused
from runwire.jsontext import to_text as to_text  # re-exported: its home until Jinja2 became lazy
from runwire.template_limits import (
    MAX_BUILT_CHARS,
    MAX_FOLDED_CHARS,
    MAX_OUTPUT_CHARS,
    SizedOperations,
    add,
    bounded_filters,
    budget,
    charge,
    close_budget,
    is_reference,
    mod,
    mul,
    open_budget,
    power,
    refuse,
    spend,
    value_size,
)

_EXPR = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
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
_SCALARS = (int, float, type(None))


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
    if isinstance(value, (str, _Empty, *_SCALARS)):
        return value
    if callable(value):
        raise TemplateRefused("expression evaluates to a function, not a value")
    spend(value_size(value), "expression value")  # about to become text
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
    parts = _lookups(template)
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


# One ``{{ }}`` that only looks a value up by names: ``input.a.b`` or ``<node-id>.result.a``.
_LOOKUP = re.compile(r"\s*([0-9A-Za-z_][\w\-]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\Z")
# The usual template, ``{{ <node-id>.result.<key>... }}`` alone: :data:`_LOOKUP` inside braces
# with its root followed by ``.result``
_NODE_RESULT = re.compile(r"\{\{\s*([0-9A-Za-z_][\w\-]*)\.result((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}\Z")
_MISS = object()
_Lookups = tuple[str | tuple[str, ...], ...]


@lru_cache(maxsize=16384)
def _lookups(template: str) -> _Lookups | None:
    """``template`` as literal text and lookups (key paths into the variables), when each of
    its ``{{ }}`` is a plain lookup such as ``input.a.b`` or ``<node-id>.result.content``;
    ``None`` otherwise.

    Such a template is rendered by dict lookups instead of being compiled: a Jinja compile costs
    a few hundred microseconds, which a workflow of thousands of nodes, each referring to its
    predecessor by name (each a template of its own), would pay per node. Only lookups that
    find a key in a dict take this path (see :func:`_render_lookups`), where the sandbox's
    ``getattr`` does the same; anything else is compiled and evaluated as before.
    """
    usual = _NODE_RESULT.match(template)
    if usual is not None and usual.group(1) != "input":
        # ``{{ <node-id>.result.content }}``, what the rest of this function makes of it in
        # one regular expression match
        root, path = usual.groups()
        return (("_nodes", root, "result", *path.split(".")[1:]),)
    if "\x00" in template:  # may open a block (the sandbox's block start is ``\x00{%``)
        return None
    if template.startswith("{{") and template.endswith("}}"):
        # the usual ``{{ <node-id>.result.content }}`` alone: when its inside is one lookup
        # (no braces in it), splitting would find just that
        whole = _LOOKUP.match(template, 2, len(template) - 2)
        if whole is not None:
            found = _lookup_path(whole)
            return None if found is None else (found,)
    parts: list[str | tuple[str, ...]] = []
    for index, part in enumerate(_EXPR.split(template)):
        if index % 2 == 0:
            if "{{" in part:  # a ``{{`` left unclosed: a syntax error, which Jinja words
                return None
            if part:
                parts.append(part)
            continue
        match = _LOOKUP.match(part)
        lookup = None if match is None else _lookup_path(match)
        if lookup is None:
            return None
        parts.append(lookup)
    return tuple(parts)


def _lookup_path(match: re.Match[str]) -> tuple[str, ...] | None:
    """The key path of a :data:`_LOOKUP` match; ``None`` when it is not a plain lookup."""
    root, path = match.group(1), tuple(match.group(2)[1:].split("."))
    if root == "input":
        return ("input", *path)
    if path[0] == "result":  # rewritten to ``_nodes['<node-id>'].result`` (rewrite_node_refs)
        return ("_nodes", root, *path)
    return None  # an unknown name (or a subtraction, ``a-b.c``): Jinja decides


def _lookup(keys: tuple[str, ...], variables: Mapping[str, Any]) -> Any:
    """The value at ``keys``, or :data:`_MISS` when a step is not a key of a dict."""
    value = variables.get(keys[0], _MISS)
    for key in keys[1:]:
        if not isinstance(value, dict) or key not in value:
            return _MISS
        value = value[key]
    return value


def _render_lookups(parts: _Lookups, variables: Mapping[str, Any]) -> Any:
    """Render a template of :func:`_lookups` as the compiled one would; :data:`_MISS` when a
    lookup misses (a missing key renders as empty, an attribute of a non-dict may be a method:
    the compiled template knows)."""
    if len(parts) == 1 and isinstance(parts[0], tuple):  # ``{{ expr }}`` alone: its own type
        value = _lookup(parts[0], variables)
        return value if value is _MISS else _single_value(value, reference=True)
    values = [part if isinstance(part, str) else _lookup(part, variables) for part in parts]
    if _MISS in values:
        return _MISS
    token = open_budget(MAX_BUILT_CHARS)
    try:
        chunks: list[str] = []
        size = 0
        for part, value in zip(parts, values, strict=True):
            chunk = value if isinstance(part, str) else str(_finalize(value))
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise refuse("template output", size)
            chunks.append(chunk)
        spend(size, "template output")
        return "".join(chunks)
    finally:
        close_budget(token)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def check_template(template: str) -> str | None:
    """Return a syntax problem of ``template`` or ``None`` when it compiles."""
    if "{{" not in template or _lookups(template) is not None:
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
    parts = _lookups(template) if "{{" in template else ()
    if parts is not None:
        if len(parts) == 1 and isinstance(parts[0], tuple):  # ``{{ <lookup> }}`` alone
            return None, [parts[0][1]] if parts[0][0] == "_nodes" else []
        return None, sorted({part[1] for part in parts if isinstance(part, tuple) and part[0] == "_nodes"})
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
    if "{{" not in template:
        return template
    lookups = _lookups(template)
    if lookups is not None:
        value = _render_lookups(lookups, variables)
        if value is not _MISS:
            return value
    single, reference, compiled = _compile(template)
    token = open_budget(MAX_BUILT_CHARS)
    try:
        if single:
            return _single_value(compiled(**variables), reference)
        parts: list[str] = []
        size = 0
        for chunk in compiled.generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise refuse("template output", size)
            parts.append(chunk)
        spend(size, "template output")
        return "".join(parts)
    except TemplateError:
        raise
    except Exception as exc:  # any error raised while evaluating user-written expressions
        raise TemplateError(f"cannot render {_short(template)!r}: {type(exc).__name__}: {exc}") from None
    finally:
        close_budget(token)


def _single_value(value: Any, reference: bool) -> Any:
    """Check the value of a one-expression template; ``reference``: it was only looked up."""
    if isinstance(value, str):
        if len(value) > MAX_OUTPUT_CHARS:
            raise refuse("template output", len(value))
        return value
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, _Empty):
        return ""
    if callable(value):
        raise TemplateRefused("expression evaluates to a function, not a value")
    if not reference:  # a looked-up value is already bounded (request body, node-result limit)
        size = value_size(value)
        if size > MAX_OUTPUT_CHARS:
            raise refuse("template output", size)
        return _json_value(value)
    if not isinstance(value, dict | list):  # looked up, but not data: ``self``, a loop helper
        return _json_value(value)
    return value


def _json_value(value: Any, depth: int = 0) -> Any:
    """A value a template built, as JSON has it: tuples become lists; iterators (what ``map``,
    ``select``, ``unique``, ``reverse`` return), views, sets and other objects are refused."""
    if isinstance(value, bool | int | float | None):
        return value
    if isinstance(value, str):
        return str(value)  # a Markup or other str subclass: plain text
    if depth > 64:
        raise TemplateError("the expression's value is nested too deeply")
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise TemplateError(f"the expression's value has a key of type {type(key).__name__}")
            out[key if isinstance(key, str) else json.dumps(key)] = _json_value(item, depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [_json_value(item, depth + 1) for item in value]
    if isinstance(value, Iterator | Set | KeysView | ValuesView | ItemsView):
        raise TemplateError(
            f"the expression evaluates to a {type(value).__name__}, not a value: add |list "
            "(filters such as map, select, unique and reverse give one)"
        )
    raise TemplateError(f"the expression evaluates to a {type(value).__name__}, which has no JSON form")


class TemplateRenderer:
    """Renders templates found anywhere inside JSON-like values."""

    def render_value(self, value: Any, variables: Mapping[str, Any]) -> Any:
        """Render every string inside ``value`` (dicts and lists recursively; keys too).

        Everything the templates of ``value`` build together is bounded by
        :data:`MAX_BUILT_CHARS`.
        """
        if isinstance(value, str):
            if "{{" not in value:  # no template: nothing to build
                return value
            parts = _lookups(value)
            if parts is not None and len(parts) == 1 and isinstance(parts[0], tuple):
                # ``{{ <lookup> }}`` alone builds nothing: no budget to open; the lookup of
                # :func:`_lookup` inline (a call less per node of a templated chain)
                keys = parts[0]
                found = variables.get(keys[0], _MISS)
                for key in keys[1:]:
                    if not isinstance(found, dict) or key not in found:
                        found = _MISS
                        break
                    found = found[key]
                if found is not _MISS:
                    if type(found) is str and len(found) <= MAX_OUTPUT_CHARS:
                        return found  # as _single_value returns it
                    return _single_value(found, reference=True)
        token = open_budget(MAX_BUILT_CHARS)
        try:
            return self._render(value, variables)
        finally:
            close_budget(token)

    def _render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        if isinstance(value, str):
            return render_string(value, variables)
        if isinstance(value, list):
            return [self._render(v, variables) for v in value]
        if isinstance(value, dict):
            return {
                (render_string(k, variables) if isinstance(k, str) else k): self._render(v, variables)
                for k, v in value.items()
            }
        return value
