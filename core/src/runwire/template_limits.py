"""The size limits of template rendering: every value a template builds is paid for first.

Two bounds hold while a template runs. No single value it builds may exceed
``MAX_OUTPUT_CHARS`` (its serialized size), and everything one rendering builds together (one
node's data: every template in it, every intermediate value) is charged to a budget of
``MAX_BUILT_CHARS`` (both in :mod:`runwire.template_budget`, which has no Jinja2). Operations
that can grow a value (``*``, ``+``, ``%``, ``~``, ``join``, ``center``, ``batch``...) check the
size they would produce *before* building it; the others are charged for what they return.
Jinja folds constant expressions while compiling, through these same functions, under a small
compile-time budget: a fold that would build more is left to run time, where the run's budget
applies.
"""

from __future__ import annotations

import functools
import itertools
import operator
import re
from collections.abc import Callable
from typing import Any

from jinja2 import nodes
from jinja2.filters import make_attrgetter, sync_do_slice
from jinja2.utils import pass_environment, pass_eval_context
from jinja2.visitor import NodeTransformer

from runwire.errors import TemplateRefused
from runwire.sizes import json_size
from runwire.template_budget import (
    MAX_EXPONENT,
    MAX_INT_BITS,
    MAX_OUTPUT_CHARS,
    charge,
    refuse,
    spend,
    value_size,
)

# --- operators -------------------------------------------------------------------------


