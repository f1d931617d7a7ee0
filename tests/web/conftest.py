"""A browser-like client: signs in through the sign-in form and sends each form's CSRF token back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf(page: Response) -> str:
    found = CSRF.search(page.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, token: str) -> Response:
    page = client.get("/web/sign-in")
    return client.post(
        "/web/sign-in", data={"csrf_token": csrf(page), "token": token}, follow_redirects=False
    )


def post_form(
    client: TestClient, page_url: str, action: str, data: dict[str, Any], **kwargs: Any
) -> Response:
    """Load the page holding a form, then post it with the page's CSRF token, as a browser would."""
    token = csrf(client.get(page_url))
    return client.post(action, data={"csrf_token": token, **data}, follow_redirects=False, **kwargs)


def deliver(client: TestClient) -> None:
    """What the dispatcher thread does in the server: assessment, release, the analytics read model."""
    while client.app.state.dispatcher.deliver_pending():  # type: ignore[attr-defined]
        pass


@pytest.fixture
def as_trader(client: TestClient, tokens: dict[str, str]) -> TestClient:
    assert sign_in(client, tokens["trader"]).status_code == 303
    return client
