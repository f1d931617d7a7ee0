"""The landed-cost estimate against the tariff in force: read-only, nothing is stored or reserved.

The date of law defaults to today where the administration is (its country, from settings): at 08:00 in
Seoul it is still yesterday in UTC. The time zone is the first one the system's
time-zone database (zone.tab) lists for the country, UTC when it has none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from customhouse.advisory.estimate import landed_cost
from customhouse.advisory.schemas import LandedCost, LandedCostRequest
from customhouse.assessment import currency
from customhouse.problems import Problem
from customhouse.tariff import service as tariff_service
from customhouse.tariff.selection import Tariff

NO_TARIFF = "no tariff is in force: an administrator imports one with `customhouse tariff import`"


@cache
def zone_of(country: str) -> tzinfo:
    """The (first listed) time zone of `country`, from zone.tab; UTC when the system has none."""
    for folder in TZPATH:
        table = Path(folder) / "zone.tab"
        if not table.is_file():
            continue
        for line in table.read_text(encoding="utf-8").splitlines():
            fields = line.split("\t")
            if len(fields) >= 3 and fields[0] == country:
                try:
                    return ZoneInfo(fields[2])
                except ZoneInfoNotFoundError:
                    break
    return UTC


def today_in(country: str, now: datetime | None = None) -> date:
    """The date of law now, in the administration's country."""
    return (now or datetime.now(UTC)).astimezone(zone_of(country)).date()


def quota_balances(session: Session, *, tariff: Tariff, on: date) -> dict[str, Decimal]:
    """What is left of each quota open on `on` (closed quotas grant nothing, as at lodgement)."""
    return {
        quota.id: tariff_service.balance(session, quota_id=quota.id)
        for quota in tariff.quotas.values()
        if quota.valid_from <= on <= quota.valid_to
    }


def estimate(
    session: Session,
    *,
    request: LandedCostRequest,
    country: str,
    rates: currency.RateTable | None = None,
) -> LandedCost:
    """The landed cost of `request` under the tariff in force, on its date or today in `country`."""
    tariff = tariff_service.current(session)
    if tariff is None:
        raise Problem(404, "not-found", NO_TARIFF)
    on = request.date or today_in(country)
    balances = quota_balances(session, tariff=tariff, on=on)
    return landed_cost(tariff, request, on=on, balances=balances, rates=rates, today=request.date is None)
