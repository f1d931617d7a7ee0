"""The landed-cost estimate against the tariff in force: read-only, nothing is stored or reserved.

The date of law defaults to today where the administration is (`reference.zones.today_in`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from customhouse.assessment import currency
from customhouse.assessment.breakdown import landed_cost
from customhouse.assessment.schemas import LandedCost, LandedCostRequest
from customhouse.problems import Problem
from customhouse.reference.zones import today_in
from customhouse.tariff import service as tariff_service
from customhouse.tariff.selection import Tariff

NO_TARIFF = "no tariff is in force: an administrator imports one with `customhouse tariff import`"


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
