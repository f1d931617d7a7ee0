"""The estimate against the tariff in the database: it reads quota balances and reserves nothing; the
date of law is today where the administration is."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from customhouse.advisory import service
from customhouse.assessment.currency import LOOK_BACK, ecb_rates
from customhouse.events import Event
from customhouse.problems import Problem
from customhouse.reference import zones
from customhouse.tariff import service as tariff_service
from tests.advisory.conftest import request

ON = date(2026, 6, 1)
MILK = {"hs_code": "040210", "origin": "NZ", "price": "1500000", "net_mass": "500"}


def test_an_estimate_reads_the_quota_balance_and_draws_nothing(demo_in_force):
    session = demo_in_force
    assert tariff_service.allocate(session, quota_id="Q-0402", quantity=D(999_750), on=ON) == D(999_750)
    events = session.scalar(select(func.count()).select_from(Event))
    ask = request(invoice_currency="KRW", date=ON.isoformat(), items=[MILK])
    for _ in range(2):  # the same answer twice: nothing was taken from the quota
        result = service.estimate(session, request=ask, country="KR")
        # 250 kg of 500 left: 20% of 750,000 in quota, 176% of 750,000 out; VAT on 1,500,000 + 1,470,000
        assert {line.measure: int(line.amount.amount) for line in result.items[0].lines} == {
            "TQ-0402": 150_000,
            "MFN-0402": 1_320_000,
            "VAT": 297_000,
        }
    assert tariff_service.balance(session, quota_id="Q-0402") == D(250)
    assert session.scalar(select(func.count()).select_from(Event)) == events


def test_a_closed_quota_grants_nothing(demo_in_force):
    ask = request(invoice_currency="KRW", date="2027-01-04", items=[MILK])  # Q-0402 runs through 2026
    result = service.estimate(demo_in_force, request=ask, country="KR")
    assert [line.measure for line in result.items[0].lines] == ["MFN-0402", "VAT"]


def test_without_a_tariff_the_estimate_says_so(session):
    with pytest.raises(Problem) as caught:
        service.estimate(session, request=request(invoice_currency="KRW"), country="KR")
    assert (caught.value.status, caught.value.detail) == (404, service.NO_TARIFF)


def test_today_is_the_date_in_the_administrations_country():
    evening = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)  # 05:00 on 2 March in Seoul
    assert zones.zone_of("KR") == ZoneInfo("Asia/Seoul")
    assert zones.today_in("KR", evening) == date(2026, 3, 2)
    assert zones.today_in("US", evening) == date(2026, 3, 1)  # New York, the first zone listed
    assert zones.zone_of("ZZ") is UTC  # no zone listed for the code: UTC, not a failure


def test_a_default_date_past_the_rates_says_it_is_today(demo_in_force, monkeypatch):
    late = ecb_rates().last + LOOK_BACK + timedelta(days=1)
    monkeypatch.setattr(service, "today_in", lambda country: late)
    with pytest.raises(Problem) as caught:
        service.estimate(demo_in_force, request=request(), country="KR")  # 1,000 EUR, no date
    [error] = caught.value.errors
    assert error.pointer == "/date"
    assert (
        f"today, the default date, is after it: give a date on or before {ecb_rates().last}" in error.detail
    )
