"""Principals and documents shared by the payments tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from customhouse.auth.service import Principal, Role
from customhouse.money import Money
from customhouse.payments import schemas
from customhouse.payments.gateway import Callback
from tests.factories import OTHER_TRADER, TRADER

TRADER_P = Principal("trader", frozenset({Role.TRADER}), party_id=TRADER)
OTHER_P = Principal("other", frozenset({Role.TRADER}), party_id=OTHER_TRADER)
SUPERVISOR_P = Principal("supervisor", frozenset({Role.SUPERVISOR}))
OFFICER_P = Principal("officer", frozenset({Role.OFFICER}), offices=frozenset({"KR000040"}))
DECLARATION = uuid.UUID("0b0e3a52-7d1c-4d0e-9a53-5b7c1f6b2a01")


def new_order(**overrides: Any) -> schemas.NewOrder:
    fields: dict[str, Any] = {
        "declaration_id": DECLARATION,
        "assessment_version": 1,
        "party_id": TRADER,
        "amount": Decimal("125000"),
        "currency": "KRW",
    }
    return schemas.NewOrder(**(fields | overrides))


def callback(
    reference: str, status: str = "succeeded", amount: str = "125000", event_id: str = "evt_1"
) -> Callback:
    return Callback(
        event_id=event_id,
        reference=reference,
        status=status,
        amount=Money(Decimal(amount), "KRW"),
        payer="Kim Minji",
        occurred_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        body={"id": event_id, "reference": reference, "status": status},
    )
