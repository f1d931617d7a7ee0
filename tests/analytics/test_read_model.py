"""The read model kept from the declarations' events, and the forecasts and staffing read from it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from customhouse.analytics import service
from customhouse.analytics.models import DeclarationFact, ItemFact
from tests import factories
from tests.conftest import bearer
from tests.web.conftest import deliver

TODAY = date(2026, 6, 1)
WEEK = [12, 13, 12, 14, 15, 3, 1]


def test_events_fill_the_read_model_with_items_sections_and_revenue(
    client: TestClient, tokens: dict[str, str], session: Session
) -> None:
    other = {"id": factories.OTHER_TRADER, "name": "Daehan Imports", "country": "KR"}
    lodged = client.post(
        "/api/v1/declarations",
        json=factories.declaration(declarant=other, importer=other),
        headers=bearer(tokens["other_trader"]),
    )
    declaration_id = uuid.UUID(lodged.json()["id"])
    deliver(client)
    fact = session.get(DeclarationFact, declaration_id)
    assert fact is not None and (fact.office, fact.transport_mode, fact.lane) == ("KR000040", "1", "green")
    assert fact.released_at is None  # owes duties, not paid
    items = session.scalars(select(ItemFact).where(ItemFact.declaration_id == declaration_id)).all()
    assert [(i.sequence, i.hs_section, i.origin) for i in items] == [(1, "XVI", "CN"), (2, "XI", "CN")]
    assessed = client.get(
        f"/api/v1/declarations/{declaration_id}/assessment", headers=bearer(tokens["other_trader"])
    )
    by_item = {
        item["sequence"]: Decimal(item["duties_and_taxes"]["amount"])
        for item in assessed.json()["breakdown"]["items"]
    }
    assert {i.sequence: i.revenue for i in items} == by_item
    assert sum(by_item.values()) == Decimal(assessed.json()["total"])


def test_hs_sections() -> None:
    assert [service.hs_section(code) for code in ("010121", "151190", "610910", "851713", "970110")] == [
        "I",
        "III",
        "XI",
        "XVI",
        "XXI",
    ]


def history(session: Session, days: int = 120, today: date = TODAY) -> None:
    """Items of section XVI from CN every day, with the weekly pattern; a few of XI from VN."""
    start = today - timedelta(days=days)
    for offset in range(days):
        day = start + timedelta(days=offset)
        for n in range(WEEK[day.weekday()]):
            at = datetime.combine(day, time(9 + n % 8), tzinfo=UTC)
            declaration_id = uuid.uuid4()
            lane = "yellow" if n % 4 == 0 else "green"
            session.add(
                DeclarationFact(
                    declaration_id=declaration_id, kind="import", office="KR000040", transport_mode="1",
                    lane=lane, lodged_at=at, accepted_at=at,
                    released_at=at + timedelta(hours=2 if lane == "yellow" else 0.1),
                    release_seconds=7200 if lane == "yellow" else 360, revenue=Decimal("1000.00"),
                )
            )  # fmt: skip
            session.add(
                ItemFact(
                    declaration_id=declaration_id, sequence=1, hs_section="XVI", origin="CN",
                    office="KR000040", lodged_at=at, revenue=Decimal("1000.00"),
                )
            )  # fmt: skip
        if offset % 7 == 0:
            session.add(
                ItemFact(
                    declaration_id=uuid.uuid4(), sequence=1, hs_section="XI", origin="VN",
                    office="KR000040", lodged_at=datetime.combine(day, time(10), tzinfo=UTC), revenue=None,
                )
            )  # fmt: skip
    session.flush()


def test_forecast_by_section_follows_the_history_with_its_backtest(session: Session) -> None:
    history(session)
    found = {f.group: f for f in service.forecasts(session, by="section", today=TODAY, weeks=3)}
    assert set(found) == {"XVI", "XI"}
    xvi = found["XVI"]
    assert [week for week, _, _ in xvi.weeks] == [
        TODAY,
        TODAY + timedelta(days=7),
        TODAY + timedelta(days=14),
    ]
    for _, items, revenue in xvi.weeks:
        assert abs(items - sum(WEEK)) < 3  # a steady series: about one usual week
        assert abs(revenue - 1000 * sum(WEEK)) < 3000
    assert xvi.volume_backtest is not None and xvi.volume_backtest.naive_mae == 0  # exactly periodic
    by_origin = {f.group for f in service.forecasts(session, by="origin", today=TODAY)}
    assert by_origin == {"CN", "VN"}


def test_allocation_staffs_the_shift_with_the_controls(session: Session) -> None:
    history(session)
    staffing = {(s.office, s.shift): s for s in service.allocation(session, today=TODAY, target_hours=0.5)}
    day = staffing["KR000040", "08-16"]
    assert abs(day.declarations_per_shift - sum(WEEK) / 7) < 1
    assert day.handling_hours == 2.0
    assert day.officers >= 1
    night = staffing["KR000040", "00-08"]
    assert (night.declarations_per_shift, night.officers) == (0.0, 0)
