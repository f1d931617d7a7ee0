"""The tariff in the database (SQLite and PostgreSQL): replace, reload, a bad file changes nothing,
quota allocation (full, partial, exact under 50 concurrent lodgements)."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from customhouse.assessment.breakdown import landed_cost
from customhouse.assessment.schemas import LandedCostRequest, TaxLine
from customhouse.assessment.service import _drawer
from customhouse.db import make_session_factory, writing
from customhouse.events import Event
from customhouse.tariff import schemas, service
from customhouse.tariff.schemas import TariffFileError
from tests.helpers import own_connections
from tests.tariff.conftest import DEMO_TEXT, SMALL

ON = date(2026, 6, 1)


def test_the_demo_tariff_round_trips_through_the_database(session):
    assert service.is_empty(session)
    report = service.replace_tariff(session, text=DEMO_TEXT, source="demo-tariff.yaml", by="test")
    assert report.measures == 305
    loaded = service.current(session)
    assert loaded == schemas.to_tariff(schemas.parse(DEMO_TEXT))
    assert session.scalar(select(func.count()).select_from(Event).where(Event.type == "tariff.imported")) == 1


def test_a_bad_file_leaves_the_previous_tariff_in_force(session):
    service.replace_tariff(session, text=SMALL, source="small.yaml", by="test")
    before = service.current(session)
    with pytest.raises(TariffFileError) as caught:
        service.replace_tariff(
            session, text=DEMO_TEXT.replace("ad_valorem: 8,", "ad_valorem: x,", 1), source="d", by="t"
        )
    assert str(caught.value.errors[0]).startswith("d:35: lines[1].measures[0].ad_valorem:")
    assert service.current(session) == before
    assert service.balance(session, quota_id="Q1") == D(1000)


def test_replacing_the_tariff_keeps_what_a_quota_has_used(session):
    service.replace_tariff(session, text=SMALL, source="small.yaml", by="test")
    assert service.allocate(session, quota_id="Q1", quantity=D("300.5"), on=ON) == D("300.5")
    service.replace_tariff(session, text=SMALL.replace("volume: 1000", "volume: 2000"), source="s", by="t")
    assert service.balance(session, quota_id="Q1") == D("1699.5")


def test_allocation_is_whole_then_partial_then_nothing(session):
    service.replace_tariff(session, text=SMALL, source="small.yaml", by="test")
    assert service.allocate(session, quota_id="Q1", quantity=D(900), on=ON) == D(900)
    assert service.allocate(session, quota_id="Q1", quantity=D(300), on=ON) == D(100)  # what is left
    assert service.allocate(session, quota_id="Q1", quantity=D(1), on=ON) == D(0)
    assert service.balance(session, quota_id="Q1") == D(0)


def test_no_allocation_outside_the_quota_period(session):
    service.replace_tariff(session, text=SMALL, source="small.yaml", by="test")
    assert service.allocate(session, quota_id="Q1", quantity=D(10), on=date(2027, 1, 1)) == D(0)
    assert service.balance(session, quota_id="Q1") == D(1000)


def test_assessment_draws_on_the_quota_and_splits_the_last_item(session):
    service.replace_tariff(session, text=SMALL, source="small.yaml", by="test")
    tariff = service.current(session)
    assert tariff is not None
    item = LandedCostRequest.model_validate(
        {
            "invoice_currency": "KRW",
            "incoterm": "CIF",
            "goods_items": [{"hs_code": "040210", "origin": "NZ", "price": "600000", "net_mass": "600"}],
        }
    )

    def assess_item() -> list[TaxLine]:  # as the assessment of a declaration does: drawing for real
        return landed_cost(tariff, item, on=ON, grant=_drawer(session, ON, {})).items[0].lines

    first = assess_item()
    assert [(line.measure, int(line.amount.amount)) for line in first] == [
        ("TQ-04", 60000),
        ("VAT", 66000),
    ]
    second = assess_item()
    # 400 kg left of 600: 2/3 at 10% of 400,000, 1/3 at 30% of 200,000
    assert [(line.measure, int(line.amount.amount)) for line in second][:2] == [
        ("TQ-04", 40000),
        ("MFN-04", 60000),
    ]
    assert service.balance(session, quota_id="Q1") == D(0)


@pytest.mark.parametrize(("volume", "expected_balance"), [("1000", D(0)), ("10000", D(8500))])
def test_fifty_concurrent_lodgements_never_over_allocate(committing_engine, volume, expected_balance):
    sessions = make_session_factory(committing_engine)
    with writing(sessions) as session:
        service.replace_tariff(
            session, text=SMALL.replace("volume: 1000", f"volume: {volume}"), source="s", by="t"
        )
    engine = own_connections(committing_engine)
    threads_sessions = make_session_factory(engine)
    barrier = threading.Barrier(50)
    granted: list[D] = []
    failures: list[BaseException] = []

    def lodge() -> None:
        try:
            barrier.wait()
            with writing(threads_sessions) as session:
                granted.append(service.allocate(session, quota_id="Q1", quantity=D(30), on=ON))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=lodge) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert failures == []
    with sessions() as session:
        balance = service.balance(session, quota_id="Q1")
    assert balance == expected_balance
    assert sum(granted) + balance == D(volume)
    if expected_balance == 0:  # 33 whole requests, one partial of 10, 16 refused
        assert sorted(granted, reverse=True)[:35] == [D(30)] * 33 + [D(10), D(0)]
