"""The UI's sign-in: a server-side session holding the pasted credential, CSRF on every form,
and the principal of each UI request, authenticated afresh by the configured auth providers.

Decisions (``docs/ui.md``, "Sessions and security"):

- The session lives **server-side** (Litestar's ``ServerSideSessionConfig`` on an in-memory
  store): the cookie holds only a random 256-bit id, HttpOnly, SameSite=Lax, path ``/ui``,
  Secure with ``RUNWIRE_UI_COOKIE_SECURE``. The pasted key never sits in a cookie, and signing
  out deletes the session on the server, not only in the browser.
- The store is bounded (:class:`SessionStore`): at most ``RUNWIRE_UI_SESSIONS_PER_KEY`` sessions
  per principal and ``RUNWIRE_UI_MAX_SESSIONS`` in all; a sign-in past either ends the oldest,
  so signing in again and again cannot grow the server's memory.
- The session holds no power of its own: every UI request sends the stored credential through
  the auth providers exactly as an API request's header would be (:func:`principal_for_headers`),
  so a revoked or expired key, or an expired token, stops working at once, and the UI shows
  what that key would see through the API.
- Every form POST carries a CSRF token (Litestar's ``CSRFMiddleware``, double-submit cookie),
  only on the ``/ui`` router: the JSON API takes header credentials, which a browser never
  sends by itself, and gets no CSRF check.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.memory import MemoryStore
from litestar.types import Empty, Message, ScopeSession

from runwire.auth import Principal
from runwire.errors import AuthRefused
from runwire_server.api.deps import principal_for_headers
from runwire_server.api.errors import NotAuthenticated
from runwire_server.settings import Settings

UI_PATH = "/ui"
SESSION_COOKIE = "runwire_ui_session"
CSRF_COOKIE = "runwire_ui_csrf"
SESSION_STORE = "runwire-ui-sessions"
"""The name of the Litestar store holding sessions (a :class:`SessionStore`, in this process's memory)."""
SIGNED_IN_AT = "since"
"""The session's sign-in time (Unix seconds): the session ends ``RUNWIRE_UI_SESSION_MAX_AGE_S``
after it, however often it is used (Litestar's store and cookie expiry restart at each use)."""
NEW_SESSION = "runwire_ui_new_session"
"""Where :func:`sign_in` leaves ``(session id, identity)`` of the session it starts (scope state)."""
MAX_CREDENTIAL_CHARS = 8192
CredentialKind = Literal["api-key", "bearer"]


@dataclass(frozen=True, slots=True)
class Credential:
    """What a person pasted at sign-in, and how the API would receive it."""

    kind: CredentialKind
    value: str

    def headers(self) -> dict[str, str]:
        """The request headers an API client would send with this credential."""
        if self.kind == "bearer":
            return {"authorization": f"Bearer {self.value}"}
        return {"x-api-key": self.value}

    def to_session(self) -> dict[str, str]:
        """What the server-side session keeps."""
        return {"kind": self.kind, "value": self.value}

    @classmethod
    def from_session(cls, data: Any) -> Credential | None:
        """The credential a session holds, or ``None``."""
        if not isinstance(data, dict):
            return None
        kind, value = data.get("kind"), data.get("value")
        if kind not in ("api-key", "bearer") or not isinstance(value, str) or not value:
            return None
        return cls(kind, value)


class SessionStore(MemoryStore):
    """Litestar's in-memory store, holding at most ``per_identity`` sessions of one principal and
    ``total`` in all: admitting a new one ends the oldest of its principal's past the first
    bound, then the oldest of all past the second."""

    __slots__ = ("_by_identity", "_owners", "per_identity", "total")

    def __init__(self, per_identity: int, total: int) -> None:
        super().__init__()
        self.per_identity = per_identity
        self.total = total
        self._owners: dict[str, str] = {}
        """Session id → its principal's identity, oldest sign-in first."""
        self._by_identity: dict[str, dict[str, None]] = {}
        """Identity → its session ids, oldest first."""

    @property
    def count(self) -> int:
        """How many sessions are counted (expired ones go at the next sign-in). Not ``__len__``:
        Litestar's store registry replaces a store that is falsy."""
        return len(self._owners)

    def holds(self, session_id: str) -> bool:
        """Whether ``session_id`` is an admitted session that has not ended."""
        return session_id in self._owners

    async def admit(self, session_id: str, identity: str) -> None:
        """Count the session just stored under ``session_id`` as ``identity``'s, and end the
        sessions it displaces (expired ones first)."""
        await self.delete_expired()
        for known in list(self._owners):
            if not await self.exists(known):
                self._forget(known)
        self._owners[session_id] = identity
        mine = self._by_identity.setdefault(identity, {})
        mine[session_id] = None
        ended = list(mine)[: max(0, len(mine) - self.per_identity)]
        for old in ended:
            self._forget(old)
        ended += list(self._owners)[: max(0, len(self._owners) - self.total)]
        for old in ended:
            await self.delete(old)

    async def delete(self, key: str) -> None:
        """End a session: its data and its place in the count."""
        self._forget(key)
        await super().delete(key)

    async def delete_all(self) -> None:
        """End every session."""
        self._owners.clear()
        self._by_identity.clear()
        await super().delete_all()

    def _forget(self, session_id: str) -> None:
        identity = self._owners.pop(session_id, None)
        if identity is None:
            return
        mine = self._by_identity[identity]
        mine.pop(session_id, None)
        if not mine:
            del self._by_identity[identity]


def session_store(settings: Settings) -> SessionStore:
    """The store of the UI's sessions, bounded as ``settings`` say."""
    return SessionStore(settings.ui_sessions_per_key, settings.ui_max_sessions)


class _Sessions(ServerSideSessionBackend):
    """Litestar's server-side sessions, except that an empty session is never stored (a visitor
    who has not signed in costs no memory, and gets no session cookie), a session starts under
    the id :func:`sign_in` chose and is counted in the :class:`SessionStore`, and one the store
    has ended (while a request of it was being answered) is not stored again."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        new = connection.scope.get("state", {}).get(NEW_SESSION)
        return str(new[0]) if new else super().get_session_id(connection)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        if not scope_session:
            if self.config.key not in connection.cookies:
                return
            scope_session = Empty
        store = self.config.get_store_from_app(connection.scope["app"])
        new = connection.scope.get("state", {}).get(NEW_SESSION)
        if (
            scope_session is not Empty
            and new is None
            and isinstance(store, SessionStore)
            and not store.holds(connection.cookies.get(self.config.key, ""))
        ):
            scope_session = Empty  # ended by a newer sign-in while this request was answered
        await super().store_in_message(scope_session, message, connection)
        if new is not None and scope_session is not Empty and isinstance(store, SessionStore):
            await store.admit(*new)


@dataclass
class _SessionConfig(ServerSideSessionConfig):
    _backend_class = _Sessions


def session_config(settings: Settings) -> ServerSideSessionConfig:
    """The UI session cookie's settings: HttpOnly, SameSite=Lax, path ``/ui``, fixed lifetime."""
    return _SessionConfig(
        key=SESSION_COOKIE,
        max_age=settings.ui_session_max_age_s,
        path=UI_PATH,
        secure=settings.ui_cookie_secure,
        httponly=True,
        samesite="lax",
        store=SESSION_STORE,
    )


def middleware(settings: Settings) -> list[DefineMiddleware]:
    """CSRF (outermost: a refused form touches no session), then sessions, for the ``/ui`` router.

    The CSRF secret is made per process: a restart asks open pages to reload before posting.
    """
    csrf = CSRFConfig(
        secret=secrets.token_hex(32),
        cookie_name=CSRF_COOKIE,
        cookie_path=UI_PATH,
        cookie_secure=settings.ui_cookie_secure,
        cookie_httponly=True,
        cookie_samesite="lax",
    )
    return [DefineMiddleware(CSRFMiddleware, config=csrf), session_config(settings).middleware]


async def ui_principal(request: Request[Any, Any, Any]) -> Principal | None:
    """The principal of this UI request: the session's credential authenticated now by the
    configured providers, or ``None`` (not signed in; a refused credential ends the session).

    Without a session, the providers see a request with no credentials: with
    ``RUNWIRE_AUTH_PROVIDERS=none`` the UI is as open as the API.
    """
    credential = Credential.from_session(request.session)
    if credential is not None and _too_old(request):
        request.clear_session()
        credential = None
    headers = credential.headers() if credential is not None else {}
    try:
        return await principal_for_headers(request.app.state, headers)
    except (AuthRefused, NotAuthenticated):
        if credential is not None:
            request.clear_session()
        return None


def _too_old(request: Request[Any, Any, Any]) -> bool:
    since = request.session.get(SIGNED_IN_AT)
    max_age: int = request.app.state.services.settings.ui_session_max_age_s
    return not isinstance(since, int | float) or time.time() - since >= max_age


def session_alive(request: Request[Any, Any, Any]) -> Callable[[], bool]:
    """Whether the request's session, later, is still on: not signed out or ended by newer
    sessions (:class:`SessionStore`), and not past ``RUNWIRE_UI_SESSION_MAX_AGE_S`` (what an open
    event stream asks now and then: its requests' session checks are long past)."""
    store = request.app.stores.get(SESSION_STORE)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    since = request.session.get(SIGNED_IN_AT)
    max_age: int = request.app.state.services.settings.ui_session_max_age_s

    def alive() -> bool:
        if isinstance(store, SessionStore) and not store.holds(session_id):
            return False
        return isinstance(since, int | float) and time.time() - since < max_age

    return alive


class SignInNeeded(Exception):
    """No one is signed in: the UI's error handler answers with the sign-in page."""


async def signed_in(request: Request[Any, Any, Any]) -> Principal:
    """The principal of the request's session, authenticated now.

    :raises SignInNeeded: there is none (or its credential was just refused).
    """
    principal = await ui_principal(request)
    if principal is None:
        raise SignInNeeded
    return principal


async def sign_in(request: Request[Any, Any, Any], credential: Credential) -> Principal:
    """Authenticate ``credential`` and keep it in a fresh session (a new id: a session id planted
    before sign-in is never the signed-in one), counted against the principal's sessions.

    :raises AuthRefused | NotAuthenticated: the providers refuse it.
    """
    principal = await principal_for_headers(request.app.state, credential.headers())
    store = request.app.stores.get(SESSION_STORE)
    # the parsed cookies (the dict Litestar's session backend reads) and the session id the
    # middleware took from them: both forgotten, so the response makes a new id
    old = request.cookies.pop(SESSION_COOKIE, None)
    request.clear_session()
    if old:
        await store.delete(old)
    request.scope["state"][NEW_SESSION] = (secrets.token_hex(32), principal.identity)
    request.set_session({**credential.to_session(), SIGNED_IN_AT: time.time()})
    return principal


def sign_out(request: Request[Any, Any, Any]) -> None:
    """End the session: its data is deleted from the store and the cookie is cleared."""
    request.clear_session()
