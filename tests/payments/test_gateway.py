"""The webhook signature scheme: HMAC-SHA256 over `t.body`, a timestamp tolerance, constant-time compare."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from customhouse.money import Money
from customhouse.payments.gateway import (
    InvalidCallback,
    callback_body,
    parse_callback,
    sign,
    verify_signature,
)

SECRET = b"s3cret"
BODY = b'{"id":"evt_1"}'
NOW = 1_790_000_000


def test_a_signed_body_verifies():
    verify_signature(SECRET, header=sign(SECRET, BODY, NOW), body=BODY, now=NOW + 10)


def test_the_header_reads_like_stripes():
    t, v1 = sign(SECRET, BODY, NOW).split(",")
    assert t == f"t={NOW}"
    assert v1.startswith("v1=") and len(v1) == 3 + 64


@pytest.mark.parametrize(
    ("header", "body", "now", "message"),
    [
        (None, BODY, NOW, "missing"),
        ("", BODY, NOW, "missing"),
        ("v1=abc", BODY, NOW, "t=<unix time>"),
        (f"t={NOW}", BODY, NOW, "t=<unix time>"),
        (sign(SECRET, BODY, NOW), BODY + b" ", NOW, "does not match"),
        (sign(b"other", BODY, NOW), BODY, NOW, "does not match"),
        (sign(SECRET, BODY, NOW), BODY, NOW + 301, "300 s"),
        (sign(SECRET, BODY, NOW), BODY, NOW - 301, "300 s"),
        (sign(SECRET, BODY, NOW).replace(f"t={NOW}", f"t={NOW + 1}"), BODY, NOW, "does not match"),
    ],
)
def test_anything_else_is_refused(header, body, now, message):
    with pytest.raises(InvalidCallback, match=message):
        verify_signature(SECRET, header=header, body=body, now=now)


def test_any_of_several_signatures_may_match_while_a_secret_is_rotated():
    old = sign(b"old", BODY, NOW).split(",")[1]
    verify_signature(
        SECRET, header=f"t={NOW},{old},{sign(SECRET, BODY, NOW).split(',')[1]}", body=BODY, now=NOW
    )


def test_a_callback_body_round_trips_with_its_exact_amount():
    at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    body = callback_body(
        event_id="evt_1",
        reference="demo_x",
        status="succeeded",
        amount=Money(Decimal("0.1"), "KRW"),
        payer="Kim",
        at=at,
    )
    callback = parse_callback(body)
    assert (callback.event_id, callback.reference, callback.status, callback.payer) == (
        "evt_1",
        "demo_x",
        "succeeded",
        "Kim",
    )
    assert callback.amount == Money(Decimal("0.1"), "KRW")
    assert callback.occurred_at == at


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"id":"e","reference":"r","status":"refunded"}'])
def test_a_body_that_is_not_a_callback_is_refused(body):
    with pytest.raises(InvalidCallback):
        parse_callback(body)
