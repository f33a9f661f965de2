"""Templates that only look values up by name, rendered and inspected without Jinja2.

A *plain lookup* is a ``{{ }}`` holding ``input.<key>...`` or ``<node-id>.result.<key>...``
(keys are names: no indexes, filters or operators). A template made of text and plain lookups
(the usual ``{{ <node-id>.result.content }}``) is read by one regular expression and rendered by
dict lookups, as the compiled template would render it: a workflow whose templates are all
plain lookups never imports Jinja2 (:class:`runwire.rendered.LazyRenderer`,
:func:`runwire.rendered.inspect_template`). Whatever a lookup alone cannot decide (another
expression, an attribute of a value that is not a key of a dict, a name starting with ``_`` on
a missing step) is left to :mod:`runwire.template`.
"""

from __future__ import annotations

import json
import re
from collections.abc import ItemsView, Iterator, KeysView, Mapping, Set, ValuesView
from functools import cache, lru_cache
from typing import Any

from runwire.errors import TemplateError, TemplateRefused
from runwire.template_budget import (
    MAX_BUILT_CHARS,
    MAX_OUTPUT_CHARS,
    close_budget,
    joined_output,
    open_budget,
    refuse,
    spend,
    value_size,
)


@cache
def _usual() -> re.Pattern[str]:
    """The usual template, ``{{ <node-id>.result.<key>... }}`` alone: compiled at the first
    template (a start that renders none does not pay for it)."""
    return re.compile(r"\{\{\s*([0-9A-Za-z_][\w\-]*)\.result((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}\Z")


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """:func:`expressions`, and one plain lookup inside ``{{ }}`` (``input.a.b`` or
    ``<node-id>.result.a``): compiled at the first template that is not the usual one
    (:func:`_usual`; the three took ~0.7 ms, ~2 M instructions, which a workflow whose
    templates are all the usual one now pays half of)."""
    return (
        re.compile(r"\{\{(.*?)\}\}", re.DOTALL),
        re.compile(r"\s*([0-9A-Za-z_][\w\-]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*\Z"),
    )


def expressions() -> re.Pattern[str]:
    """The pattern of one ``{{ }}`` of a template, its expression the group."""
    return _patterns()[0]


SCALARS = (int, float, type(None))
MISS: Any = object()
"""What :func:`render_lookups` returns when Jinja must decide (the compiled template knows)."""
Lookups = tuple[str | tuple[str, ...], ...]
"""A template as literal text and lookups (key paths into the variables, ``_nodes`` or ``input``
first)."""
# A missing step of a lookup renders as empty, as Jinja's undefined does, on these types (an
# attribute that is no key fails on them and so does indexing by a name)
_PLAIN = frozenset({dict, list, str, int, float, bool, type(None)})


class NeedsJinja(Exception):
    """A template that is not made of plain lookups (or one Jinja must decide) was met."""


_MAX_NODE_PATHS = 16384
_NODE_PATHS: dict[str, tuple[str, ...]] = {}
"""The usual templates :func:`lookups` and :func:`usual_path` read, each with its key path
without ``_nodes`` (:func:`node_lookup`)."""


def usual_path(template: str) -> tuple[str, ...] | None:
    """The key path, without ``_nodes``, of the usual template ``{{ <node-id>.result.<key>...
    }}`` alone, its node id first: what :func:`lookups` reads of it, kept for
    :func:`node_lookup`; ``None`` for any other template (whose references
    :func:`inspect_lookups` or Jinja find). A workflow's check reads a node's usual template
    with it, without the calls of the general inspection."""
    path = _NODE_PATHS.get(template)
    if path is not None:
        return path
    if template.startswith("{{ ") and template.endswith(" }}"):
        # ``{{ <name>.result.<name> }}`` with names of ASCII letters, digits and ``_`` (not
        # starting with a digit), one space inside the braces: what the usual pattern matches
        # there (a third of its cost); anything else goes to the pattern
        root, sep, key = template[3:-3].partition(".result.")
        names = root.isidentifier() and key.isidentifier() and root.isascii() and key.isascii()
        if sep and names and root != "input":
            path = (root, "result", key)
    if path is None:
        usual = _usual().match(template)
        if usual is None:
            return None
        root, rest = usual.groups()
        if root == "input":
            return None
        path = (root, "result", *rest.split(".")[1:])
    if len(_NODE_PATHS) >= _MAX_NODE_PATHS:  # as many as the cache of lookups holds
        _NODE_PATHS.clear()
    _NODE_PATHS[template] = path
    return path


