"""The UI's sessions are bounded (docs/ui.md, "Sessions and security"): signing in again and
again keeps at most ``RUNWIRE_UI_SESSIONS_PER_KEY`` sessions of one principal and
``RUNWIRE_UI_MAX_SESSIONS`` in all, the oldest ending first; over HTTP to ``runwire serve``."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from runwire_server.testing import RunningServer, running_server
from tests.helpers import KEY, make_key, ui_sign_in

SESSION = "runwire_ui_session"


def signed_in(live: RunningServer, key: str) -> httpx.Client:
    """A browser-like client (keeping cookies) signed in with ``key``."""
    client = httpx.Client(base_url=live.url, timeout=30)
    ui_sign_in(client, key)
    return client


def works(client: httpx.Client) -> bool:
    """Whether the client's session still opens the UI (else its page is the sign-in form)."""
    page = client.get("/ui/")
    assert page.status_code == 200
    return 'action="/ui/sign-in"' not in page.text


def test_many_sign_ins_with_one_key_keep_only_its_newest_sessions() -> None:
    env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_UI_SESSIONS_PER_KEY": "3"}
    with running_server(env=env) as live:
        clients = [signed_in(live, KEY) for _ in range(25)]
        ids = [c.cookies.get(SESSION) for c in clients]
        assert len(set(ids)) == 25
        assert [works(c) for c in clients] == [False] * 22 + [True] * 3
        assert clients[0].cookies.get(SESSION) in (None, "null")  # an ended session's cookie is cleared
        # the cookie of an ended session, sent again, does not bring it back
        with httpx.Client(base_url=live.url, cookies={SESSION: str(ids[0])}) as replayed:
            assert not works(replayed)
        assert [works(c) for c in clients[-3:]] == [True] * 3

        # signing out frees the place: the others keep theirs
        token = ui_sign_in(clients[-1], KEY)
        clients[-1].post("/ui/sign-out", data={"_csrf_token": token})
        again = signed_in(live, KEY)
        assert [works(c) for c in (*clients[-3:-1], again)] == [True] * 3
        assert not works(clients[-1])
        for client in (*clients, again):
            client.close()


def test_past_the_total_the_oldest_session_of_all_ends(tmp_path: Path) -> None:
    one, two = make_key(tmp_path, 1), make_key(tmp_path, 2)
    env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_UI_SESSIONS_PER_KEY": "2", "RUNWIRE_UI_MAX_SESSIONS": "3"}
    with running_server(env=env, data_dir=tmp_path) as live:
        a1, a2 = signed_in(live, KEY), signed_in(live, KEY)
        b1 = signed_in(live, one)
        assert [works(c) for c in (a1, a2, b1)] == [True] * 3
        c1 = signed_in(live, two)  # a fourth: the oldest of all, a1, ends
        assert [works(c) for c in (a1, a2, b1, c1)] == [False, True, True, True]
        b2 = signed_in(live, one)  # a2 is now the oldest
        assert [works(c) for c in (a2, b1, c1, b2)] == [False, True, True, True]
        for client in (a1, a2, b1, c1, b2):
            client.close()


def test_a_session_ends_its_max_age_after_sign_in_however_often_it_is_used() -> None:
    """``RUNWIRE_UI_SESSION_MAX_AGE_S`` counts from sign-in: requests do not extend it (the
    store's and the cookie's own expiry restart at each use, the sign-in time does not)."""
    max_age = 3
    env = {"RUNWIRE_API_KEYS": KEY, "RUNWIRE_UI_SESSION_MAX_AGE_S": str(max_age)}
    with running_server(env=env) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        ui_sign_in(client, KEY)
        signed_in_at = time.monotonic()
        assert works(client)
        while time.monotonic() - signed_in_at < max_age + 1:
            works(client)  # used all along
            time.sleep(0.5)
        assert not works(client)
        ui_sign_in(client, KEY)  # signing in again starts a new one
        assert works(client)
