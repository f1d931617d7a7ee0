"""REST API of assessments: what a declaration was assessed at, version by version, and what it owes.

Whoever may read the declaration may read its assessments (the trader, its broker, customs).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from customhouse.assessment import service
from customhouse.assessment.service import Assessment
from customhouse.auth.api import CurrentPrincipal
from customhouse.declarations import service as declarations
from customhouse.problems import Problem

router = APIRouter(prefix="/api/v1/declarations", tags=["assessment"])


def _all(request: Request, declaration_id: uuid.UUID, by: CurrentPrincipal) -> list[Assessment]:
    with request.app.state.sessions() as session:
        declarations.get(session, declaration_id=declaration_id, by=by)  # 404 unless `by` may see it
        return service.assessments(session, declaration_id=declaration_id)


@router.get(
    "/{declaration_id}/assessments",
    response_model=list[Assessment],
    summary="Every assessment of a declaration, oldest first",
)
def assessments(request: Request, declaration_id: uuid.UUID, by: CurrentPrincipal) -> list[Assessment]:
    return _all(request, declaration_id, by)


@router.get(
    "/{declaration_id}/assessment",
    response_model=Assessment,
    summary="The newest assessment: lines, formulas, what is owed and whether it is paid or secured",
)
def newest(request: Request, declaration_id: uuid.UUID, by: CurrentPrincipal) -> Assessment:
    found = _all(request, declaration_id, by)
    if not found:
        raise Problem(
            404, "not-found", f"declaration {declaration_id} has not been assessed (not accepted yet)"
        )
    return found[-1]