@lru_cache(maxsize=_MAX_NODE_PATHS)
def lookups(template: str) -> Lookups | None:
    """``template`` as literal text and lookups when each of its ``{{ }}`` is a plain lookup
    such as ``input.a.b`` or ``<node-id>.result.content``; ``None`` otherwise.

    Such a template is rendered by dict lookups instead of being compiled: a Jinja compile costs
    a few hundred microseconds, which a workflow of thousands of nodes, each referring to its
    predecessor by name (each a template of its own), would pay per node.
    """
    path = usual_path(template)
    if path is not None:  # ``{{ <node-id>.result.content }}``, what the rest would make of it
        return (("_nodes", *path),)
    if "\x00" in template:  # may open a block (the sandbox's block start is ``\x00{%``)
        return None
    expr, lookup_pattern = _patterns()
    if template.startswith("{{") and template.endswith("}}"):
        # the usual ``{{ <node-id>.result.content }}`` alone: when its inside is one lookup
        # (no braces in it), splitting would find just that
        whole = lookup_pattern.match(template, 2, len(template) - 2)
        if whole is not None:
            found = _lookup_path(whole)
            return None if found is None else (found,)
    parts: list[str | tuple[str, ...]] = []
    for index, part in enumerate(expr.split(template)):
        if index % 2 == 0:
            if "{{" in part:  # a ``{{`` left unclosed: a syntax error, which Jinja words
                return None
            if part:
                parts.append(part)
            continue
        match = lookup_pattern.match(part)
        lookup = None if match is None else _lookup_path(match)
        if lookup is None:
            return None
        parts.append(lookup)
    return tuple(parts)


def _lookup_path(match: re.Match[str]) -> tuple[str, ...] | None:
    """The key path of a plain lookup's match (:func:`_patterns`, :func:`_usual`); ``None`` when
    it is not one."""
    root, path = match.group(1), tuple(match.group(2)[1:].split("."))
    if root == "input":
        return ("input", *path)
    if path[0] == "result":  # rewritten to ``_nodes['<node-id>'].result`` (rewrite_node_refs)
        return ("_nodes", root, *path)
    return None  # an unknown name (or a subtraction, ``a-b.c``): Jinja decides


def inspect_lookups(template: str) -> tuple[None, list[str]] | None:
    """``(None, the node ids it refers to, sorted)`` for a template without ``{{`` or made of
    plain lookups (it has no syntax problem); ``None`` when only Jinja can inspect it."""
    parts = lookups(template) if "{{" in template else ()
    if parts is None:
        return None
    if len(parts) == 1 and isinstance(parts[0], tuple):  # ``{{ <lookup> }}`` alone
        return None, [parts[0][1]] if parts[0][0] == "_nodes" else []
    return None, sorted({part[1] for part in parts if isinstance(part, tuple) and part[0] == "_nodes"})


def node_lookup(template: str, nodes: Mapping[str, Any]) -> Any:
    """What :meth:`ReferenceRenderer.render_value` renders ``template`` as, when it is the usual
    template (``{{ <node-id>.result.<key>... }}`` alone, already read by :func:`lookups`) and
    finds text, ``nodes`` being the variables' ``_nodes``; :data:`MISS` for any other template
    or value (the renderer decides those). A node's usual template, rendered without the
    renderer's calls."""
    path = _NODE_PATHS.get(template)
    if path is None:
        return MISS
    found: Any = nodes
    for key in path:  # each step as ReferenceRenderer.render_value takes it (a dict subclass: MISS)
        if type(found) is not dict or key not in found:
            return MISS
        found = found[key]
    if type(found) is str and len(found) <= MAX_OUTPUT_CHARS:
        return found
    return MISS


def _lookup(keys: tuple[str, ...], variables: Mapping[str, Any]) -> Any:
    """The value at ``keys``: ``""`` where a step is missing and Jinja's undefined would render
    as empty, :data:`MISS` where a step is missing and Jinja must decide (a method or attribute
    of the value, a name starting with ``_``)."""
    value = variables.get(keys[0], MISS)
    if value is MISS:
        return MISS
    for index in range(1, len(keys)):
        key = keys[index]
        if isinstance(value, dict) and key in value:
            value = value[key]
            continue
        if type(value) not in _PLAIN or hasattr(value, key):
            return MISS
        # undefined from here: each further step is an attribute of Jinja's undefined, which
        # chains for a plain name and is refused for one starting with ``_``
        if any(step.startswith("_") for step in keys[index:]):
            return MISS
        return ""
    return value


