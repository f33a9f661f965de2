"""Signing in (pasting an API key or a bearer token) and out of the UI."""

# Annotations are objects here, not strings (no ``from __future__ import annotations``): Litestar
# reads every route handler's at each start, and strings it would parse one by one.

from typing import Any

from litestar import Request, post
from litestar.response import Redirect, Template

from runwire.errors import AuthRefused
from runwire_server.api.errors import NotAuthenticated
from runwire_server.ui.session import MAX_CREDENTIAL_CHARS, Credential, sign_in, sign_out

HOME = "/ui/"


def safe_next(value: Any) -> str:
    """Where to go after signing in: a UI path given by the sign-in form, else the home page
    (never another site: ``//host`` and ``/ui/../`` are refused)."""
    if (
        isinstance(value, str)
        and value.startswith(HOME)
        and "//" not in value
        and "\\" not in value
        and ".." not in value
        and len(value) < 2000
        and value.isprintable()
    ):
        return value
    return HOME


def sign_in_page(
    request: Request[Any, Any, Any], next_path: str = HOME, problem: str = "", status: int = 200
) -> Template:
    """The sign-in form (the home page when no one is signed in)."""
    return Template(
        "sign_in.html",
        context={"next": safe_next(next_path), "problem": problem, "principal": None},
        status_code=status,
    )


@post("/sign-in", status_code=303)
async def sign_in_form(request: Request[Any, Any, Any]) -> Template | Redirect:
    """Check the pasted credential with the configured auth providers and start a session."""
    form = await request.form()
    value = form.get("credential")
    kind = form.get("kind", "api-key")
    next_path = safe_next(form.get("next"))
    if not isinstance(value, str) or not value.strip():
        return sign_in_page(request, next_path, "Paste an API key or a bearer token.", 400)
    value = value.strip()
    if value.lower().startswith("bearer "):
        kind, value = "bearer", value[7:].strip()
    if kind not in ("api-key", "bearer") or len(value) > MAX_CREDENTIAL_CHARS or not value.isprintable():
        return sign_in_page(request, next_path, "That is not an API key or a bearer token.", 400)
    try:
        await sign_in(request, Credential("bearer" if kind == "bearer" else "api-key", value))
    except (AuthRefused, NotAuthenticated):
        return sign_in_page(request, next_path, "That credential was refused.", 401)
    return Redirect(next_path, status_code=303)


@post("/sign-out", status_code=303)
async def sign_out_form(request: Request[Any, Any, Any]) -> Redirect:
    """End the session (on the server too) and go back to the sign-in page."""
    sign_out(request)
    return Redirect(HOME, status_code=303)


ROUTES = [sign_in_form, sign_out_form]
