"""Delivery through the outbox on both databases, against an httpx.MockTransport partner: retried with
back-off on 5xx and network errors, delivered on 2xx, given up on a refusal (4xx)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from fastapi.testclient import TestClient
from joserfc.jwk import OKPKey
from sqlalchemy.orm import Session, sessionmaker

from customhouse.db import utcnow
from customhouse.exchange import signing
from customhouse.exchange.courier import Courier, backoff
from customhouse.exchange.models import OutgoingMessage
from tests.conftest import bearer
from tests.exchange.conftest import PARTNER


def queue(client: TestClient, tokens: dict[str, str]) -> uuid.UUID:
    sent = client.post(
        "/api/v1/exchange/messages",
        json={"type": "aeo-list", "partner_id": PARTNER},
        headers=bearer(tokens["supervisor"]),
    )
    assert sent.status_code == 202, sent.text
    return uuid.UUID(sent.json()["message_id"])


def test_backoff_doubles_up_to_ten_minutes():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(30) == timedelta(minutes=10)


def test_retries_then_delivers(
    client: TestClient,
    tokens: dict[str, str],
    agreement: str,
    partner_key: OKPKey,
    sessions: sessionmaker[Session],
):
    message_id = queue(client, tokens)
    seen: list[httpx.Request] = []
    answers = iter(
        [httpx.Response(503, json={"detail": "busy"}), httpx.Response(200, json={"status": "processed"})]
    )

    def partner(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    courier = Courier(sessions, client=httpx.Client(transport=httpx.MockTransport(partner)), max_attempts=5)
    now = utcnow()
    assert courier.deliver_pending(now) == 0
    with sessions() as session:
        record = session.get(OutgoingMessage, message_id)
        assert record is not None
        assert (record.state, record.attempts, record.last_error) == ("pending", 1, "HTTP 503: busy")
        assert record.next_attempt_at == now + timedelta(seconds=1)
    assert courier.deliver_pending(now) == 0 and len(seen) == 1  # not due yet
    assert courier.deliver_pending(now + timedelta(seconds=1)) == 1
    assert str(seen[1].url) == "http://cn.example/api/v1/exchange/inbox"
    assert seen[1].headers["content-type"] == signing.MEDIA_TYPE
    envelope = signing.verify(seen[1].content.decode(), client.get("/api/v1/exchange/key").json()["jwk"])
    assert envelope["message_id"] == str(message_id) and envelope["receiver"] == PARTNER
    with sessions() as session:
        record = session.get(OutgoingMessage, message_id)
        assert record is not None and record.state == "delivered" and record.answer == {"status": "processed"}


def test_refusal_is_final_and_network_errors_give_up_after_max_attempts(
    client: TestClient, tokens: dict[str, str], agreement: str, sessions: sessionmaker[Session]
):
    refused_id = queue(client, tokens)
    refuse = Courier(
        sessions,
        client=httpx.Client(
            transport=httpx.MockTransport(lambda _: httpx.Response(403, json={"detail": "no"}))
        ),
    )
    refuse.deliver_pending()
    failing_id = queue(client, tokens)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    courier = Courier(sessions, client=httpx.Client(transport=httpx.MockTransport(down)), max_attempts=2)
    later = utcnow() + timedelta(hours=1)
    courier.deliver_pending(later)
    courier.deliver_pending(later + timedelta(hours=1))
    with sessions() as session:
        refused = session.get(OutgoingMessage, refused_id)
        failed = session.get(OutgoingMessage, failing_id)
        assert refused is not None and (refused.state, refused.attempts) == ("refused", 1)
        assert failed is not None and (failed.state, failed.attempts) == ("failed", 2)
        assert failed.last_error is not None and "ConnectError" in failed.last_error