def render_lookups(parts: Lookups, variables: Mapping[str, Any]) -> Any:
    """Render a template of :func:`lookups` as the compiled one would; :data:`MISS` when Jinja
    must decide (see :func:`_lookup`)."""
    if len(parts) == 1 and isinstance(parts[0], tuple):  # ``{{ expr }}`` alone: its own type
        value = _lookup(parts[0], variables)
        return value if value is MISS else single_value(value, reference=True)
    values = [part if isinstance(part, str) else _lookup(part, variables) for part in parts]
    if MISS in values:
        return MISS
    token = open_budget(MAX_BUILT_CHARS)
    try:
        return joined_output(
            value if isinstance(part, str) else str(finalize(value))
            for part, value in zip(parts, values, strict=True)
        )
    finally:
        close_budget(token)


def finalize(value: Any) -> Any:
    """Each ``{{ }}`` of a text template: values only (no functions), and not too big."""
    if isinstance(value, (str, *SCALARS)):
        return value
    if callable(value):
        raise TemplateRefused("expression evaluates to a function, not a value")
    spend(value_size(value), "expression value")  # about to become text
    return value


def single_value(value: Any, reference: bool) -> Any:
    """Check the value of a one-expression template; ``reference``: it was only looked up."""
    if isinstance(value, str):
        if len(value) > MAX_OUTPUT_CHARS:
            raise refuse("template output", len(value))
        return value
    if isinstance(value, SCALARS):
        return value
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


class ReferenceRenderer:
    """Renders templates found anywhere inside JSON-like values, plain lookups only: any other
    template raises :class:`NeedsJinja` (:class:`runwire.template.TemplateRenderer`, its
    subclass, compiles those)."""

    def render_value(self, value: Any, variables: Mapping[str, Any]) -> Any:
        """Render every string inside ``value`` (dicts and lists recursively; keys too); a value
        without templates comes back as new containers (a node may change its rendered data,
        never the workflow's).

        Everything the templates of ``value`` build together is bounded by
        :data:`MAX_BUILT_CHARS`.
        """
        if isinstance(value, str):
            if "{{" not in value:  # no template: nothing to build
                return value
            parts = lookups(value)
            if parts is not None and len(parts) == 1 and isinstance(parts[0], tuple):
                # ``{{ <lookup> }}`` alone builds nothing: no budget to open; the lookup of
                # :func:`_lookup` inline (a call less per node of a templated chain)
                keys = parts[0]
                found = variables.get(keys[0], MISS)
                for key in keys[1:]:
                    if not isinstance(found, dict) or key not in found:
                        found = MISS
                        break
                    found = found[key]
                if found is not MISS:
                    if type(found) is str and len(found) <= MAX_OUTPUT_CHARS:
                        return found  # as single_value returns it
                    return single_value(found, reference=True)
        token = open_budget(MAX_BUILT_CHARS)
        try:
            return self._render(value, variables)
        finally:
            close_budget(token)

    def _render(self, value: Any, variables: Mapping[str, Any]) -> Any:
        if isinstance(value, str):
            return self.render_string(value, variables)
        if isinstance(value, list):
            return [self._render(v, variables) for v in value]
        if isinstance(value, dict):
            return {
                (self.render_string(k, variables) if isinstance(k, str) else k): self._render(v, variables)
                for k, v in value.items()
            }
        return value

    def render_string(self, template: str, variables: Mapping[str, Any]) -> Any:
        """Render one template string (:func:`runwire.template.render_string`)."""
        if "{{" not in template:
            return template
        parts = lookups(template)
        if parts is not None:
            value = render_lookups(parts, variables)
            if value is not MISS:
                return value
        return self.render_compiled(template, variables)

    def render_compiled(self, template: str, variables: Mapping[str, Any]) -> Any:
        """Render a template that is not (or not only) plain lookups: here, :class:`NeedsJinja`."""
        raise NeedsJinja(template)
