"""Helpers of the risk tests that need the database: lodging with a chosen selector, controls, delivery."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from customhouse.auth.service import Principal, Role
from customhouse.declarations import service as declarations
from customhouse.declarations.schemas import Control, Declaration
from customhouse.declarations.selectivity import LaneSelector
from customhouse.declarations.service import Policy
from customhouse.events import Dispatcher
from customhouse.risk import service
from tests import factories

TRADER = Principal("trader", frozenset({Role.TRADER}), party_id=factories.TRADER)
SUPERVISOR = Principal("supervisor", frozenset({Role.SUPERVISOR}))
START = datetime(2026, 2, 2, 9, tzinfo=UTC)


def with_selector(policy: Policy, selector: LaneSelector) -> Policy:
    return dataclasses.replace(policy, selector=selector)


def lodge(session: Session, policy: Policy, *, at: datetime | None = None, **overrides: Any) -> Declaration:
    overrides.setdefault("lrn", f"R-{uuid.uuid4().hex[:12]}")
    outcome = declarations.lodge(
        session, document=factories.declaration(**overrides), by=TRADER, policy=policy, at=at
    )
    assert outcome.declaration is not None
    return outcome.declaration


def control(
    session: Session,
    policy: Policy,
    declaration: Declaration,
    *,
    irregular: bool,
    revenue: Decimal | None = None,
) -> Declaration:
    current = declarations.get(session, declaration_id=declaration.id, by=SUPERVISOR)
    return declarations.record_control(
        session,
        declaration_id=declaration.id,
        by=SUPERVISOR,
        policy=policy,
        expected_revision=current.revision,
        control=Control(
            outcome="irregularity" if irregular else "conforming",
            irregularity="undervaluation" if irregular else None,
            revenue_recovered=revenue,
        ),
        at=(declaration.accepted_at or START) + timedelta(hours=1),
    )


def dispatcher(sessions: sessionmaker[Session]) -> Dispatcher:
    """A dispatcher with only the risk subscribers (no assessment: declarations stay open)."""
    found = Dispatcher(sessions)
    service.subscribe(found)
    return found


def deliver(found: Dispatcher) -> None:
    while found.deliver_pending():
        pass
