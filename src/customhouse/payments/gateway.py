"""The payment gateway port, and the webhook signature scheme (pure: no database).

A gateway starts a payment (the trader is sent to its page at the redirect URL) and later calls back
the platform's webhook. Callbacks are signed as Stripe signs its webhooks: the header
`X-Gateway-Signature: t=<unix time>,v1=<hex>` carries HMAC-SHA256 over `<t>.<body>` with a shared
secret. The timestamp bounds replays to a tolerance window; several `v1` entries may be sent while a
secret is rotated. The comparison is constant-time.

`start` and `records` take the session so that an in-process gateway (the demo) keeps its own ledger in
the same database; a remote gateway ignores it and talks HTTP.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import orjson
from sqlalchemy.orm import Session

from customhouse.money import Money

SIGNATURE_HEADER = "X-Gateway-Signature"
TOLERANCE_SECONDS = 300
SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Started:
    reference: str  # the gateway's id of this payment
    redirect_url: str  # where the payer goes to pay


@dataclass(frozen=True, slots=True)
class Callback:
    """A verified callback: the gateway says the payment `reference` succeeded or failed."""

    event_id: str
    reference: str
    status: str  # succeeded, failed
    amount: Money
    payer: str | None
    occurred_at: datetime
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    """One payment as the gateway's own records have it, for reconciliation."""

    reference: str
    merchant_reference: str
    status: str  # created, succeeded, failed
    amount: Money


class Gateway(Protocol):
    name: str

    def start(self, session: Session, *, order_id: str, amount: Money) -> Started:
        """Open a payment of `amount` for the order; the payer is sent to the redirect URL."""
        ...

    def verify(self, *, body: bytes, headers: Mapping[str, str]) -> Callback:
        """The callback in `body` if its signature holds; raises InvalidCallback otherwise."""
        ...

    def records(self, session: Session) -> list[ChargeRecord]:
        """Every payment the gateway has a record of."""
        ...


class InvalidCallback(ValueError):
    """A callback that is not signed by the gateway, too old, or not readable; the message says which."""


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, body, timestamp)}"


def _mac(secret: bytes, body: bytes, timestamp: int) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def verify_signature(
    secret: bytes, *, header: str | None, body: bytes, now: float, tolerance: int = TOLERANCE_SECONDS
) -> None:
    """Raise InvalidCallback unless `header` signs `body` with `secret` within `tolerance` of `now`."""
    if not header:
        raise InvalidCallback(f"the {SIGNATURE_HEADER} header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and HEX_DIGEST.fullmatch(value):  # anything else cannot match; compare bytes only
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidCallback(f"the {SIGNATURE_HEADER} header must read t=<unix time>,v1=<hex>")
    if abs(now - timestamp) > tolerance:
        raise InvalidCallback(f"the signature's timestamp is more than {tolerance} s away from now")
    expected = _mac(secret, body, timestamp)
    if not any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates):
        raise InvalidCallback("the signature does not match the body")


def callback_body(
    *, event_id: str, reference: str, status: str, amount: Money, payer: str | None, at: datetime
) -> bytes:
    return orjson.dumps(
        {
            "id": event_id,
            "type": f"payment.{status}",
            "reference": reference,
            "status": status,
            "amount": f"{amount.amount:f}",
            "currency": amount.currency,
            "payer": payer,
            "occurred_at": at.isoformat(),
        }
    )


def parse_callback(body: bytes) -> Callback:
    """The callback a signed body carries; raises InvalidCallback when it is not one."""
    try:
        data = orjson.loads(body)
        status = data["status"]
        if status not in (SUCCEEDED, FAILED):
            raise ValueError(f"unknown status {status!r}")
        occurred_at = datetime.fromisoformat(data["occurred_at"])
        if occurred_at.tzinfo is None:
            raise ValueError("occurred_at needs a UTC offset")
        payer = data.get("payer")
        if payer is not None and not isinstance(payer, str):
            raise ValueError("payer must be a string")
        return Callback(
            event_id=str(data["id"]),
            reference=str(data["reference"]),
            status=status,
            amount=Money(Decimal(str(data["amount"])), str(data["currency"])),
            payer=payer,
            occurred_at=occurred_at,
            body=data,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, InvalidOperation) as error:
        raise InvalidCallback(f"the callback body is not one this platform reads: {error!r}") from None
