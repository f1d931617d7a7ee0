"""Sign-in with the API's tokens, the session cookie, CSRF, and who may open which page."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from customhouse.app import create_app
from customhouse.config import Settings
from customhouse.web.session import Sessions
from tests import factories
from tests.conftest import bearer
from tests.web.conftest import csrf, deliver, sign_in


def test_pages_need_sign_in(client: TestClient) -> None:
    answer = client.get("/web/declarations", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/web/sign-in?next=/web/declarations"


def test_sign_in_sets_a_protected_cookie_and_lands_on_the_roles_page(
    client: TestClient, tokens: dict[str, str]
) -> None:
    answer = sign_in(client, tokens["officer"])
    assert answer.status_code == 303
    assert answer.headers["location"] == "/web/queue"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("ch_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert tokens["officer"] not in cookie  # the token travels encrypted
    assert "officer (officer)" in client.get("/web/queue").text


def test_a_wrong_token_is_refused_on_the_form(client: TestClient, tokens: dict[str, str]) -> None:
    answer = sign_in(client, "ch_not-a-token")
    assert answer.status_code == 401
    assert "the token is unknown or revoked" in answer.text
    assert client.get("/web/declarations", follow_redirects=False).status_code == 303


def test_a_post_without_the_csrf_token_is_refused(client: TestClient, tokens: dict[str, str]) -> None:
    page = client.get("/web/sign-in")
    csrf(page)
    answer = client.post("/web/sign-in", data={"token": tokens["trader"]}, follow_redirects=False)
    assert answer.status_code == 403
    assert "ch_session" not in answer.headers.get("set-cookie", "")
    forged = client.post(
        "/web/sign-in", data={"token": tokens["trader"], "csrf_token": "0" * 64}, follow_redirects=False
    )
    assert forged.status_code == 403


def test_an_altered_or_expired_cookie_signs_nobody_in(tmp_path: Path) -> None:
    sessions = Sessions.from_file(tmp_path / "k", max_age=60)
    sealed = sessions.seal("ch_token")
    assert sessions.open(sealed) == "ch_token"
    assert sessions.open(sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]) is None
    assert Sessions(sessions.key, max_age=-1).open(sealed) is None
    assert Sessions.from_file(tmp_path / "other").open(sealed) is None


def test_sign_out_ends_the_session(client: TestClient, tokens: dict[str, str]) -> None:
    sign_in(client, tokens["trader"])
    page = client.get("/web/declarations")
    assert (
        client.post("/web/sign-out", data={"csrf_token": csrf(page)}, follow_redirects=False).status_code
        == 303
    )
    assert client.get("/web/declarations", follow_redirects=False).status_code == 303


def test_next_is_never_an_open_redirect(client: TestClient, tokens: dict[str, str]) -> None:
    page = client.get("/web/sign-in?next=//evil.example/")
    answer = client.post(
        "/web/sign-in",
        data={"csrf_token": csrf(page), "token": tokens["trader"], "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/web/declarations"


def test_a_trader_cannot_open_customs_pages_or_another_traders_declaration(
    client: TestClient, tokens: dict[str, str]
) -> None:
    lodged = client.post(
        "/api/v1/declarations",
        json=factories.declaration(
            declarant={"id": factories.OTHER_TRADER, "name": "Daehan Imports", "country": "KR"},
            importer={"id": factories.OTHER_TRADER, "name": "Daehan Imports", "country": "KR"},
        ),
        headers=bearer(tokens["other_trader"]),
    )
    assert lodged.status_code == 201, lodged.text
    other = lodged.json()["id"]
    deliver(client)
    sign_in(client, tokens["trader"])
    for url in (
        f"/web/declarations/{other}",
        "/web/queue",
        "/web/dashboards",
        f"/web/declarations/{other}/amend",
    ):
        answer = client.get(url, follow_redirects=False)
        assert answer.status_code == 404, url
        assert "LRN-0001" not in answer.text
    page = client.get("/web/declarations")
    assert other not in page.text
    release = client.post(
        f"/web/declarations/{other}/release", data={"csrf_token": csrf(page), "revision": "1"}
    )
    assert release.status_code == 404


def test_an_officer_sees_only_declarations_of_their_offices(
    client: TestClient, tokens: dict[str, str]
) -> None:
    lodged = client.post(
        "/api/v1/declarations", json=factories.declaration(), headers=bearer(tokens["trader"])
    )
    declaration_id = lodged.json()["id"]
    sign_in(client, tokens["officer_elsewhere"])
    assert client.get(f"/web/declarations/{declaration_id}").status_code == 404
    sign_in(client, tokens["officer"])
    assert client.get(f"/web/declarations/{declaration_id}").status_code == 200


def test_the_session_key_is_made_at_first_use_not_when_the_app_is_built(tmp_path: Path) -> None:
    settings = Settings(database_url="sqlite://", var_dir=tmp_path / "var")
    app = create_app(settings, run_dispatcher=False)
    key = tmp_path / "var" / "keys" / "web-session.key"
    assert not key.exists()
    with TestClient(app) as client:
        assert client.get("/web/sign-in").status_code == 200
    assert key.exists() and key.stat().st_mode & 0o077 == 0  # mode 600
