"""The web UI at ``/ui/``: workflows and runs to look at, served by runwire itself (Jinja2 pages,
one CSS file, one small script; no build step, nothing from another site).

The router is public to the app's header authentication: UI requests authenticate through the session
(:mod:`runwire_server.ui.session`), whose credential goes through the same auth providers on
every request. The routes are left out of the OpenAPI document (they answer HTML, not the API).
``docs/ui.md`` describes the pages and the security decisions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar import Request, Router, get
from litestar.response import Redirect, Response, Template
from litestar.static_files import create_static_files_router
from litestar.template import TemplateEngineProtocol
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from runwire_server.api.deps import PUBLIC
from runwire_server.api.errors import BadRequest, NotFound, handle_error
from runwire_server.api.routers import MountedOnce
from runwire_server.settings import Settings
from runwire_server.ui import pages, runs, signin
from runwire_server.ui.session import UI_PATH, SignInNeeded, middleware

if TYPE_CHECKING:
    from litestar.plugins.jinja import JinjaTemplateEngine

HERE = Path(__file__).parent
STATIC = HERE / "static"
ASSETS = frozenset(p.name for p in STATIC.iterdir() if p.is_file())
"""The names of the UI's static files: nothing else is looked up on disk."""


class LazyJinjaEngine(TemplateEngineProtocol[Any, Mapping[str, Any]]):
    """Litestar's :class:`~litestar.plugins.jinja.JinjaTemplateEngine`, made when the first page
    is rendered: Jinja2 is imported then rather than at every start (``serve`` does not render a
    page to answer its first request; ~100 M instructions, 3% of its start)."""

    def __init__(self, directory: Path | list[Path] | None, engine_instance: Any | None = None) -> None:
        self._directory = directory
        self._callables: list[tuple[str, Callable[..., Any]]] = []
        self._engine: JinjaTemplateEngine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> JinjaTemplateEngine:
        """The Jinja2 engine (made on first use, with the callables registered so far)."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    from litestar.plugins.jinja import JinjaTemplateEngine

                    engine = JinjaTemplateEngine(directory=self._directory)
                    for key, template_callable in self._callables:
                        engine.register_template_callable(key, template_callable)
                    self._engine = engine
        return self._engine

    def get_template(self, template_name: str) -> Any:
        """The template ``template_name`` (:class:`~litestar.exceptions.TemplateNotFoundException`
        if there is none)."""
        return self.engine.get_template(template_name)

    def render_string(self, template_string: str, context: Mapping[str, Any]) -> str:
        """``template_string`` rendered with ``context``."""
        return self.engine.render_string(template_string, context)

    def register_template_callable(self, key: str, template_callable: Callable[..., Any]) -> None:
        """Make ``template_callable`` available to templates as ``key``."""
        with self._lock:
            if self._engine is None:
                self._callables.append((key, template_callable))
                return
        self._engine.register_template_callable(key, template_callable)


TEMPLATES = TemplateConfig(directory=HERE / "templates", engine=LazyJinjaEngine)
"""The app's template config: the UI's Jinja2 templates (autoescaped)."""


@get("/", include_in_schema=False, opt={PUBLIC: True})
async def root() -> Redirect:
    """``/`` is the UI's home page."""
    return Redirect(f"{UI_PATH}/", status_code=302)


def ui_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Errors of UI routes: the sign-in page when no one is signed in; otherwise the app's own
    status and detail (:func:`runwire_server.api.errors.handle_error` and the plugins' statuses),
    as a page."""
    if isinstance(exc, SignInNeeded):
        return signin.sign_in_page(request, request.url.path)  # type: ignore[return-value]
    app_handler = request.app.exception_handlers.get(Exception, handle_error)
    answer: Response[Any] = app_handler(request, exc)
    content = answer.content if isinstance(answer.content, dict) else {}
    detail = str(content.get("detail") or "error")
    headers = {k: v for k, v in answer.headers.items() if k.lower() == "retry-after"}
    return Template(  # type: ignore[return-value]
        "error.html",
        context={"status": answer.status_code, "detail": detail, "principal": None},
        status_code=answer.status_code or 500,
        headers=headers,
    )


PAGE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
]
"""Headers of every ``/ui`` answer: no other page may frame it (clickjacking of its buttons),
and it loads, posts to and connects to nothing but this server."""


def page_headers(app: ASGIApp) -> ASGIApp:
    """The UI router's outermost middleware: :data:`PAGE_HEADERS` on every answer, errors and
    the CSRF refusal included."""

    async def add_headers(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *PAGE_HEADERS]}  # type: ignore[typeddict-item]
            await send(message)

        await app(scope, receive, send_with_headers)

    return add_headers


FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def readable_forms(app: ASGIApp) -> ASGIApp:
    """Read a posted form before the CSRF check does: a multipart field that is not text in its
    charset (bytes that are not UTF-8, a charset no codec has) is a 400 page naming it, where it
    was a 500 from inside the CSRF middleware. The parsed form is kept for the CSRF check and the
    route (Litestar keeps it in the request's scope). URL-encoded forms decode with replacement
    characters, so they are never refused here."""

    async def read_form(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("method") not in ("GET", "HEAD", "OPTIONS"):
            request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope, receive)
            if request.content_type[0] in FORM_TYPES:
                try:
                    await request.form()
                except (UnicodeDecodeError, LookupError) as exc:
                    raise BadRequest(f"a form field is not text: {exc}") from None
        await app(scope, receive, send)

    return read_form


async def only_assets(request: Request[Any, Any, Any]) -> None:
    """The static router's ``before_request``: a name that is not one of :data:`ASSETS` (a
    traversal, a NUL, a name too long for the file system) is a 404 before any file is opened."""
    if str(request.path_params.get("file_path", "")).lstrip("/") not in ASSETS:
        raise NotFound("no such file")


def ui_router(settings: Settings) -> Router:
    """Every ``/ui`` route: pages, sign-in and -out, static assets; sessions and CSRF on them only."""
    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        opt={PUBLIC: True},
        include_in_schema=False,
        before_request=only_assets,
        router_class=MountedOnce,
    )
    return MountedOnce(
        UI_PATH,
        route_handlers=[*pages.ROUTES, *runs.ROUTES, *signin.ROUTES, static],
        middleware=[page_headers, readable_forms, *middleware(settings)],
        exception_handlers={Exception: ui_error},
        include_in_schema=False,
        opt={PUBLIC: True},
    )


__all__ = ["TEMPLATES", "root", "ui_router"]
