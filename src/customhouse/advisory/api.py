"""REST API of the traders' advisory: public, as a tariff look-up is; read-only, nothing stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from customhouse.advisory import service
from customhouse.assessment.schemas import LandedCost, LandedCostRequest
from customhouse.problems import MEDIA_TYPE

router = APIRouter(prefix="/api/v1/advisory", tags=["advisory"])

PROBLEM: dict[str, Any] = {"content": {MEDIA_TYPE: {}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {**PROBLEM, "description": "no tariff is in force"},
    422: {
        **PROBLEM,
        "description": "a field is not valid (named by JSON pointer), or no exchange rate for the date",
    },
}


@router.post(
    "/landed-cost",
    response_model=LandedCost,
    summary="Estimate the landed cost of goods",
    responses=RESPONSES,
)
def landed_cost(request: Request, body: LandedCostRequest) -> LandedCost:
    """Customs value, every duty and tax line with its measure and formula, the measures considered and
    why each applies or not, and the landed cost in the national currency; no declaration and no token
    needed. An estimate: the assessment at acceptance uses the tariff and rate of that date."""
    country = request.app.state.settings.country
    with request.app.state.sessions() as session:
        return service.estimate(session, request=body, country=country, rates=request.app.state.rates)
