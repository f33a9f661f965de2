"""The engine's renderer, which imports :mod:`runwire.template` (and Jinja2 with it) at the
first value that holds a template (:func:`runwire.to_text` is in :mod:`runwire.jsontext`).

A command or server that runs no template (``runwire run`` of template-free nodes, ``runwire
plugins``, ``runwire serve`` up to its first answer) so never loads Jinja2: ~100 M instructions,
a tenth of ``runwire run``'s start.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runwire.template import TemplateRenderer


def has_template(value: Any) -> bool:
    """Whether a string inside ``value`` (dicts and lists recursively; keys too) holds ``{{``."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, list):
        return any(has_template(item) for item in value)
    if isinstance(value, dict):
        return any((isinstance(k, str) and "{{" in k) or has_template(v) for k, v in value.items())
    return False


def _rebuilt(value: Any) -> Any:
    """``value`` as :meth:`TemplateRenderer.render_value` returns one without templates: dicts
    and lists are new containers (a node may change its rendered data: the workflow's stays)."""
    if isinstance(value, list):
        return [_rebuilt(item) for item in value]
    if isinstance(value, dict):
        return {k: _rebuilt(v) for k, v in value.items()}
    return value


class LazyRenderer:
    """:class:`runwire.template.TemplateRenderer`, made at the first value holding a template;
    a value without one is returned as that renderer returns it, without importing Jinja2."""

    __slots__ = ("_lock", "_renderer")

    def __init__(self) -> None:
        self._renderer: TemplateRenderer | None = None
        self._lock = threading.Lock()

    def render_value(self, value: Any, variables: Mapping[str, Any]) -> Any:
        """Render every string inside ``value`` (:meth:`TemplateRenderer.render_value`)."""
        renderer = self._renderer
        if renderer is None:  # once Jinja2 is loaded, one walk of the value: the renderer's own
            if not has_template(value):
                return _rebuilt(value)
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
