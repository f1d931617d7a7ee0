"""REST API for risk management under /api/v1/risk: targeting profiles, model versions, lane decisions,
early warnings.

Supervisors manage profiles and promote models; supervisors, auditors and admins read them. Anyone
else gets 403 (the existence of targeting rules is not a secret; their content is).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from customhouse.auth.api import CurrentPrincipal
from customhouse.auth.service import Principal, Role
from customhouse.db import utcnow, writing
from customhouse.declarations.schemas import DeclarationDocument, Lane, Note
from customhouse.problems import Problem
from customhouse.risk import service
from customhouse.risk.schemas import DecisionOut, ModelOut, ProfileChange, ProfileIn, ProfileOut

router = APIRouter(prefix="/api/v1/risk", tags=["risk"])

T = TypeVar("T")


class Deactivation(BaseModel):
    reason: Note | None = None


class LaneOut(BaseModel):
    lane: Lane
    reasons: list[str]


def _manage(by: Principal) -> None:
    if not by.has(Role.SUPERVISOR):
        raise Problem(403, "forbidden", "only supervisors manage risk profiles and models")


def _read_access(by: Principal) -> None:
    if not by.reads_all:
        raise Problem(403, "forbidden", "only supervisors, auditors and admins read risk profiles and models")


def _write(request: Request, work: Callable[[Session], T]) -> T:
    with writing(request.app.state.sessions) as session:
        result = work(session)
    dispatcher = getattr(request.app.state, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.notify()
    return result


def _read(request: Request, work: Callable[[Session], T]) -> T:
    with request.app.state.sessions() as session:
        return work(session)


@router.get("/profiles")
def list_profiles(request: Request, by: CurrentPrincipal, active: bool | None = None) -> list[ProfileOut]:
    _read_access(by)
    return _read(request, lambda s: service.list_profiles(s, active=active))


@router.post("/profiles", status_code=201)
def create_profile(
    request: Request, response: Response, by: CurrentPrincipal, profile: ProfileIn
) -> ProfileOut:
    _manage(by)
    created = _write(request, lambda s: service.create_profile(s, profile=profile, by=by))
    response.headers["Location"] = f"{router.prefix}/profiles/{created.id}"
    return created


@router.get("/profiles/{profile_id}")
def get_profile(request: Request, by: CurrentPrincipal, profile_id: int) -> ProfileOut:
    _read_access(by)
    return _read(request, lambda s: service.get_profile(s, profile_id=profile_id))


@router.patch("/profiles/{profile_id}")
def update_profile(
    request: Request, by: CurrentPrincipal, profile_id: int, change: ProfileChange
) -> ProfileOut:
    _manage(by)
    return _write(request, lambda s: service.update_profile(s, profile_id=profile_id, change=change, by=by))


@router.delete("/profiles/{profile_id}")
def deactivate_profile(
    request: Request, by: CurrentPrincipal, profile_id: int, body: Deactivation | None = None
) -> ProfileOut:
    """Deactivate (profiles are kept: decisions name them)."""
    _manage(by)
    reason = body.reason if body else None
    return _write(
        request, lambda s: service.deactivate_profile(s, profile_id=profile_id, by=by, reason=reason)
    )


@router.post("/evaluate")
def evaluate(request: Request, by: CurrentPrincipal, document: DeclarationDocument) -> LaneOut:
    """The lane the risk engine would give this declaration now (nothing stored, no random selection)."""
    _read_access(by)
    decision = _read(request, lambda s: service.evaluate(s, document=document))
    return LaneOut(lane=decision.lane, reasons=decision.reasons)


@router.get("/models")
def list_models(request: Request, by: CurrentPrincipal) -> list[ModelOut]:
    _read_access(by)
    return _read(request, service.list_models)


@router.post("/models/{version}/promote")
def promote(request: Request, by: CurrentPrincipal, version: int) -> ModelOut:
    _manage(by)
    return _write(request, lambda s: service.promote(s, version=version, by=by))


@router.post("/models/rollback")
def rollback(request: Request, by: CurrentPrincipal) -> ModelOut:
    _manage(by)
    return _write(request, lambda s: service.rollback(s, by=by))


@router.get("/decisions/{declaration_id}")
def decisions(request: Request, by: CurrentPrincipal, declaration_id: uuid.UUID) -> list[DecisionOut]:
    _read_access(by)
    return _read(request, lambda s: service.decisions(s, declaration_id=declaration_id))


class WarningOut(BaseModel):
    kind: str  # unit_value_outlier, surge, new_trader_high_value, circumvention
    subject: str
    text: str
    declarations: list[str]
    evidence: dict[str, Any]


@router.get("/warnings", summary="Early warnings about recent lodgements, with their evidence")
def warnings(
    request: Request,
    by: CurrentPrincipal,
    days: Annotated[int, Query(ge=1, le=366, description="the window: the last N days")] = 7,
    until: Annotated[datetime | None, Query(description="the window's end (default: now)")] = None,
) -> list[WarningOut]:
    _read_access(by)
    end = until or utcnow()
    found = _read(request, lambda s: service.warnings(s, since=end - timedelta(days=days), until=end))
    return [WarningOut(**dataclasses.asdict(warning)) for warning in found]
