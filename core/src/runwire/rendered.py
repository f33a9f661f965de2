"""The engine's renderer, which imports :mod:`runwire.template` (and Jinja2 with it) at the
first template that is not plain lookups (:mod:`runwire.references`; :func:`runwire.to_text` is
in :mod:`runwire.jsontext`).

A command or server that runs no such template (``runwire run`` of template-free nodes or of
nodes whose templates are all ``{{ <node-id>.result.<key> }}`` or ``{{ input.<key> }}``,
``runwire plugins``, ``runwire serve`` up to its first answer) so never loads Jinja2: ~100 M
instructions, a tenth of ``runwire run``'s start.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runwire.references import NeedsJinja, ReferenceRenderer, inspect_lookups

if TYPE_CHECKING:
    from runwire.template import TemplateRenderer

_REFERENCES = ReferenceRenderer()


def inspect_template(template: str) -> tuple[str | None, list[str]]:
    """:func:`runwire.template.inspect_template`, importing Jinja2 only for a template that is
    not plain lookups."""
    found = inspect_lookups(template)
    if found is not None:
        return found
    from runwire.template import inspect_template as inspect

    return inspect(template)


class LazyRenderer:
    """:class:`runwire.template.TemplateRenderer`, made at the first value holding a template
    that is not plain lookups; until then a value is rendered as that renderer renders it, by
    :class:`runwire.references.ReferenceRenderer`, without importing Jinja2."""

    __slots__ = ("_lock", "_renderer")

    def __init__(self) -> None:
        self._renderer: TemplateRenderer | None = None
        self._lock = threading.Lock()

    def render_value(self, value: Any, variables: Mapping[str, Any]) -> Any:
        """Render every string inside ``value`` (:meth:`TemplateRenderer.render_value`)."""
        renderer = self._renderer
        if renderer is None:
            try:
                return _REFERENCES.render_value(value, variables)
            except NeedsJinja:  # rendered again, whole, by the Jinja renderer
                renderer = self.renderer
        return renderer.render_value(value, variables)

    @property
    def renderer(self) -> TemplateRenderer:
        """The Jinja2 renderer (imported and made on first use)."""
        if self._renderer is None:
            with self._lock:
                if self._renderer is None:
                    from runwire.template import TemplateRenderer

                    self._renderer = TemplateRenderer()
        return self._renderer