def mul(left: Any, right: Any) -> Any:
    """``*``: numbers, or the repetition of a string or list, sized first."""
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateRefused("product too large")
        return left * right
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and n > 0:
            brackets = 0 if isinstance(seq, str) else 1  # counted once, not n times
            size = (value_size(seq, MAX_OUTPUT_CHARS // n + 1) - brackets) * n + brackets
            return charge_built(size, "repetition result", lambda: left * right)
    return left * right


def add(left: Any, right: Any) -> Any:
    """``+``: numbers, or the concatenation of strings or lists, sized first."""
    if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
        size = value_size(left) + value_size(right)
        return charge_built(size, "concatenation", lambda: operator.add(left, right))
    return left + right


def power(left: Any, right: Any) -> Any:
    """``**`` with a bounded exponent and result."""
    if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
        raise TemplateRefused(f"exponent {right} is too large")
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() * right > MAX_INT_BITS:
        raise TemplateRefused("power result too large")
    return operator.pow(left, right)


def charge_built(size: int, what: str, build: Callable[[], Any]) -> Any:
    """Charge ``size`` (what building will produce), then build; re-check the real size."""
    spend(size, what)
    value = build()
    actual = value_size(value)
    if actual > MAX_OUTPUT_CHARS:
        raise refuse(what, actual)
    return value


# ``%`` conversions: (mapping key)(flags)(width)(.precision)(length modifier)(type)
_CONVERSION = re.compile(r"%(\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.?)", re.DOTALL)


def format_size(fmt: str, args: Any) -> int:
    """An estimate of ``len(fmt % args)`` from the format alone: widths, precisions, args."""
    values = args if isinstance(args, tuple) else (args,)
    size = len(fmt) + value_size(args)
    taken = 0
    for match in _CONVERSION.finditer(fmt):
        if match.group(4) == "%":
            continue
        for part in (match.group(2), match.group(3)):
            if part == "*":
                star = values[taken] if taken < len(values) else 0
                taken += 1
                size += abs(star) if isinstance(star, int) else 0
            elif part:
                if len(part) > 9:
                    raise refuse("formatted width", 10**9)
                size += int(part)
        if match.group(1) is None:
            taken += 1
    return size


def mod(left: Any, right: Any) -> Any:
    """``%``: numbers, or printf-style formatting with widths and arguments sized first."""
    if isinstance(left, str):
        return charge_built(format_size(left, right), "formatted string", lambda: left % right)
    return left % right


def concat(parts: tuple[Any, ...]) -> str:
    """``a ~ b``: the text of each part joined, sized first."""
    size = sum(value_size(p) for p in parts)
    return charge_built(size, "concatenation", lambda: "".join(map(str, parts)))  # type: ignore[no-any-return]


def getslice(value: Any, start: Any, stop: Any, step: Any) -> Any:
    """``value[start:stop:step]``: a copy, charged like any built value."""
    return charge(value[start:stop:step], "slice")


# --- filters ---------------------------------------------------------------------------


def _text_size(items: list[Any]) -> int:
    """About ``sum(len(str(item)) for item in items)``: exact for strings, JSON size for others."""
    n = len(items)
    # JSON counts a list's brackets, and each string's quotes and comma: 3 per item
    return json_size(items, MAX_OUTPUT_CHARS + 3 * n + 1) - 3 * n - 1


def _join(original: Callable[..., Any]) -> Callable[..., Any]:
    @pass_eval_context
    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
        items = list(value)
        if attribute is not None:
            items = list(map(make_attrgetter(eval_ctx.environment, attribute), items))
        size = len(str(d)) * max(len(items) - 1, 0) + _text_size(items)
        return charge_built(size, "join result", lambda: original(eval_ctx, items, d))  # type: ignore[no-any-return]

    return join


def _center(original: Callable[..., Any]) -> Callable[..., Any]:
    def center(value: Any, width: int = 80) -> str:
        size = max(value_size(value), width if isinstance(width, int) else 0)
        return charge_built(size, "center result", lambda: original(value, width))  # type: ignore[no-any-return]

    return center


def _indent(original: Callable[..., Any]) -> Callable[..., Any]:
    def indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> str:
        text = str(s)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        size = len(text) + (text.count("\n") + 1) * max(pad, 0)
        return charge_built(size, "indent result", lambda: original(text, width, first, blank))  # type: ignore[no-any-return]

    return indent


_WRAP_POINTS = "\t\n\x0b\x0c\r -"


def _wordwrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @pass_environment
    def wordwrap(
        environment: Any,
        s: Any,
        width: int = 79,
        break_long_words: bool = True,
        wrapstring: str | None = None,
        break_on_hyphens: bool = True,
    ) -> str:
        text = str(s)
        sep = environment.newline_sequence if wrapstring is None else str(wrapstring)
        breaks = sum(text.count(c) for c in _WRAP_POINTS) + len(text) // max(width, 1) + 1
        size = len(text) + breaks * len(sep)
        return charge_built(  # type: ignore[no-any-return]
            size,
            "wordwrap result",
            lambda: original(environment, text, width, break_long_words, wrapstring, break_on_hyphens),
        )

    return wordwrap


def _replace(original: Callable[..., Any]) -> Callable[..., Any]:
    @pass_eval_context
    def replace(eval_ctx: Any, s: Any, old: str, new: str, count: int | None = None) -> str:
        text, old, new = str(s), str(old), str(new)
        hits = text.count(old) if old else len(text) + 1
        if count is not None and count >= 0:
            hits = min(hits, count)
        size = len(text) + hits * (len(new) - len(old))
        return charge_built(size, "replace result", lambda: original(eval_ctx, text, old, new, count))  # type: ignore[no-any-return]

    return replace


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    if args and kwargs:
        raise TemplateRefused("format takes positional or keyword arguments, not both")
    return mod(str(value), kwargs or args)  # type: ignore[no-any-return]


def _batch(original: Callable[..., Any]) -> Callable[..., Any]:
    def batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        if fill_with is not None:
            spend((max(linecount, 1) - 1) * (value_size(fill_with) + 1), "batch padding")
        return original(value, linecount, fill_with)

    return batch


def _slice(original: Callable[..., Any]) -> Callable[..., Any]:
    def slice_(value: Any, slices: int, fill_with: Any = None) -> Any:
        spend(max(slices, 0) * (3 + (0 if fill_with is None else value_size(fill_with))), "slice result")
        return sync_do_slice(value, slices, fill_with)  # the original is an async dispatcher

    return slice_


def _sum(original: Callable[..., Any]) -> Callable[..., Any]:
    @pass_environment
    def sum_(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        if not isinstance(start, (list, tuple)):
            return original(environment, iterable, attribute, start)
        items = list(iterable)
        if attribute is not None:
            items = list(map(make_attrgetter(environment, attribute), items))
        if not all(isinstance(item, type(start)) for item in items):
            raise TypeError(f"sum(start={type(start).__name__}) needs {type(start).__name__} items")
        size = value_size(start) + json_size(items, MAX_OUTPUT_CHARS)
        # linear, where Python's sum() of lists copies the growing list at every step
        return charge_built(size, "sum", lambda: type(start)(itertools.chain(start, *items)))

    return sum_


def _expanding(original: Callable[..., Any], what: str) -> Callable[..., Any]:
    """Filters whose output is a bounded multiple of their input (escaping, JSON, repr)."""

    def expanding(value: Any, *args: Any, **kwargs: Any) -> Any:
        size = value_size(value)
        if size > MAX_OUTPUT_CHARS:
            raise refuse(what + " input", size)
        return charge(original(value, *args, **kwargs), what)

    return expanding


def _charged(original: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Any other filter: charged for the value it returns."""

    what = f"{name} result"

    def charged(*args: Any, **kwargs: Any) -> Any:
        return charge(original(*args, **kwargs), what)

    return charged


_GROWING: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "join": _join,
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "batch": _batch,
    "slice": _slice,
    "sum": _sum,
    "replace": _replace,
}
_EXPANDING = ("e", "escape", "forceescape", "urlencode", "tojson", "string", "pprint")
# lazy (generators) or small: nothing to charge until something consumes them
_UNCHARGED = frozenset(
    {
        "map",
        "select",
        "reject",
        "selectattr",
        "rejectattr",
        "length",
        "count",
        "wordcount",
        "first",
        "last",
        "abs",
        "int",
        "float",
        "round",
        "default",
        "d",
        "attr",
        "random",
        "min",
        "max",
        "filesizeformat",
    }
)


def bounded_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """``filters`` (Jinja's built-ins, already sandbox-adjusted) with every one size-checked.

    The generic wrappers keep the original's ``jinja_pass_arg`` marker (``functools.wraps``
    copies it), so Jinja passes them the same context, environment or eval context; the
    growing ones declare their own.
    """
    out: dict[str, Callable[..., Any]] = {}
    for name, func in filters.items():
        if name in _GROWING:
            out[name] = _GROWING[name](func)
            continue
        if name in _EXPANDING:
            wrapped = _expanding(func, name)
        elif name in _UNCHARGED:
            out[name] = func
            continue
        else:
            wrapped = _charged(func, name)
        out[name] = functools.wraps(func)(wrapped)
    out["format"] = _format
    out["_concat"] = concat
    out["_slice"] = getslice
    return out


_REFERENCE_NODES = (nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Const)


def is_reference(expression: nodes.Expr) -> bool:
    """Whether ``expression`` only looks a value up (``input.a[0].b``): it builds nothing."""
    return isinstance(expression, _REFERENCE_NODES) and all(
        isinstance(n, _REFERENCE_NODES) for n in expression.find_all(nodes.Expr)
    )


class SizedOperations(NodeTransformer):
    """Route the two expressions Jinja evaluates without asking the environment through it.

    ``a ~ b`` (joined by ``str_join``, and folded by ``Concat.as_const``) becomes the
    ``_concat`` filter, and ``x[a:b]`` (compiled to a bare Python slice) the ``_slice`` filter,
    so both are sized like every other operation, when folding too.
    """

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        parts = [self.visit(n) for n in node.nodes]
        return nodes.Filter(
            nodes.Tuple(parts, "load", lineno=node.lineno), "_concat", [], [], None, None, lineno=node.lineno
        )

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        if not isinstance(node.arg, nodes.Slice) or node.ctx != "load":
            return self.generic_visit(node)
        bounds = [
            self.visit(part) if part is not None else nodes.Const(None, lineno=node.lineno)
            for part in (node.arg.start, node.arg.stop, node.arg.step)
        ]
        target = self.visit(node.node)
        return nodes.Filter(target, "_slice", bounds, [], None, None, lineno=node.lineno)
