"""Delivery of signed messages to partners: the outbox `exchange_outgoing`, drained by a thread.

Each due message is POSTed (application/jose) to <partner base URL>/api/v1/exchange/inbox outside any
transaction, then its row is updated: delivered on 2xx (the partner's answer kept), refused on a 4xx
the partner will answer the same way again (not 408 or 429), else retried after 1, 2, 4, ... seconds
(at most 10 minutes) until CUSTOMHOUSE_EXCHANGE_MAX_ATTEMPTS. A crash between the POST and the update
sends the message again: the partner processes each message id once, so that is harmless.
The HTTP client is a parameter: tests give it an httpx.MockTransport or a real loopback server.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from customhouse.db import utcnow, writing
from customhouse.exchange import signing
from customhouse.exchange.models import OutgoingMessage, Partner

log = logging.getLogger(__name__)

INBOX = "/api/v1/exchange/inbox"
MAX_DELAY = timedelta(minutes=10)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed attempt."""
    return min(timedelta(seconds=2 ** max(attempts - 1, 0)), MAX_DELAY)


class Courier:
    def __init__(
        self, sessions: sessionmaker[Session], *, client: httpx.Client, max_attempts: int = 12
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._max_attempts = max_attempts
        self._wake = threading.Event()

    def notify(self) -> None:
        self._wake.set()

    def deliver_pending(self, now: datetime | None = None, limit: int = 50) -> int:
        """Try every due message once; return how many were delivered."""
        now = now or utcnow()
        with self._sessions() as session:
            due = session.execute(
                select(
                    OutgoingMessage.message_id,
                    OutgoingMessage.token,
                    OutgoingMessage.attempts,
                    Partner.base_url,
                )
                .join(Partner, Partner.id == OutgoingMessage.partner_id)
                .where(OutgoingMessage.state == "pending", OutgoingMessage.next_attempt_at <= now)
                .order_by(OutgoingMessage.created_at)
                .limit(limit)
            ).all()
        delivered = 0
        for message_id, token, attempts, base_url in due:
            changes = self._attempt(f"{base_url}{INBOX}", token, attempts + 1, now)
            delivered += changes["state"] == "delivered"
            with writing(self._sessions) as session:
                session.execute(
                    update(OutgoingMessage)
                    .where(OutgoingMessage.message_id == message_id, OutgoingMessage.state == "pending")
                    .values(attempts=attempts + 1, **changes)
                )
        return delivered

    def _attempt(self, url: str, token: str, attempt: int, now: datetime) -> dict[str, Any]:
        try:
            response = self._client.post(url, content=token, headers={"Content-Type": signing.MEDIA_TYPE})
        except httpx.HTTPError as error:
            return self._retry(f"{type(error).__name__}: {error}", attempt, now)
        try:
            answer = response.json()
        except ValueError:
            answer = {"body": response.text[:2000]}
        if response.is_success:
            return {"state": "delivered", "delivered_at": utcnow(), "answer": answer, "last_error": None}
        reason = (
            f"HTTP {response.status_code}: {answer.get('detail', '') if isinstance(answer, dict) else ''}"
        )
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            return {"state": "refused", "answer": answer, "last_error": reason}
        return self._retry(reason, attempt, now)

    def _retry(self, error: str, attempt: int, now: datetime) -> dict[str, Any]:
        log.warning("exchange delivery attempt %d failed: %s", attempt, error)
        if attempt >= self._max_attempts:
            return {"state": "failed", "last_error": error}
        return {"state": "pending", "next_attempt_at": now + backoff(attempt), "last_error": error}

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Deliver until `stop` is set; wakes early on notify()."""
        while not stop.is_set():
            try:
                self.deliver_pending()
            except Exception:
                log.exception("exchange delivery pass failed")
            self._wake.wait(interval)
            self._wake.clear()
